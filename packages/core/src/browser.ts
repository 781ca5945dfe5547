/**
 * What of core runs in a browser (the approver console, issue 14): the
 * canonical JSON and the texts a passkey challenge is derived from (an
 * approval statement's, an override signature's), so the console computes
 * what it asks the authenticator to sign from what it shows, instead of
 * taking a challenge on trust. Hash them with WebCrypto. Nothing reachable
 * from here imports node:* (the console's bundler runs for the browser
 * platform and fails the build if anything does).
 */
export { canonicalJson, type CanonicalValue } from './canonical.js';
export { statementText, type AttestationKind, type StatementFields } from './approval/statement-text.js';
export { overrideBodyText, overrideSignatureText, type OverrideSignatureKind, type OverrideSignerClaim, type SignerRole } from './override/signature-text.js';
