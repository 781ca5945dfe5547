import type { LedgerEntry } from '../ledger/entry.js';
import { TRACE_FIELDS } from '../policy/schema.js';
import { entryIssueText, parseEntries, type AuthorityEntry, type ParsedEntry } from '../state/parse.js';
import { citedRuleIds } from './describe.js';
import { verifyPasskeyAssertion, verifyPasskeySignature, type PasskeyKey } from '../approval/passkey.js';
import { overridePasskeyChallenge } from '../override/evidence.js';
import { recreations, recreationText } from '../state/creation.js';
import { implicitRevocations } from './revocations.js';

/**
 * The trace contract check (`countersign trace --check`): every field the
 * policy's `trace.required_fields` names must be on the entries that carry
 * it, and every execution must match a grant or lease the ledger issued
 * before it. The incident analysis calls these the fields that make "the
 * approval chain reconstructable after the incident gets loud": bundle
 * version, approver identities, override event, rule ids, outcome path.
 *
 * Entries are read through the parser (state/parse.ts): an entry that does
 * not match its catalog type is a problem of its own (`entry`, naming the
 * field), whatever fields the policy requires, and nothing else is read from
 * it. Entries of types outside the catalog are not authority entries and
 * are not checked.
 */

export type TraceField = (typeof TRACE_FIELDS)[number];

export interface TraceProblem {
  readonly seq: number;
  readonly type: string;
  /**
   * The trace field that is missing; `authority` for an execution without a
   * matching grant or lease; `entry` for an entry that does not match its type;
   * `signature` for a passkey approval, or a passkey override signature the
   * gateway recorded as verified, whose signature does not verify against the
   * passkey the ledger had registered to its signer at that point. An entry
   * that creates a record an earlier entry created (state/creation.ts) is an
   * `entry` problem too: the gateway applies the first and ignores it. So is
   * a `bundle.activated` or `halt.issued` whose `grants_revoked` is not the
   * number of grants it revokes: every grant then live, or those in the
   * halt's scope.
   */
  readonly field: TraceField | 'authority' | 'entry' | 'signature';
  readonly message: string;
}

/** Entries the gateway writes on its own timer: no caller, so no actor or surface. */
const GATEWAY_TYPES = new Set(['request.expired']);

const filled = (v: string | null): boolean => v !== null && v.length > 0;

/** The environment of the entries that record where a step runs. */
function environmentOf(e: AuthorityEntry): string | null {
  switch (e.type) {
    case 'step.decided':
    case 'request.opened':
    case 'grant.issued':
    case 'grant.consumed':
    case 'step.executed':
    case 'rollback.registered':
      return e.payload.environment;
    default:
      return null;
  }
}

/** The step digest of the entries that must carry one. */
function requiredDigestOf(e: AuthorityEntry): string | null {
  switch (e.type) {
    case 'request.opened':
    case 'approval.accepted':
    case 'request.approved':
    case 'grant.issued':
    case 'grant.consumed':
    case 'step.executed':
    case 'lease.used':
    case 'rollback.registered':
    case 'rollback.executed':
      return e.payload.digest;
    default:
      return null;
  }
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
  return checkParsed(parseEntries(entries), required, only);
}

/** `checkTraceContract` over entries already parsed. */
export function checkParsed(parsed: readonly ParsedEntry[], required: readonly TraceField[] = TRACE_FIELDS, only?: ReadonlySet<number>): TraceProblem[] {
  const need = new Set(required);
  const problems: TraceProblem[] = [];
  const report = (seq: number, type: string, field: TraceProblem['field'], message: string): void => {
    if (only === undefined || only.has(seq)) problems.push({ seq, type, field, message });
  };

  const grants = new Map<string, AuthorityEntry<'grant.issued'>>();
  const revokedGrants = new Set<string>();
  const leases = new Map<string, AuthorityEntry<'override.granted'>>();
  const revokedLeases = new Set<string>();
  const overrides = new Set<string>();
  const artifacts = new Set<string>();
  const approvedRequests = new Set<string>();
  const effects = new Map<string, string>();
  const outcomes = new Set<string>();
  /** Step id -> the execution that ran it: a step runs at most once. */
  const ranSteps = new Map<string, string>();
  /** Passkeys as registered so far, and revoked: what a passkey approval is checked against, offline. */
  const passkeys = new Map<string, { key: PasskeyKey; revoked: boolean }>();
  for (const p of parsed) if (p.kind === 'authority' && p.entry.type === 'execution.outcome') outcomes.add(p.entry.payload.execution);
  const authority = parsed.flatMap((p) => (p.kind === 'authority' ? [p.entry] : []));
  const recreated = recreations(authority);
  /** Activation and halt seq -> the grants its own entry revoked (ADR 006 decision 4). */
  const revokedBy = new Map(implicitRevocations(authority.filter((e) => !recreated.has(e.seq))).map((r) => [r.seq, r.grants]));
  let bootstrapped = false;

  for (const [index, p] of parsed.entries()) {
    if (p.kind === 'other') continue;
    if (p.kind === 'malformed') {
      // the seq the entry gives, else where it sits (the loaders keep the two equal)
      report(p.issue.seq ?? index, p.issue.type ?? '-', 'entry', `does not match its type at ${entryIssueText(p.issue)}`);
      continue;
    }
    const e = p.entry;
    const problem = (field: TraceProblem['field'], message: string): void => report(e.seq, e.type, field, message);
    const copy = recreated.get(e.seq);
    if (copy !== undefined) {
      // checked as the gateway applied the ledger: nothing of this entry is read
      problem('entry', `${recreationText(copy)}: the gateway applied the first and ignored this one`);
      continue;
    }
    const bootstrap = e.type === 'bundle.activated' && !bootstrapped && e.payload.previous_bundle_id === null;
    if (e.type === 'bundle.activated') bootstrapped = true;

    if (need.has('bundle_id') && !filled(e.bundle_id)) problem('bundle_id', 'no bundle id');
    // The first bundle is installed by the gateway itself (`serve --policy`): no caller to name.
    if (!GATEWAY_TYPES.has(e.type) && !bootstrap) {
      if (need.has('actor') && !filled(e.actor)) problem('actor', 'no actor');
      if (need.has('surface') && !filled(e.surface)) problem('surface', 'no surface');
    }
    const rules = citedRuleIds(e);
    if (need.has('rule_ids') && rules !== null && rules.length === 0) problem('rule_ids', 'no rule ids');
    const environment = environmentOf(e);
    if (need.has('environment') && environment !== null && environment.length === 0) problem('environment', 'no environment');
    if (need.has('step_digest')) {
      const decidedWithout = e.type === 'step.decided' && e.payload.effect !== 'deny' && !filled(e.payload.digest);
      const digest = requiredDigestOf(e);
      if (decidedWithout || (digest !== null && digest.length === 0)) problem('step_digest', 'no step digest');
    }
    if (need.has('reason_codes')) {
      if (e.type === 'step.decided' && e.payload.reasons.length === 0) problem('reason_codes', 'no reason codes');
      if (isRefusal(e) && e.payload.code.length === 0) problem('reason_codes', 'refusal without a code');
      if (e.type === 'override.denied' && e.payload.codes.length === 0) problem('reason_codes', 'override denial without gate codes');
    }
    if (need.has('approver_ids')) {
      if ((e.type === 'approval.accepted' || e.type === 'approval.rejected') && e.payload.approver.length === 0) problem('approver_ids', 'no approver');
      if (e.type === 'request.approved' && e.payload.approvers.length === 0) problem('approver_ids', 'request approved without approver ids');
      if ((e.type === 'override.granted' || e.type === 'override.denied') && e.payload.signers.length === 0) problem('approver_ids', 'override without signer ids');
    }
    if (need.has('override_event') && (e.type === 'override.granted' || e.type === 'override.denied') && !overrides.has(e.payload.override)) {
      problem('override_event', `override \`${e.payload.override}\` was never requested`);
    }
    if (need.has('outcome') && (e.type === 'grant.consumed' || e.type === 'step.executed' || e.type === 'lease.used' || e.type === 'rollback.executed') && !outcomes.has(e.payload.execution)) {
      problem('outcome', `execution \`${e.payload.execution}\` has no recorded outcome`);
    }

    if (e.type === 'grant.consumed' || e.type === 'step.executed' || e.type === 'lease.used') {
      const { step, execution } = e.payload;
      const before = ranSteps.get(step);
      if (before !== undefined) problem('authority', `step \`${step}\` ran again (execution \`${execution}\`) after execution \`${before}\``);
      else ranSteps.set(step, execution);
    }

    if (e.type === 'approval.accepted' && e.payload.attestation === 'passkey') {
      const p = e.payload;
      const registered = p.passkey === undefined ? undefined : passkeys.get(p.passkey.credential_id);
      const statement = { request: p.request, step_digest: p.digest, bundle_id: e.bundle_id ?? '', decision: p.decision, approver: p.approver, surface: p.surface, reason: p.reason, signed_at: p.signed_at };
      const verified =
        p.passkey !== undefined &&
        registered !== undefined &&
        !registered.revoked &&
        verifyPasskeyAssertion(statement, { kind: 'passkey', ...p.passkey, signature: p.signature }, registered.key);
      if (!verified) problem('signature', `the passkey signature of ${p.approver} does not verify against a passkey registered to them at that point`);
    }

    if (e.type === 'override.granted' || e.type === 'override.denied') {
      // a denied override may carry a signature that failed (BAD_SIGNATURE): only those recorded as verified must verify
      for (const s of e.payload.signers) {
        if (s.passkey === undefined || !s.signature_verified) continue;
        const registered = passkeys.get(s.passkey.credential_id);
        const claim = { role: s.role, signer: s.principal, key_id: s.key_id, surface: s.surface, signed_at: s.signed_at };
        const verified =
          registered !== undefined &&
          !registered.revoked &&
          registered.key.principal === s.principal &&
          s.key_id === s.passkey.credential_id &&
          verifyPasskeySignature(overridePasskeyChallenge(e.payload.override, s.body_hash, claim), { ...s.passkey, signature: s.signature }, registered.key);
        if (!verified) problem('signature', `the passkey signature of ${s.principal} (signer ${s.role}) does not verify against a passkey registered to them at that point`);
      }
    }

    switch (e.type) {
      case 'passkey.registered':
        if (!passkeys.has(e.payload.credential_id)) passkeys.set(e.payload.credential_id, { key: { ...e.payload }, revoked: false });
        break;
      case 'passkey.revoked': {
        const known = passkeys.get(e.payload.credential_id);
        if (known !== undefined) known.revoked = true;
        break;
      }
      case 'step.decided':
        effects.set(e.payload.step, e.payload.effect);
        break;
      case 'request.approved':
        approvedRequests.add(e.payload.request);
        break;
      case 'override.requested':
        overrides.add(e.payload.override);
        break;
      case 'bundle.activated':
      case 'halt.issued': {
        // ADR 006 decision 4: an activation itself revokes every grant still live, a halt those in its scope
        const ended = revokedBy.get(e.seq) ?? [];
        const said = e.payload.grants_revoked;
        if (said !== undefined && said !== ended.length) problem('entry', `says it revoked ${said} live grants, but ${ended.length} ${ended.length === 1 ? 'was' : 'were'} live${e.type === 'halt.issued' ? ' in its scope' : ''}`);
        for (const jti of ended) revokedGrants.add(jti);
        break;
      }
      case 'grant.issued':
        grants.set(e.payload.jti, e);
        break;
      case 'grant.revoked':
        revokedGrants.add(e.payload.jti);
        break;
      case 'override.granted':
        leases.set(e.payload.lease, e);
        break;
      case 'lease.revoked':
        revokedLeases.add(e.payload.lease);
        break;
      case 'rollback.registered':
        artifacts.add(e.payload.artifact);
        break;
      case 'step.executed':
        // the one-call path runs on the decision recorded just before it, which must be an allow
        if (effects.get(e.payload.step) !== 'allow') problem('authority', `ran step \`${e.payload.step}\` in one call, but its decision is not \`allow\``);
        break;
      case 'grant.consumed': {
        const { jti, step } = e.payload;
        const grant = grants.get(jti);
        if (!grant) {
          problem('authority', `executed on grant \`${jti}\`, which was never issued`);
          break;
        }
        if (grant.payload.digest !== e.payload.digest || grant.payload.step !== step) problem('authority', `executed a step other than the one grant \`${jti}\` was issued for`);
        if (revokedGrants.has(jti)) problem('authority', `executed on grant \`${jti}\` after it was revoked`);
        if (!(Date.parse(e.at) <= Date.parse(grant.payload.expires_at))) problem('authority', `executed on grant \`${jti}\` after it expired`);
        const request = grant.payload.request;
        if (need.has('approver_ids')) {
          if (request !== null && !approvedRequests.has(request)) problem('approver_ids', `grant \`${jti}\` names request \`${request}\`, which has no recorded approval`);
          if (request === null && effects.get(step) === 'require_approval') problem('approver_ids', `step \`${step}\` required approval but ran with no approver on record`);
        }
        break;
      }
      case 'lease.used': {
        const id = e.payload.lease;
        const lease = leases.get(id);
        if (!lease) {
          problem('authority', `executed on lease \`${id}\`, which was never granted`);
          if (need.has('override_event')) problem('override_event', `lease \`${id}\` has no override event`);
          break;
        }
        if (!lease.payload.step_digests.includes(e.payload.digest)) problem('authority', `executed a step lease \`${id}\` does not unlock`);
        if (revokedLeases.has(id)) problem('authority', `executed on lease \`${id}\` after it was revoked`);
        const at = Date.parse(e.at);
        // The window is [valid_from, valid_to): at valid_to it has closed, as at use (state/execute.ts).
        if (!(at >= Date.parse(lease.payload.valid_from) && at < Date.parse(lease.payload.valid_to))) problem('authority', `executed on lease \`${id}\` outside its window`);
        break;
      }
      case 'rollback.executed':
        if (!artifacts.has(e.payload.artifact)) problem('authority', `ran rollback \`${e.payload.artifact}\`, which was never registered`);
        break;
      default:
        break;
    }
  }
  return problems;
}

/** The refusals that carry one code (an override denial carries every failing gate's). */
function isRefusal(e: AuthorityEntry): e is AuthorityEntry<'release.rejected' | 'approval.rejected' | 'grant.rejected' | 'hold.rejected' | 'lease.rejected' | 'lease.clock_breach' | 'authority.rejected'> {
  switch (e.type) {
    case 'release.rejected':
    case 'approval.rejected':
    case 'grant.rejected':
    case 'hold.rejected':
    case 'lease.rejected':
    case 'lease.clock_breach':
    case 'authority.rejected':
      return true;
    default:
      return false;
  }
}
