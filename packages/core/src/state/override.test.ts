import { describe, expect, it } from 'vitest';
import { caller, compileBundle, COPILOT, EVIDENCE, examplePolicy, ok, refused, restartOverride, restartStep, snapshotStep, World, type OverrideDraft } from '../../../../test/scenario/world.js';
import type { HoldResult } from './hold.js';
import type { RegisterRollbackResult } from './rollback.js';
import type { RequestOverrideResult } from './override.js';

const OLIVIA = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');

/** A K1 hold on prod, the restart proposed during it, its rollback registered, and an override draft for it. */
function heldRestart(w: World): OverrideDraft {
  const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
  const step = ok(w.propose([restartStep()])).steps[0];
  if (!step?.digest) throw new Error('the restart should have a digest');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: step.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  return restartOverride(w, hold, step.digest, artifact);
}

describe('override scope is checked when the override is requested (O2)', () => {
  const base = { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] };
  it.each([
    ['a `*` target', { ...base, targets: ['*'] }, 'scope holds a wildcard'],
    ['a `?` target', { ...base, targets: ['payments-worker', 'payments-queue/shard-?'] }, 'scope holds a wildcard'],
    ['a wildcard action', { ...base, actions: ['workers.*'] }, 'scope holds a wildcard'],
    ['a step outside the allowlist', { ...base, targets: ['ledger-worker'] }, 'target `payments-worker` is outside the scope'],
  ])('refuses %s with O2_SCOPE_CREEP and records it, before anyone signs', (_name, scope, detail) => {
    const w = new World(examplePolicy());
    const draft = heldRestart(w);
    const attempt = w.run({ kind: 'override_request', caller: OLIVIA, ...draft, scope });
    const refusal = refused(attempt);
    expect(refusal.code).toBe('O2_SCOPE_CREEP');
    expect(refusal.message).toContain(detail);
    expect(attempt.entries.map((e) => e.type)).toEqual(['authority.rejected']);
    expect(attempt.entries[0]?.payload).toMatchObject({ operation: 'override_request', code: 'O2_SCOPE_CREEP', target_id: draft.hold, credential: OLIVIA.credential });
    // nothing was requested, so there is nothing to sign
    expect(w.state.overrides.size).toBe(0);
  });

  it('refuses digests that name no recorded step, or one step twice', () => {
    const w = new World(examplePolicy());
    const draft = heldRestart(w);
    const unknown = `sha256:${'0'.repeat(64)}`;
    expect(refused(w.run({ kind: 'override_request', caller: OLIVIA, ...draft, step_digests: [unknown] })).message).toContain(`step \`${unknown}\` is not a recorded step`);
    const [digest = ''] = draft.step_digests;
    expect(refused(w.run({ kind: 'override_request', caller: OLIVIA, ...draft, step_digests: [digest, digest] })).message).toContain('a step digest is listed twice');
    expect(w.state.overrides.size).toBe(0);
  });

  it('finds a step by the digest it has under the bundle in force, not by one it had or ran under before', () => {
    const w = new World(examplePolicy());
    // a snapshot that ran under the first bundle keeps that bundle's digest
    const snap = ok(w.propose([snapshotStep()])).steps[0];
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: snap?.grant?.jti ?? '' }));
    // a restart waiting for approval is decided again by the next bundle; the held one, proposed alike, is not
    const pending = ok(w.propose([restartStep()])).steps[0];
    const draft = heldRestart(w);
    const [old = ''] = draft.step_digests;
    expect(pending?.digest).toBe(old);
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    const current = w.state.steps.get(pending?.step ?? '')?.digest ?? '';
    expect(current).not.toBe(old);
    expect(w.state.index.stepsByDigest.get(old)).toContain(pending?.step);
    for (const digest of [old, snap?.digest ?? '']) {
      expect(refused(w.run({ kind: 'override_request', caller: OLIVIA, ...draft, step_digests: [digest] })).message).toContain(`step \`${digest}\` is not a recorded step`);
    }
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft, step_digests: [current] }));
    expect(w.state.overrides.get(requested.override)?.step_digests).toEqual([current]);
  });

  it('accepts an explicit scope that covers every step, and records the body to sign', () => {
    const w = new World(examplePolicy());
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...heldRestart(w) }));
    expect(requested.body.scope).toEqual(base);
    expect(w.state.overrides.get(requested.override)?.status).toBe('requested');
  });
});
