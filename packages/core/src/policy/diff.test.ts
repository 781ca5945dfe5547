import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { playGoverned, playPermissive } from '../../../../test/scenario/incident.js';
import { compileBundle, examplePolicy, permissivePolicy } from '../../../../test/scenario/world.js';
import { assertCanonicalValue } from '../canonical.js';
import { canonicalDigest } from '../digest.js';
import { CountersignError } from '../errors.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { policyBundleId } from './bundle-id.js';
import type { CompiledPolicy } from './compile.js';
import { formatPolicyDiff, policyDiff, replayDiff, staticDiff, type StaticChange } from './diff.js';
import type { PolicyBundle, PolicyBundleInput } from './schema.js';

const payments = examplePolicy();
const permissive = permissivePolicy();

/** The example bundle as written, to edit: every edit goes through the schema again. */
function paymentsInput(): PolicyBundleInput {
  return structuredClone(payments.bundle) as PolicyBundleInput;
}

function edited(edit: (b: PolicyBundleInput) => void): CompiledPolicy {
  const input = paymentsInput();
  edit(input);
  return compileBundle(input);
}

function change(changes: readonly StaticChange[], section: string, id: string | null): StaticChange | undefined {
  return changes.find((c) => c.section === section && c.id === id);
}

describe('staticDiff', () => {
  it('finds nothing between a bundle and itself, or a reformatting of it', () => {
    expect(staticDiff(payments.bundle, payments.bundle).changes).toEqual([]);
    const reordered = edited((b) => {
      b.roles = [...(b.roles ?? [])].reverse();
      b.principals = [...b.principals].reverse();
      b.environments = ['prod', 'dev', 'staging'];
      // a default written out is the same bundle
      b.actions[0]!.requires_prior = [];
    });
    expect(reordered.bundleId).toBe(payments.bundleId);
    expect(staticDiff(payments.bundle, reordered.bundle).changes).toEqual([]);
  });

  it('lists what the governed bundle adds to the permissive one, contract by contract', () => {
    const diff = staticDiff(permissive.bundle, payments.bundle);
    const clear = change(diff.changes, 'actions', 'queue.clear_shard');
    expect(clear?.change).toBe('changed');
    expect(clear?.fields).toEqual(
      expect.arrayContaining([
        { field: 'risk.prod', before: 'low', after: 'critical' },
        { field: 'risk.staging', before: 'low', after: 'high' },
        { field: 'requires_prior', before: [], after: [{ action: 'queue.snapshot_shard', within: '30m' }] },
        { field: 'override.eligible', before: null, after: false },
      ]),
    );
    const restart = change(diff.changes, 'actions', 'workers.restart_pool');
    expect(restart?.fields).toEqual(expect.arrayContaining([{ field: 'rollback_required', before: false, after: true }]));
    expect(change(diff.changes, 'risk_classes', 'critical')).toMatchObject({ change: 'added' });
    expect(change(diff.changes, 'risk_classes', 'critical')?.fields).toEqual(
      expect.arrayContaining([
        { field: 'effect', before: null, after: 'require_approval' },
        { field: 'approval.attestation', before: null, after: 'key' },
        { field: 'approval.quorum', before: null, after: [{ count: 1, roles: ['finance-delegate', 'payments-owner'] }, { count: 1, roles: ['incident-lead'] }] },
      ]),
    );
    const overrides = change(diff.changes, 'overrides', null);
    expect(overrides?.fields).toEqual(
      expect.arrayContaining([
        { field: 'signer_a_roles', before: ['incident-lead', 'oncall-operator'], after: ['incident-lead'] },
        { field: 'surfaces', before: ['approver-console', 'copilot-console', 'signed-cli'], after: ['approver-console', 'signed-cli'] },
        { field: 'budgets.prod.max', before: null, after: 2 },
      ]),
    );
    expect(change(diff.changes, 'holds', null)?.fields).toEqual(expect.arrayContaining([{ field: 'trip_gates.K4.description', before: null, after: expect.any(String) }]));
    expect(change(diff.changes, 'bundle', null)?.fields.map((f) => f.field)).toEqual(['description', 'name']);
  });

  it('lists roster changes: principals, roles, reporting lines and keys', () => {
    const candidate = edited((b) => {
      const olivia = b.principals.find((p) => p.id === 'olivia')!;
      olivia.reports_to = 'leo';
      olivia.roles = ['oncall-operator', 'sre'];
      olivia.keys = [...(olivia.keys ?? []), { id: 'olivia-2026', public_key: `ed25519:${'A'.repeat(43)}` }];
      const lena = b.principals.find((p) => p.id === 'lena')!;
      lena.keys = [];
      b.principals = b.principals.filter((p) => p.id !== 'sam');
      b.holds!.open_roles = ['incident-lead', 'oncall-operator'];
      b.halt!.roles = ['incident-lead', 'oncall-operator', 'payments-owner'];
      b.principals.push({ id: 'nadia', kind: 'human', roles: ['incident-lead'], reports_to: 'priya' });
    });
    const diff = staticDiff(payments.bundle, candidate.bundle);
    expect(change(diff.changes, 'principals', 'olivia')?.fields).toEqual([
      { field: 'keys.olivia-2026.public_key', before: null, after: `ed25519:${'A'.repeat(43)}` },
      { field: 'reports_to', before: 'lena', after: 'leo' },
      { field: 'roles', before: ['oncall-operator'], after: ['oncall-operator', 'sre'] },
    ]);
    // a key list emptied says which key went, not that a list appeared
    expect(change(diff.changes, 'principals', 'lena')?.fields).toEqual([
      { field: 'keys.lena-2025.public_key', before: 'ed25519:IKT-_YVTJSxv_b8jO_EFNlANT-z7sVkgAk1Ls46HbeQ', after: null },
    ]);
    expect(change(diff.changes, 'principals', 'sam')).toMatchObject({ change: 'removed' });
    expect(change(diff.changes, 'principals', 'nadia')).toMatchObject({ change: 'added' });
    expect(change(diff.changes, 'holds', null)?.fields).toEqual([{ field: 'open_roles', before: ['incident-lead', 'oncall-operator', 'sre'], after: ['incident-lead', 'oncall-operator'] }]);
    expect(change(diff.changes, 'halt', null)?.fields).toEqual([{ field: 'roles', before: ['incident-lead', 'oncall-operator', 'payments-owner', 'sre'], after: ['incident-lead', 'oncall-operator', 'payments-owner'] }]);
    // sections in reading order, entities by id
    expect(diff.changes.map((c) => `${c.section}/${c.id ?? ''}`)).toEqual(['principals/lena', 'principals/nadia', 'principals/olivia', 'principals/sam', 'holds/', 'halt/']);
    expect(diff.counts).toEqual({
      added: 1,
      removed: 1,
      changed: 4,
      sections: [
        { section: 'principals', added: 1, removed: 1, changed: 2 },
        { section: 'holds', added: 0, removed: 0, changed: 1 },
        { section: 'halt', added: 0, removed: 0, changed: 1 },
      ],
    });
  });

  it('names a section removed as a whole, and ids added to a list', () => {
    const candidate = edited((b) => {
      delete b.overrides;
      b.environments = [...b.environments, 'sandbox'];
    });
    const diff = staticDiff(payments.bundle, candidate.bundle);
    expect(change(diff.changes, 'overrides', null)?.change).toBe('removed');
    expect(change(diff.changes, 'environments', 'sandbox')).toEqual({ section: 'environments', id: 'sandbox', change: 'added', fields: [] });
  });

  // INVARIANT: the static diff is empty exactly when the bundle ids are equal.
  it('is empty exactly when the bundle ids are equal (property)', () => {
    const edits: ((b: PolicyBundleInput) => void)[] = [
      // meaning
      (b) => void (b.actions.find((a) => a.id === 'workers.restart_pool')!.risk['staging'] = 'high'),
      (b) => void (b.risk_classes.find((r) => r.id === 'high')!.approval!.grant_ttl = '5m'),
      (b) => void (b.risk_classes.find((r) => r.id === 'medium')!.approval!.quorum![0]!.count = 2),
      (b) => void (b.principals.find((p) => p.id === 'omar')!.reports_to = 'lena'),
      (b) => void (b.principals.find((p) => p.id === 'fatima')!.keys = []),
      (b) => void (b.overrides!.budgets![0]!.max = 3),
      (b) => void (b.overrides!.reason_codes = ['CUSTOMER_IMPACT']),
      (b) => void (b.actions.find((a) => a.id === 'comms.send_status_update')!.params!['channel']!.allow = ['statuspage']),
      (b) => void (b.actions.find((a) => a.id === 'queue.inspect')!.description = 'look at a queue'),
      (b) => void (b.actions.find((a) => a.id === 'queue.inspect')!.override = { eligible: true }),
      (b) => void (b.rollback!.environments = ['prod']),
      (b) => void (b.trace = { required_fields: ['bundle_id', 'actor'] }),
      // spelling only
      (b) => void (b.halt!.roles = [...(b.halt!.roles ?? [])].reverse()),
      (b) => void (b.risk_classes = [...b.risk_classes].reverse()),
      (b) => void (b.risk_classes.find((r) => r.id === 'critical')!.approval!.quorum!.reverse()),
      (b) => void (b.actions.find((a) => a.id === 'queue.inspect')!.rollback_required = false),
    ];
    fc.assert(
      fc.property(fc.subarray(edits.map((_, i) => i)), fc.subarray(edits.map((_, i) => i)), (left, right) => {
        const a = edited((b) => left.forEach((i) => edits[i]!(b)));
        const b = edited((b) => right.forEach((i) => edits[i]!(b)));
        const diff = staticDiff(a.bundle, b.bundle);
        expect(diff.changes.length === 0).toBe(policyBundleId(a.bundle) === policyBundleId(b.bundle));
        expect(staticDiff(b.bundle, a.bundle).changes.length).toBe(diff.changes.length);
      }),
      { numRuns: 150 },
    );
  });
});

describe('replayDiff', () => {
  it('lists the restart and the queue clear of the permissive incident as changed under the payments bundle', () => {
    const { world } = playPermissive();
    const replay = replayDiff(world.machine.entries, permissive, payments);
    expect(replay.counts).toMatchObject({ entries: world.machine.entries.length, decisions: 6, changed: 2, unchanged: 4, differs_from_recorded: 0 });
    expect(replay.changes.map((c) => [c.step, c.action])).toEqual([
      ['proposal-2.0', 'workers.restart_pool'],
      ['proposal-2.1', 'queue.clear_shard'],
    ]);
    const [restart, clear] = replay.changes;
    expect(restart).toMatchObject({
      environment: 'prod',
      target: 'payments-worker',
      recorded: { bundle_id: permissive.bundleId, effect: 'allow' },
      kinds: ['effect', 'risk', 'quorum', 'surfaces', 'attestation', 'reasons'],
      before: { effect: 'allow', risk: 'low', quorum: [], surfaces: [], attestation: null, reasons: ['ALLOWED'] },
      after: {
        effect: 'require_approval',
        risk: 'high',
        quorum: [{ roles: ['incident-lead', 'payments-owner'], count: 1 }],
        surfaces: ['approver-console', 'signed-cli'],
        attestation: 'any',
        reasons: ['APPROVAL_REQUIRED', 'ROLLBACK_REQUIRED'],
      },
    });
    // no snapshot of the shard before the clear: denied, whatever its risk would ask
    expect(clear).toMatchObject({ kinds: ['effect', 'risk', 'reasons'], before: { effect: 'allow' }, after: { effect: 'deny', risk: 'critical', reasons: ['PREREQUISITE_MISSING'] } });
    expect(replay.counts.by_effect).toEqual([
      { before: 'allow', after: 'require_approval', count: 1 },
      { before: 'allow', after: 'deny', count: 1 },
    ]);
    expect(replay.counts.by_kind).toEqual({ effect: 2, risk: 2, class: 0, quorum: 1, surfaces: 1, attestation: 1, reasons: 2 });
    expect(replay.recorded_bundles).toEqual([{ bundle_id: permissive.bundleId, decisions: 6 }]);
  });

  it('decides every step against the state it was decided in: holds, prerequisites and the clock', () => {
    const { world } = playGoverned();
    // the governed ledger replayed under its own bundle reproduces every recorded decision
    const same = replayDiff(world.machine.entries, payments, payments);
    expect(same.counts.changed).toBe(0);
    expect(same.counts.differs_from_recorded).toBe(0);
    expect(same.counts.decisions).toBe(world.machine.entries.filter((e) => e.type === 'step.decided').length);

    const loose = replayDiff(world.machine.entries, payments, permissive);
    const byStep = new Map(loose.changes.map((c) => [c.step, c]));
    // proposed during the K1 hold: held under either bundle, only its risk differs
    const held = [...byStep.values()].find((c) => c.action === 'queue.clear_shard' && c.before.effect === 'held');
    expect(held).toMatchObject({ kinds: ['risk'], before: { effect: 'held', risk: 'critical' }, after: { effect: 'held', risk: 'low', reasons: ['HOLD_ACTIVE'] } });
    // after the snapshot and the lift: the prerequisite holds, so the governed bundle asks for two keys
    const last = [...byStep.values()].filter((c) => c.action === 'queue.clear_shard').at(-1);
    expect(last).toMatchObject({ before: { effect: 'require_approval', reasons: ['APPROVAL_REQUIRED'] }, after: { effect: 'allow' } });
  });

  it('replays only steps decided at or after `since`, on the state of the whole ledger', () => {
    const { world } = playGoverned();
    const since = Date.parse('2025-06-01T09:21:00.000Z');
    const replay = replayDiff(world.machine.entries, payments, permissive, { since });
    expect(replay.since).toBe('2025-06-01T09:21:00.000Z');
    const decided = world.machine.entries.filter((e) => e.type === 'step.decided' && Date.parse(e.at) >= since);
    expect(replay.counts.decisions).toBe(decided.length);
    expect(replay.changes.every((c) => Date.parse(c.at) >= since)).toBe(true);
    expect(replay.changes.some((c) => c.before.effect === 'held')).toBe(true);
  });

  it('refuses a ledger holding an entry that does not match its type, naming it', () => {
    const { world } = playPermissive();
    const broken: LedgerEntry[] = world.machine.entries.map((e) =>
      e.type === 'step.decided' && e.seq > 10 ? { ...e, payload: { ...e.payload, effect: 'maybe' } } : e,
    );
    const seq = broken.find((e) => e.type === 'step.decided' && e.seq > 10)!.seq;
    let error: unknown;
    try {
      replayDiff(broken, permissive, payments);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CountersignError);
    expect(error).toMatchObject({ code: 'LEDGER_ENTRY_INVALID', details: { seq, type: 'step.decided', pointer: '/payload/effect' } });
  });
});

describe('policyDiff', () => {
  it('is identical, and changes nothing, for a bundle against itself', () => {
    const { world } = playPermissive();
    const diff = policyDiff(payments, payments, { entries: world.machine.entries });
    expect(diff.identical).toBe(true);
    expect(diff.static.changes).toEqual([]);
    expect(diff.replay?.counts.changed).toBe(0);
  });

  it('binds everything it says in one canonical digest', () => {
    const { world } = playPermissive();
    const diff = policyDiff(permissive, payments, { entries: world.machine.entries });
    expect(diff.identical).toBe(false);
    expect(() => assertCanonicalValue(diff)).not.toThrow();
    const { digest, ...body } = diff;
    expect(digest).toBe(canonicalDigest(body));
    expect(policyDiff(permissive, payments, { entries: world.machine.entries }).digest).toBe(digest);
    // the same rules on less traffic, or without traffic, are another diff
    expect(policyDiff(permissive, payments, { entries: world.machine.entries, since: Date.parse('2025-06-01T09:20:00Z') }).digest).not.toBe(digest);
    expect(policyDiff(permissive, payments).replay).toBeNull();
    expect(policyDiff(permissive, payments).digest).not.toBe(digest);
  });

  it('reads as text: rules by section with counts, then each decision that would change', () => {
    const { world } = playPermissive();
    const text = formatPolicyDiff(policyDiff(permissive, payments, { entries: world.machine.entries }));
    expect(text).toContain(`policy diff payments-permissive ${permissive.bundleId}\n         → payments ${payments.bundleId}\n`);
    expect(text).toContain('  risk_classes: 3 added, 1 changed\n    + critical\n');
    expect(text).toContain('        risk.prod: low → critical\n');
    expect(text).toContain('        approval.quorum: 1 of finance-delegate|payments-owner AND 1 of incident-lead\n');
    expect(text).toContain(`replay: 6 decisions from ${world.machine.entries.length} ledger entries, 2 would change\n`);
    expect(text).toContain('  proposal-2.0  workers.restart_pool@prod payments-worker  (seq ');
    expect(text).toContain('      quorum: none → 1 of incident-lead|payments-owner\n');
    expect(text).toContain('      reasons: ALLOWED → PREREQUISITE_MISSING\n');
    expect(text).toMatch(/\ndiffers; digest sha256:[0-9a-f]{64}\n$/);
  });
});

it('compares a section it has no special case for field by field, as one entity', () => {
  // a section added to the schema later (say, release rules) is diffed without a change here
  const later = (extra: unknown): PolicyBundle => ({ ...payments.bundle, later: extra }) as unknown as PolicyBundle;
  const diff = staticDiff(later({ roles: ['sre'], golden: { required: false } }), later({ roles: ['sre', 'incident-lead'], golden: { required: true } }));
  expect(diff.changes).toEqual([
    {
      section: 'later',
      id: null,
      change: 'changed',
      fields: [
        { field: 'golden.required', before: false, after: true },
        { field: 'roles', before: ['sre'], after: ['sre', 'incident-lead'] },
      ],
    },
  ]);
});
