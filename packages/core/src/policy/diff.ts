import { parseUtc } from '../authority/nfc.js';
import { canonicalJson, type CanonicalValue } from '../canonical.js';
import { canonicalDigest } from '../digest.js';
import { decideProposal } from '../decision/decide.js';
import type { Decision } from '../decision/decision.js';
import { DECISION_EFFECTS, type DecisionEffect } from '../decision/reason.js';
import { CountersignError } from '../errors.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { RequirementsData } from '../state/entries.js';
import { parseEntry, type AuthorityEntry } from '../state/parse.js';
import { recordedStepProposal } from '../state/propose.js';
import { applyEntry } from '../state/reduce.js';
import { createState, decisionState, type AuthorityState } from '../state/state.js';
import { normalisePolicy } from './bundle-id.js';
import type { CompiledPolicy } from './compile.js';
import type { PolicyBundle } from './schema.js';

/**
 * What a candidate bundle changes (`countersign policy diff`, issue 13): the
 * rules, and the recorded decisions that would come out differently. Policy
 * is a release surface (DESIGN invariant 8); this is what its signers read.
 *
 * Pure and deterministic: the ledger and the time bound are passed in, and
 * the result is plain canonical JSON (strings, safe integers, booleans, null,
 * arrays, objects), so `digest` can be bound by a signed release statement.
 *
 *   PolicyDiff {
 *     version: 1
 *     active, candidate: { bundle_id, name }
 *     identical: no static change and no decision that would change
 *     static: {
 *       changes: [{ section, id, change: added|removed|changed, fields: [{ field, before, after }] }]
 *       counts: { added, removed, changed, sections: [{ section, added, removed, changed }] }
 *     }
 *     replay: null without a ledger, else {
 *       since: RFC 3339 or null
 *       counts: { entries, decisions, changed, unchanged, differs_from_recorded,
 *                 by_kind: { effect, risk, class, quorum, surfaces, attestation, reasons },
 *                 by_effect: [{ before, after, count }] }
 *       recorded_bundles: [{ bundle_id, decisions }]
 *       changes: [{ seq, at, step, proposal, index, action, environment, target,
 *                   redecided, recorded: { bundle_id, effect }, kinds, before, after }]
 *     }
 *     digest: `sha256:<hex>` of the canonical JSON of every field above
 *   }
 *
 * Static diff. Both bundles are compared in their normalised form, the one
 * their ids are digests of (bundle-id.ts): every difference that changes the
 * id is listed, and nothing else (reordering a set or writing out a default
 * changes neither). INVARIANT: the static diff is empty exactly when the two
 * bundle ids are equal. Sections are the bundle's top-level keys; `bundle`
 * holds its scalars (name, description, version). A section that is a list of
 * ids (`environments`, `roles`) changes by ids added and removed; a list of
 * objects named by `id` (`principals`, `risk_classes`, `actions`, `surfaces`)
 * by entity; any other section (`overrides`, `holds`, `rollback`, `halt`,
 * `trace`, ...) is one entity with `id` null. A field is a dotted path into
 * the entity (`risk.prod`, `approval.quorum`, `keys.olivia-2025.public_key`,
 * `budgets.prod.max`); `before` or `after` is null where the field is absent.
 *
 * Replay diff. Every `step.decided` entry of the ledger is decided again,
 * under the active bundle (`before`) and under the candidate (`after`),
 * against the authority state as it was when the step was decided (the
 * entries before it, through the one reducer) and with the entry's time as
 * `now`, through the same proposal checks (`decideProposal`) the gateway ran.
 * `before` is the active bundle's decision rather than the recorded one so
 * that a bundle diffed against itself changes nothing, whatever rules the
 * ledger was written under; where the two differ (steps recorded under an
 * earlier bundle), `differs_from_recorded` counts it and each change carries
 * the recorded bundle and effect. A decision changes when its effect, risk,
 * action class, quorum factors, approval surfaces, attestation (these three
 * only where approval is required) or set of reason codes changes.
 *
 * A ledger entry that does not match its type is refused with
 * LEDGER_ENTRY_INVALID: the state after it could not be rebuilt, and a diff
 * cannot count around what it cannot read (as `report overrides`).
 */

// --- result shape ----------------------------------------------------------

type Json = CanonicalValue;
type JsonObject = { readonly [key: string]: Json };

export interface BundleRef {
  readonly bundle_id: string;
  readonly name: string;
}

export type StaticChangeKind = 'added' | 'removed' | 'changed';

export interface FieldChange {
  /** Dotted path into the entity: `risk.prod`, `approval.quorum`, `keys.olivia-2025.public_key`. */
  readonly field: string;
  /** Null where the field is absent. */
  readonly before: Json;
  readonly after: Json;
}

export interface StaticChange {
  /** The bundle's top-level key (`actions`, `principals`, `overrides`...), or `bundle` for its scalars. */
  readonly section: string;
  /** The entity's id; null for a section that is one entity. */
  readonly id: string | null;
  readonly change: StaticChangeKind;
  /** Every field of an added or removed entity, the differing ones of a changed entity; sorted by field. */
  readonly fields: readonly FieldChange[];
}

export interface SectionCount {
  readonly section: string;
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
}

export interface StaticDiff {
  /** In section order, then by id. */
  readonly changes: readonly StaticChange[];
  readonly counts: { readonly added: number; readonly removed: number; readonly changed: number; readonly sections: readonly SectionCount[] };
}

export const REPLAY_CHANGE_KINDS = ['effect', 'risk', 'class', 'quorum', 'surfaces', 'attestation', 'reasons'] as const;
export type ReplayChangeKind = (typeof REPLAY_CHANGE_KINDS)[number];

/** A decision as the replay compares it. */
export interface DecisionSummary {
  readonly effect: DecisionEffect;
  readonly risk: string | null;
  readonly class: string | null;
  /** ANDed factors, roles sorted, factors sorted; empty unless approval is required. */
  readonly quorum: readonly { readonly roles: readonly string[]; readonly count: number }[];
  /** Surfaces approvals may arrive through, sorted; empty unless approval is required. */
  readonly surfaces: readonly string[];
  /** Null unless approval is required. */
  readonly attestation: 'key' | 'any' | null;
  /** In evaluation order; compared as a set. */
  readonly reasons: readonly string[];
}

export interface ReplayChange {
  /** The `step.decided` entry replayed. */
  readonly seq: number;
  readonly at: string;
  readonly step: string;
  readonly proposal: string;
  readonly index: number;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  /** The entry decided the step again after a bundle change. */
  readonly redecided: boolean;
  readonly recorded: { readonly bundle_id: string | null; readonly effect: DecisionEffect };
  readonly kinds: readonly ReplayChangeKind[];
  readonly before: DecisionSummary;
  readonly after: DecisionSummary;
}

export interface ReplayDiff {
  readonly since: string | null;
  readonly counts: {
    /** Ledger entries read. */
    readonly entries: number;
    /** `step.decided` entries replayed (at or after `since`). */
    readonly decisions: number;
    readonly changed: number;
    readonly unchanged: number;
    /** Replayed decisions where the active bundle decides otherwise than the ledger recorded. */
    readonly differs_from_recorded: number;
    /** Changed decisions by what changed; one decision may count under several kinds. */
    readonly by_kind: { readonly [K in ReplayChangeKind]: number };
    /** Changed decisions by effect before and after, in effect order; an unchanged effect is `allow` → `allow`. */
    readonly by_effect: readonly { readonly before: DecisionEffect; readonly after: DecisionEffect; readonly count: number }[];
  };
  /** The bundles the replayed decisions were recorded under, by first appearance. */
  readonly recorded_bundles: readonly { readonly bundle_id: string | null; readonly decisions: number }[];
  /** In ledger order. */
  readonly changes: readonly ReplayChange[];
}

export interface PolicyDiff {
  readonly version: 1;
  readonly active: BundleRef;
  readonly candidate: BundleRef;
  readonly identical: boolean;
  readonly static: StaticDiff;
  readonly replay: ReplayDiff | null;
  /** `sha256:<hex>` over the canonical JSON of every other field: what a release statement binds. */
  readonly digest: string;
}

export interface ReplayOptions {
  /** Epoch ms: replay only steps decided at or after it. */
  readonly since?: number | null;
}

export interface PolicyDiffOptions extends ReplayOptions {
  /** The ledger to replay, in seq order; absent or null for the static diff alone. */
  readonly entries?: readonly LedgerEntry[] | null;
}

// --- static diff -----------------------------------------------------------

/** Sections in the order a reader meets them; any other top-level key follows, sorted. */
const SECTION_ORDER = ['bundle', 'environments', 'surfaces', 'roles', 'principals', 'risk_classes', 'actions', 'overrides', 'holds', 'rollback', 'halt', 'trace', 'notifications'];
/** Lists of objects named by one of these fields are compared item by item, by name. */
const NAME_FIELDS = ['id', 'environment'] as const;

// Code-unit order, the order RFC 8785 gives keys: no locale can change it.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isContainer(value: Json | undefined): value is JsonObject | readonly Json[] {
  return typeof value === 'object' && value !== null;
}

function isEmptyContainer(value: Json): boolean {
  return Array.isArray(value) ? value.length === 0 : isObject(value) && Object.keys(value).length === 0;
}

/** The field naming every item of a list, each by a distinct string; null when there is none. */
function nameField(list: readonly Json[]): string | null {
  if (list.length === 0) return null;
  for (const field of NAME_FIELDS) {
    const names = new Set<string>();
    for (const item of list) {
      const name = isObject(item) ? item[field] : undefined;
      if (typeof name !== 'string' || names.has(name)) break;
      names.add(name);
    }
    if (names.size === list.length) return field;
  }
  return null;
}

interface Leaf {
  readonly field: string;
  readonly value: Json;
}

/**
 * Every leaf of a value by a key that tells object members from named list
 * items, so that no two different values flatten alike; `field` is the
 * dotted path shown. Empty containers are leaves of their own.
 */
function leaves(value: Json, field: string, key: string, out: Map<string, Leaf>): Map<string, Leaf> {
  const under = (name: string): string => (field === '' ? name : `${field}.${name}`);
  if (isObject(value)) {
    const names = Object.keys(value);
    if (names.length === 0) out.set(key, { field, value });
    for (const name of names) leaves(value[name] ?? null, under(name), key + JSON.stringify(['.', name]), out);
    return out;
  }
  const named = Array.isArray(value) ? nameField(value) : null;
  if (named === null || !Array.isArray(value)) {
    out.set(key, { field, value });
    return out;
  }
  for (const [name, rest] of byName(value, named)) leaves(rest, under(name), key + JSON.stringify(['#', name]), out);
  return out;
}

function hasLeafUnder(map: ReadonlyMap<string, Leaf>, key: string): boolean {
  for (const other of map.keys()) if (other.length > key.length && other.startsWith(key)) return true;
  return false;
}

/** The fields where two values differ, sorted by field. */
function fieldChanges(before: Json | undefined, after: Json | undefined): FieldChange[] {
  const b = before === undefined ? new Map<string, Leaf>() : leaves(before, '', '', new Map());
  const a = after === undefined ? new Map<string, Leaf>() : leaves(after, '', '', new Map());
  const out: { key: string; change: FieldChange }[] = [];
  for (const key of new Set([...b.keys(), ...a.keys()])) {
    const was = b.get(key);
    const is = a.get(key);
    if (was !== undefined && is !== undefined && canonicalJson(was.value) === canonicalJson(is.value)) continue;
    // `keys: []` becoming `keys.k1.public_key`: the named item says it, an empty list gone adds nothing
    if (was === undefined && is !== undefined && isEmptyContainer(is.value) && hasLeafUnder(b, key)) continue;
    if (is === undefined && was !== undefined && isEmptyContainer(was.value) && hasLeafUnder(a, key)) continue;
    const field = (was ?? is)?.field ?? '';
    out.push({ key, change: { field, before: was?.value ?? null, after: is?.value ?? null } });
  }
  return out.sort((x, y) => compare(x.change.field, y.change.field) || compare(x.key, y.key)).map((x) => x.change);
}

function entityChange(section: string, id: string | null, before: Json | undefined, after: Json | undefined): StaticChange | null {
  const fields = fieldChanges(before, after);
  if (before === undefined) return { section, id, change: 'added', fields };
  if (after === undefined) return { section, id, change: 'removed', fields };
  return fields.length === 0 ? null : { section, id, change: 'changed', fields };
}

/** Items by name, each without its name: the id is the entity's, not one of its fields. */
function byName(list: readonly Json[], field: string): Map<string, JsonObject> {
  return new Map((list as readonly JsonObject[]).map((item) => [item[field] as string, Object.fromEntries(Object.entries(item).filter(([k]) => k !== field))]));
}

function sectionChanges(section: string, before: Json | undefined, after: Json | undefined): StaticChange[] {
  // a section present on one side only is one entity added or removed, whatever it holds
  if (Array.isArray(before) && Array.isArray(after)) {
    const lists: readonly (readonly Json[])[] = [before, after];
    if (lists.every((list) => list.every((item) => typeof item === 'string'))) {
      const was = new Set(before as readonly string[]);
      const is = new Set(after as readonly string[]);
      const ids = [...new Set([...was, ...is])].sort(compare);
      return ids.flatMap((id): StaticChange[] => (was.has(id) === is.has(id) ? [] : [{ section, id, change: is.has(id) ? 'added' : 'removed', fields: [] }]));
    }
    const named = nameField(before) ?? nameField(after);
    if (named !== null && lists.every((list) => list.length === 0 || nameField(list) === named)) {
      const was = byName(before, named);
      const is = byName(after, named);
      const ids = [...new Set([...was.keys(), ...is.keys()])].sort(compare);
      return ids.flatMap((id) => {
        const change = entityChange(section, id, was.get(id), is.get(id));
        return change === null ? [] : [change];
      });
    }
  }
  const change = entityChange(section, null, before, after);
  return change === null ? [] : [change];
}

function sectionRank(section: string): number {
  const rank = SECTION_ORDER.indexOf(section);
  return rank === -1 ? SECTION_ORDER.length : rank;
}

/**
 * What changes from `active` to `candidate`, rule by rule, in a fixed order:
 * sections as SECTION_ORDER lists them (others after, sorted), entities by id,
 * fields by path. Empty exactly when the bundle ids are equal.
 */
export function staticDiff(active: PolicyBundle, candidate: PolicyBundle): StaticDiff {
  const before = normalisePolicy(active) as JsonObject;
  const after = normalisePolicy(candidate) as JsonObject;
  const scalars = (o: JsonObject): JsonObject => Object.fromEntries(Object.entries(o).filter(([, v]) => !isContainer(v)));
  const sections = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => isContainer(before[key]) || isContainer(after[key]))
    .sort((x, y) => sectionRank(x) - sectionRank(y) || compare(x, y));

  const changes: StaticChange[] = [];
  const top = entityChange('bundle', null, scalars(before), scalars(after));
  if (top !== null) changes.push(top);
  for (const section of sections) changes.push(...sectionChanges(section, before[section], after[section]));

  const counts = new Map<string, { section: string; added: number; removed: number; changed: number }>();
  for (const c of changes) {
    const row = counts.get(c.section) ?? { section: c.section, added: 0, removed: 0, changed: 0 };
    row[c.change] += 1;
    counts.set(c.section, row);
  }
  const total = (kind: StaticChangeKind): number => changes.filter((c) => c.change === kind).length;
  return { changes, counts: { added: total('added'), removed: total('removed'), changed: total('changed'), sections: [...counts.values()] } };
}

// --- replay diff -----------------------------------------------------------

function sortedQuorum(quorum: RequirementsData['quorum']): DecisionSummary['quorum'] {
  const factors = quorum.map((f) => ({ roles: [...new Set(f.roles)].sort(compare), count: f.count }));
  return factors.sort((x, y) => compare(canonicalJson(x), canonicalJson(y)));
}

function summary(effect: DecisionEffect, risk: string | null, actionClass: string | null, requirements: RequirementsData | null, reasons: readonly string[]): DecisionSummary {
  // who must approve means something only where approval is required
  const approval = effect === 'require_approval' && requirements !== null ? requirements : null;
  return {
    effect,
    risk,
    class: actionClass,
    quorum: approval === null ? [] : sortedQuorum(approval.quorum),
    surfaces: approval === null ? [] : [...new Set(approval.surfaces)].sort(compare),
    attestation: approval === null ? null : approval.attestation,
    reasons: [...reasons],
  };
}

function decisionSummary(d: Decision): DecisionSummary {
  return summary(d.effect, d.risk, d.action_class, d.requirements, d.reasons);
}

function kindsOfChange(before: DecisionSummary, after: DecisionSummary): ReplayChangeKind[] {
  const set = (reasons: readonly string[]): string => canonicalJson([...new Set(reasons)].sort(compare));
  const differs: { readonly [K in ReplayChangeKind]: boolean } = {
    effect: before.effect !== after.effect,
    risk: before.risk !== after.risk,
    class: before.class !== after.class,
    quorum: canonicalJson(before.quorum) !== canonicalJson(after.quorum),
    surfaces: canonicalJson(before.surfaces) !== canonicalJson(after.surfaces),
    attestation: before.attestation !== after.attestation,
    reasons: set(before.reasons) !== set(after.reasons),
  };
  return REPLAY_CHANGE_KINDS.filter((kind) => differs[kind]);
}

function unreadable(seq: number, type: string | null, pointer: string, problem: string): CountersignError {
  return new CountersignError(
    'LEDGER_ENTRY_INVALID',
    `entry ${seq}${type === null ? '' : ` (\`${type}\`)`} cannot be replayed at ${pointer === '' ? 'the entry' : `\`${pointer}\``}: ${problem}; the replay diff rebuilds state from every entry and cannot replay around it`,
    { seq, type, pointer },
  );
}

/** The step as the gateway decided it: one step of its proposal, through the proposal's checks. */
function redecide(state: AuthorityState, entry: AuthorityEntry<'step.decided'>, policy: CompiledPolicy, now: number): Decision {
  const step = state.steps.get(entry.payload.step);
  const proposal = step === undefined ? undefined : state.proposals.get(step.proposal);
  if (step === undefined || proposal === undefined) {
    throw unreadable(entry.seq, entry.type, '/payload/step', `no \`proposal.received\` before it names step \`${entry.payload.step}\``);
  }
  const [decision] = decideProposal(policy, recordedStepProposal(step, proposal), decisionState(state), now);
  // decideProposal returns one decision per step, and there is one step
  return decision as Decision;
}

/**
 * Every recorded decision (`step.decided`) decided again under `active` and
 * under `candidate`, against the state and at the time it was recorded; lists
 * those that differ. `entries` is a whole ledger in seq order: the state at
 * each decision is rebuilt from every entry before it, `since` or not.
 * Throws LEDGER_ENTRY_INVALID for an entry that does not match its type.
 */
export function replayDiff(entries: readonly LedgerEntry[], active: CompiledPolicy, candidate: CompiledPolicy, options: ReplayOptions = {}): ReplayDiff {
  const since = options.since ?? null;
  if (since !== null && !Number.isSafeInteger(since)) throw new RangeError('since is not an epoch millisecond count');
  const state = createState();
  const changes: ReplayChange[] = [];
  const byKind = Object.fromEntries(REPLAY_CHANGE_KINDS.map((k) => [k, 0])) as { [K in ReplayChangeKind]: number };
  const byEffect = new Map<string, { before: DecisionEffect; after: DecisionEffect; count: number }>();
  const bundles = new Map<string, { bundle_id: string | null; decisions: number }>();
  let decisions = 0;
  let differsFromRecorded = 0;

  for (const [index, entry] of entries.entries()) {
    const parsed = parseEntry(entry);
    if (parsed.kind === 'malformed') {
      const { issue } = parsed;
      throw unreadable(issue.seq ?? index, issue.type, issue.pointer, issue.problem);
    }
    if (parsed.kind === 'authority' && parsed.entry.type === 'step.decided') {
      const e = parsed.entry;
      const now = parseUtc(e.at);
      if (!Number.isSafeInteger(now)) throw unreadable(e.seq, e.type, '/at', 'expected an RFC 3339 UTC time');
      if (since === null || now >= since) {
        decisions += 1;
        const recordedUnder = JSON.stringify(e.bundle_id);
        const tally = bundles.get(recordedUnder) ?? { bundle_id: e.bundle_id, decisions: 0 };
        tally.decisions += 1;
        bundles.set(recordedUnder, tally);

        const p = e.payload;
        const recorded = summary(p.effect, p.risk, p.class, p.requirements, p.reasons);
        const before = decisionSummary(redecide(state, e, active, now));
        const after = decisionSummary(redecide(state, e, candidate, now));
        if (kindsOfChange(recorded, before).length > 0) differsFromRecorded += 1;
        const kinds = kindsOfChange(before, after);
        if (kinds.length > 0) {
          for (const kind of kinds) byKind[kind] += 1;
          const pair = `${before.effect}>${after.effect}`;
          const row = byEffect.get(pair) ?? { before: before.effect, after: after.effect, count: 0 };
          row.count += 1;
          byEffect.set(pair, row);
          changes.push({
            seq: e.seq,
            at: e.at,
            step: p.step,
            proposal: p.proposal,
            index: p.index,
            action: p.action,
            environment: p.environment,
            target: p.target,
            redecided: p.redecided !== null,
            recorded: { bundle_id: e.bundle_id, effect: p.effect },
            kinds,
            before,
            after,
          });
        }
      }
    }
    // the state a later decision reads includes this entry, whatever its kind
    applyEntry(state, entry);
  }

  const rank = (effect: DecisionEffect): number => DECISION_EFFECTS.indexOf(effect);
  return {
    since: since === null ? null : new Date(since).toISOString(),
    counts: {
      entries: entries.length,
      decisions,
      changed: changes.length,
      unchanged: decisions - changes.length,
      differs_from_recorded: differsFromRecorded,
      by_kind: byKind,
      by_effect: [...byEffect.values()].sort((x, y) => rank(x.before) - rank(y.before) || rank(x.after) - rank(y.after)),
    },
    recorded_bundles: [...bundles.values()],
    changes,
  };
}

/**
 * The static diff and, given a ledger, the replay diff of a candidate against
 * the active bundle, with the digest a release statement binds. `identical`
 * is true when neither lists anything; a bundle diffed against itself always
 * is.
 */
export function policyDiff(active: CompiledPolicy, candidate: CompiledPolicy, options: PolicyDiffOptions = {}): PolicyDiff {
  const rules = staticDiff(active.bundle, candidate.bundle);
  const replay = options.entries === undefined || options.entries === null ? null : replayDiff(options.entries, active, candidate, { since: options.since ?? null });
  const body = {
    version: 1 as const,
    active: { bundle_id: active.bundleId, name: active.bundle.name },
    candidate: { bundle_id: candidate.bundleId, name: candidate.bundle.name },
    identical: rules.changes.length === 0 && (replay === null || replay.counts.changed === 0),
    static: rules,
    replay,
  };
  return { ...body, digest: canonicalDigest(body) };
}

// --- text ------------------------------------------------------------------

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function isQuorum(value: Json): value is readonly { readonly roles: readonly string[]; readonly count: number }[] {
  return Array.isArray(value) && value.length > 0 && value.every((f) => isObject(f) && typeof f['count'] === 'number' && Array.isArray(f['roles']));
}

function quorumText(quorum: readonly { readonly roles: readonly string[]; readonly count: number }[]): string {
  return quorum.length === 0 ? 'none' : quorum.map((f) => `${f.count} of ${f.roles.join('|')}`).join(' AND ');
}

function valueText(value: Json): string {
  if (value === null) return '(unset)';
  if (typeof value === 'string') return value;
  if (typeof value !== 'object') return String(value);
  if (isQuorum(value)) return quorumText(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return `[${value.join(', ')}]`;
  return canonicalJson(value);
}

function countsText(c: { readonly added: number; readonly removed: number; readonly changed: number }): string {
  return (['added', 'removed', 'changed'] as const).filter((kind) => c[kind] > 0).map((kind) => `${c[kind]} ${kind}`).join(', ');
}

function staticLines(diff: StaticDiff): string[] {
  const total = diff.changes.length;
  if (total === 0) return ['rules: identical'];
  const out = [`rules: ${plural(total, 'change')} (${countsText(diff.counts)})`];
  const mark = { added: '+', removed: '-', changed: '~' } as const;
  for (const section of diff.counts.sections) {
    out.push(`  ${section.section}: ${countsText(section)}`);
    for (const c of diff.changes.filter((x) => x.section === section.section)) {
      out.push(`    ${mark[c.change]} ${c.id ?? section.section}`);
      // a removed entity is named; what it said is in --json
      if (c.change === 'removed') continue;
      for (const f of c.fields) {
        out.push(c.change === 'added' ? `        ${f.field}: ${valueText(f.after)}` : `        ${f.field}: ${valueText(f.before)} → ${valueText(f.after)}`);
      }
    }
  }
  return out;
}

function listText(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

function kindLine(kind: ReplayChangeKind, before: DecisionSummary, after: DecisionSummary): string {
  switch (kind) {
    case 'effect':
      return `effect: ${before.effect} → ${after.effect}`;
    case 'risk':
      return `risk: ${before.risk ?? 'none'} → ${after.risk ?? 'none'}`;
    case 'class':
      return `class: ${before.class ?? 'none'} → ${after.class ?? 'none'}`;
    case 'quorum':
      return `quorum: ${quorumText(before.quorum)} → ${quorumText(after.quorum)}`;
    case 'surfaces':
      return `surfaces: ${listText(before.surfaces)} → ${listText(after.surfaces)}`;
    case 'attestation':
      return `attestation: ${before.attestation ?? 'none'} → ${after.attestation ?? 'none'}`;
    case 'reasons':
      return `reasons: ${listText(before.reasons)} → ${listText(after.reasons)}`;
  }
}

function replayLines(replay: ReplayDiff | null, active: string): string[] {
  if (replay === null) return ['replay: no ledger given'];
  const c = replay.counts;
  const window = replay.since === null ? '' : ` decided since ${replay.since}`;
  const out = [`replay: ${plural(c.decisions, 'decision')}${window} from ${plural(c.entries, 'ledger entry', 'ledger entries')}, ${c.changed} would change`];
  if (c.changed > 0) {
    for (const row of c.by_effect) out.push(`  ${row.before} → ${row.after}: ${row.count}`);
    out.push(`  by kind: ${REPLAY_CHANGE_KINDS.filter((k) => c.by_kind[k] > 0).map((k) => `${k} ${c.by_kind[k]}`).join(', ')}`);
  }
  // `before` is the active bundle's decision: say where the ledger was written under other rules
  for (const b of replay.recorded_bundles.filter((r) => r.bundle_id !== active)) {
    out.push(`  recorded under another bundle than the active one: ${b.bundle_id ?? 'none'} (${plural(b.decisions, 'decision')})`);
  }
  if (replay.recorded_bundles.some((r) => r.bundle_id !== active)) {
    out.push(`  the active bundle decides ${c.differs_from_recorded} of the ${plural(c.decisions, 'replayed decision')} otherwise than the ledger recorded`);
  }
  for (const ch of replay.changes) {
    out.push('', `  ${ch.step}  ${ch.action}@${ch.environment} ${ch.target}  (seq ${ch.seq}, ${ch.at}${ch.redecided ? ', re-decided after a bundle change' : ''})`);
    for (const kind of ch.kinds) out.push(`      ${kindLine(kind, ch.before, ch.after)}`);
  }
  return out;
}

/** The diff for people: rules grouped by section with counts, then the decisions that would change. */
export function formatPolicyDiff(diff: PolicyDiff): string {
  const out = [
    `policy diff ${diff.active.name} ${diff.active.bundle_id}`,
    `         → ${diff.candidate.name} ${diff.candidate.bundle_id}`,
    '',
    ...staticLines(diff.static),
    '',
    ...replayLines(diff.replay, diff.active.bundle_id),
    '',
    `${diff.identical ? 'identical' : 'differs'}; digest ${diff.digest}`,
  ];
  return `${out.join('\n')}\n`;
}
