import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { playGoverned, playPermissive } from '../../../../test/scenario/incident.js';
import { caller, clearStep, compileBundle, COPILOT, EVIDENCE, EVIDENCE_2, examplePolicy, inspectStep, MINUTE, ok, restartOverride, restartStep, World, PASSING_GOLDEN, SAMPLE_PASSKEY } from '../../../../test/scenario/world.js';
import type { CanonicalValue } from '../canonical.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { KEY_ROTATED } from '../ledger/rotation.js';
import { ENTRY_TYPES, type TypedEntry } from './entries.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import type { HoldResult } from './hold.js';
import type { RegisterRollbackResult } from './rollback.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import { entryIssueText, parseEntries, parseEntry, type ParsedEntry } from './parse.js';

const OLIVIA = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');
const PRIYA = caller('priya', 'approver-console');
const SAM = caller('sam', 'signed-cli');

/** The restart proposed (its request open) and its rollback registered: what an approval or an override needs. */
function openRestart(w: World, target = 'payments-worker'): { step: string; request: string; digest: string; artifact: string } {
  const s = ok(w.propose([restartStep({ target })])).steps[0];
  if (!s?.request || !s.digest) throw new Error('the restart in prod needs approval');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target })).artifact;
  return { step: s.step, request: s.request, digest: s.digest, artifact };
}

/** Requested by olivia, signed by lena (A) and fatima (B) through the signed CLI, with priya as the budget's extra signer. */
function lease(w: World, hold: string | null, digest: string, artifact: string): string {
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, hold, digest, artifact) }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli'), w.sign(requested.body, 'extra', 'priya', 'signed-cli')];
  return ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
}

function consume(w: World, grant: string): string | null {
  const out = w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant });
  return out.result.ok ? out.result.execution : null;
}

/**
 * A tour of the workflow that writes every entry type of the catalog, each
 * as the state machine writes it: approvals, denials and refusals, grants
 * run, refused and revoked, overrides granted and denied, leases used,
 * refused, retired, revoked and breached, holds, halts, rollbacks, expiry
 * and a bundle change.
 */
function tour(): World {
  const w = new World(examplePolicy());
  // the one-call path: an allowed diagnostic run in the deciding commit
  ok(w.run({ kind: 'propose', caller: COPILOT, proposal: { agent: COPILOT.principal, on_behalf_of: 'olivia', surface: COPILOT.surface, steps: [inspectStep()] }, execute: true }));

  // a request denied, and one approved after a self-approval is refused
  const denied = openRestart(w, 'ledger-worker');
  ok(w.approve(denied.request, 'leo', 'signed-cli', { decision: 'deny' }));
  const restart = openRestart(w);
  w.approve(restart.request, 'olivia', 'copilot-console');
  const grant = ok(w.approve(restart.request, 'leo', 'signed-cli')).grant?.jti ?? '';

  // a lease over the same step, retired when the grant runs it; the grant presented again is refused
  const retired = lease(w, null, restart.digest, restart.artifact);
  const execution = consume(w, grant) ?? '';
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution, outcome: 'failed' }));
  consume(w, grant);
  w.run({ kind: 'use_lease', caller: COPILOT, lease: retired, step: restart.step });
  ok(w.run({ kind: 'rollback_run', caller: OLIVIA, artifact: restart.artifact }));

  // a lease runs a step whose request is open: the request is voided
  const second = openRestart(w);
  const used = lease(w, null, second.digest, second.artifact);
  ok(w.run({ kind: 'use_lease', caller: COPILOT, lease: used, step: second.step }));

  // a lease runs a step whose grant is live: the grant is revoked
  const granted = openRestart(w);
  ok(w.approve(granted.request, 'leo', 'signed-cli'));
  ok(w.run({ kind: 'use_lease', caller: COPILOT, lease: lease(w, null, granted.digest, granted.artifact), step: granted.step }));

  // an override signed by its own requester is denied; an agent cannot request one or open a hold
  const third = openRestart(w);
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, null, third.digest, third.artifact) }));
  w.run({ kind: 'override_submit', caller: OLIVIA, override: requested.override, signatures: [w.sign(requested.body, 'a', 'olivia', 'approver-console'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')] });
  w.run({ kind: 'override_request', caller: COPILOT, ...restartOverride(w, null, third.digest, third.artifact) });
  w.run({ kind: 'hold_open', caller: COPILOT, trip_gate: 'K1', scope: {}, evidence_hash: EVIDENCE });

  // a hold whose new evidence revokes the lease granted under it; lifted
  const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE, reason: 'evidence at risk' })).hold;
  const underHold = lease(w, hold, third.digest, third.artifact);
  ok(w.run({ kind: 'hold_evidence', caller: LENA, hold, evidence_hash: EVIDENCE_2 }));
  w.run({ kind: 'use_lease', caller: COPILOT, lease: underHold, step: third.step });
  ok(w.run({ kind: 'hold_lift', caller: PRIYA, hold, reason: 'snapshot taken' }));

  // a lease presented after its window: an O3 clock breach
  const fourth = openRestart(w);
  const late = lease(w, null, fourth.digest, fourth.artifact);
  w.advance(61 * MINUTE);
  w.run({ kind: 'use_lease', caller: COPILOT, lease: late, step: fourth.step });

  // a halt revokes a live grant (by its own entry); lifted
  const fifth = openRestart(w);
  ok(w.approve(fifth.request, 'leo', 'signed-cli'));
  const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'prod' }, reason: 'stop everything in prod' })).halt;
  ok(w.run({ kind: 'halt_lift', caller: SAM, halt: halted, reason: 'stable again' }));
  ok(w.run({ kind: 'halt', caller: SAM, scope: { kind: 'incident', incident: 'inc-1' } }));
  ok(w.run({ kind: 'halt', caller: SAM, scope: { kind: 'all' } }));

  // a passkey registered from the console, an approval signed with it, the passkey revoked
  ok(w.run({ kind: 'passkey_register', caller: LENA, passkey: SAMPLE_PASSKEY, identity: { issuer: 'https://idp.example', subject: 'lena-1' } }));
  ok(w.approve(openRestart(w).request, 'lena', 'approver-console', { passkey: SAMPLE_PASSKEY.credential_id }));
  ok(w.run({ kind: 'passkey_revoke', caller: LENA, credential_id: SAMPLE_PASSKEY.credential_id }));

  // a request left to expire, one voided by a bundle change
  openRestart(w, 'ledger-worker');
  w.advance(24 * 60 * MINUTE);
  ok(w.run({ kind: 'expire' }));
  openRestart(w);
  // a release signed by the proposer's own report is refused, then the release goes through
  const candidate = compileBundle({ ...examplePolicy().bundle, description: 'next' });
  const proposed = w.run({ kind: 'release_propose', caller: PRIYA, candidate, golden: PASSING_GOLDEN, diff: { replayed: 0, changed: 0, static_changes: 0, digest: `sha256:${'d'.repeat(64)}` } });
  if (!proposed.result.ok) throw new Error('the release should be proposed');
  w.signRelease([...w.state.releases.keys()][0] ?? '', 'lena', 'signed-cli');
  ok(w.activate(candidate));
  return w;
}

/** Built by each test that reads it, not at collection: see docs/testing.md, "Keep tests countable". */
const tourEntries = (): readonly LedgerEntry[] => tour().machine.entries;

function expectAuthority(entries: readonly LedgerEntry[]): void {
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (parsed.kind !== 'authority') throw new Error(`#${entry.seq} ${entry.type} parsed as ${parsed.kind}: ${parsed.kind === 'malformed' ? entryIssueText(parsed.issue) : ''}`);
    // nothing the writer wrote is unknown to the schema: the checked copy is the whole entry
    expect(parsed.entry).toEqual(entry);
  }
}

describe('parseEntry accepts what the state machine writes', () => {
  it('the tour writes every type of the catalog, and every entry parses as its type', () => {
    const entries = tourEntries();
    expect(new Set(entries.map((e) => e.type))).toEqual(new Set(ENTRY_TYPES));
    expectAuthority(entries);
  });

  it('both runs of the reference incident', () => {
    expectAuthority(playPermissive().world.machine.entries);
    expectAuthority(playGoverned().world.machine.entries);
  });

  it('an old variant and a new one of `request.voided`, and an entry a later writer extended', () => {
    const entries = tourEntries();
    const voided = entries.filter((e) => e.type === 'request.voided').map((e) => e.payload['reason']);
    expect(new Set(voided)).toEqual(new Set(['bundle_change', 'step_executed']));
    const first = entries[0] as LedgerEntry;
    const extended = { ...first, payload: { ...first.payload, added_later: ['x'] } };
    const parsed = parseEntry(extended);
    expect(parsed).toMatchObject({ kind: 'authority', entry: { type: 'bundle.activated' } });
  });

  it('an authority entry is the reducer\'s typed entry', () => {
    const parsed = parseEntry(tourEntries()[0] as LedgerEntry);
    if (parsed.kind !== 'authority') throw new Error('expected an authority entry');
    // compile-time: AuthorityEntry is assignable to TypedEntry
    const typed: TypedEntry = parsed.entry;
    expect(typed.type).toBe('bundle.activated');
  });
});

type Action =
  | { readonly kind: 'propose'; readonly clear: boolean }
  | { readonly kind: 'approve'; readonly approver: number; readonly deny: boolean }
  | { readonly kind: 'consume'; readonly grant: number }
  | { readonly kind: 'outcome'; readonly outcome: 'succeeded' | 'failed' | 'ambiguous' }
  | { readonly kind: 'override'; readonly withHold: boolean; readonly selfSigned: boolean }
  | { readonly kind: 'use'; readonly lease: number; readonly step: number }
  | { readonly kind: 'hold' }
  | { readonly kind: 'evidence' }
  | { readonly kind: 'lift' }
  | { readonly kind: 'halt'; readonly scope: 0 | 1 | 2 }
  | { readonly kind: 'lift_halt' }
  | { readonly kind: 'rollback' }
  | { readonly kind: 'agent'; readonly what: 0 | 1 | 2 }
  | { readonly kind: 'expire' }
  | { readonly kind: 'bundle' }
  | { readonly kind: 'advance'; readonly ms: number };

const APPROVERS = ['lena', 'fatima', 'leo', 'sam', 'olivia', 'payments-copilot'];

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('propose' as const), clear: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('approve' as const), approver: fc.nat(APPROVERS.length - 1), deny: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('consume' as const), grant: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('outcome' as const), outcome: fc.constantFrom('succeeded' as const, 'failed' as const, 'ambiguous' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('override' as const), withHold: fc.boolean(), selfSigned: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('use' as const), lease: fc.nat(7), step: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hold' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'evidence' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lift' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('halt' as const), scope: fc.constantFrom(0 as const, 1 as const, 2 as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lift_halt' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rollback' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('agent' as const), what: fc.constantFrom(0 as const, 1 as const, 2 as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bundle' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 90 * MINUTE }) }) },
);

/** Run `actions` against a fresh world; whatever each command decides, its entries are what the ledger holds. */
function play(actions: readonly Action[]): World {
  const w = new World(examplePolicy());
  const steps = [openRestart(w)];
  const executions: string[] = [];
  let bundles = 0;
  for (const a of actions) {
    const latest = steps.at(-1) ?? steps[0];
    if (!latest) break;
    switch (a.kind) {
      case 'propose':
        if (a.clear) w.propose([clearStep()]);
        else if (w.state.index.openHolds.size === 0 && w.state.index.activeHalts.size === 0 && steps.length < 6) steps.push(openRestart(w));
        break;
      case 'approve':
        w.approve(latest.request, APPROVERS[a.approver] ?? 'lena', 'signed-cli', { decision: a.deny ? 'deny' : 'approve' });
        break;
      case 'consume': {
        const grants = [...w.state.grants.keys()];
        const jti = grants[a.grant % Math.max(1, grants.length)];
        const ran = jti === undefined ? null : consume(w, jti);
        if (ran !== null) executions.push(ran);
        break;
      }
      case 'outcome': {
        const execution = executions.shift();
        if (execution !== undefined) w.run({ kind: 'outcome', caller: COPILOT, execution, outcome: a.outcome });
        break;
      }
      case 'override': {
        const hold = a.withHold ? ([...w.state.index.openHolds][0] ?? null) : null;
        const requested = w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, hold, latest.digest, latest.artifact) });
        if (!requested.result.ok) break;
        const body = requested.result.body;
        const signerA = a.selfSigned ? 'olivia' : 'lena';
        w.run({ kind: 'override_submit', caller: caller(signerA, 'signed-cli'), override: requested.result.override, signatures: [w.sign(body, 'a', signerA, 'signed-cli'), w.sign(body, 'b', 'fatima', 'signed-cli'), w.sign(body, 'extra', 'priya', 'signed-cli')] });
        break;
      }
      case 'use': {
        const leases = [...w.state.leases.keys()];
        const id = leases[a.lease % Math.max(1, leases.length)];
        const step = steps[a.step % steps.length];
        if (id === undefined || !step) break;
        const used = w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease: id, step: step.step });
        if (used.result.ok) executions.push(used.result.execution);
        break;
      }
      case 'hold':
        w.run({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE });
        break;
      case 'evidence':
        for (const id of [...w.state.index.openHolds]) w.run({ kind: 'hold_evidence', caller: LENA, hold: id, evidence_hash: EVIDENCE_2 });
        break;
      case 'lift':
        for (const id of [...w.state.index.openHolds]) w.run({ kind: 'hold_lift', caller: PRIYA, hold: id });
        break;
      case 'halt': {
        const scopes = [{ kind: 'environment', environment: 'prod' }, { kind: 'incident', incident: 'inc-1' }, { kind: 'all' }] as const;
        w.run({ kind: 'halt', caller: SAM, scope: scopes[a.scope] });
        break;
      }
      case 'lift_halt':
        for (const id of [...w.state.index.activeHalts]) w.run({ kind: 'halt_lift', caller: SAM, halt: id });
        break;
      case 'rollback':
        w.run({ kind: 'rollback_run', caller: OLIVIA, artifact: latest.artifact });
        break;
      case 'agent':
        if (a.what === 0) w.run({ kind: 'hold_open', caller: COPILOT, trip_gate: 'K1', scope: {}, evidence_hash: EVIDENCE });
        if (a.what === 1) w.run({ kind: 'override_request', caller: COPILOT, ...restartOverride(w, null, latest.digest, latest.artifact) });
        if (a.what === 2) w.approve(latest.request, 'payments-copilot', 'approver-console', { asCaller: COPILOT });
        break;
      case 'expire':
        w.run({ kind: 'expire' });
        break;
      case 'bundle':
        bundles += 1;
        w.activate(compileBundle({ ...examplePolicy().bundle, description: `bundle ${bundles}` }));
        break;
      case 'advance':
        w.advance(a.ms);
        break;
    }
  }
  return w;
}

describe('property: every entry any sequence of commands writes parses as its type', () => {
  it('proposals, approvals and denials, grants, overrides, leases, holds, halts, rollbacks, agent attempts, expiry and bundle changes in any order', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 40 }), (actions) => {
        const entries = play(actions).machine.entries;
        for (const e of entries) seen.add(e.type);
        expectAuthority(entries);
      }),
      { numRuns: 150 },
    );
    // the runs reach most of the catalog; the tour above reaches all of it
    expect(seen.size).toBeGreaterThan(ENTRY_TYPES.length / 2);
  });
});

// --- refusal ------------------------------------------------------------------

type Path = readonly (string | number)[];
type Json = CanonicalValue;

/** The override body's fields as `overrideBodyValue` records them; any other is free canonical JSON. */
const BODY_FIELDS = new Set(['id', 'hold_ref', 'step_digests', 'trip_gate_ack', 'valid_from', 'valid_to', 'scope', 'reason_code', 'reason_text', 'rollback_ref', 'requester', 'request_surface']);

/**
 * Inside a step's params, an override body's own fields or a bundle's text any
 * canonical value is valid: nothing there to corrupt. (A bundle's text is
 * checked where it is used: it must hash to its id and validate as a bundle.)
 */
function isFree(path: Path): boolean {
  const params = path.indexOf('params');
  if (params >= 0 && path.length > params + 1) return true;
  if (path.length >= 2 && path[0] === 'payload' && path[1] === 'bundle') return true;
  return path.length >= 3 && path[0] === 'payload' && path[1] === 'body' && !BODY_FIELDS.has(String(path[2]));
}

/** Fields a later writer added to an entry type, absent from earlier ledgers: removing one is no fault. */
const ADDED_LATER = new Set(['bundle.activated/release', 'bundle.activated/bundle', 'bundle.activated/grants_revoked', 'halt.issued/grants_revoked', 'approval.accepted/passkey', 'release.proposed/golden_files', 'authority.rejected/golden']);

/** Every position of an entry whose value its schema constrains, with the value there. */
function positions(value: Json, path: Path = []): { path: Path; value: Json }[] {
  if (isFree(path)) return [];
  const here = path.length > 0 ? [{ path, value }] : [];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => positions(v, [...path, i]))];
  if (typeof value === 'object' && value !== null) return [...here, ...Object.entries(value).flatMap(([k, v]) => positions(v, [...path, k]))];
  return here;
}

const asJson = (entry: LedgerEntry): Json => entry as unknown as Json;

/**
 * A value no field holding `current` accepts. No field is typed both string
 * and number, array and anything else, or object and anything but null; a
 * string or object may be nullable, so null is never offered for those.
 */
function wrongFor(current: Json): fc.Arbitrary<Json> {
  const str = fc.string({ maxLength: 3 });
  const list = fc.array(fc.integer(), { maxLength: 2 });
  const obj = fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 });
  if (current === null) return fc.oneof(fc.integer(), fc.boolean(), list);
  if (Array.isArray(current)) return fc.oneof(str, fc.integer(), fc.boolean(), fc.constant(null), obj);
  switch (typeof current) {
    case 'string':
      return fc.oneof(fc.integer(), fc.boolean(), list, obj);
    case 'number':
      return fc.oneof(str, fc.boolean(), fc.constant(null), fc.constant(0.5), list, obj);
    case 'boolean':
      return fc.oneof(str, fc.integer(), fc.constant(null), list, obj);
    default:
      return fc.oneof(str, fc.integer(), fc.boolean(), list);
  }
}

/** A deep copy of `entry` with `change` applied at `path`. */
function edited(entry: LedgerEntry, path: Path, change: (parent: Record<string | number, Json>, key: string | number) => void): LedgerEntry {
  const copy = structuredClone(entry);
  let parent = copy as unknown as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  change(parent, path.at(-1) as string | number);
  return copy;
}

/** RFC 6901, written out independently of the parser's own. */
const pointerOf = (path: Path): string => path.map((k) => `/${String(k).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

describe('parseEntry refuses a field of the wrong kind or a missing field, naming it', () => {
  const constrainedOf = (entries: readonly LedgerEntry[]) => entries.flatMap((entry) => positions(asJson(entry)).map((p) => ({ entry, ...p })));

  it('property: any constrained field of any entry type, given a value of another kind, is refused at its pointer', () => {
    const corrupted = fc.constantFrom(...constrainedOf(tourEntries())).chain((c) => wrongFor(c.value).map((bad) => ({ ...c, bad })));
    fc.assert(
      fc.property(corrupted, ({ entry, path, bad }) => {
        const parsed = parseEntry(edited(entry, path, (parent, key) => (parent[key] = bad)));
        expect(parsed.kind).toBe('malformed');
        if (parsed.kind === 'malformed') expect(parsed.issue.pointer).toBe(pointerOf(path));
      }),
      { numRuns: 2_000 },
    );
  });

  it('property: any field an object type names, removed, is refused as missing at its pointer', () => {
    // array elements may come and go, and so may the keys of records (subjects, params, an override body's own)
    const named = constrainedOf(tourEntries()).filter(({ entry, path }) => typeof path.at(-1) === 'string' && path.at(-2) !== 'subjects' && !(path.length === 2 && ADDED_LATER.has(`${entry.type}/${String(path[1])}`)));
    fc.assert(
      fc.property(fc.constantFrom(...named), ({ entry, path }) => {
        const parsed = parseEntry(edited(entry, path, (parent, key) => delete parent[key]));
        expect(parsed.kind).toBe('malformed');
        if (parsed.kind === 'malformed') expect(parsed.issue).toMatchObject({ pointer: pointerOf(path), problem: 'missing' });
      }),
      { numRuns: 2_000 },
    );
  });

  it('says which entry, which field and what is wrong, and keeps the envelope when only the payload is at fault', () => {
    const entries = tourEntries();
    const consumed = entries.find((e) => e.type === 'grant.consumed') as LedgerEntry;
    const parsed = parseEntry({ ...consumed, payload: { ...consumed.payload, step: 42 } });
    expect(parsed).toEqual({
      kind: 'malformed',
      issue: { seq: consumed.seq, type: 'grant.consumed', pointer: '/payload/step', problem: 'expected string, found number' },
      envelope: { v: 1, seq: consumed.seq, prev_hash: consumed.prev_hash, at: consumed.at, type: 'grant.consumed', actor: consumed.actor, surface: consumed.surface, bundle_id: consumed.bundle_id, subjects: consumed.subjects },
    });
    if (parsed.kind === 'malformed') expect(entryIssueText(parsed.issue)).toBe('`/payload/step`: expected string, found number');

    const voided = entries.find((e) => e.type === 'request.voided') as LedgerEntry;
    const unknownReason = parseEntry({ ...voided, payload: { ...voided.payload, reason: 'superseded' } });
    expect(unknownReason).toMatchObject({ kind: 'malformed', issue: { pointer: '/payload/reason', problem: 'expected "bundle_change" or "step_executed", found "superseded"' } });
  });

  it('a broken envelope: no envelope is given back, and the pointer names the field', () => {
    const first = tourEntries()[0] as LedgerEntry;
    expect(parseEntry({ ...first, subjects: { bundle: 3 } } as unknown as LedgerEntry)).toMatchObject({ kind: 'malformed', issue: { pointer: '/subjects/bundle' }, envelope: null });
    expect(parseEntry({ ...first, seq: -1 })).toMatchObject({ kind: 'malformed', issue: { seq: null, pointer: '/seq' }, envelope: null });
    expect(parseEntry('not an entry' as unknown as LedgerEntry)).toMatchObject({ kind: 'malformed', issue: { seq: null, type: null, pointer: '' }, envelope: null });
    expect(parseEntry({ ...first, payload: [] } as unknown as LedgerEntry)).toMatchObject({ kind: 'malformed', issue: { pointer: '/payload' } });
  });
});

describe('what parseEntry says is wrong', () => {
  /** A halt issued after a restart was proposed: a proposal, a decision with requirements, a tagged scope. */
  function entries(): { proposal: LedgerEntry; decided: LedgerEntry; halt: LedgerEntry } {
    const w = new World(examplePolicy());
    ok(w.propose([restartStep()]));
    ok(w.run({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'prod' } }));
    const find = (type: string): LedgerEntry => {
      const entry = w.machine.entries.find((e) => e.type === type);
      if (!entry) throw new Error(`no ${type}`);
      return entry;
    };
    return { proposal: find('proposal.received'), decided: find('step.decided'), halt: find('halt.issued') };
  }
  const problem = (entry: unknown): string => {
    const parsed = parseEntry(entry as LedgerEntry);
    return parsed.kind === 'malformed' ? entryIssueText(parsed.issue) : parsed.kind;
  };

  it('names the kind of value found: null, an array, a non-integer number, a boolean', () => {
    const { proposal } = entries();
    const agent = (value: unknown): string => problem({ ...proposal, payload: { ...proposal.payload, agent: value } });
    expect(agent(null)).toBe('`/payload/agent`: expected string, found null');
    expect(agent([])).toBe('`/payload/agent`: expected string, found array');
    expect(agent(1.5)).toBe('`/payload/agent`: expected string, found non-integer number');
    expect(agent(true)).toBe('`/payload/agent`: expected string, found boolean');
  });

  it('asks for an integer where one is expected, and says a number is expected of a string', () => {
    const { proposal } = entries();
    const [step] = proposal.payload['steps'] as Record<string, CanonicalValue>[];
    const index = (value: unknown): string => problem({ ...proposal, payload: { ...proposal.payload, steps: [{ ...step, index: value }] } });
    expect(index(1.5)).toBe('`/payload/steps/0/index`: expected integer, found non-integer number');
    expect(index('one')).toBe('`/payload/steps/0/index`: expected number, found string');
  });

  it('escapes `~` and `/` in a key of the pointer (RFC 6901 §4)', () => {
    const { proposal } = entries();
    const [step] = proposal.payload['steps'] as Record<string, CanonicalValue>[];
    expect(problem({ ...proposal, payload: { ...proposal.payload, steps: [{ ...step, params: { 'a/b~c': 1.5 } }] } })).toBe('`/payload/steps/0/params/a~1b~0c`: matches none of its variants');
  });

  it('quotes the values allowed and the value found for an enum or a literal', () => {
    const { proposal, decided } = entries();
    const attestation = (value: unknown): string => problem({ ...decided, payload: { ...decided.payload, requirements: { ...(decided.payload['requirements'] as Record<string, CanonicalValue>), attestation: value } } });
    expect(attestation('none')).toBe('`/payload/requirements/attestation`: expected "key" or "any", found "none"');
    expect(attestation(3)).toBe('`/payload/requirements/attestation`: expected "key" or "any", found 3');
    expect(problem({ ...proposal, v: 2 })).toBe('`/v`: expected 1, found 2');
  });

  it('names the tag of a tagged union: the tags allowed and the one found, or that it is missing', () => {
    const { halt } = entries();
    const scope = (value: unknown): string => problem({ ...halt, payload: { ...halt.payload, scope: value } });
    expect(scope({ kind: 'everywhere' })).toBe('`/payload/scope/kind`: expected "environment" or "incident" or "all", found "everywhere"');
    expect(scope({ kind: 3 })).toBe('`/payload/scope/kind`: expected "environment" or "incident" or "all", found 3');
    expect(scope({ environment: 'prod' })).toBe('`/payload/scope/kind`: missing');
    expect(scope('all')).toBe('`/payload/scope`: expected object, found string');
    expect(scope(null)).toBe('`/payload/scope`: expected object, found null');
  });

  it('says what the seq must be, and leaves the seq and type out when they are unreadable', () => {
    const { proposal } = entries();
    expect(parseEntry({ ...proposal, seq: -1 })).toMatchObject({ kind: 'malformed', issue: { seq: null, type: 'proposal.received', pointer: '/seq', problem: 'expected at least 0' } });
    expect(parseEntry({ ...proposal, seq: 1.5 })).toMatchObject({ kind: 'malformed', issue: { seq: null, pointer: '/seq', problem: 'expected integer, found non-integer number' } });
    expect(parseEntry({ ...proposal, type: 5 } as unknown as LedgerEntry)).toMatchObject({ kind: 'malformed', issue: { seq: proposal.seq, type: null, pointer: '/type', problem: 'expected string, found number' } });
  });

  it('calls a fault of the whole entry the entry', () => {
    expect(problem('not an entry')).toBe('the entry: expected object, found string');
  });
});

describe('entries outside the catalog', () => {
  it('are not authority entries: a key rotation, a test\'s own type', () => {
    const first = tourEntries()[0] as LedgerEntry;
    const rotation: LedgerEntry = { ...first, type: KEY_ROTATED, actor: null, surface: 'signed-cli', bundle_id: null, subjects: {}, payload: { old_key: 'a', new_key: 'b', signature: 'c' } };
    const parsed: ParsedEntry[] = parseEntries([rotation, { ...first, type: 'proposal.decided' }]);
    expect(parsed.map((p) => p.kind)).toEqual(['other', 'other']);
  });

  it('still need an envelope', () => {
    const first = tourEntries()[0] as LedgerEntry;
    expect(parseEntry({ ...first, type: KEY_ROTATED, actor: 5 } as unknown as LedgerEntry)).toMatchObject({ kind: 'malformed', issue: { type: KEY_ROTATED, pointer: '/actor' } });
  });
});
