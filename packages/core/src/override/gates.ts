import { OVERRIDE_CODE_ORDER, type LeaseUseCode, type OverrideRejectionCode } from '../authority/codes.js';
import { parseUtc } from '../authority/nfc.js';
import { hasWildcard } from '../authority/wildcard.js';
import { parseDuration } from '../policy/duration.js';
import type { Roster } from '../policy/roster.js';
import type { ActionClass, PolicyBundle } from '../policy/schema.js';
import { overrideBodyHash, type OverrideBody } from './body.js';
import { budgetUsed, type PastOverride } from './budget.js';
import { overrideEvidenceHash, verifyOverrideSignature, type OverrideSignature, type PasskeyLookup, type SignerRole } from './evidence.js';

export type { PastOverride } from './budget.js';

/** A step the override would unlock, as the gateway recorded it when the step was proposed. */
export interface OverrideStep {
  readonly digest: string;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  /** The agent that proposed the step and the principal it acted for: neither may sign. */
  readonly agent: string;
  readonly on_behalf_of: string;
}

export interface OverrideHold {
  readonly id: string;
  /** The trip gate that fired, e.g. `K1`. */
  readonly trip_gate: string;
}

export interface RollbackArtifactState {
  readonly id: string;
  readonly status: string;
}

/** A lease granted earlier, for the budget (O8). */

export interface OverrideContext {
  readonly body: OverrideBody;
  /** Signer A, signer B, and any extra signer, each with its role. */
  readonly signatures: readonly OverrideSignature[];
  readonly bundle: Pick<PolicyBundle, 'actions' | 'overrides'>;
  readonly bundle_id: string;
  readonly roster: Roster;
  /** The recorded steps whose digests the body lists; a listed digest missing here is unknown. */
  readonly steps: readonly OverrideStep[];
  /** Active holds whose scope matches any of the steps. */
  readonly holds: readonly OverrideHold[];
  /** The artifact `body.rollback_ref` names, or null when there is none. */
  readonly rollback: RollbackArtifactState | null;
  readonly past_overrides: readonly PastOverride[];
  /** Milliseconds since the epoch, from the injected clock. */
  readonly now: number;
  /** Id the lease gets if granted; ids are the gateway's business. */
  readonly lease_id: string;
  /** Passkeys registered and not revoked, by credential id, for passkey signatures; absent: none counts. */
  readonly passkeys?: PasskeyLookup;
}

export interface LeaseSigner {
  readonly role: SignerRole;
  readonly signer: string;
  readonly key_id: string;
  readonly surface: string;
  readonly signed_at: string;
}

/**
 * A granted override: a lease, not a pardon (DESIGN.md invariant 6). It lets
 * exactly these step digests execute, each at most once, inside the window.
 */
export interface OverrideLease {
  readonly id: string;
  readonly override: string;
  readonly hold_ref: string | null;
  readonly bundle_id: string;
  readonly step_digests: readonly string[];
  readonly environments: readonly string[];
  readonly valid_from: string;
  readonly valid_to: string;
  readonly valid_from_ms: number;
  readonly valid_to_ms: number;
  readonly reason_code: string;
  readonly rollback_ref: string;
  readonly signers: readonly LeaseSigner[];
  readonly body_hash: string;
  readonly evidence_hash: string;
  /** INVARIANT: an override never lifts a hold nor clears the condition that tripped it. */
  readonly lifts_hold: false;
}

export interface OverrideFinding {
  readonly code: OverrideRejectionCode;
  /** Lower-case explanation for the record; not API. */
  readonly detail: string;
}

export type OverrideEvaluation =
  | { readonly ok: true; readonly lease: OverrideLease; readonly body_hash: string; readonly evidence_hash: string }
  | {
      readonly ok: false;
      /** Every failing gate, in OVERRIDE_CODE_ORDER, each once. */
      readonly codes: readonly OverrideRejectionCode[];
      readonly findings: readonly OverrideFinding[];
      readonly body_hash: string;
      readonly evidence_hash: string;
    };

const DEFAULT_MAX_MS = 4 * 3_600_000;
/** Signing clocks are not the gateway's: a signature may be dated this far ahead of `now`. */
export const SIGNING_SKEW_MS = 5 * 60_000;

export interface OverrideScopeCheck {
  /** The recorded steps the body's digests name, in the body's order. */
  readonly steps: readonly OverrideStep[];
  /** Every O2 failure of the body, empty when its scope can be granted. */
  readonly findings: readonly OverrideFinding[];
}

/**
 * O2 over the body alone: its digests name distinct recorded steps, its scope
 * is an explicit allowlist with no wildcard, and every unlocked step lies
 * inside it. Nothing a signature adds can change the answer, so the gateway
 * runs this when an override is requested, and nobody is asked to sign a body
 * that can never be granted; `evaluateOverride` runs it again at submit.
 */
export function checkOverrideScope(body: Pick<OverrideBody, 'step_digests' | 'scope'>, recorded: readonly OverrideStep[]): OverrideScopeCheck {
  const findings: OverrideFinding[] = [];
  const fail = (detail: string): void => {
    findings.push({ code: 'O2_SCOPE_CREEP', detail });
  };
  const stepByDigest = new Map(recorded.map((s) => [s.digest, s]));
  const steps: OverrideStep[] = [];
  if (new Set(body.step_digests).size !== body.step_digests.length) fail('a step digest is listed twice');
  for (const digest of body.step_digests) {
    const step = stepByDigest.get(digest);
    if (!step) fail(`step \`${digest}\` is not a recorded step`);
    else steps.push(step);
  }
  const scope = body.scope;
  if ([...scope.environments, ...scope.actions, ...scope.targets].some(hasWildcard)) fail('scope holds a wildcard');
  for (const s of steps) {
    if (!scope.environments.includes(s.environment)) fail(`environment \`${s.environment}\` is outside the scope`);
    if (!scope.actions.includes(s.action)) fail(`action \`${s.action}\` is outside the scope`);
    if (!scope.targets.includes(s.target)) fail(`target \`${s.target}\` is outside the scope`);
  }
  return { steps, findings };
}

/**
 * Evaluate every override gate and report every failure, so a denied attempt
 * is recorded with all its reasons (DESIGN.md invariant 7, the reference's
 * "deny loudly"). Pure: state, roster and clock are passed in.
 */
export function evaluateOverride(ctx: OverrideContext): OverrideEvaluation {
  const { body, roster } = ctx;
  const rules = ctx.bundle.overrides;
  const findings: OverrideFinding[] = [];
  const fail = (code: OverrideRejectionCode, detail: string): void => {
    findings.push({ code, detail });
  };
  const bodyHash = overrideBodyHash(body);
  const evidenceHash = overrideEvidenceHash(body, ctx.signatures);

  // Resolve the unlocked steps and their contracts; O2 over the body.
  const contracts = new Map(ctx.bundle.actions.map((a) => [a.id, a]));
  const scoped = checkOverrideScope(body, ctx.steps);
  const steps = scoped.steps;
  findings.push(...scoped.findings);

  // Signers.
  const byRole = (role: SignerRole): OverrideSignature[] => ctx.signatures.filter((s) => s.role === role);
  const [sigA, sigB] = [byRole('a'), byRole('b')];
  if (sigA.length !== 1 || sigB.length !== 1) fail('O5_NOT_ELIGIBLE', 'exactly one signer a and one signer b are required');
  const verified = new Set<OverrideSignature>();
  for (const sig of ctx.signatures) {
    if (verifyOverrideSignature(body.id, sig, roster, ctx.passkeys)) verified.add(sig);
    else fail('BAD_SIGNATURE', `signature of \`${sig.signer}\` did not verify`);
    if (sig.body_hash !== bodyHash) fail('O2_SCOPE_CREEP', `\`${sig.signer}\` signed a different body`);
  }

  // O1 identity collision: two signatures must be two independent people,
  // neither the requester nor a party to any unlocked step.
  const signerIds = ctx.signatures.map((s) => s.signer);
  if (new Set(signerIds).size !== signerIds.length) fail('O1_IDENTITY_COLLISION', 'the same person signed twice');
  const parties = new Set<string>([body.requester]);
  for (const s of steps) {
    parties.add(s.agent);
    parties.add(s.on_behalf_of);
  }
  for (const sig of ctx.signatures) {
    if (parties.has(sig.signer)) fail('O1_IDENTITY_COLLISION', `\`${sig.signer}\` is the requester or a party to an unlocked step`);
    const reportsToParty = [body.requester, ...steps.map((s) => s.on_behalf_of)].some((p) => roster.reportsTo(sig.signer, p));
    if (reportsToParty) fail('O1_IDENTITY_COLLISION', `\`${sig.signer}\` reports to the requester`);
  }

  // O3 clock: a window already over cannot be granted; a signature may not
  // come from the future or after the window.
  const from = parseUtc(body.valid_from);
  const to = parseUtc(body.valid_to);
  if (!(ctx.now < to)) fail('O3_CLOCK_BREACH', 'the window has already ended');
  for (const sig of ctx.signatures) {
    const at = parseUtc(sig.signed_at);
    if (!(at <= ctx.now + SIGNING_SKEW_MS) || !(at < to)) fail('O3_CLOCK_BREACH', `\`${sig.signer}\` signed outside the clock`);
  }

  // O4 rollback: the artifact exists, is the one named, and is ready.
  if (!ctx.rollback || ctx.rollback.id !== body.rollback_ref || ctx.rollback.status !== 'ready') {
    fail('O4_MISSING_ROLLBACK', `rollback artifact \`${body.rollback_ref}\` is absent or not ready`);
  }

  // O5 eligibility.
  if (!rules) {
    fail('O5_NOT_ELIGIBLE', 'the policy allows no overrides');
  } else {
    if (!rules.reason_codes.includes(body.reason_code)) fail('O5_NOT_ELIGIBLE', `reason code \`${body.reason_code}\` is not in the policy`);
    if (rules.incident_classes.length > 0 && (body.incident_class === undefined || !rules.incident_classes.includes(body.incident_class))) {
      fail('O5_NOT_ELIGIBLE', 'the incident class is not eligible for overrides');
    }
    for (const sig of ctx.signatures) {
      const principal = roster.get(sig.signer);
      if (!principal) {
        fail('O5_NOT_ELIGIBLE', `signer \`${sig.signer}\` is not in the roster`);
        continue;
      }
      if (principal.kind !== 'human') fail('O5_NOT_ELIGIBLE', `signer \`${sig.signer}\` is not a person`);
      const roles = sig.role === 'a' ? rules.signer_a_roles : sig.role === 'b' ? rules.signer_b_roles : extraRoles(rules, steps);
      if (!roles.some((r) => principal.roles.has(r))) fail('O5_NOT_ELIGIBLE', `\`${sig.signer}\` holds no role of signer ${sig.role}`);
      if (!rules.surfaces.includes(sig.surface) || sig.surface === body.request_surface) {
        fail('O5_NOT_ELIGIBLE', `signature surface \`${sig.surface}\` is not allowed`);
      }
    }
  }
  for (const s of steps) {
    const contract = contracts.get(s.action);
    if (!contract) fail('O5_NOT_ELIGIBLE', `action \`${s.action}\` has no contract`);
    else if (contract.override?.eligible === false) fail('O5_NOT_ELIGIBLE', `action \`${s.action}\` is never overridable`);
  }

  // O6 gate acknowledgement: echo the one active hold's trip gate, or no hold at all.
  if (ctx.holds.length > 1) {
    fail('O6_GATE_ACK_MISMATCH', 'more than one hold covers these steps');
  } else if (ctx.holds.length === 1) {
    const hold = ctx.holds[0] as OverrideHold;
    if (body.hold_ref !== hold.id || body.trip_gate_ack !== hold.trip_gate) {
      fail('O6_GATE_ACK_MISMATCH', `the acknowledgement does not echo hold \`${hold.id}\` and its gate`);
    }
  } else if (body.hold_ref !== null || body.trip_gate_ack !== null) {
    fail('O6_GATE_ACK_MISMATCH', 'the acknowledged hold is not active over these steps');
  }

  // O7 duration: the most restrictive maximum of any unlocked step.
  const maxMs = maxDurationMs(ctx.bundle, steps);
  if (!(to - from > 0) || to - from > maxMs) fail('O7_DURATION_EXCEEDED', 'the window is empty or longer than the policy allows');

  // O8 budget: once spent in an environment, an extra independent signer is required.
  const environments = [...new Set(steps.map((s) => s.environment))].sort();
  for (const budget of rules?.budgets ?? []) {
    if (!environments.includes(budget.environment)) continue;
    if (budgetUsed(budget, ctx.past_overrides, ctx.now) < budget.max) continue;
    const coreSigners = new Set([...sigA, ...sigB].map((s) => s.signer));
    const extra = byRole('extra').some(
      (s) =>
        verified.has(s) &&
        !coreSigners.has(s.signer) &&
        budget.extra_signer_roles.some((r) => roster.hasRole(s.signer, r)),
    );
    if (!extra) fail('O8_BUDGET_EXHAUSTED', `the override budget of \`${budget.environment}\` is spent and no extra signer signed`);
  }

  if (findings.length > 0) {
    const present = new Set(findings.map((f) => f.code));
    return {
      ok: false,
      codes: OVERRIDE_CODE_ORDER.filter((c) => present.has(c)),
      findings,
      body_hash: bodyHash,
      evidence_hash: evidenceHash,
    };
  }
  return {
    ok: true,
    body_hash: bodyHash,
    evidence_hash: evidenceHash,
    lease: {
      id: ctx.lease_id,
      override: body.id,
      hold_ref: body.hold_ref,
      bundle_id: ctx.bundle_id,
      step_digests: [...body.step_digests],
      environments,
      valid_from: body.valid_from,
      valid_to: body.valid_to,
      valid_from_ms: from,
      valid_to_ms: to,
      reason_code: body.reason_code,
      rollback_ref: body.rollback_ref,
      signers: ctx.signatures.map((s) => ({ role: s.role, signer: s.signer, key_id: s.key_id, surface: s.surface, signed_at: s.signed_at })),
      body_hash: bodyHash,
      evidence_hash: evidenceHash,
      lifts_hold: false,
    },
  };
}

function extraRoles(rules: NonNullable<PolicyBundle['overrides']>, steps: readonly OverrideStep[]): readonly string[] {
  const envs = new Set(steps.map((s) => s.environment));
  return rules.budgets.filter((b) => envs.has(b.environment)).flatMap((b) => b.extra_signer_roles);
}

/** The shortest of: each step's contract maximum, else its class maximum, else the default (4 h). */
export function maxDurationMs(bundle: Pick<PolicyBundle, 'actions' | 'overrides'>, steps: readonly Pick<OverrideStep, 'action'>[]): number {
  const rules = bundle.overrides?.max_duration;
  const fallback = rules?.default !== undefined ? parseDuration(rules.default) : DEFAULT_MAX_MS;
  let max = fallback;
  for (const step of steps) {
    const contract = bundle.actions.find((a) => a.id === step.action);
    const cls: ActionClass | undefined = contract?.class;
    const text = contract?.override?.max_duration ?? (cls !== undefined ? rules?.[cls] : undefined);
    if (text !== undefined) max = Math.min(max, parseDuration(text));
  }
  return max;
}

/** What the gateway knows of a lease's use so far. */
export interface LeaseUseState {
  /** Step digests already executed under the lease. */
  readonly used: readonly string[];
  /** Revoked by new hold evidence, a bundle change, a rollback or a halt. */
  readonly revoked: boolean;
}

export type LeaseUse =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: LeaseUseCode; readonly incident_flag: boolean };

/**
 * May this step execute under this lease now? Order: a step the lease does not
 * list (O2), a revoked lease, a use outside the window (O3, unauthorized and
 * flagged for incident review, as the reference's "clock breach" demands),
 * then a step already used (each step at most once).
 */
export function checkLeaseUse(
  lease: OverrideLease,
  now: number,
  stepDigest: string,
  state: LeaseUseState = { used: [], revoked: false },
): LeaseUse {
  if (!lease.step_digests.includes(stepDigest)) return { ok: false, code: 'O2_SCOPE_CREEP', incident_flag: false };
  if (state.revoked) return { ok: false, code: 'LEASE_REVOKED', incident_flag: false };
  if (!(now >= lease.valid_from_ms && now < lease.valid_to_ms)) return { ok: false, code: 'O3_CLOCK_BREACH', incident_flag: true };
  if (state.used.includes(stepDigest)) return { ok: false, code: 'LEASE_STEP_USED', incident_flag: false };
  return { ok: true };
}
