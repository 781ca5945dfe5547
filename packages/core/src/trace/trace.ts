import { CountersignError } from '../errors.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { entryIssueText, parseEntries, type AuthorityEntry, type EntryEnvelope, type EntryIssue, type ParsedEntry } from '../state/parse.js';
import { describeEntry, entryCodes, entryCredential, entryRuleIds } from './describe.js';
import { implicitRevocations, type ImplicitRevocation } from './revocations.js';
import { recreations, recreationText, type Recreation } from '../state/creation.js';

/**
 * The authority chain of a request, proposal, step or incident, rebuilt from
 * ledger entries alone (DESIGN "Trace"): proposal, each step's decision,
 * approvals and refusals, holds in force, override attempts, grant,
 * execution, outcome, rollback or halt, each line with its ledger seq.
 *
 * Membership spreads forward through ids: an entry joins the chain when one
 * of its subjects is an id already in it (proposal -> step -> request ->
 * grant -> execution), or when an override names one of the chain's step
 * digests. Ledger order is causal, so one pass in seq order is enough.
 * Incident, bundle, hold and halt ids never spread: they are shared by
 * everything in their scope and would pull in unrelated chains.
 *
 * Entries are read through the parser (state/parse.ts). Entries of types
 * outside the catalog have no place in a chain. A malformed entry whose
 * envelope is readable joins by its subjects like any other and is shown
 * as unreadable, its payload never read: a chain with a hole says so
 * (and `trace --check` reports it) rather than guessing what it held.
 */

export interface TraceLine {
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly actor: string | null;
  readonly surface: string | null;
  readonly bundle_id: string | null;
  /** The step the line is about, when it is about one. */
  readonly step: string | null;
  readonly what: string;
  readonly codes: readonly string[];
  readonly rule_ids: readonly string[];
  readonly credential: string | null;
}

export interface TraceExecution {
  readonly execution: string;
  readonly via: 'grant' | 'lease' | 'rollback';
  readonly seq: number;
  readonly outcome: string | null;
}

export interface TraceStep {
  readonly step: string;
  readonly proposal: string;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly effect: string | null;
  readonly risk: string | null;
  readonly digest: string | null;
  readonly approvers: readonly string[];
  readonly grants: readonly string[];
  readonly leases: readonly string[];
  readonly executions: readonly TraceExecution[];
}

export type TraceKind = 'proposal' | 'step' | 'request' | 'grant' | 'execution' | 'override' | 'lease' | 'artifact' | 'incident' | 'hold' | 'halt' | 'release';

export interface Trace {
  readonly id: string;
  readonly kind: TraceKind;
  readonly bundle_ids: readonly string[];
  readonly steps: readonly TraceStep[];
  readonly lines: readonly TraceLine[];
}

const SPREADING_KEYS = new Set(['proposal', 'step', 'request', 'grant', 'execution', 'override', 'lease', 'artifact', 'target', 'release']);
const KIND_KEYS: readonly TraceKind[] = ['request', 'proposal', 'incident', 'step', 'grant', 'execution', 'override', 'lease', 'artifact', 'hold', 'halt', 'release'];

/** An entry a chain can hold: parsed, or malformed with a readable envelope (`entry` null, `issue` says why). */
type Placed = { readonly head: AuthorityEntry; readonly entry: AuthorityEntry; readonly issue: null } | { readonly head: EntryEnvelope; readonly entry: null; readonly issue: EntryIssue };

function place(parsed: readonly ParsedEntry[]): Placed[] {
  const out: Placed[] = [];
  for (const p of parsed) {
    if (p.kind === 'authority') out.push({ head: p.entry, entry: p.entry, issue: null });
    else if (p.kind === 'malformed' && p.envelope !== null) out.push({ head: p.envelope, entry: null, issue: p.issue });
  }
  return out;
}

function kindIn(all: readonly Placed[], id: string): TraceKind | null {
  for (const key of KIND_KEYS) {
    if (all.some((e) => e.head.subjects[key] === id)) return key;
  }
  return null;
}

/** What kind of id `id` is: the subject key it first appears under. */
export function traceKind(entries: readonly LedgerEntry[], id: string): TraceKind | null {
  return kindIn(place(parseEntries(entries)), id);
}

/** Ids the payload names beyond its subjects that pull later entries into the chain: lease, override, execution, artifact. */
function payloadIds(e: AuthorityEntry): readonly string[] {
  switch (e.type) {
    case 'override.requested':
    case 'override.denied':
      return [e.payload.override];
    case 'override.granted':
      return [e.payload.override, e.payload.lease];
    case 'lease.used':
    case 'lease.step_retired':
      return [e.payload.lease, e.payload.execution];
    case 'lease.rejected':
    case 'lease.revoked':
    case 'lease.clock_breach':
      return [e.payload.lease];
    case 'request.voided':
      return e.payload.reason === 'step_executed' ? [e.payload.execution] : [];
    case 'grant.consumed':
    case 'step.executed':
    case 'execution.outcome':
      return [e.payload.execution];
    case 'rollback.registered':
      return [e.payload.artifact];
    case 'rollback.executed':
      return [e.payload.artifact, e.payload.execution];
    case 'release.proposed':
    case 'release.signed':
    case 'release.rejected':
      return [e.payload.release];
    case 'passkey.registered':
    case 'passkey.revoked':
      return [e.payload.credential_id];
    case 'bundle.activated':
    case 'proposal.received':
    case 'step.decided':
    case 'request.opened':
    case 'approval.accepted':
    case 'approval.rejected':
    case 'request.approved':
    case 'request.denied':
    case 'request.expired':
    case 'grant.issued':
    case 'grant.rejected':
    case 'grant.revoked':
    case 'hold.opened':
    case 'hold.evidence_added':
    case 'hold.lifted':
    case 'hold.rejected':
    case 'halt.issued':
    case 'halt.lifted':
    case 'authority.rejected':
      return [];
  }
}

/** The step a rollback reverses: its line is about that step. */
function reversedStep(e: AuthorityEntry): string | null {
  return e.type === 'rollback.registered' || e.type === 'rollback.executed' ? e.payload.reverses_step : null;
}

const within = (list: readonly string[], value: string): boolean => list.length === 0 || list.includes(value);

/** Build the chain of `id`. Throws TRACE_NOT_FOUND when no entry names it. */
export function buildTrace(entries: readonly LedgerEntry[], id: string): Trace {
  return traceParsed(parseEntries(entries), id);
}

/** `buildTrace` over entries already parsed (the postmortem parses once for all its analyses). */
export function traceParsed(parsed: readonly ParsedEntry[], id: string): Trace {
  const all = place(parsed);
  // an entry the gateway ignored (a record created again) is shown where it is named, and read for nothing
  const recreated = recreations(all.flatMap((e) => (e.entry === null ? [] : [e.entry])));
  const applied = (list: readonly Placed[]): Placed[] => list.filter((e) => !recreated.has(e.head.seq));
  const appliedAll = applied(all);
  const appliedEntries = entriesOf(appliedAll);
  // what each activation and halt revoked by its own entry (ADR 006 decision 4): read once, for the chain and its context
  const revocations = implicitRevocations(appliedEntries);
  const kind = kindIn(all, id);
  if (kind === null) throw new CountersignError('TRACE_NOT_FOUND', `no ledger entry names \`${id}\``);

  // A request, grant or execution is about one step: its chain is that step's,
  // not its whole proposal's. Proposals and incidents spread to every step.
  const wide = kind === 'proposal' || kind === 'incident';
  const spreads = (key: string): boolean => SPREADING_KEYS.has(key) && (wide || key !== 'proposal');
  const ids = new Set<string>([id]);
  // a halt's chain holds the grants it revoked and their steps, from the start
  if (kind === 'halt') {
    const stepOf = new Map(appliedEntries.flatMap((e) => (e.type === 'grant.issued' ? [[e.payload.jti, e.payload.step] as const] : [])));
    for (const r of revocations) if (r.halt === id) for (const jti of r.grants) ids.add(jti).add(stepOf.get(jti) ?? jti);
  }
  if (!wide) {
    for (const { head } of all) {
      const step = head.subjects['step'];
      if (step !== undefined && head.subjects[kind] === id) ids.add(step);
    }
  }
  const digests = new Set<string>();
  const members = new Set<number>();
  const join = ({ head, entry }: Placed): void => {
    members.add(head.seq);
    if (recreated.has(head.seq)) return;
    for (const [key, value] of Object.entries(head.subjects)) if (spreads(key)) ids.add(value);
    if (entry === null) return;
    for (const v of payloadIds(entry)) ids.add(v);
    if (entry.type === 'step.decided' && entry.payload.digest !== null) digests.add(entry.payload.digest);
    if (entry.type === 'grant.issued') digests.add(entry.payload.digest);
  };

  for (const e of all) {
    const named = Object.entries(e.head.subjects).some(([key, value]) => ids.has(value) && (spreads(key) || key === kind));
    const t = recreated.has(e.head.seq) ? null : e.entry;
    const overridesChain = t?.type === 'override.requested' && t.payload.step_digests.some((d) => digests.has(d));
    // the proposal of a step in the chain: who asked, for whom, through which surface
    const proposes = t?.type === 'proposal.received' && t.payload.steps.some((s) => ids.has(s.step));
    if (named || overridesChain || proposes) join(e);
  }
  const chain = applied(all.filter((e) => members.has(e.head.seq)));

  const steps = stepsOf(chain);
  const namedSteps = new Set(chain.map((e) => e.head.subjects['step']).filter((x): x is string => x !== undefined));
  for (const step of [...steps.keys()]) if (!namedSteps.has(step)) steps.delete(step);
  addContext(appliedAll, chain, steps, kind === 'incident' ? id : null, members, revocations);

  const held = all.filter((e) => members.has(e.head.seq));
  const lines = held.map((e) => toLine(e, recreated.get(e.head.seq)));
  const bundleIds = [...new Set(lines.map((l) => l.bundle_id).filter((b): b is string => b !== null))];
  return { id, kind, bundle_ids: bundleIds, steps: summarise(applied(held), steps), lines };
}

/** Holds and halts in force over the chain's steps, and the bundle it ran under. */
function addContext(all: readonly Placed[], chain: readonly Placed[], steps: Map<string, StepFacts>, incident: string | null, members: Set<number>, revocations: readonly ImplicitRevocation[]): void {
  const first = chain[0]?.head.seq;
  const last = chain.at(-1)?.head.seq;
  if (first === undefined || last === undefined) return;
  const incidents = new Set(chain.map((e) => e.head.subjects['incident']).filter((x): x is string => x !== undefined));
  if (incident !== null) incidents.add(incident);
  const stepList = [...steps.values()];

  // hold and halt ids never collide (`hold-1`, `halt-1`): one map for both
  const lifted = new Map<string, number>();
  for (const { entry: e } of all) {
    if (e?.type === 'hold.lifted') lifted.set(e.payload.hold, e.seq);
    if (e?.type === 'halt.lifted') lifted.set(e.payload.halt, e.seq);
  }
  const inForce = (openedAt: number, id: string): boolean => {
    const end = lifted.get(id);
    return openedAt <= last && (end === undefined || end >= first);
  };
  const extra = new Set<string>();
  for (const { entry: e } of all) {
    if (e?.type === 'hold.opened' && inForce(e.seq, e.payload.hold)) {
      const scope = e.payload.scope;
      const covers = stepList.some((s) => within(scope.environments, s.environment) && within(scope.actions, s.action) && within(scope.targets, s.target) && (s.class === null || within(scope.classes, s.class)));
      if (covers || (incident !== null && e.subjects['incident'] === incident)) extra.add(`hold:${e.payload.hold}`);
    }
    if (e?.type === 'halt.issued' && inForce(e.seq, e.payload.halt) && haltCovers(e.payload.scope, stepList, incidents)) extra.add(`halt:${e.payload.halt}`);
  }
  let bundle: number | null = null;
  for (const { entry: e } of all) {
    if (e?.type !== 'bundle.activated') continue;
    if (e.seq <= first) bundle = e.seq;
    else if (e.seq <= last) members.add(e.seq);
  }
  if (bundle !== null) members.add(bundle);
  for (const seq of revokingEntries(revocations, chain)) members.add(seq);
  for (const { head } of all) {
    const hold = head.subjects['hold'];
    const halt = head.subjects['halt'];
    const inScope = (hold !== undefined && extra.has(`hold:${hold}`)) || (halt !== undefined && extra.has(`halt:${halt}`));
    if (inScope && head.type !== 'hold.rejected') members.add(head.seq);
  }
}

/**
 * The activations and halts that revoked grants of the chain: each revokes
 * live grants by its own entry (ADR 006 decision 4), with no entry that
 * names the grant, so nothing else pulls it into the chain.
 */
function revokingEntries(revocations: readonly ImplicitRevocation[], chain: readonly Placed[]): number[] {
  const granted = new Set(chain.flatMap(({ entry: e }) => (e?.type === 'grant.issued' ? [e.payload.jti] : [])));
  return revocations
    .filter((r) => r.grants.some((jti) => granted.has(jti)))
    .map((r) => r.seq);
}

const entriesOf = (all: readonly Placed[]): AuthorityEntry[] => all.flatMap((e) => (e.entry === null ? [] : [e.entry]));

function haltCovers(scope: AuthorityEntry<'halt.issued'>['payload']['scope'], steps: readonly StepFacts[], incidents: ReadonlySet<string>): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'environment':
      return steps.some((s) => s.environment === scope.environment);
    case 'incident':
      return incidents.has(scope.incident);
  }
}

interface StepFacts {
  readonly step: string;
  readonly proposal: string;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  class: string | null;
}

function stepsOf(chain: readonly Placed[]): Map<string, StepFacts> {
  const steps = new Map<string, StepFacts>();
  for (const { entry: e } of chain) {
    if (e?.type === 'proposal.received') {
      for (const s of e.payload.steps) steps.set(s.step, { step: s.step, proposal: e.payload.proposal, action: s.action, environment: s.environment, target: s.target, class: null });
    }
    if (e?.type === 'step.decided') {
      const facts = steps.get(e.payload.step);
      if (facts) facts.class = e.payload.class;
    }
  }
  return steps;
}

function toLine({ head, entry, issue }: Placed, copy: Recreation | undefined): TraceLine {
  const where = { seq: head.seq, at: head.at, type: head.type, actor: head.actor, surface: head.surface, bundle_id: head.bundle_id };
  if (entry === null) {
    return { ...where, step: head.subjects['step'] ?? null, what: `unreadable ${head.type} entry: ${entryIssueText(issue)}`, codes: [], rule_ids: [], credential: null };
  }
  return {
    ...where,
    step: head.subjects['step'] ?? reversedStep(entry),
    what: copy === undefined ? describeEntry(entry) : `${describeEntry(entry)} (ignored: ${recreationText(copy)})`,
    codes: entryCodes(entry),
    rule_ids: entryRuleIds(entry),
    credential: entryCredential(entry),
  };
}

function summarise(chain: readonly Placed[], facts: Map<string, StepFacts>): TraceStep[] {
  type Mutable = { -readonly [K in keyof TraceStep]: TraceStep[K] extends readonly (infer U)[] ? U[] : TraceStep[K] };
  const out = new Map<string, Mutable>();
  const named = new Set(chain.map((e) => e.head.subjects['step']).filter((s): s is string => s !== undefined));
  for (const f of facts.values()) {
    // a proposal lists every step; a request's chain shows only its own
    if (!named.has(f.step)) continue;
    out.set(f.step, { step: f.step, proposal: f.proposal, action: f.action, environment: f.environment, target: f.target, effect: null, risk: null, digest: null, approvers: [], grants: [], leases: [], executions: [] });
  }
  const executions = new Map<string, { execution: string; via: TraceExecution['via']; seq: number; outcome: string | null }>();
  for (const { head, entry: e } of chain) {
    if (e === null) continue;
    const s = out.get(head.subjects['step'] ?? reversedStep(e) ?? '');
    switch (e.type) {
      case 'step.decided':
        if (s) {
          s.effect = e.payload.effect;
          s.risk = e.payload.risk;
          s.digest = e.payload.digest;
        }
        break;
      case 'request.approved':
        if (s) s.approvers.push(...e.payload.approvers);
        break;
      case 'grant.issued':
        if (s) s.grants.push(e.payload.jti);
        break;
      case 'grant.consumed':
      case 'lease.used':
      case 'rollback.executed': {
        const execution = e.payload.execution;
        const via: TraceExecution['via'] = e.type === 'grant.consumed' ? 'grant' : e.type === 'lease.used' ? 'lease' : 'rollback';
        const record: { execution: string; via: TraceExecution['via']; seq: number; outcome: string | null } = { execution, via, seq: e.seq, outcome: null };
        executions.set(execution, record);
        // the same object: its outcome is filled in when the outcome entry comes
        if (s) s.executions.push(record);
        if (e.type === 'lease.used' && s && !s.leases.includes(e.payload.lease)) s.leases.push(e.payload.lease);
        break;
      }
      case 'execution.outcome': {
        const ex = executions.get(e.payload.execution);
        if (ex) ex.outcome = e.payload.outcome;
        break;
      }
      default:
        break;
    }
  }
  return [...out.values()];
}
