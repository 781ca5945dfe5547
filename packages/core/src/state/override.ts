import { OverrideBody, overrideBodyHash, overrideBodyValue, parseOverrideBody, type OverrideBody as OverrideBodyType } from '../override/body.js';
import { verifyOverrideSignature, type OverrideSignature } from '../override/evidence.js';
import { checkOverrideScope, evaluateOverride, type OverrideHold, type OverrideStep, type PastOverride } from '../override/gates.js';
import type { CompiledPolicy } from '../policy/compile.js';
import {
  assertActive,
  draftsFor,
  refusal,
  reject,
  rosterOf,
  standingOf,
  stepsInLedgerOrder,
  type Caller,
  type CommandContext,
  type CommandOutput,
} from './command.js';
import type { CommandCode } from './codes.js';
import type { LeaseScopeData, SignerData } from './entries.js';
import { holdsCovering } from './execute.js';
import type { AuthorityState, PasskeyRecord } from './state.js';

/**
 * Override leases, after the reference override ledger: a request records
 * the exact body both signers will sign; a submission brings the signatures
 * and runs every gate (override/gates.ts). Every attempt is recorded,
 * granted or denied, with all failing gates (DESIGN invariant 7).
 */

export interface RequestOverrideCommand {
  readonly kind: 'override_request';
  readonly caller: Caller;
  readonly hold: string | null;
  readonly step_digests: readonly string[];
  readonly trip_gate_ack: string | null;
  readonly valid_from: string;
  readonly valid_to: string;
  readonly scope: LeaseScopeData;
  readonly reason_code: string;
  readonly reason_text: string;
  readonly rollback_artifact: string;
  readonly incident_class?: string;
}

export interface RequestOverrideResult {
  readonly ok: true;
  readonly override: string;
  /** What each signer signs (through its hash), requester and surface taken from the call. */
  readonly body: OverrideBodyType;
  readonly body_hash: string;
}

export interface SubmitOverrideCommand {
  readonly kind: 'override_submit';
  readonly caller: Caller;
  readonly override: string;
  readonly signatures: readonly OverrideSignature[];
}

export interface SubmitOverrideResult {
  readonly ok: true;
  readonly override: string;
  readonly lease: string;
  readonly valid_from: string;
  readonly valid_to: string;
  readonly step_digests: readonly string[];
  readonly evidence_hash: string;
}

const RULE_OVERRIDES = 'overrides:rules';

function standingProblem(policy: CompiledPolicy, caller: Caller): { code: CommandCode; message: string } | null {
  const standing = standingOf(policy, caller.principal);
  if (standing.kind === 'unknown') return { code: 'UNKNOWN_PRINCIPAL', message: 'caller is not in the roster' };
  // DESIGN invariant 1: an agent can never sign or submit an override.
  if (standing.kind === 'agent') return { code: 'AGENT_CANNOT_OVERRIDE', message: 'an agent cannot request or submit an override' };
  return null;
}

/** Steps recorded under the active bundle whose digest is listed, with who proposed them. */
function stepsFor(state: AuthorityState, bundleId: string, digests: readonly string[]): { steps: OverrideStep[]; incident: string | null } {
  const wanted = new Set(digests);
  const ids = [...wanted].flatMap((digest) => state.index.stepsByDigest.get(digest) ?? []);
  const steps: OverrideStep[] = [];
  let incident: string | null = null;
  for (const { step, proposal } of stepsInLedgerOrder(state, ids)) {
    // the index keeps a step under every digest it was decided with: only its current one counts
    if (step.digest === null || step.bundle_id !== bundleId || !wanted.has(step.digest)) continue;
    steps.push({ digest: step.digest, action: step.action, environment: step.environment, target: step.target, agent: proposal.agent, on_behalf_of: proposal.on_behalf_of });
    incident ??= step.incident;
  }
  return { steps, incident };
}

export function requestOverride(state: AuthorityState, policy: CompiledPolicy | null, command: RequestOverrideCommand, ctx: CommandContext): CommandOutput<RequestOverrideResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const problem = standingProblem(compiled, caller);
  if (problem) return reject(d, caller, 'override_request', problem.code, problem.message, command.hold, [RULE_OVERRIDES]);

  const id = ctx.ids.next('override');
  const parsed = OverrideBody.safeParse({
    id,
    hold_ref: command.hold,
    step_digests: [...command.step_digests],
    trip_gate_ack: command.trip_gate_ack,
    valid_from: command.valid_from,
    valid_to: command.valid_to,
    scope: { environments: [...command.scope.environments], actions: [...command.scope.actions], targets: [...command.scope.targets] },
    reason_code: command.reason_code,
    reason_text: command.reason_text,
    rollback_ref: command.rollback_artifact,
    // The requester and the surface are the credential's, never fields of the body.
    requester: caller.principal,
    request_surface: caller.surface,
    ...(command.incident_class === undefined ? {} : { incident_class: command.incident_class }),
  });
  if (!parsed.success) return reject(d, caller, 'override_request', 'OVERRIDE_INVALID', 'override request is not well formed', command.hold, [RULE_OVERRIDES]);
  const body = parsed.data;
  const { steps, incident } = stepsFor(state, compiled.bundleId, body.step_digests);
  // O2 depends on the body and the recorded steps alone: a body that fails it
  // can never be granted, so it is refused (and recorded) before anyone signs it.
  const scope = checkOverrideScope(body, steps);
  if (scope.findings.length > 0) {
    const details = scope.findings.map((f) => f.detail).join('; ');
    return reject(d, caller, 'override_request', 'O2_SCOPE_CREEP', `override scope can never be granted: ${details}`, command.hold, [RULE_OVERRIDES]);
  }
  // So do a policy without overrides and a reason code it does not list (O5):
  // refused before two people are asked to sign a body that could never be
  // granted. The rollback artifact (O4) is judged at submit, with the rest.
  const rules = compiled.bundle.overrides;
  if (rules === undefined) return reject(d, caller, 'override_request', 'O5_NOT_ELIGIBLE', 'the policy allows no overrides', command.hold, [RULE_OVERRIDES]);
  if (!rules.reason_codes.includes(body.reason_code)) {
    return reject(d, caller, 'override_request', 'O5_NOT_ELIGIBLE', `reason code \`${body.reason_code}\` is not in the policy`, command.hold, [RULE_OVERRIDES]);
  }
  const bodyHash = overrideBodyHash(body);
  const holdIncident = body.hold_ref === null ? null : state.holds.get(body.hold_ref)?.incident ?? null;
  const subjects: Record<string, string> = { override: id };
  if (body.hold_ref !== null) subjects['hold'] = body.hold_ref;
  const inc = incident ?? holdIncident;
  if (inc !== null) subjects['incident'] = inc;
  d.push('override.requested', subjects, {
    override: id,
    body: overrideBodyValue(body),
    body_hash: bodyHash,
    hold: body.hold_ref,
    step_digests: [...body.step_digests],
    incident: inc,
    credential: caller.credential,
    rule_ids: [RULE_OVERRIDES],
  });
  return { entries: d.list, result: { ok: true, override: id, body, body_hash: bodyHash } };
}

export function submitOverride(state: AuthorityState, policy: CompiledPolicy | null, command: SubmitOverrideCommand, ctx: CommandContext): CommandOutput<SubmitOverrideResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const problem = standingProblem(compiled, caller);
  if (problem) return reject(d, caller, 'override_submit', problem.code, problem.message, command.override, [RULE_OVERRIDES]);
  const record = state.overrides.get(command.override);
  if (!record) return reject(d, caller, 'override_submit', 'OVERRIDE_UNKNOWN', 'override is not known', command.override, [RULE_OVERRIDES]);
  if (record.status !== 'requested') return reject(d, caller, 'override_submit', 'OVERRIDE_CLOSED', 'override was already decided', record.id, [RULE_OVERRIDES]);

  const body = parseOverrideBody(record.body);
  const roster = rosterOf(compiled);
  const { steps } = stepsFor(state, compiled.bundleId, body.step_digests);
  const holds = new Map<string, OverrideHold>();
  for (const s of steps) {
    for (const h of holdsCovering(state, compiled, s.action, s.environment, s.target)) holds.set(h.id, { id: h.id, trip_gate: h.trip_gate });
  }
  const artifact = state.artifacts.get(body.rollback_ref);
  const past = pastOverrides(state);
  const leaseId = ctx.ids.next('lease');
  // a passkey signature counts only while its passkey is registered to the signer, judged here, in ledger order
  const passkeys = (credentialId: string): PasskeyRecord | undefined => {
    const registered = state.passkeys.get(credentialId);
    return registered !== undefined && registered.revoked_at === null ? registered : undefined;
  };
  const evaluation = evaluateOverride({
    body,
    signatures: command.signatures,
    bundle: compiled.bundle,
    bundle_id: compiled.bundleId,
    roster,
    steps,
    holds: [...holds.values()],
    rollback: artifact ? { id: artifact.id, status: artifact.status } : null,
    past_overrides: past,
    now: ctx.now,
    lease_id: leaseId,
    passkeys,
  });

  const signers: SignerData[] = command.signatures.map((s) => ({
    role: s.role,
    principal: s.signer,
    key_id: s.key_id,
    surface: s.surface,
    signed_at: s.signed_at,
    body_hash: s.body_hash,
    signature: s.signature,
    // a passkey's WebAuthn data, so that the signature verifies offline (trace --check)
    ...(s.kind === 'passkey' ? { passkey: { credential_id: s.key_id, authenticator_data: s.authenticator_data, client_data_json: s.client_data_json } } : {}),
    signature_verified: verifyOverrideSignature(body.id, s, roster, passkeys),
  }));
  const ruleIds = [RULE_OVERRIDES, ...[...holds.keys()].map((h) => `hold:${h}`)];
  const subjects: Record<string, string> = { override: record.id };
  if (record.hold !== null) subjects['hold'] = record.hold;
  if (record.incident !== null) subjects['incident'] = record.incident;

  if (!evaluation.ok) {
    d.push('override.denied', subjects, {
      override: record.id,
      codes: [...evaluation.codes],
      findings: evaluation.findings.map((f) => ({ code: f.code, detail: f.detail })),
      signers,
      body_hash: evaluation.body_hash,
      evidence_hash: evaluation.evidence_hash,
      credential: caller.credential,
      rule_ids: ruleIds,
    });
    const first = evaluation.codes[0] ?? 'O5_NOT_ELIGIBLE';
    return { entries: d.list, result: refusal(first, `override was denied: ${evaluation.codes.join(', ')}`, evaluation.codes) };
  }

  const lease = evaluation.lease;
  d.push('override.granted', { ...subjects, lease: lease.id }, {
    override: record.id,
    lease: lease.id,
    hold: lease.hold_ref,
    step_digests: [...lease.step_digests],
    environments: [...lease.environments],
    scope: { environments: [...body.scope.environments], actions: [...body.scope.actions], targets: [...body.scope.targets] },
    trip_gate_ack: body.trip_gate_ack,
    valid_from: lease.valid_from,
    valid_to: lease.valid_to,
    reason_code: lease.reason_code,
    rollback_artifact: lease.rollback_ref,
    incident: record.incident,
    signers,
    body_hash: lease.body_hash,
    evidence_hash: lease.evidence_hash,
    credential: caller.credential,
    rule_ids: ruleIds,
  });
  return {
    entries: d.list,
    result: { ok: true, override: record.id, lease: lease.id, valid_from: lease.valid_from, valid_to: lease.valid_to, step_digests: lease.step_digests, evidence_hash: lease.evidence_hash },
  };
}

/** Every override granted so far, per environment, as the budgets count them (O8, and the near-exhaustion notice). */
export function pastOverrides(state: AuthorityState): PastOverride[] {
  const past: PastOverride[] = [];
  for (const budget of state.budgets.values()) {
    for (const at of budget.granted_at) past.push({ environments: [budget.environment], granted_at: at });
  }
  return past;
}
