import { describe, expect, it } from 'vitest';
import { caller, compileBundle, COPILOT, EVIDENCE, examplePolicy, inspectStep, ok, refused, restartStep, World, PASSING_GOLDEN } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { Operation } from './entries.js';
import type { HaltResult } from './halt.js';
import type { ExecutionResult } from './execute.js';
import { parseEntry } from './parse.js';
import type { ProposeReleaseResult } from './release.js';

/**
 * Every variant the gateway may write parses as its type: each operation a
 * refusal can name, each halt scope, each way a request is voided, each
 * outcome, each attestation, a release with or without golden results. An
 * analysis that read one of them as malformed would drop a real record.
 */

// `satisfies` makes the compiler fail here when an operation joins the union without being listed.
const OPERATIONS = {
  propose: true,
  approve: true,
  deny: true,
  consume: true,
  lease_use: true,
  outcome: true,
  hold_open: true,
  hold_evidence: true,
  hold_lift: true,
  override_request: true,
  override_submit: true,
  rollback_register: true,
  rollback_run: true,
  halt: true,
  halt_lift: true,
  bundle_activate: true,
  release_propose: true,
  release_approve: true,
  token_admin: true,
  passkey_register: true,
  passkey_revoke: true,
  status: true,
  wait: true,
  decide: true,
  policy_read: true,
  ledger_read: true,
  checkpoint: true,
  prove: true,
  trace: true,
} as const satisfies Record<Operation, true>;

const SAM = caller('sam', 'signed-cli');

/** The entry with its payload changed: what another path of the gateway writes. */
const variant = (entry: LedgerEntry | undefined, payload: Record<string, unknown>): LedgerEntry => {
  if (!entry) throw new Error('the scenario should write the entry');
  return { ...entry, payload: { ...entry.payload, ...payload } as LedgerEntry['payload'] };
};

const find = (w: World, type: string): LedgerEntry | undefined => w.machine.entries.find((e) => e.type === type);

function expectAuthority(entry: LedgerEntry): void {
  const parsed = parseEntry(entry);
  expect(parsed.kind === 'malformed' ? parsed.issue : parsed.kind, `${entry.type} ${JSON.stringify(entry.payload)}`).toBe('authority');
}

describe('parseEntry reads every variant the gateway writes', () => {
  it('a refusal of any operation', () => {
    const w = new World(examplePolicy());
    refused(w.run({ kind: 'halt', caller: COPILOT, scope: { kind: 'all' } }));
    const rejected = find(w, 'authority.rejected');
    for (const operation of Object.keys(OPERATIONS)) expectAuthority(variant(rejected, { operation }));
    expect(parseEntry(variant(rejected, { operation: 'teleport' })).kind).toBe('malformed');
  });

  it('a refusal to open, extend or lift a hold', () => {
    const w = new World(examplePolicy());
    refused(w.run({ kind: 'hold_open', caller: COPILOT, trip_gate: 'K1', scope: {}, evidence_hash: EVIDENCE }));
    const rejected = find(w, 'hold.rejected');
    for (const operation of ['hold_open', 'hold_evidence', 'hold_lift']) expectAuthority(variant(rejected, { operation, hold: operation === 'hold_open' ? null : 'hold-1' }));
  });

  it('a halt of an environment, an incident or everything', () => {
    const w = new World(examplePolicy());
    ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'prod' } }));
    ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'incident', incident: 'inc-1' } }));
    ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'all' } }));
    const halts = w.machine.entries.filter((e) => e.type === 'halt.issued');
    expect(halts).toHaveLength(3);
    for (const entry of halts) expectAuthority(entry);
    expect(parseEntry(variant(halts[0], { scope: { kind: 'environment' } })).kind).toBe('malformed');
  });

  it('a request voided by a bundle change or by the step running', () => {
    const w = new World(examplePolicy());
    ok(w.propose([restartStep()]));
    const opened = find(w, 'request.opened');
    const base = { ...(opened as LedgerEntry), type: 'request.voided' as const, payload: { request: 'request-1', step: 'proposal-1.0' } as LedgerEntry['payload'] };
    expectAuthority(variant(base, { reason: 'bundle_change', new_bundle_id: w.policy.bundleId }));
    expectAuthority(variant(base, { reason: 'step_executed', execution: 'execution-1' }));
    expect(parseEntry(variant(base, { reason: 'step_executed', new_bundle_id: w.policy.bundleId })).kind).toBe('malformed');
  });

  it('an outcome of each kind', () => {
    const w = new World(examplePolicy());
    const jti = ok(w.propose([inspectStep()])).steps[0]?.grant?.jti ?? '';
    const { execution } = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: jti }));
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution, outcome: 'ambiguous', detail: 'half done' }));
    const outcome = find(w, 'execution.outcome');
    for (const kind of ['succeeded', 'failed', 'ambiguous']) expectAuthority(variant(outcome, { outcome: kind }));
    expect(parseEntry(variant(outcome, { outcome: 'partial' })).kind).toBe('malformed');
  });

  it('an approval attested by a key or by the gateway, accepted or refused', () => {
    const w = new World(examplePolicy());
    const request = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    refused(w.approve(request, 'olivia', 'approver-console'));
    ok(w.approve(request, 'lena', 'approver-console'));
    for (const type of ['approval.accepted', 'approval.rejected']) {
      for (const attestation of ['key', 'gateway']) expectAuthority(variant(find(w, type), { attestation }));
    }
  });

  it('a release signature attested by a key or by the gateway, accepted or refused, and a release with golden results', () => {
    const w = new World(examplePolicy());
    const diff = { replayed: 0, changed: 0, static_changes: 1, digest: `sha256:${'d'.repeat(64)}` };
    const { release } = ok(w.run<ProposeReleaseResult>({ kind: 'release_propose', caller: caller('priya', 'approver-console'), candidate: compileBundle({ ...w.policy.bundle, description: 'next' }), golden: PASSING_GOLDEN, diff }));
    refused(w.signRelease(release, 'lena', 'signed-cli'));
    ok(w.signRelease(release, 'fatima', 'signed-cli'));
    for (const type of ['release.signed', 'release.rejected']) {
      for (const attestation of ['key', 'gateway']) expectAuthority(variant(find(w, type), { attestation }));
    }
    const proposed = find(w, 'release.proposed');
    expectAuthority(variant(proposed, { golden: { cases: 4, failed: 0, failures: [], coverage_percent: 100, digest: `sha256:${'a'.repeat(64)}` } }));
    expect(parseEntry(variant(proposed, { golden: { cases: 4 } })).kind).toBe('malformed');
  });
});

describe('parseEntry on what is not an entry', () => {
  it('says it is malformed, without throwing, keeping the seq it could read', () => {
    for (const junk of [null, 'proposal.received', 42, [], { type: 7 }]) {
      const parsed = parseEntry(junk as unknown as LedgerEntry);
      expect(parsed.kind).toBe('malformed');
    }
    const w = new World(examplePolicy());
    const first = w.machine.entries[0] as LedgerEntry;
    const broken = parseEntry({ ...first, payload: { ...first.payload, bundle_id: 7 } as LedgerEntry['payload'] });
    expect(broken.kind === 'malformed' ? broken.issue.seq : null).toBe(0);
  });
});
