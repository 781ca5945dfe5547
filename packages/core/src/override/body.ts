import { z } from 'zod';
import { canonicalJson, type CanonicalValue } from '../canonical.js';
import { sha256Hex } from '../digest.js';
import { CountersignError } from '../errors.js';
import { nfcDeep, UTC_TIMESTAMP } from '../authority/nfc.js';

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const PRINCIPAL_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const STEP_DIGEST = /^sha256:[0-9a-f]{64}$/;

// Scope entries are free strings on purpose: a wildcard must reach the gates
// and be refused as O2_SCOPE_CREEP on the record, not vanish as a parse error.
const scopeList = z.array(z.string().min(1).max(256)).max(64);

/**
 * An override request: the columns of the reference override ledger, for
 * steps instead of messages. What both signers sign (through its hash).
 */
export const OverrideBody = z.strictObject({
  id: z.string().regex(TOKEN),
  /** The hold being overridden; null when no hold applies and the approvers are unavailable. */
  hold_ref: z.string().regex(TOKEN).nullable(),
  /** Exactly the steps unlocked, by step digest. Nothing else is unlocked. */
  step_digests: z.array(z.string().regex(STEP_DIGEST)).min(1).max(64),
  /** Must echo the trip gate of the active hold (K1–K4...); null when there is no hold. */
  trip_gate_ack: z.string().max(32).nullable(),
  valid_from: z.string().regex(UTC_TIMESTAMP),
  valid_to: z.string().regex(UTC_TIMESTAMP),
  /** Explicit allowlist; no wildcards. Every unlocked step must fall inside it. */
  scope: z.strictObject({ environments: scopeList, actions: scopeList, targets: scopeList }),
  reason_code: z.string().max(64),
  reason_text: z.string().max(4_000),
  /** The rollback artifact that must already exist with status `ready`. */
  rollback_ref: z.string().regex(TOKEN),
  requester: z.string().regex(PRINCIPAL_ID),
  request_surface: z.string().regex(PRINCIPAL_ID),
  incident_class: z.string().regex(PRINCIPAL_ID).optional(),
});
export type OverrideBody = z.infer<typeof OverrideBody>;

/** Validate an override request that arrived from outside; throws STATEMENT_INVALID. */
export function parseOverrideBody(input: unknown): OverrideBody {
  const parsed = OverrideBody.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? `/${issue.path.join('/')}` : '/';
    throw new CountersignError('STATEMENT_INVALID', `override request is invalid at \`${at}\``, { pointer: at });
  }
  return parsed.data;
}

/** The body as a canonical value: absent optional fields are left out, every string NFC. */
export function overrideBodyValue(body: OverrideBody): { readonly [key: string]: CanonicalValue } {
  const value: Record<string, CanonicalValue> = {
    id: body.id,
    hold_ref: body.hold_ref,
    step_digests: [...body.step_digests],
    trip_gate_ack: body.trip_gate_ack,
    valid_from: body.valid_from,
    valid_to: body.valid_to,
    scope: {
      environments: [...body.scope.environments],
      actions: [...body.scope.actions],
      targets: [...body.scope.targets],
    },
    reason_code: body.reason_code,
    reason_text: body.reason_text,
    rollback_ref: body.rollback_ref,
    requester: body.requester,
    request_surface: body.request_surface,
  };
  if (body.incident_class !== undefined) value['incident_class'] = body.incident_class;
  return nfcDeep(value);
}

/**
 * `sha256:<hex>` over RFC 8785 canonical JSON of the NFC-normalised body: the
 * reference's `override_body_hash`. NFC first, as its troubleshooting table
 * says, so the same words typed on two machines are the same body.
 */
export function overrideBodyHash(body: OverrideBody): string {
  return `sha256:${sha256Hex(canonicalJson(overrideBodyValue(body)))}`;
}
