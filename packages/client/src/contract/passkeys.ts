import { z } from 'zod';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { IdParams } from './bounds.js';

const B64 = z.string().max(16_384).regex(/^[A-Za-z0-9_-]*$/, 'base64url');

/** The authenticator's answer to a registration (WebAuthn `RegistrationResponseJSON`). */
export const PasskeyRegistration = z.strictObject({
  id: B64.min(1).max(1_400),
  rawId: B64.min(1).max(1_400),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: B64,
    attestationObject: B64,
    transports: z.array(z.string().max(32)).max(8).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: B64.optional(),
    authenticatorData: B64.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
});
export type PasskeyRegistration = DeepReadonly<z.input<typeof PasskeyRegistration>>;

export const PasskeyView = z.object({
  credential_id: z.string(),
  principal: z.string(),
  algorithm: z.number().int(),
  origin: z.string(),
  registered_at: z.string(),
  revoked_at: z.string().nullable(),
  revoked_by: z.string().nullable(),
});
export type PasskeyView = z.output<typeof PasskeyView>;

export const PasskeyList = z.object({ passkeys: z.array(PasskeyView) });
export type PasskeyList = z.output<typeof PasskeyList>;

/** WebAuthn creation options (`PublicKeyCredentialCreationOptionsJSON`) for the browser's `navigator.credentials.create`. */
export const PasskeyCreationOptions = z.object({ challenge: z.string(), rp: z.object({ id: z.string().optional(), name: z.string() }) }).passthrough();
export type PasskeyCreationOptions = z.output<typeof PasskeyCreationOptions>;

/** Passkeys (issue 14, ADR 004): registration is the console's, from a signed-in session in a browser; listing and revoking are anyone's own. */
export const PASSKEY_ENDPOINTS = {
  passkeyRegistrationOptions: endpoint({
    method: 'POST',
    path: '/v1/passkeys/registration',
    summary: 'start registering a passkey for the signed-in console session: WebAuthn creation options whose challenge is bound to this session for 5 minutes',
    tag: 'passkeys',
    operation: 'passkey_register',
    body: z.strictObject({}),
    response: PasskeyCreationOptions,
  }),
  registerPasskey: endpoint({
    method: 'POST',
    path: '/v1/passkeys',
    summary: "finish registering a passkey: the authenticator's answer, checked against the session's challenge, the console's origin and RP ID, with user verification; recorded as `passkey.registered`",
    tag: 'passkeys',
    operation: 'passkey_register',
    status: 201,
    body: PasskeyRegistration,
    response: PasskeyView,
  }),
  listPasskeys: endpoint({
    method: 'GET',
    path: '/v1/passkeys',
    summary: "the caller's passkeys, revoked ones included; a token administrator (`credentials.admin_roles`) names another `principal`",
    tag: 'passkeys',
    operation: 'status',
    query: z.strictObject({ principal: z.string().max(128).optional() }),
    response: PasskeyList,
  }),
  revokePasskey: endpoint({
    method: 'POST',
    path: '/v1/passkeys/{id}/revoke',
    summary: 'revoke a passkey (its own principal, or a token administrator): signatures it made before stay valid in the ledger, none after counts; recorded as `passkey.revoked`',
    tag: 'passkeys',
    operation: 'passkey_revoke',
    params: IdParams,
    body: z.strictObject({}).optional(),
    response: PasskeyView,
  }),
};
