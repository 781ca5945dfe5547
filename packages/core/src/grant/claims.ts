import { z } from 'zod';
import type { GrantClaimCode } from '../authority/codes.js';
import { CountersignError } from '../errors.js';

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const STEP_DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The claims of a grant: the payload of its compact JWS (EdDSA). `jti`, `iat`
 * and `exp` are the RFC 7519 registered claims (NumericDate, seconds), so jose
 * and any JWT library read them; the rest binds the grant to one step.
 */
export const GrantClaims = z.strictObject({
  /** Unique grant id; consumed at most once. */
  jti: z.string().regex(TOKEN),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().nonnegative(),
  /** Step digest: canonical action, environment, target, parameters and bundle id (DESIGN.md invariant 3). */
  step_digest: z.string().regex(STEP_DIGEST),
  environment: z.string().min(1).max(128),
  target: z.string().max(1_024),
  bundle_id: z.string().regex(TOKEN),
  /** The approval request, or null for a step allowed without approval. */
  request_id: z.string().regex(TOKEN).nullable(),
  /** The lease it executes under, when the step ran by override. */
  lease_id: z.string().regex(TOKEN).nullable().optional(),
});
export type GrantClaims = z.infer<typeof GrantClaims>;

/** Validate claims decoded from a token; throws STATEMENT_INVALID. */
export function parseGrantClaims(input: unknown): GrantClaims {
  const parsed = GrantClaims.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? `/${issue.path.join('/')}` : '/';
    throw new CountersignError('STATEMENT_INVALID', `grant claims are invalid at \`${at}\``, { pointer: at });
  }
  return parsed.data;
}

/** What the checker expects: the step about to run and the bundle in force. */
export interface GrantCheckContext {
  /** Milliseconds since the epoch, from the injected clock. */
  readonly now: number;
  readonly active_bundle_id: string;
  /** The step the executor is about to run, as it will run it. */
  readonly step: { readonly digest: string; readonly environment: string; readonly target: string };
}

export type GrantClaimCheck = { readonly ok: true } | { readonly ok: false; readonly code: GrantClaimCode };

/**
 * The claim checks both sides repeat: the executor's offline `verifyGrant`
 * after the signature, and the gateway's online consumption before marking
 * the grant used. First failure wins, in this order: expiry, bundle, step.
 * Environment and target are compared on their own as well as through the
 * digest, so an executor pointed at another target is refused even if it
 * passes the grant's own digest back. No clock tolerance: a grant is short
 * and expiring is the safe direction.
 */
export function checkGrantClaims(claims: GrantClaims, ctx: GrantCheckContext): GrantClaimCheck {
  if (!(ctx.now < claims.exp * 1_000)) return { ok: false, code: 'GRANT_EXPIRED' };
  if (claims.bundle_id !== ctx.active_bundle_id) return { ok: false, code: 'BUNDLE_CHANGED' };
  if (
    claims.step_digest !== ctx.step.digest ||
    claims.environment !== ctx.step.environment ||
    claims.target !== ctx.step.target
  ) {
    return { ok: false, code: 'DIGEST_MISMATCH' };
  }
  return { ok: true };
}
