import { z } from 'zod';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Digest, Id, IdParams, Instant, LongText, Names } from './bounds.js';

const SignerClaim = {
  role: z.enum(['a', 'b', 'extra']),
  signer: Id,
  /** A roster key's id, or a passkey's credential id. */
  key_id: Id,
  surface: Id,
  signed_at: Instant,
  body_hash: Digest,
};

/**
 * One signer's signature over an override body: a roster key's Ed25519
 * signature made on the signer's machine (`kind` absent or `key`), or a
 * registered passkey's WebAuthn assertion made in the console (issue 14).
 */
export const OverrideSignature = z.union([
  z.strictObject({ ...SignerClaim, kind: z.literal('key').optional(), signature: z.string().min(1).max(200) }),
  z.strictObject({
    ...SignerClaim,
    kind: z.literal('passkey'),
    // an RS256 signature of a 4096-bit key is 683 base64url characters
    signature: z.string().min(1).max(1_024),
    authenticator_data: z.string().min(1).max(2_048),
    client_data_json: z.string().min(1).max(4_096),
  }),
]);

export const OverrideRequest = z.strictObject({
  hold: Id.nullable(),
  step_digests: z.array(Digest).min(1).max(64),
  trip_gate_ack: z.string().max(32).nullable(),
  valid_from: Instant,
  valid_to: Instant,
  scope: z.strictObject({ environments: Names, actions: Names, targets: Names }),
  reason_code: z.string().min(1).max(64),
  reason_text: LongText,
  rollback_artifact: Id,
  incident_class: Id.optional(),
});
export type OverrideRequest = DeepReadonly<z.input<typeof OverrideRequest>>;

/** An override opened: the canonical body the two signers sign (core `parseOverrideBody` reads it) and its hash. */
export const OverrideOpened = z.object({ id: z.string(), override: z.string(), body: z.record(z.string(), z.unknown()), body_hash: z.string() });
export type OverrideOpened = z.output<typeof OverrideOpened>;

export const LeaseGranted = z.object({
  override: z.string(),
  lease: z.string(),
  valid_from: z.string(),
  valid_to: z.string(),
  step_digests: z.array(z.string()),
  evidence_hash: z.string(),
});
export type LeaseGranted = z.output<typeof LeaseGranted>;

export const OVERRIDE_ENDPOINTS = {
  requestOverride: endpoint({
    method: 'POST',
    path: '/v1/overrides',
    summary: 'request an override lease; the answer carries the canonical body the two signers sign on their own machines',
    tag: 'overrides',
    operation: 'override_request',
    body: OverrideRequest,
    response: OverrideOpened,
    status: 201,
  }),
  submitOverride: endpoint({
    method: 'POST',
    path: '/v1/overrides/{id}/submit',
    summary: 'submit the signatures of an override: every gate (O1-O8) is checked and every attempt recorded; a lease on success',
    tag: 'overrides',
    operation: 'override_submit',
    params: IdParams,
    body: z.strictObject({ signatures: z.array(OverrideSignature).min(1).max(8) }),
    response: LeaseGranted,
  }),
};
