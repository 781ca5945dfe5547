import { assignQuorum } from '../approval/quorum.js';
import { decideProposal, type ActiveHold, type DecisionState } from '../decision/decide.js';
import type { Decision } from '../decision/decision.js';
import type { ProposalStep } from '../decision/proposal.js';
import type { GoldenCase } from '../golden/case.js';
import { goldenCoverage, runGoldenCase } from '../golden/run.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { ruleKey, type CompiledPolicy, type CompiledRule } from '../policy/compile.js';
import { parseDuration } from '../policy/duration.js';
import type { ActionClass } from '../policy/schema.js';
import type { SignerData } from '../state/entries.js';
import { recreationText, withoutRecreations } from '../state/creation.js';
import { entryIssueText, parseEntries, type AuthorityEntry, type EntryEnvelope, type ParsedEntry } from '../state/parse.js';
import { checkParsed } from '../trace/check.js';
import { traceParsed } from '../trace/trace.js';
import { CLASS_MEANINGS, FAILURE_CLASSES, type FailureClass } from './taxonomy.js';

/**
 * The postmortem classifier: what went wrong, by the taxonomy of the
 * incident analysis, from the ledger alone. Every execution is judged
 * against the GOVERNED bundle (the one the organisation stands behind),
 * whatever bundle was in force when it ran: a permissive bundle that let a
 * mutation through is exactly what a postmortem must see. Pure: the clock
 * is the ledger's own timestamps.
 *
 * Each finding names the rule that produced it and the ledger entries (seq)
 * that support it. Rules, by class (docs/trace-and-postmortem.md):
 *
 *   authority-boundary-failure  quorum-short: a mutation ran with fewer
 *     independent authorities than its governed contract demands (approvals
 *     on its request, or independent override signers; a contract that is
 *     never overridable counts no signer).
 *   policy-enforcement-failure  refused-by-contract: a mutation ran that the
 *     governed bundle refuses outright (prerequisite missing, hold, risk
 *     deny, target or params); rollback-missing; invalid-grant-or-lease
 *     (never issued, expired, revoked, other step, outside the window);
 *     clock-breach (O3).
 *   tool-authority-failure  agent-beyond-grant: an agent credential ran a
 *     mutation that lacked its authority; out-of-set: a step outside every
 *     contract was let through or ran; agent-authority-attempt: an agent
 *     tried to approve, sign, hold, halt or activate.
 *   operator-process-failure  approver-reachable, own-surface,
 *     budget-spent, repeated-attempts, bundled-authority.
 *   evaluation-blind-spot  contradicts-golden: a mutation was decided with
 *     a risk the golden set says is wrong; uncovered: it ran on a contract,
 *     action@environment or rule no golden case exercises.
 *   traceability-gap  missing-field, no-approver-on-record, chain-break;
 *     malformed-entry: an entry does not match its catalog type (state/parse.ts).
 *     Nothing is read from its payload: an execution it may record is not
 *     judged, and the finding says so rather than guessing. recreated-entry:
 *     an entry creates a record an earlier entry created (state/creation.ts);
 *     the gateway ignored it, and so does every analysis here.
 *
 * Stopped attempts (refusals, denials, holds) are not failures: they are
 * listed under `stopped`, as evidence of the controls that held.
 */

export interface Finding {
  readonly class: FailureClass;
  readonly rule: string;
  readonly summary: string;
  readonly seqs: readonly number[];
  /** True when a mutation actually ran: the incident reached production. */
  readonly executed: boolean;
}

export interface ClassFindings {
  readonly class: FailureClass;
  readonly seqs: readonly number[];
  readonly findings: readonly Finding[];
}

export interface StoppedAttempt {
  readonly seq: number;
  readonly summary: string;
  readonly codes: readonly string[];
}

export interface PostmortemScope {
  readonly incident?: string;
  /** Epoch ms, inclusive. */
  readonly from?: number;
  /** Epoch ms, inclusive. */
  readonly to?: number;
}

export interface ClassifyOptions {
  /** The compiled governed bundle every execution is judged against. */
  readonly policy: CompiledPolicy;
  /** Golden cases of the governed bundle; without them evaluation-blind-spot is not evaluated. */
  readonly golden?: readonly GoldenCase[];
  readonly scope?: PostmortemScope;
  /** Verification failures found by the caller (a broken hash chain, a bad checkpoint). */
  readonly verificationFailures?: readonly { readonly seq: number; readonly message: string }[];
  /** How long before an override an eligible approver's activity makes them reachable; default 30 minutes. */
  readonly reachableWithinMs?: number;
}

export interface Postmortem {
  readonly scope: {
    readonly incident: string | null;
    readonly from: string | null;
    readonly to: string | null;
    readonly entries: number;
    readonly first_seq: number | null;
    readonly last_seq: number | null;
  };
  readonly judged_against: { readonly bundle_id: string; readonly name: string };
  readonly observed_symptom: string;
  readonly primary_failure_class: FailureClass | null;
  readonly secondary_failure_class: FailureClass | null;
  readonly additional_classes: readonly FailureClass[];
  readonly boundary_crossed: string | null;
  readonly control_missed: string | null;
  readonly detection_stage: 'runtime incident' | 'runtime, stopped before execution' | 'none';
  readonly release_action: string;
  readonly classes: readonly ClassFindings[];
  readonly stopped: readonly StoppedAttempt[];
  readonly not_evaluated: readonly string[];
}

const REFUSED_BY_CONTRACT = new Set(['HOLD_ACTIVE', 'PREREQUISITE_MISSING', 'RISK_DENIED', 'TARGET_NOT_ALLOWED', 'PARAM_NOT_ALLOWED', 'PARAM_INVALID', 'EVALUATION_ERROR']);
const OUT_OF_SET = new Set(['UNKNOWN_ACTION', 'UNKNOWN_ENVIRONMENT', 'ENVIRONMENT_NOT_ALLOWED', 'UNKNOWN_PRINCIPAL', 'UNKNOWN_SURFACE']);
const AGENT_AUTHORITY_TYPES = new Set(['approval.accepted', 'approval.rejected', 'override.requested', 'override.granted', 'override.denied', 'hold.opened', 'hold.lifted', 'hold.evidence_added', 'hold.rejected', 'halt.issued', 'halt.lifted', 'bundle.activated', 'rollback.registered', 'rollback.executed']);
const REPEAT_WINDOW_MS = 60 * 60_000;

/** The override signers an entry records: an override granted or denied. */
function signersOf(e: AuthorityEntry): readonly SignerData[] {
  return e.type === 'override.granted' || e.type === 'override.denied' ? e.payload.signers : [];
}

interface StepFacts {
  readonly body: ProposalStep;
  readonly proposal: AuthorityEntry<'proposal.received'>;
}

interface Execution {
  readonly entry: AuthorityEntry<'grant.consumed' | 'step.executed' | 'lease.used'>;
  readonly via: 'grant' | 'lease';
  readonly step: StepFacts;
  readonly decision: AuthorityEntry<'step.decided'> | null;
  readonly grant: AuthorityEntry<'grant.issued'> | null;
  readonly request: AuthorityEntry<'request.opened'> | null;
  readonly approvals: readonly AuthorityEntry<'approval.accepted'>[];
  readonly lease: AuthorityEntry<'override.granted'> | null;
  readonly leaseRequest: AuthorityEntry<'override.requested'> | null;
  readonly governed: Decision;
  readonly rule: CompiledRule | null;
  readonly mutation: boolean;
  readonly rollbackRegistered: boolean;
}

/** The codes of a refusal that stopped an attempt; null for any other entry. A clock breach is a finding, not a stop. */
function refusalCodes(e: AuthorityEntry): readonly string[] | null {
  switch (e.type) {
    case 'override.denied':
      return e.payload.codes;
    case 'approval.rejected':
    case 'grant.rejected':
    case 'hold.rejected':
    case 'lease.rejected':
    case 'authority.rejected':
      return [e.payload.code];
    default:
      return null;
  }
}

/** The lease an execution ran under, as the execution names it. */
function leaseOf(x: Execution): string {
  return x.entry.type === 'lease.used' ? x.entry.payload.lease : '-';
}

/** Classify what the ledger shows. */
export function classify(ledger: readonly LedgerEntry[], options: ClassifyOptions): Postmortem {
  const { policy } = options;
  const scope = options.scope ?? {};
  // parsed once, for every analysis below (state/parse.ts); entries outside the catalog are not authority entries
  const parsed = parseEntries(ledger);
  const authority = parsed.flatMap((p) => (p.kind === 'authority' ? [p.entry] : []));
  // a record created again, as the gateway did: reported below, and read for nothing
  const { applied: entries, recreated } = withoutRecreations(authority);
  /** What each seq's envelope says, where it is readable: the scope is a matter of seq and time. */
  const heads = new Map<number, EntryEnvelope>();
  for (const p of parsed) {
    if (p.kind !== 'malformed') heads.set(p.entry.seq, p.entry);
    else if (p.envelope !== null) heads.set(p.envelope.seq, p.envelope);
  }
  const inScope = scopePredicate(parsed, scope);
  const scoped = entries.filter((e) => inScope(e));
  const findings: Finding[] = [];
  const add = (cls: FailureClass, rule: string, summary: string, seqs: readonly number[], executed = false): void => {
    findings.push({ class: cls, rule, summary, seqs: [...new Set(seqs)].sort((a, b) => a - b), executed });
  };

  const isAgent = (principal: string | null): boolean => {
    if (principal === null) return false;
    const p = policy.principals.get(principal);
    return p === undefined ? agentsSeen.has(principal) : p.kind !== 'human';
  };
  const agentsSeen = new Set(entries.flatMap((e) => (e.type === 'proposal.received' ? [e.payload.agent] : [])));
  const roles = (principal: string): readonly string[] => policy.principals.get(principal)?.roles ?? [];
  const reportsTo = (principal: string, boss: string): boolean => {
    const seen = new Set<string>();
    for (let p = policy.principals.get(principal)?.reports_to; p !== undefined && !seen.has(p); p = policy.principals.get(p)?.reports_to) {
      if (p === boss) return true;
      seen.add(p);
    }
    return false;
  };

  const executions = replay(entries, policy);
  const bundleNames = new Map(entries.flatMap((e) => (e.type === 'bundle.activated' ? [[e.payload.bundle_id, e.payload.name] as const] : [])));

  // --- per execution: authority, enforcement, tool reach, trace of approvers
  const boundaryExecs: Execution[] = [];
  for (const x of executions) {
    if (!inScope(x.entry)) continue;
    const { agent, on_behalf_of: onBehalf, surface: requestSurface } = x.step.proposal.payload;
    const where = `${x.step.body.action}@${x.step.body.environment} ${x.step.body.target}`;
    const chain = [x.decision?.seq, x.request?.seq, ...x.approvals.map((a) => a.seq), x.grant?.seq, x.leaseRequest?.seq, x.lease?.seq, x.entry.seq].filter((s): s is number => s !== undefined);
    const independent = (p: string, surface: string, verified: boolean): boolean =>
      verified && !isAgent(p) && p !== agent && p !== onBehalf && surface !== requestSurface && !reportsTo(p, onBehalf);

    let failedAuthority = false;
    if (x.mutation && x.rule !== null && x.rule.effect === 'require_approval') {
      const seats = x.rule.requirement.quorum.reduce((n, f) => n + f.count, 0);
      let have: number;
      let met: boolean;
      let how: string;
      if (x.via === 'grant') {
        const approvers = [...new Set(x.approvals.filter((a) => a.payload.decision === 'approve' && independent(a.payload.approver, a.payload.surface, a.payload.signature_verified)).map((a) => a.payload.approver))];
        const quorum = assignQuorum(x.rule.requirement.quorum, approvers, (p, role) => roles(p).includes(role));
        have = quorum.seats.length;
        met = quorum.met;
        how = x.request === null ? 'on a grant issued with no approval request' : `on request ${x.request.payload.request}`;
      } else {
        const requester = x.leaseRequest?.actor ?? null;
        const overridable = x.rule.action.contract.override?.eligible !== false;
        const signers = new Set((x.lease?.payload.signers ?? []).filter((s) => s.principal !== requester && independent(s.principal, s.surface, s.signature_verified)).map((s) => s.principal));
        have = overridable ? signers.size : 0;
        // an override stands in for the quorum only with two independent signers at least
        met = overridable && have >= Math.max(2, seats);
        how = `under override lease ${leaseOf(x)}${overridable ? '' : ', on a contract that is never overridable'}`;
      }
      if (!met) {
        failedAuthority = true;
        boundaryExecs.push(x);
        add('authority-boundary-failure', 'quorum-short', `${where} ran (#${x.entry.seq}) with ${have} of ${seats} independent approvals its governed contract demands at risk ${x.rule.risk}, ${how}`, chain, true);
      }
    }

    const refused = x.governed.reasons.filter((r) => REFUSED_BY_CONTRACT.has(r) && !(r === 'HOLD_ACTIVE' && x.via === 'lease'));
    let failedEnforcement = false;
    if (x.mutation && refused.length > 0) {
      failedEnforcement = true;
      add('policy-enforcement-failure', 'refused-by-contract', `${where} ran (#${x.entry.seq}) although the governed bundle refuses it: ${refused.join(', ')}`, chain, true);
    }
    if (x.mutation && x.rule?.action.rollbackRequired && !x.rollbackRegistered) {
      failedEnforcement = true;
      add('policy-enforcement-failure', 'rollback-missing', `${where} ran (#${x.entry.seq}) with no rollback registered; its contract requires one before a grant`, chain, true);
    }
    const outOfSet = x.governed.reasons.filter((r) => OUT_OF_SET.has(r));
    if (outOfSet.length > 0) {
      add('tool-authority-failure', 'out-of-set', `${where} ran (#${x.entry.seq}) outside every governed contract: ${outOfSet.join(', ')}`, chain, true);
    }
    if (x.mutation && (failedAuthority || failedEnforcement) && isAgent(x.entry.actor)) {
      add('tool-authority-failure', 'agent-beyond-grant', `agent ${x.entry.actor ?? '-'} ran ${where} (#${x.entry.seq}) with its own credential; the governed bundle lets it run this only after ${x.governed.effect === 'require_approval' ? 'independent approval' : 'conditions that were not met'}`, chain, true);
    }
    if (failedAuthority && x.approvals.length === 0 && x.lease === null && options.policy.bundle.trace.required_fields.includes('approver_ids')) {
      add('traceability-gap', 'no-approver-on-record', `the ledger cannot show who authorized ${where} (#${x.entry.seq}): its governed contract needs approvers and none is on record`, chain, true);
    }
  }

  // --- steps the active bundle let through that no governed contract covers
  for (const e of scoped) {
    if (e.type !== 'step.decided' || e.payload.effect === 'deny' || e.payload.effect === 'held') continue;
    const facts = executions.stepFacts.get(e.payload.step);
    if (!facts) continue;
    const governed = decideOne(policy, facts, executions.stateAt(e.seq), Date.parse(e.at));
    const outOfSet = governed.reasons.filter((r) => OUT_OF_SET.has(r));
    if (outOfSet.length > 0 && !findings.some((f) => f.rule === 'out-of-set' && f.seqs.includes(e.seq))) {
      add('tool-authority-failure', 'out-of-set', `${e.payload.action}@${e.payload.environment} was decided ${e.payload.effect} (#${e.seq}) though no governed contract allows it: ${outOfSet.join(', ')}`, [e.seq]);
    }
  }

  // --- agents reaching for authority they never hold (DESIGN invariant 1)
  for (const e of scoped) {
    if (e.type === 'authority.rejected' && e.payload.code.startsWith('AGENT_CANNOT')) {
      add('tool-authority-failure', 'agent-authority-attempt', `agent ${e.actor ?? '-'} tried to ${e.payload.operation.replace('_', ' ')} (#${e.seq}), refused ${e.payload.code}`, [e.seq]);
      continue;
    }
    if (!AGENT_AUTHORITY_TYPES.has(e.type)) continue;
    const approver = e.type === 'approval.accepted' || e.type === 'approval.rejected' ? e.payload.approver : null;
    const who = [e.actor, approver, ...signersOf(e).map((s) => s.principal)].filter((p): p is string => p !== null && isAgent(p));
    if (who.length > 0) {
      add('tool-authority-failure', 'agent-authority-attempt', `agent ${[...new Set(who)].join(', ')} took part in ${e.type} (#${e.seq})${refusalCodes(e) !== null ? ', refused' : ''}`, [e.seq]);
    }
  }

  // --- invalid grants and leases, O3 breaches, missing trace fields
  const contract = checkParsed(parsed, policy.bundle.trace.required_fields);
  for (const p of contract) {
    const e = heads.get(p.seq);
    // an entry that does not match its type is reported once, below
    if (p.field === 'entry' || e === undefined || !inScope(e)) continue;
    if (p.field === 'authority') add('policy-enforcement-failure', 'invalid-grant-or-lease', `#${p.seq} ${p.type}: ${p.message}`, [p.seq], true);
    else add('traceability-gap', 'missing-field', `#${p.seq} ${p.type} lacks ${p.field}: ${p.message}`, [p.seq]);
  }
  for (const e of scoped) {
    if (e.type === 'lease.clock_breach') {
      add('policy-enforcement-failure', 'clock-breach', `lease ${e.payload.lease} presented at ${e.payload.attempted_at}, outside ${e.payload.valid_from} to ${e.payload.valid_to} (#${e.seq}): O3 clock breach flagged for incident review`, [e.seq]);
    }
  }
  for (const v of options.verificationFailures ?? []) {
    const e = heads.get(v.seq);
    if (e === undefined || inScope(e)) add('traceability-gap', 'chain-break', `#${v.seq}: ${v.message}`, [v.seq]);
  }
  // where the envelope is unreadable too, the entry cannot be placed in any scope: reported whatever the scope
  parsed.forEach((p, index) => {
    if (p.kind !== 'malformed' || (p.envelope !== null && !inScope(p.envelope))) return;
    const seq = p.issue.seq ?? index;
    add('traceability-gap', 'malformed-entry', `#${seq} ${p.issue.type ?? 'entry'} does not match its type at ${entryIssueText(p.issue)}: nothing it records is read`, [seq]);
  });
  for (const e of authority) {
    const copy = recreated.get(e.seq);
    if (copy === undefined || !inScope(e)) continue;
    add('traceability-gap', 'recreated-entry', `#${e.seq} ${e.type} ${recreationText(copy)}: the gateway applied the first, and nothing this one records is read`, [copy.first, e.seq]);
  }

  operatorProcess(entries, scoped, executions, inScope, policy, options.reachableWithinMs ?? 30 * 60_000, add, isAgent);

  const notEvaluated: string[] = [];
  if (options.golden === undefined) notEvaluated.push('evaluation-blind-spot: no golden set was given');
  else evaluation(executions.filter((x) => inScope(x.entry)), options.golden, policy, bundleNames, add);

  const placed = [...heads.values()].filter((h) => inScope(h)).sort((a, b) => a.seq - b.seq);
  return summarise(scoped, placed, scope, policy, findings, notEvaluated, bundleNames, boundaryExecs);
}

/** Overrides used outside their constraints, and one authority stretched over several mutations. */
function operatorProcess(
  entries: readonly AuthorityEntry[],
  scoped: readonly AuthorityEntry[],
  executions: Replay,
  inScope: (e: EntryEnvelope) => boolean,
  policy: CompiledPolicy,
  reachableWithinMs: number,
  add: (cls: FailureClass, rule: string, summary: string, seqs: readonly number[], executed?: boolean) => void,
  isAgent: (p: string | null) => boolean,
): void {
  const requests = new Map(entries.flatMap((e) => (e.type === 'override.requested' ? [[e.payload.override, e] as const] : [])));
  const granted = entries.filter((e): e is AuthorityEntry<'override.granted'> => e.type === 'override.granted');
  for (const g of granted.filter((e) => inScope(e))) {
    const override = g.payload.override;
    const request = requests.get(override);
    const requester = request?.actor ?? null;
    const requestedAt = Date.parse(request?.at ?? g.at);
    const steps = g.payload.step_digests.map((d) => executions.byDigest.get(d)).filter((s): s is StepFacts => s !== undefined);
    const signers = g.payload.signers;
    // approvers who could have given the real second key: eligible by the governed quorum, not a party to it
    const eligible = new Set<string>();
    for (const s of steps) {
      const rule = policy.rules.get(ruleKey(s.body.action, s.body.environment));
      for (const f of rule?.requirement.quorum ?? []) {
        for (const p of policy.principals.values()) {
          if (p.kind === 'human' && p.id !== requester && p.id !== s.proposal.payload.on_behalf_of && p.roles.some((r) => f.roles.includes(r))) eligible.add(p.id);
        }
      }
    }
    const seen = entries.find((e) => e.actor !== null && eligible.has(e.actor) && Date.parse(e.at) >= requestedAt - reachableWithinMs && e.seq < g.seq);
    if (seen !== undefined) {
      add('operator-process-failure', 'approver-reachable', `override ${override} was granted (#${g.seq}) while eligible approver ${seen.actor ?? '-'} was active on the ledger (#${seen.seq})`, [request?.seq ?? g.seq, seen.seq, g.seq]);
    }
    const own = new Set(steps.map((s) => s.proposal.payload.surface));
    if (request?.surface) own.add(request.surface);
    const onOwn = signers.filter((s) => own.has(s.surface));
    if (request !== undefined && steps.some((s) => s.proposal.payload.surface === request.surface)) {
      add('operator-process-failure', 'own-surface', `override ${override} was requested from ${request.surface ?? '-'}, the surface the unlocked step was proposed from, and granted (#${g.seq})`, [request.seq, g.seq]);
    } else if (onOwn.length > 0) {
      add('operator-process-failure', 'own-surface', `override ${override} was signed by ${onOwn.map((s) => `${s.principal}@${s.surface}`).join(', ')}, the request's own surface (#${g.seq})`, [g.seq]);
    }
    for (const env of g.payload.environments) {
      for (const budget of policy.bundle.overrides?.budgets ?? []) {
        if (budget.environment !== env) continue;
        const windowMs = parseDuration(budget.window);
        const at = Date.parse(g.at);
        const used = granted.filter((o) => o.seq <= g.seq && o.payload.environments.includes(env) && Date.parse(o.at) > at - windowMs);
        if (used.length > budget.max) {
          add('operator-process-failure', 'budget-spent', `override ${override} (#${g.seq}) is override ${used.length} in ${env} within ${budget.window}; the budget is ${budget.max}`, used.map((o) => o.seq));
        }
      }
    }
  }

  // the same console reaching for the override again and again
  const byConsole = new Map<string, AuthorityEntry[]>();
  for (const e of scoped.filter((x) => x.type === 'override.requested')) {
    const key = `${e.actor ?? '-'}@${e.surface ?? '-'}`;
    byConsole.set(key, [...(byConsole.get(key) ?? []), e]);
  }
  for (const [key, list] of byConsole) {
    const burst = list.filter((e, i) => list.some((o, j) => j !== i && Math.abs(Date.parse(o.at) - Date.parse(e.at)) <= REPEAT_WINDOW_MS));
    if (burst.length >= 2) add('operator-process-failure', 'repeated-attempts', `${burst.length} override requests from ${key} within an hour`, burst.map((e) => e.seq));
  }

  // one authority stretched over several mutations: the incident's "one approval, two actions"
  const groups = new Map<string, Execution[]>();
  for (const x of executions) {
    if (!x.mutation || !inScope(x.entry)) continue;
    const key = x.via === 'lease' ? `lease ${leaseOf(x)}` : x.request === null ? `proposal ${x.step.proposal.payload.proposal} with no request` : null;
    if (key === null) continue;
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  for (const [key, list] of groups) {
    const needing = list.filter((x) => x.rule === null || x.rule.effect !== 'allow');
    const risks = new Set(list.map((x) => x.rule?.risk ?? '-'));
    if (list.length >= 2 && needing.length >= 1 && (key.startsWith('proposal') || risks.size > 1)) {
      add('operator-process-failure', 'bundled-authority', `${list.length} mutations ran on one authority (${key}): ${list.map((x) => `${x.step.body.action} at risk ${x.rule?.risk ?? '-'} (#${x.entry.seq})`).join(', ')}`, list.flatMap((x) => [x.grant?.seq ?? x.entry.seq, x.entry.seq]), true);
    }
  }
  for (const x of executions) {
    if (!x.mutation || !inScope(x.entry) || x.via !== 'grant' || x.request !== null || x.rule === null || x.rule.effect === 'allow') continue;
    const surface = x.step.proposal.payload.surface;
    if (x.grant !== null && x.grant.surface === surface && !isAgent(x.step.proposal.payload.on_behalf_of)) {
      add('operator-process-failure', 'own-surface', `the grant for ${x.step.body.action}@${x.step.body.environment} (#${x.grant.seq}) went to ${surface}, the surface that asked for it, with no approval through another surface`, [x.grant.seq, x.entry.seq], true);
    }
  }
}

function evaluation(
  executions: readonly Execution[],
  cases: readonly GoldenCase[],
  policy: CompiledPolicy,
  bundleNames: ReadonlyMap<string, string>,
  add: (cls: FailureClass, rule: string, summary: string, seqs: readonly number[], executed?: boolean) => void,
): void {
  const decisions: Decision[] = [];
  const expectedRisk = new Map<string, Set<string>>();
  for (const c of cases) {
    decisions.push(...runGoldenCase(policy, c).decisions);
    c.when.proposal.steps.forEach((s, i) => {
      const risk = c.expect[i]?.risk;
      if (typeof risk !== 'string') return;
      const key = `${s.action}@${s.environment}`;
      expectedRisk.set(key, new Set([...(expectedRisk.get(key) ?? []), risk]));
    });
  }
  const coverage = goldenCoverage(policy, decisions);
  const contracts = new Set(coverage.contracts);
  const pairs = new Set(coverage.environments);
  const rules = new Set(coverage.rules);
  for (const x of executions) {
    const key = `${x.step.body.action}@${x.step.body.environment}`;
    const recordedRisk = x.decision?.payload.risk ?? null;
    const expected = expectedRisk.get(key);
    if (x.mutation && expected !== undefined && recordedRisk !== null && !expected.has(recordedRisk)) {
      const bundle = x.decision?.bundle_id ?? '-';
      add(
        'evaluation-blind-spot',
        'contradicts-golden',
        `${key} ran (#${x.entry.seq}) on a decision at risk ${recordedRisk} by bundle ${bundleNames.get(bundle) ?? '-'} ${bundle}; the golden set expects risk ${[...expected].join(' or ')}: that bundle never passed the gate`,
        [x.decision?.seq ?? x.entry.seq, x.entry.seq],
        true,
      );
    }
    const untested = [
      ...(contracts.has(x.step.body.action) ? [`contract ${x.step.body.action}`] : []),
      ...(pairs.has(key) ? [key] : []),
      ...x.governed.rule_ids.filter((r) => rules.has(r)).map((r) => `rule ${r}`),
    ];
    if (untested.length > 0) add('evaluation-blind-spot', 'uncovered', `${key} ran (#${x.entry.seq}) on what no golden case exercises: ${untested.join(', ')}`, [x.entry.seq], true);
  }
}

type Replay = Execution[] & {
  readonly stepFacts: ReadonlyMap<string, StepFacts>;
  readonly byDigest: ReadonlyMap<string, StepFacts>;
  stateAt(seq: number): DecisionState;
};

function decideOne(policy: CompiledPolicy, facts: StepFacts, state: DecisionState, now: number): Decision {
  const { agent, on_behalf_of, surface, incident } = facts.proposal.payload;
  const proposal = { agent, on_behalf_of, surface, ...(incident === null ? {} : { incident }), steps: [facts.body] };
  return decideProposal(policy, proposal, state, now)[0] as Decision;
}

/**
 * One pass over the ledger, keeping what a governed decision reads (open
 * holds, the last success per action and target) as it was at each seq, and
 * judging every execution at the moment it ran.
 */
function replay(entries: readonly AuthorityEntry[], policy: CompiledPolicy): Replay {
  const steps = new Map<string, StepFacts>();
  const byDigest = new Map<string, StepFacts>();
  const decisions = new Map<string, AuthorityEntry<'step.decided'>>();
  const requests = new Map<string, AuthorityEntry<'request.opened'>>();
  const approvals = new Map<string, AuthorityEntry<'approval.accepted'>[]>();
  const grants = new Map<string, AuthorityEntry<'grant.issued'>>();
  const leases = new Map<string, AuthorityEntry<'override.granted'>>();
  const overrideRequests = new Map<string, AuthorityEntry<'override.requested'>>();
  const rollbacks = new Set<string>();
  const holds = new Map<string, ActiveHold>();
  const started = new Map<string, { action: string; environment: string; target: string }>();
  const succeeded = new Map<string, number>();
  const snapshots = new Map<number, { holds: ActiveHold[]; succeeded: Map<string, number> }>();
  const out: Execution[] = [];
  const key = (a: string, e: string, t: string): string => JSON.stringify([a, e, t]);
  const stateNow = (): DecisionState => {
    const h = [...holds.values()];
    const s = new Map(succeeded);
    return { holds: h, lastSucceeded: (a, e, t) => s.get(key(a, e, t)) };
  };

  for (const e of entries) {
    snapshots.set(e.seq, { holds: [...holds.values()], succeeded: new Map(succeeded) });
    switch (e.type) {
      case 'proposal.received':
        for (const s of e.payload.steps) {
          steps.set(s.step, { body: { action: s.action, environment: s.environment, target: s.target, params: { ...s.params } }, proposal: e });
        }
        break;
      case 'step.decided': {
        decisions.set(e.payload.step, e);
        const facts = steps.get(e.payload.step);
        if (facts && e.payload.digest !== null) byDigest.set(e.payload.digest, facts);
        break;
      }
      case 'request.opened':
        requests.set(e.payload.request, e);
        break;
      case 'approval.accepted':
        approvals.set(e.payload.request, [...(approvals.get(e.payload.request) ?? []), e]);
        break;
      case 'grant.issued':
        grants.set(e.payload.jti, e);
        break;
      case 'override.requested':
        overrideRequests.set(e.payload.override, e);
        break;
      case 'override.granted':
        leases.set(e.payload.lease, e);
        break;
      case 'rollback.registered':
        rollbacks.add(e.payload.reverses_step);
        break;
      case 'hold.opened': {
        const { hold, trip_gate, scope } = e.payload;
        // a class decide() does not know matches no action; dropping it instead could empty the list, and an empty list holds every class
        holds.set(hold, { id: hold, trip_gate, scope: { environments: scope.environments, classes: scope.classes as readonly ActionClass[], actions: scope.actions, targets: scope.targets } });
        break;
      }
      case 'hold.lifted':
        holds.delete(e.payload.hold);
        break;
      case 'execution.outcome': {
        const s = started.get(e.payload.execution);
        if (s && e.payload.outcome === 'succeeded') succeeded.set(key(s.action, s.environment, s.target), Date.parse(e.at));
        break;
      }
      case 'grant.consumed':
      case 'step.executed':
      case 'lease.used': {
        const facts = steps.get(e.payload.step);
        if (!facts) break;
        started.set(e.payload.execution, facts.body);
        const grant = e.type === 'grant.consumed' ? (grants.get(e.payload.jti) ?? null) : null;
        const requestId = grant === null ? null : grant.payload.request;
        const lease = e.type === 'lease.used' ? (leases.get(e.payload.lease) ?? null) : null;
        const governed = decideOne(policy, facts, stateNow(), Date.parse(e.at));
        const contract = policy.actions.get(facts.body.action);
        out.push({
          entry: e,
          // the one-call path runs on the allow decision itself: a grant issued and consumed in one commit
          via: e.type === 'lease.used' ? 'lease' : 'grant',
          step: facts,
          decision: decisions.get(e.payload.step) ?? null,
          grant,
          request: requestId === null ? null : (requests.get(requestId) ?? null),
          approvals: requestId === null ? [] : (approvals.get(requestId) ?? []),
          lease,
          leaseRequest: lease === null ? null : (overrideRequests.get(lease.payload.override) ?? null),
          governed,
          rule: policy.rules.get(ruleKey(facts.body.action, facts.body.environment)) ?? null,
          // an action the governed bundle does not know is treated as a mutation: fail closed
          mutation: contract === undefined || contract.class !== 'read',
          rollbackRegistered: rollbacks.has(e.payload.step),
        });
        break;
      }
      default:
        break;
    }
  }
  const replayed = out as Replay;
  return Object.assign(replayed, {
    stepFacts: steps,
    byDigest,
    stateAt(seq: number): DecisionState {
      const snap = snapshots.get(seq);
      const s = snap?.succeeded ?? new Map<string, number>();
      return { holds: snap?.holds ?? [], lastSucceeded: (a: string, e: string, t: string) => s.get(key(a, e, t)) };
    },
  });
}

function scopePredicate(parsed: readonly ParsedEntry[], scope: PostmortemScope): (e: EntryEnvelope) => boolean {
  let seqs: Set<number> | null = null;
  if (scope.incident !== undefined) seqs = new Set(traceParsed(parsed, scope.incident).lines.map((l) => l.seq));
  return (e) => {
    if (seqs !== null && !seqs.has(e.seq)) return false;
    const at = Date.parse(e.at);
    if (scope.from !== undefined && at < scope.from) return false;
    if (scope.to !== undefined && at > scope.to) return false;
    return true;
  };
}

function summarise(
  scoped: readonly AuthorityEntry[],
  placed: readonly EntryEnvelope[],
  scope: PostmortemScope,
  policy: CompiledPolicy,
  findings: readonly Finding[],
  notEvaluated: readonly string[],
  bundleNames: ReadonlyMap<string, string>,
  boundaryExecs: readonly Execution[],
): Postmortem {
  const classes: ClassFindings[] = FAILURE_CLASSES.map((cls) => {
    const own = findings.filter((f) => f.class === cls);
    return { class: cls, seqs: [...new Set(own.flatMap((f) => f.seqs))].sort((a, b) => a - b), findings: own };
  }).filter((c) => c.findings.length > 0);
  const present = classes.map((c) => c.class);
  const primary = present[0] ?? null;
  const secondary = present[1] ?? null;

  const stopped: StoppedAttempt[] = [];
  for (const e of scoped) {
    const codes = refusalCodes(e);
    if (codes !== null) {
      stopped.push({ seq: e.seq, summary: `${e.type} ${e.actor ?? 'gateway'}@${e.surface ?? '-'}`, codes });
    } else if (e.type === 'step.decided' && (e.payload.effect === 'deny' || e.payload.effect === 'held')) {
      stopped.push({ seq: e.seq, summary: `${e.payload.action}@${e.payload.environment} decided ${e.payload.effect}`, codes: e.payload.reasons });
    }
  }

  const executed = findings.some((f) => f.executed);
  const mutationsShort = boundaryExecs.map((x) => `${x.step.body.action}@${x.step.body.environment} (#${x.entry.seq})`);
  let symptom: string;
  if (mutationsShort.length > 0) {
    symptom = `${mutationsShort.length} production mutation${mutationsShort.length === 1 ? '' : 's'} ran with fewer independent authorities than the governed contract demands: ${mutationsShort.join(', ')}`;
  } else if (primary !== null) {
    symptom = classes[0]?.findings[0]?.summary ?? primary;
  } else {
    symptom = stopped.length > 0 ? `no failure: ${stopped.length} attempt${stopped.length === 1 ? '' : 's'} past the governed boundary ${stopped.length === 1 ? 'was' : 'were'} stopped and recorded` : 'no failure: nothing crossed the governed boundary';
  }

  let boundary: string | null = null;
  if (primary === 'authority-boundary-failure') {
    const risks = [...new Set(boundaryExecs.map((x) => x.rule?.risk ?? '-'))];
    const envs = [...new Set(boundaryExecs.map((x) => x.step.body.environment))];
    boundary = `${CLASS_MEANINGS[primary].boundary} for ${risks.map((r) => `${r}-risk`).join(' and ')} mutations in ${envs.join(', ')}`;
  } else if (primary !== null) {
    boundary = CLASS_MEANINGS[primary].boundary;
  }
  const control = primary === null ? null : [primary, secondary].filter((c): c is FailureClass => c !== null).map((c) => CLASS_MEANINGS[c].control).join('; and ');
  const inForce = [...new Set(boundaryExecs.map((x) => x.decision?.bundle_id ?? x.grant?.bundle_id ?? '').filter((b) => b !== ''))];
  const release =
    primary === null
      ? 'none: keep the current posture'
      : `${CLASS_MEANINGS[primary].release}${inForce.length > 0 ? `; bundle in force: ${inForce.map((b) => `${bundleNames.get(b) ?? '-'} ${b}`).join(', ')}` : ''}`;

  const first = placed[0];
  const last = placed.at(-1);
  return {
    scope: {
      incident: scope.incident ?? null,
      from: scope.from === undefined ? null : new Date(scope.from).toISOString(),
      to: scope.to === undefined ? null : new Date(scope.to).toISOString(),
      entries: placed.length,
      first_seq: first?.seq ?? null,
      last_seq: last?.seq ?? null,
    },
    judged_against: { bundle_id: policy.bundleId, name: policy.bundle.name },
    observed_symptom: symptom,
    primary_failure_class: primary,
    secondary_failure_class: secondary,
    additional_classes: present.slice(2),
    boundary_crossed: boundary,
    control_missed: control,
    detection_stage: executed ? 'runtime incident' : primary !== null ? 'runtime, stopped before execution' : 'none',
    release_action: release,
    classes,
    stopped,
    not_evaluated: notEvaluated,
  };
}
