import { describe, expect, it } from 'vitest';
import { canonicalDigest } from '../digest.js';
import { normalisePolicy } from '../policy/bundle-id.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { ApprovalStatement } from '../approval/statement.js';
import { caller, compileBundle, COPILOT, examplePolicy, ok, refused, World } from '../../../../test/scenario/world.js';
import type { Caller } from './command.js';
import type { GoldenFileData, GoldenSummaryData } from './entries.js';
import type { MachineStep } from './machine.js';
import { releaseDigest, releaseRules, storedPolicy, type ProposeReleaseResult } from './release.js';
import { createState } from './state.js';

/**
 * A governed release: a human proposes a candidate bundle with what the
 * gateway found (golden cases, replay diff), independent humans sign its
 * digest under the bundle in force, and the quorum activates it. Every entry
 * is filed under the release and the candidate and cites the release rules.
 */

const PRIYA = caller('priya', 'approver-console');
const DIFF = { replayed: 0, changed: 0, static_changes: 1, digest: canonicalDigest({ diff: 'test' }) };
const golden = (over: Partial<GoldenSummaryData> = {}): GoldenSummaryData => ({ cases: 10, failed: 0, failures: [], coverage_percent: 80, digest: canonicalDigest({ golden: 'test' }), ...over });

function propose(w: World, candidate: CompiledPolicy, who: Caller = PRIYA, goldenSummary: GoldenSummaryData | null = golden(), files: readonly GoldenFileData[] = []): MachineStep<ProposeReleaseResult> {
  return w.run<ProposeReleaseResult>({ kind: 'release_propose', caller: who, candidate, golden: goldenSummary, golden_files: files, diff: DIFF });
}

const next = (w: World, description = 'next'): CompiledPolicy => compileBundle({ ...w.policy.bundle, description });

/** Sam approves the release with a click in the approver console: the gateway attests, no key signs. */
function consoleClick(w: World, release: string, digest: string): MachineStep<unknown> {
  return w.run({
    kind: 'release_approve',
    caller: caller('sam', 'approver-console'),
    statement: { request: release, step_digest: digest, bundle_id: w.policy.bundleId, decision: 'approve', approver: 'sam', surface: 'approver-console', reason: 'click', signed_at: new Date(w.now).toISOString() },
    attestation: { kind: 'gateway', credential_id: 'cred-sam-approver-console', signature: 'A'.repeat(86) },
    signature_verified: true,
  });
}

/** The example bundle with release rules of its own. */
function withReleaseRules(rules: { propose_roles?: string[]; golden?: { required?: boolean; min_coverage_percent?: number; sets?: string[] } }): World {
  const example = examplePolicy().bundle;
  return new World(
    compileBundle({
      ...example,
      release: {
        propose_roles: rules.propose_roles ?? [],
        approval: { quorum: [{ roles: ['payments-owner', 'finance-delegate', 'sre'], count: 2 }], surfaces: ['signed-cli', 'approver-console'], attestation: 'key' },
        golden: rules.golden ?? { required: false, min_coverage_percent: 0 },
      },
    }),
  );
}

describe('the default release rules', () => {
  it('ask two people holding any role a human of the roster holds, by key, through a surface the bundle takes signatures through, with golden cases', () => {
    const policy = examplePolicy();
    expect(releaseRules(policy).approval).toMatchObject({
      quorum: [{ roles: ['finance-delegate', 'incident-lead', 'oncall-operator', 'payments-owner', 'sre'], count: 2 }],
      // never the copilot console, where agents propose
      surfaces: ['approver-console', 'signed-cli'],
      attestation: 'key',
    });
    expect(releaseRules(policy).golden).toEqual({ required: true, min_coverage_percent: 0 });
  });

  it('do not count a key signature from the copilot console, where agents propose', () => {
    const w = new World(examplePolicy());
    const { release } = ok(propose(w, next(w)));
    const attempt = w.signRelease(release, 'fatima', 'copilot-console');
    expect(refused(attempt).code).toBe('SURFACE_NOT_ALLOWED');
    expect(w.state.releases.get(release)?.signatures).toEqual([]);
  });

  it('refuse a candidate that brings no golden cases, or none that ran', () => {
    const w = new World(examplePolicy());
    expect(refused(propose(w, next(w), PRIYA, null)).code).toBe('RELEASE_GOLDEN_MISSING');
    expect(refused(propose(w, next(w), PRIYA, golden({ cases: 0, coverage_percent: 0 }))).code).toBe('RELEASE_GOLDEN_MISSING');
    expect(w.state.releases.size).toBe(0);
  });
});

describe('a declared release section', () => {
  it('asks for keys when it omits attestation: a console click (gateway attestation) does not count', () => {
    const example = examplePolicy().bundle;
    // as a policy author writes it: no `attestation`, which for approvals would mean `any`
    const w = new World(compileBundle({ ...example, release: { approval: { quorum: [{ roles: ['finance-delegate', 'sre'], count: 2 }], surfaces: ['signed-cli', 'approver-console'] } } }));
    expect(w.policy.bundle.release?.approval.attestation).toBe('key');
    const { release, release_digest } = ok(propose(w, next(w), caller('lena', 'signed-cli')));
    const click = consoleClick(w, release, release_digest);
    expect(refused(click).code).toBe('ATTESTATION_REQUIRED');
    expect(w.state.releases.get(release)?.signatures).toEqual([]);
  });
});

describe('the release digest signers sign', () => {
  it('changes with the candidate, the bundle it replaces, the golden result and the diff', () => {
    const base = releaseDigest('sha256:a', 'sha256:b', golden(), DIFF);
    expect(releaseDigest('sha256:c', 'sha256:b', golden(), DIFF)).not.toBe(base);
    expect(releaseDigest('sha256:a', null, golden(), DIFF)).not.toBe(base);
    expect(releaseDigest('sha256:a', 'sha256:b', null, DIFF)).not.toBe(base);
    expect(releaseDigest('sha256:a', 'sha256:b', golden(), { ...DIFF, digest: canonicalDigest({ diff: 'other' }) })).not.toBe(base);
  });

  it('is the canonical digest of a `countersign.release/v1` object, which the signing CLI recomputes', () => {
    expect(releaseDigest('sha256:a', 'sha256:b', golden(), DIFF)).toBe(
      canonicalDigest({ kind: 'countersign.release/v1', candidate: 'sha256:a', previous: 'sha256:b', golden: golden().digest, diff: DIFF.digest }),
    );
    expect(releaseDigest('sha256:a', null, null, DIFF)).toBe(canonicalDigest({ kind: 'countersign.release/v1', candidate: 'sha256:a', previous: null, golden: null, diff: DIFF.digest }));
  });
});

describe('proposing a release', () => {
  it('is refused to a caller outside the roster, citing the propose rule', () => {
    const w = new World(examplePolicy());
    const attempt = propose(w, next(w), caller('mallory', 'signed-cli'));
    expect(refused(attempt).code).toBe('UNKNOWN_PRINCIPAL');
    expect(attempt.entries[0]?.payload['rule_ids']).toEqual(['release:propose_roles']);
    expect(refused(propose(w, next(w), COPILOT)).code).toBe('AGENT_CANNOT_ACTIVATE');
  });

  it('names its operation when refused, release_propose, whichever gate refuses it', () => {
    const w = new World(examplePolicy());
    expect(propose(w, next(w), caller('mallory', 'signed-cli')).entries[0]?.payload['operation']).toBe('release_propose');
    expect(propose(w, next(w), PRIYA, null).entries[0]?.payload['operation']).toBe('release_propose');
  });

  it('without golden cases, is refused under the candidate, recording no golden summary and returning no details', () => {
    const w = new World(examplePolicy());
    const candidate = next(w);
    const attempt = propose(w, candidate, PRIYA, null);
    const refusal = refused(attempt);
    expect(refusal.code).toBe('RELEASE_GOLDEN_MISSING');
    expect(refusal).not.toHaveProperty('details');
    expect(attempt.entries).toHaveLength(1);
    expect(attempt.entries[0]?.subjects).toEqual({ target: candidate.bundleId });
    expect(attempt.entries[0]?.payload).toEqual({ operation: 'release_propose', code: 'RELEASE_GOLDEN_MISSING', target_id: candidate.bundleId, credential: PRIYA.credential, rule_ids: ['release:golden'] });
  });

  it('without golden cases is accepted when the rules do not require them', () => {
    const w = withReleaseRules({ golden: { required: false, min_coverage_percent: 0 } });
    const step = propose(w, next(w), PRIYA, null);
    ok(step);
    expect(step.entries[0]?.payload['golden']).toBeNull();
  });

  it('is reserved to the propose roles when the bundle names some', () => {
    const w = withReleaseRules({ propose_roles: ['payments-owner'] });
    const attempt = propose(w, next(w), caller('lena', 'approver-console'));
    expect(refused(attempt).code).toBe('ROLE_NOT_ELIGIBLE');
    expect(attempt.entries[0]?.payload['rule_ids']).toEqual(['release:propose_roles']);
    ok(propose(w, next(w)));
  });

  it('holds the candidate to the golden rules, citing them', () => {
    const w = withReleaseRules({ golden: { required: true, min_coverage_percent: 80 } });
    for (const [summary, code] of [
      [null, 'RELEASE_GOLDEN_MISSING'],
      [golden({ failed: 1, failures: ['restart in prod needs a lead'] }), 'RELEASE_GOLDEN_FAILED'],
      [golden({ coverage_percent: 79 }), 'RELEASE_GOLDEN_FAILED'],
    ] as const) {
      const attempt = propose(w, next(w), PRIYA, summary);
      expect(refused(attempt).code).toBe(code);
      expect(attempt.entries[0]?.payload['rule_ids']).toEqual(['release:golden']);
    }
    // exactly the minimum coverage is enough
    ok(propose(w, next(w), PRIYA, golden({ coverage_percent: 80 })));
  });

  it('says and records which cases failed, under which golden digest', () => {
    const w = new World(examplePolicy());
    const failing = golden({ cases: 12, failed: 2, failures: ['restart in prod needs a lead', 'clear needs a snapshot'], digest: canonicalDigest({ golden: 'failing' }) });
    const attempt = propose(w, next(w), PRIYA, failing);
    const refusal = refused(attempt);
    expect(refusal).toMatchObject({
      code: 'RELEASE_GOLDEN_FAILED',
      message: '2 of 12 golden cases fail under the candidate: `restart in prod needs a lead`, `clear needs a snapshot`',
      details: { golden_digest: failing.digest, cases: 12, failed: 2, failures: ['restart in prod needs a lead', 'clear needs a snapshot'] },
    });
    expect(attempt.entries[0]).toMatchObject({ type: 'authority.rejected', payload: { code: 'RELEASE_GOLDEN_FAILED', golden: failing, rule_ids: ['release:golden'] } });
  });

  it('requires every golden set the rules name, by file name', () => {
    const w = withReleaseRules({ golden: { sets: ['incident.yaml', 'approval.yaml'] } });
    const files = [{ name: 'incident.yaml', text: '- name: x' }];
    const attempt = propose(w, next(w), PRIYA, golden(), files);
    expect(refused(attempt)).toMatchObject({ code: 'RELEASE_GOLDEN_MISSING', message: 'the release rules require the golden sets `approval.yaml`, which were not sent' });
    ok(propose(w, next(w), PRIYA, golden(), [...files, { name: 'approval.yaml', text: '- name: y' }]));
  });

  it('records the case files with the candidate, so an offline verifier can run them again', () => {
    const w = new World(examplePolicy());
    const files = [{ name: 'incident.yaml', text: '- name: restart in prod\n' }];
    const step = propose(w, next(w), PRIYA, golden(), files);
    ok(step);
    expect(step.entries[0]?.payload['golden_files']).toEqual(files);
  });

  it('is filed under the release and the candidate, with the requirements its signers must meet', () => {
    const w = new World(examplePolicy());
    const candidate = next(w);
    const step = propose(w, candidate);
    const { release } = ok(step);
    // a `release` id: the gateway draws it by kind, the scenario world counts per kind
    expect(release).toBe('release-1');
    const entry = step.entries[0];
    expect(entry?.subjects).toEqual({ release, bundle: candidate.bundleId });
    expect(entry?.payload['rule_ids']).toEqual(['release:propose_roles', 'release:golden']);
    expect(entry?.payload['requirements']).toMatchObject({ grant_ttl_ms: 0, rollback_required: false, prerequisites: [], attestation: 'key' });
  });
});

describe('signing a release', () => {
  it('refuses an agent as an agent, before looking at its signature', () => {
    const w = new World(examplePolicy());
    const { release, release_digest } = ok(propose(w, next(w)));
    const statement: ApprovalStatement = { request: release, step_digest: release_digest, bundle_id: w.policy.bundleId, decision: 'approve', approver: 'payments-copilot', surface: 'copilot-console', reason: 'lgtm', signed_at: new Date(w.now).toISOString() };
    const attempt = w.run({ kind: 'release_approve', caller: COPILOT, statement, attestation: { kind: 'key', key_id: 'x', signature: 'A'.repeat(86) }, signature_verified: false });
    expect(refused(attempt).code).toBe('AGENT_CANNOT_APPROVE');
    expect(attempt.entries[0]).toMatchObject({ type: 'release.rejected', subjects: { release }, payload: { rule_ids: ['release:quorum'] } });
  });

  it('refuses a signature through the surface the release was proposed from', () => {
    const w = new World(examplePolicy());
    const { release } = ok(propose(w, next(w)));
    expect(refused(w.signRelease(release, 'fatima', 'approver-console')).code).toBe('SURFACE_NOT_ALLOWED');
  });

  it('records each signature under the release and the candidate, and activates on the quorum', () => {
    const w = new World(examplePolicy());
    const candidate = next(w);
    const { release } = ok(propose(w, candidate));
    const first = w.signRelease(release, 'fatima', 'signed-cli');
    expect(ok(first)).toEqual({ ok: true, release, decision: 'approve', status: 'open', quorum_met: false, remaining: [{ factor: 0, roles: ['finance-delegate', 'incident-lead', 'oncall-operator', 'payments-owner', 'sre'], needed: 1 }], activated: null });
    expect(first.entries[0]?.subjects).toEqual({ release, bundle: candidate.bundleId });
    expect(first.entries[0]?.payload).toMatchObject({ approver: 'fatima', roles: ['finance-delegate'], key_id: 'fatima-2025', counted_for: [0], rule_ids: ['release:quorum'] });
    const second = ok(w.signRelease(release, 'sam', 'signed-cli'));
    expect(second).toMatchObject({ decision: 'approve', status: 'activated', quorum_met: true, remaining: [] });
    expect(second.activated?.bundle_id).toBe(candidate.bundleId);
    // the release is closed: a late signature is refused as such
    expect(refused(w.signRelease(release, 'lena', 'signed-cli')).code).toBe('REQUEST_CLOSED');
  });

  it('counts the proposer’s credential as used: a signer presenting it is refused', () => {
    const w = new World(examplePolicy());
    const { release, release_digest } = ok(propose(w, next(w)));
    expect(w.state.releases.get(release)?.credentials).toEqual([PRIYA.credential]);
    const statement: ApprovalStatement = { request: release, step_digest: release_digest, bundle_id: w.policy.bundleId, decision: 'approve', approver: 'sam', surface: 'signed-cli', reason: 'ok', signed_at: new Date(w.now).toISOString() };
    const reused = w.run({ kind: 'release_approve', caller: caller('sam', 'signed-cli', PRIYA.credential), statement, attestation: { kind: 'key', key_id: 'sam-2025', signature: 'A'.repeat(86) }, signature_verified: true });
    expect(refused(reused).code).toBe('CREDENTIAL_REUSED');
  });

  it('leaves a denied release denied when another release is activated', () => {
    const w = new World(examplePolicy());
    const { release: denied } = ok(propose(w, next(w, 'denied')));
    ok(w.signRelease(denied, 'fatima', 'signed-cli', 'deny'));
    const closedAt = w.state.releases.get(denied)?.closed_at;
    w.advance(60_000);
    ok(w.activate(next(w, 'activated')));
    expect(w.state.releases.get(denied)).toMatchObject({ status: 'denied', closed_at: closedAt });
  });

  it('is closed by one eligible denial, which activates nothing', () => {
    const w = new World(examplePolicy());
    const { release } = ok(propose(w, next(w)));
    const denied = ok(w.signRelease(release, 'fatima', 'signed-cli', 'deny'));
    expect(denied).toMatchObject({ decision: 'deny', status: 'denied', quorum_met: false, activated: null });
    expect(w.state.releases.get(release)?.status).toBe('denied');
    expect(refused(w.signRelease(release, 'sam', 'signed-cli')).code).toBe('REQUEST_CLOSED');
  });
});

describe('a release signature', () => {
  it('records the signer’s roles sorted, whatever order the roster declares them in', () => {
    const example = examplePolicy().bundle;
    const w = new World(compileBundle({ ...example, principals: example.principals.map((p) => (p.id === 'fatima' ? { ...p, roles: ['sre', 'finance-delegate'] } : p)) }));
    const { release } = ok(propose(w, next(w)));
    const signed = w.signRelease(release, 'fatima', 'signed-cli');
    ok(signed);
    expect(signed.entries[0]?.payload['roles']).toEqual(['finance-delegate', 'sre']);
  });

  it('attested by the gateway, where the rules take any attestation, records no key id', () => {
    const example = examplePolicy().bundle;
    const w = new World(
      compileBundle({
        ...example,
        release: { approval: { quorum: [{ roles: ['finance-delegate', 'sre'], count: 2 }], surfaces: ['signed-cli', 'approver-console'], attestation: 'any' }, golden: { required: false, min_coverage_percent: 0 } },
      }),
    );
    const { release, release_digest } = ok(propose(w, next(w), caller('lena', 'signed-cli')));
    const click = consoleClick(w, release, release_digest);
    ok(click);
    expect(click.entries[0]?.payload).toMatchObject({ attestation: 'gateway', key_id: null });
  });
});

describe('the stored text of a bundle', () => {
  it('is the first bundle’s text from its activation, and a released bundle’s from its proposal, kept when the release activates it', () => {
    const w = new World(examplePolicy());
    const first = w.policy;
    expect(w.state.index.bundleTexts.get(first.bundleId)).toEqual(normalisePolicy(first.bundle));
    const candidate = next(w);
    ok(w.activate(candidate));
    expect(w.state.bundle.bundle_id).toBe(candidate.bundleId);
    // the activation by a release records no text of its own: the release's is the one
    expect(w.machine.entries.find((e) => e.type === 'bundle.activated' && e.payload['bundle_id'] === candidate.bundleId)?.payload['bundle']).toBeNull();
    expect(w.state.index.bundleTexts.get(candidate.bundleId)).toEqual(normalisePolicy(candidate.bundle));
  });


  it('is used only when it hashes to the id it is stored under: a replica never runs rules other than the ones named', () => {
    const state = createState();
    const policy = examplePolicy();
    const other = compileBundle({ ...policy.bundle, description: 'another' });
    state.index.bundleTexts.set(`sha256:${'0'.repeat(64)}`, other.bundle as never);
    expect(storedPolicy(state, `sha256:${'0'.repeat(64)}`)).toBeNull();
    state.index.bundleTexts.set(other.bundleId, other.bundle as never);
    expect(storedPolicy(state, other.bundleId)?.bundleId).toBe(other.bundleId);
    expect(storedPolicy(state, `sha256:${'1'.repeat(64)}`)).toBeNull();
  });
});
