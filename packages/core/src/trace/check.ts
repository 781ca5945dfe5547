import type { LedgerEntry } from '../ledger/entry.js';
import { TRACE_FIELDS } from '../policy/schema.js';

/**
 * The trace contract check (`countersign trace --check`): every field the
 * policy's `trace.required_fields` names must be on the entries that carry
 * it, and every execution must match a grant or lease the ledger issued
 * before it. The incident analysis calls these the fields that make "the
 * approval chain reconstructable after the incident gets loud": bundle
 * version, approver identities, override event, rule ids, outcome path.
 */

export type TraceField = (typeof TRACE_FIELDS)[number];

export interface TraceProblem {
  readonly seq: number;
  readonly type: string;
  /** The trace field that is missing, or `authority` for an execution without a matching grant or lease. */
  readonly field: TraceField | 'authority';
  readonly message: string;
}

/** Entries the gateway writes on its own timer: no caller, so no actor or surface. */
const GATEWAY_TYPES = new Set(['request.expired']);
/** Entries that record no authority decision and so cite no rule. */
const RULELESS_TYPES = new Set(['proposal.received', 'request.expired', 'request.voided', 'execution.outcome']);
const ENVIRONMENT_TYPES = new Set(['step.decided', 'request.opened', 'grant.issued', 'grant.consumed', 'rollback.registered']);
const DIGEST_TYPES = new Set(['request.opened', 'approval.accepted', 'request.approved', 'grant.issued', 'grant.consumed', 'lease.used', 'rollback.registered', 'rollback.executed']);
const REFUSAL_TYPES = new Set(['approval.rejected', 'grant.rejected', 'hold.rejected', 'lease.rejected', 'lease.clock_breach', 'authority.rejected']);
const EXECUTION_TYPES = new Set(['grant.consumed', 'lease.used', 'rollback.executed']);

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const nonEmptyArray = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

function str(e: LedgerEntry, key: string): string | null {
  const v = e.payload[key];
  return typeof v === 'string' ? v : null;
}

/**
 * Check `entries` against the trace contract. The whole ledger is context
 * (a grant may be issued long before it is consumed); problems are reported
 * only for entries whose seq is in `only`, when given.
 */
export function checkTraceContract(
  entries: readonly LedgerEntry[],
  required: readonly TraceField[] = TRACE_FIELDS,
  only?: ReadonlySet<number>,
): TraceProblem[] {
  const need = new Set(required);
  const problems: TraceProblem[] = [];
  const report = (e: LedgerEntry, field: TraceProblem['field'], message: string): void => {
    if (only === undefined || only.has(e.seq)) problems.push({ seq: e.seq, type: e.type, field, message });
  };

  const grants = new Map<string, LedgerEntry>();
  const revokedGrants = new Set<string>();
  const leases = new Map<string, LedgerEntry>();
  const revokedLeases = new Set<string>();
  const overrides = new Set<string>();
  const artifacts = new Set<string>();
  const approvedRequests = new Map<string, LedgerEntry>();
  const effects = new Map<string, string>();
  const outcomes = new Set<string>();
  /** Step id -> the execution that ran it: a step runs at most once. */
  const ranSteps = new Map<string, string>();
  for (const e of entries) if (e.type === 'execution.outcome') outcomes.add(str(e, 'execution') ?? '');
  let bootstrapped = false;

  for (const e of entries) {
    const p = e.payload;
    const bootstrap = e.type === 'bundle.activated' && !bootstrapped && p['previous_bundle_id'] === null;
    if (e.type === 'bundle.activated') bootstrapped = true;

    if (need.has('bundle_id') && !isString(e.bundle_id)) report(e, 'bundle_id', 'no bundle id');
    // The first bundle is installed by the gateway itself (`serve --policy`): no caller to name.
    if (!GATEWAY_TYPES.has(e.type) && !bootstrap) {
      if (need.has('actor') && !isString(e.actor)) report(e, 'actor', 'no actor');
      if (need.has('surface') && !isString(e.surface)) report(e, 'surface', 'no surface');
    }
    if (need.has('rule_ids') && !RULELESS_TYPES.has(e.type) && !nonEmptyArray(p['rule_ids'])) report(e, 'rule_ids', 'no rule ids');
    if (need.has('environment') && ENVIRONMENT_TYPES.has(e.type) && !isString(p['environment'])) report(e, 'environment', 'no environment');
    if (need.has('step_digest')) {
      const decidedWithout = e.type === 'step.decided' && p['effect'] !== 'deny' && !isString(p['digest']);
      if (decidedWithout || (DIGEST_TYPES.has(e.type) && !isString(p['digest']))) report(e, 'step_digest', 'no step digest');
    }
    if (need.has('reason_codes')) {
      if (e.type === 'step.decided' && !nonEmptyArray(p['reasons'])) report(e, 'reason_codes', 'no reason codes');
      if (REFUSAL_TYPES.has(e.type) && !isString(p['code'])) report(e, 'reason_codes', 'refusal without a code');
      if (e.type === 'override.denied' && !nonEmptyArray(p['codes'])) report(e, 'reason_codes', 'override denial without gate codes');
    }
    if (need.has('approver_ids')) {
      if ((e.type === 'approval.accepted' || e.type === 'approval.rejected') && !isString(p['approver'])) report(e, 'approver_ids', 'no approver');
      if (e.type === 'request.approved' && !nonEmptyArray(p['approvers'])) report(e, 'approver_ids', 'request approved without approver ids');
      if ((e.type === 'override.granted' || e.type === 'override.denied') && !nonEmptyArray(p['signers'])) report(e, 'approver_ids', 'override without signer ids');
    }
    if (need.has('override_event') && (e.type === 'override.granted' || e.type === 'override.denied') && !overrides.has(str(e, 'override') ?? '')) {
      report(e, 'override_event', `override \`${str(e, 'override') ?? '-'}\` was never requested`);
    }
    if (need.has('outcome') && EXECUTION_TYPES.has(e.type) && !outcomes.has(str(e, 'execution') ?? '')) {
      report(e, 'outcome', `execution \`${str(e, 'execution') ?? '-'}\` has no recorded outcome`);
    }

    if (e.type === 'grant.consumed' || e.type === 'lease.used') {
      const step = str(e, 'step') ?? '';
      const before = ranSteps.get(step);
      if (before !== undefined) report(e, 'authority', `step \`${step}\` ran again (execution \`${str(e, 'execution') ?? '-'}\`) after execution \`${before}\``);
      else ranSteps.set(step, str(e, 'execution') ?? '');
    }

    switch (e.type) {
      case 'step.decided':
        effects.set(str(e, 'step') ?? '', str(e, 'effect') ?? '');
        break;
      case 'request.approved':
        approvedRequests.set(str(e, 'request') ?? '', e);
        break;
      case 'override.requested':
        overrides.add(str(e, 'override') ?? '');
        break;
      case 'grant.issued':
        grants.set(str(e, 'jti') ?? '', e);
        break;
      case 'grant.revoked':
        revokedGrants.add(str(e, 'jti') ?? '');
        break;
      case 'override.granted':
        leases.set(str(e, 'lease') ?? '', e);
        break;
      case 'lease.revoked':
        revokedLeases.add(str(e, 'lease') ?? '');
        break;
      case 'rollback.registered':
        artifacts.add(str(e, 'artifact') ?? '');
        break;
      case 'grant.consumed': {
        const jti = str(e, 'jti') ?? '';
        const grant = grants.get(jti);
        if (!grant) {
          report(e, 'authority', `executed on grant \`${jti}\`, which was never issued`);
          break;
        }
        if (grant.payload['digest'] !== p['digest'] || grant.payload['step'] !== p['step']) report(e, 'authority', `executed a step other than the one grant \`${jti}\` was issued for`);
        if (revokedGrants.has(jti)) report(e, 'authority', `executed on grant \`${jti}\` after it was revoked`);
        const expires = Date.parse(String(grant.payload['expires_at']));
        if (!(Date.parse(e.at) <= expires)) report(e, 'authority', `executed on grant \`${jti}\` after it expired`);
        const request = str(grant, 'request');
        if (need.has('approver_ids')) {
          if (request !== null && !approvedRequests.has(request)) report(e, 'approver_ids', `grant \`${jti}\` names request \`${request}\`, which has no recorded approval`);
          if (request === null && effects.get(str(e, 'step') ?? '') === 'require_approval') report(e, 'approver_ids', `step \`${str(e, 'step') ?? '-'}\` required approval but ran with no approver on record`);
        }
        break;
      }
      case 'lease.used': {
        const id = str(e, 'lease') ?? '';
        const lease = leases.get(id);
        if (!lease) {
          report(e, 'authority', `executed on lease \`${id}\`, which was never granted`);
          if (need.has('override_event')) report(e, 'override_event', `lease \`${id}\` has no override event`);
          break;
        }
        const digests = lease.payload['step_digests'];
        if (!Array.isArray(digests) || !digests.includes(p['digest'] as string)) report(e, 'authority', `executed a step lease \`${id}\` does not unlock`);
        if (revokedLeases.has(id)) report(e, 'authority', `executed on lease \`${id}\` after it was revoked`);
        const at = Date.parse(e.at);
        // The window is [valid_from, valid_to): at valid_to it has closed, as at use (state/execute.ts).
        if (!(at >= Date.parse(String(lease.payload['valid_from'])) && at < Date.parse(String(lease.payload['valid_to'])))) {
          report(e, 'authority', `executed on lease \`${id}\` outside its window`);
        }
        break;
      }
      case 'rollback.executed':
        if (!artifacts.has(str(e, 'artifact') ?? '')) report(e, 'authority', `ran rollback \`${str(e, 'artifact') ?? '-'}\`, which was never registered`);
        break;
      default:
        break;
    }
  }
  return problems;
}
