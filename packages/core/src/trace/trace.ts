import { CountersignError } from '../errors.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { describeEntry, entryCodes, entryRuleIds } from './describe.js';

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

export type TraceKind = 'proposal' | 'step' | 'request' | 'grant' | 'execution' | 'override' | 'lease' | 'artifact' | 'incident' | 'hold' | 'halt';

export interface Trace {
  readonly id: string;
  readonly kind: TraceKind;
  readonly bundle_ids: readonly string[];
  readonly steps: readonly TraceStep[];
  readonly lines: readonly TraceLine[];
}

const SPREADING_KEYS = new Set(['proposal', 'step', 'request', 'grant', 'execution', 'override', 'lease', 'artifact', 'target']);
const KIND_KEYS: readonly TraceKind[] = ['request', 'proposal', 'incident', 'step', 'grant', 'execution', 'override', 'lease', 'artifact', 'hold', 'halt'];

function payloadString(entry: LedgerEntry, key: string): string | null {
  const v = entry.payload[key];
  return typeof v === 'string' ? v : null;
}

function payloadStrings(entry: LedgerEntry, key: string): string[] {
  const v = entry.payload[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** What kind of id `id` is: the subject key it first appears under. */
export function traceKind(entries: readonly LedgerEntry[], id: string): TraceKind | null {
  for (const key of KIND_KEYS) {
    if (entries.some((e) => e.subjects[key] === id)) return key;
  }
  return null;
}

function stepIdsOf(proposal: LedgerEntry): string[] {
  const steps = proposal.payload['steps'];
  if (!Array.isArray(steps)) return [];
  return steps.map((s) => (s as { step?: unknown }).step).filter((s): s is string => typeof s === 'string');
}

interface Scope {
  readonly environments: readonly string[];
  readonly classes: readonly string[];
  readonly actions: readonly string[];
  readonly targets: readonly string[];
}

function scopeOf(entry: LedgerEntry): Scope {
  const s = (entry.payload['scope'] ?? {}) as Record<string, unknown>;
  const arr = (k: string): string[] => (Array.isArray(s[k]) ? (s[k] as unknown[]).filter((x): x is string => typeof x === 'string') : []);
  return { environments: arr('environments'), classes: arr('classes'), actions: arr('actions'), targets: arr('targets') };
}

const within = (list: readonly string[], value: string): boolean => list.length === 0 || list.includes(value);

/** Build the chain of `id`. Throws TRACE_NOT_FOUND when no entry names it. */
export function buildTrace(entries: readonly LedgerEntry[], id: string): Trace {
  const kind = traceKind(entries, id);
  if (kind === null) throw new CountersignError('TRACE_NOT_FOUND', `no ledger entry names \`${id}\``);

  // A request, grant or execution is about one step: its chain is that step's,
  // not its whole proposal's. Proposals and incidents spread to every step.
  const wide = kind === 'proposal' || kind === 'incident';
  const spreads = (key: string): boolean => SPREADING_KEYS.has(key) && (wide || key !== 'proposal');
  const ids = new Set<string>([id]);
  if (!wide) {
    for (const e of entries) {
      const step = e.subjects['step'];
      if (step !== undefined && e.subjects[kind] === id) ids.add(step);
    }
  }
  const digests = new Set<string>();
  const members = new Set<number>();
  const join = (e: LedgerEntry): void => {
    members.add(e.seq);
    for (const [key, value] of Object.entries(e.subjects)) if (spreads(key)) ids.add(value);
    for (const key of ['lease', 'override', 'execution', 'artifact']) {
      const v = payloadString(e, key);
      if (v !== null) ids.add(v);
    }
    const digest = payloadString(e, 'digest');
    if (digest !== null && (e.type === 'step.decided' || e.type === 'grant.issued')) digests.add(digest);
  };

  for (const e of entries) {
    const named = Object.entries(e.subjects).some(([key, value]) => ids.has(value) && (spreads(key) || key === kind));
    const overridesChain = e.type === 'override.requested' && payloadStrings(e, 'step_digests').some((d) => digests.has(d));
    // the proposal of a step in the chain: who asked, for whom, through which surface
    const proposes = e.type === 'proposal.received' && stepIdsOf(e).some((s) => ids.has(s));
    if (named || overridesChain || proposes) join(e);
  }
  const chain = entries.filter((e) => members.has(e.seq));

  const steps = stepsOf(chain);
  const namedSteps = new Set(chain.map((e) => e.subjects['step']).filter((x): x is string => x !== undefined));
  for (const step of [...steps.keys()]) if (!namedSteps.has(step)) steps.delete(step);
  addContext(entries, chain, steps, kind === 'incident' ? id : null, members);

  const lines = entries.filter((e) => members.has(e.seq)).map(toLine);
  const bundleIds = [...new Set(lines.map((l) => l.bundle_id).filter((b): b is string => b !== null))];
  return { id, kind, bundle_ids: bundleIds, steps: summarise(entries.filter((e) => members.has(e.seq)), steps), lines };
}

/** Holds and halts in force over the chain's steps, and the bundle it ran under. */
function addContext(entries: readonly LedgerEntry[], chain: readonly LedgerEntry[], steps: Map<string, StepFacts>, incident: string | null, members: Set<number>): void {
  const first = chain[0];
  const last = chain.at(-1);
  if (first === undefined || last === undefined) return;
  const incidents = new Set(chain.map((e) => e.subjects['incident']).filter((x): x is string => x !== undefined));
  if (incident !== null) incidents.add(incident);
  const stepList = [...steps.values()];

  const lifted = new Map<string, number>();
  for (const e of entries) {
    if (e.type === 'hold.lifted' || e.type === 'halt.lifted') lifted.set(payloadString(e, e.type === 'hold.lifted' ? 'hold' : 'halt') ?? '', e.seq);
  }
  const inForce = (opened: LedgerEntry, key: string): boolean => {
    const end = lifted.get(payloadString(opened, key) ?? '');
    return opened.seq <= last.seq && (end === undefined || end >= first.seq);
  };
  const extra = new Set<string>();
  for (const e of entries) {
    if (e.type === 'hold.opened' && inForce(e, 'hold')) {
      const scope = scopeOf(e);
      const covers = stepList.some((s) => within(scope.environments, s.environment) && within(scope.actions, s.action) && within(scope.targets, s.target) && (s.class === null || within(scope.classes, s.class)));
      if (covers || (incident !== null && e.subjects['incident'] === incident)) extra.add(`hold:${payloadString(e, 'hold')}`);
    }
    if (e.type === 'halt.issued' && inForce(e, 'halt')) {
      const scope = (e.payload['scope'] ?? {}) as { kind?: string; environment?: string; incident?: string };
      const covers =
        scope.kind === 'all' ||
        (scope.kind === 'environment' && stepList.some((s) => s.environment === scope.environment)) ||
        (scope.kind === 'incident' && incidents.has(scope.incident ?? ''));
      if (covers) extra.add(`halt:${payloadString(e, 'halt')}`);
    }
  }
  let bundle: LedgerEntry | null = null;
  for (const e of entries) {
    if (e.type !== 'bundle.activated') continue;
    if (e.seq <= first.seq) bundle = e;
    else if (e.seq <= last.seq) members.add(e.seq);
  }
  if (bundle !== null) members.add(bundle.seq);
  for (const e of entries) {
    const hold = e.subjects['hold'];
    const halt = e.subjects['halt'];
    const inScope = (hold !== undefined && extra.has(`hold:${hold}`)) || (halt !== undefined && extra.has(`halt:${halt}`));
    if (inScope && e.type !== 'hold.rejected') members.add(e.seq);
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

function stepsOf(chain: readonly LedgerEntry[]): Map<string, StepFacts> {
  const steps = new Map<string, StepFacts>();
  for (const e of chain) {
    if (e.type === 'proposal.received') {
      const proposal = payloadString(e, 'proposal') ?? '';
      for (const s of (e.payload['steps'] ?? []) as { step?: string; action?: string; environment?: string; target?: string }[]) {
        if (typeof s.step !== 'string') continue;
        steps.set(s.step, { step: s.step, proposal, action: s.action ?? '', environment: s.environment ?? '', target: s.target ?? '', class: null });
      }
    }
    if (e.type === 'step.decided') {
      const facts = steps.get(payloadString(e, 'step') ?? '');
      if (facts) facts.class = payloadString(e, 'class');
    }
  }
  return steps;
}

function toLine(e: LedgerEntry): TraceLine {
  return {
    seq: e.seq,
    at: e.at,
    type: e.type,
    actor: e.actor,
    surface: e.surface,
    bundle_id: e.bundle_id,
    step: e.subjects['step'] ?? payloadString(e, 'reverses_step'),
    what: describeEntry(e),
    codes: entryCodes(e),
    rule_ids: entryRuleIds(e),
    credential: payloadString(e, 'credential'),
  };
}

function summarise(chain: readonly LedgerEntry[], facts: Map<string, StepFacts>): TraceStep[] {
  type Mutable = { -readonly [K in keyof TraceStep]: TraceStep[K] extends readonly (infer U)[] ? U[] : TraceStep[K] };
  const out = new Map<string, Mutable>();
  const named = new Set(chain.map((e) => e.subjects['step']).filter((s): s is string => s !== undefined));
  for (const f of facts.values()) {
    // a proposal lists every step; a request's chain shows only its own
    if (!named.has(f.step)) continue;
    out.set(f.step, { step: f.step, proposal: f.proposal, action: f.action, environment: f.environment, target: f.target, effect: null, risk: null, digest: null, approvers: [], grants: [], leases: [], executions: [] });
  }
  const executions = new Map<string, { execution: string; via: TraceExecution['via']; seq: number; outcome: string | null }>();
  for (const e of chain) {
    const s = out.get(e.subjects['step'] ?? payloadString(e, 'reverses_step') ?? '');
    switch (e.type) {
      case 'step.decided':
        if (s) Object.assign(s, { effect: payloadString(e, 'effect'), risk: payloadString(e, 'risk'), digest: payloadString(e, 'digest') });
        break;
      case 'request.approved':
        if (s) s.approvers.push(...payloadStrings(e, 'approvers'));
        break;
      case 'grant.issued':
        if (s) s.grants.push(payloadString(e, 'jti') ?? '');
        break;
      case 'grant.consumed':
      case 'lease.used':
      case 'rollback.executed': {
        const execution = payloadString(e, 'execution') ?? '';
        const via: TraceExecution['via'] = e.type === 'grant.consumed' ? 'grant' : e.type === 'lease.used' ? 'lease' : 'rollback';
        const record: { execution: string; via: TraceExecution['via']; seq: number; outcome: string | null } = { execution, via, seq: e.seq, outcome: null };
        executions.set(execution, record);
        // the same object: its outcome is filled in when the outcome entry comes
        if (s) s.executions.push(record);
        if (e.type === 'lease.used' && s) {
          const lease = payloadString(e, 'lease') ?? '';
          if (!s.leases.includes(lease)) s.leases.push(lease);
        }
        break;
      }
      case 'execution.outcome': {
        const ex = executions.get(payloadString(e, 'execution') ?? '');
        if (ex) ex.outcome = payloadString(e, 'outcome');
        break;
      }
      default:
        break;
    }
  }
  return [...out.values()];
}
