export { GatewayError, type GatewayErrorCode } from './errors.js';
