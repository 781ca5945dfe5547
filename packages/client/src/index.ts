/**
 * @countersign/client: what agents and executors install.
 * Fetch-based, no native dependencies.
 */
export const CLIENT_VERSION = '0.1.0';
