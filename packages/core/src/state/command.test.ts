import { describe, expect, it } from 'vitest';
import { caller, clearStep, compileBundle, COPILOT, EVIDENCE, examplePolicy, inspectStep, MINUTE, ok, refused, restartOverride, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import { grantTokenClaims, openRequests, requestsForDigest, type IssuedGrant } from './command.js';
import { runCommand } from './commands.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import { counterIds } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult, RunRollbackResult } from './rollback.js';
import { createState } from './state.js';

/**
 * What every command shares: it runs only under the bundle in force; grants
 * never outlive their prerequisites and are filed under what they authorise;
 * a grant waits for its rollback artifact once, and only where the contract
 * demands one; halts cover their scope and nothing else.
 */

const OLIVIA = caller('olivia', 'approver-console');
const SAM = caller('sam', 'signed-cli');

const register = (w: World, step: string, action = 'workers.rollback_pool', target = 'payments-worker') =>
  w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step, action, target });

describe('a command runs only under the bundle in force', () => {
  it('throws INTERNAL under no policy, before any bundle, or under another bundle: a wiring bug, never a decision', () => {
    const w = new World(examplePolicy());
    const command = { kind: 'propose' as const, caller: COPILOT, proposal: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] } };
    const ctx = { now: w.now, ids: counterIds() };
    const internal = expect.objectContaining({ code: 'INTERNAL' });
    expect(() => runCommand(w.state, null, command, ctx)).toThrow(internal);
    expect(() => runCommand(createState(), w.policy, command, ctx)).toThrow(internal);
    expect(() => runCommand(w.state, compileBundle({ ...w.policy.bundle, description: 'other' }), command, ctx)).toThrow(internal);
    expect(runCommand(w.state, w.policy, command, ctx).result.ok).toBe(true);
  });
});

describe('a person holding one eligible role among others', () => {
  it('may act on it', () => {
    const example = examplePolicy().bundle;
    // olivia also delegates for finance, a role no hold names
    const w = new World(compileBundle({ ...example, principals: example.principals.map((p) => (p.id === 'olivia' ? { ...p, roles: ['finance-delegate', 'oncall-operator'] } : p)) }));
    ok(w.run({ kind: 'hold_open', caller: OLIVIA, trip_gate: 'K1', scope: {}, evidence_hash: EVIDENCE }));
  });
});

describe('issuing a grant', () => {
  /** A snapshot of shard 7 in dev that succeeded now. */
  function snapshotSucceeded(w: World): void {
    const snap = ok(w.propose([snapshotStep({ environment: 'dev' })])).steps[0]?.grant?.jti ?? '';
    const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: snap }));
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome: 'succeeded' }));
  }

  it('lasts its time to live while the prerequisites outlast it', () => {
    const w = new World(examplePolicy());
    snapshotSucceeded(w);
    const grant = ok(w.propose([clearStep({ environment: 'dev' })])).steps[0]?.grant;
    expect(grant?.expires_at).toBe(new Date(w.now + 10 * MINUTE).toISOString());
  });

  it('never outlives a prerequisite that lapses first', () => {
    const w = new World(examplePolicy());
    const succeeded = w.now;
    snapshotSucceeded(w);
    w.advance(25 * MINUTE);
    const grant = ok(w.propose([clearStep({ environment: 'dev' })])).steps[0]?.grant;
    expect(grant?.expires_at).toBe(new Date(succeeded + 30 * MINUTE).toISOString());
  });

  it('is filed under the grant, the step, its proposal, its request and its incident', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()], { incident: 'inc-4' })).steps[0];
    ok(w.approve(s?.request ?? '', 'lena', 'approver-console'));
    const reg = register(w, s?.step ?? '');
    const issued = reg.entries.find((e) => e.type === 'grant.issued');
    expect(issued?.subjects).toEqual({ grant: ok(reg).grant?.jti, step: s?.step, proposal: w.state.steps.get(s?.step ?? '')?.proposal, request: s?.request, incident: 'inc-4' });
  });

  it('carries its claims in seconds, as RFC 7519 NumericDates', () => {
    const w = new World(examplePolicy());
    const issued = ok(w.propose([inspectStep()])).steps[0]?.grant as IssuedGrant;
    expect(grantTokenClaims(issued)).toEqual({
      jti: issued.jti,
      iat: Math.floor(Date.parse(issued.issued_at) / 1000),
      exp: Math.floor(Date.parse(issued.expires_at) / 1000),
      step_digest: issued.digest,
      environment: issued.environment,
      target: issued.target,
      bundle_id: issued.bundle_id,
      request_id: null,
      lease_id: null,
    });
    expect(grantTokenClaims(issued).exp - grantTokenClaims(issued).iat).toBe(600);
  });
});

describe('a grant waiting for its rollback artifact', () => {
  it('is issued once: another artifact does not issue a second grant while the first is live, even after the first artifact ran', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    ok(w.approve(s?.request ?? '', 'lena', 'approver-console'));
    const first = ok(register(w, s?.step ?? ''));
    expect(first.grant).not.toBeNull();
    ok(w.run<RunRollbackResult>({ kind: 'rollback_run', caller: OLIVIA, artifact: first.artifact }));
    expect(ok(register(w, s?.step ?? '')).grant).toBeNull();
    expect(w.state.steps.get(s?.step ?? '')?.grants).toEqual([first.grant?.jti]);
  });

  it('is not renewed by another artifact once it expired', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    ok(w.approve(s?.request ?? '', 'lena', 'approver-console'));
    const grant = ok(register(w, s?.step ?? '')).grant?.jti ?? '';
    w.advance(11 * MINUTE);
    expect(refused(w.run({ kind: 'consume', caller: COPILOT, grant })).code).toBe('GRANT_EXPIRED');
    expect(ok(register(w, s?.step ?? '')).grant).toBeNull();
  });

  it('is never issued for a step whose contract wants no rollback', () => {
    const w = new World(examplePolicy());
    const inspect = ok(w.propose([inspectStep()])).steps[0];
    w.advance(11 * MINUTE);
    expect(refused(w.run({ kind: 'consume', caller: COPILOT, grant: inspect?.grant?.jti ?? '' })).code).toBe('GRANT_EXPIRED');
    expect(ok(register(w, inspect?.step ?? '', 'queue.snapshot_shard', 'payments-queue/shard-7')).grant).toBeNull();
  });

  it('is never issued for a step that already ran, even once its grant was retired and its artifact used', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    ok(w.approve(s?.request ?? '', 'lena', 'approver-console'));
    const { artifact, grant } = ok(register(w, s?.step ?? ''));
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, null, s?.digest ?? '', artifact) }));
    const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
    const lease = ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
    // the lease runs the step and revokes its grant in the same commit
    ok(w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease, step: s?.step ?? '' }));
    expect(w.state.grants.get(grant?.jti ?? '')?.status).toBe('revoked');
    ok(w.run<RunRollbackResult>({ kind: 'rollback_run', caller: OLIVIA, artifact }));
    expect(ok(register(w, s?.step ?? '')).grant).toBeNull();
  });
});

describe('what a halt covers', () => {
  it('an environment halt covers that environment only', () => {
    const w = new World(examplePolicy());
    const prod = ok(w.propose([inspectStep()])).steps[0]?.grant?.jti ?? '';
    expect(ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'staging' } })).revoked_grants).toEqual([]);
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: prod }));
  });

  it('an incident halt covers that incident only, at revocation and at execution', () => {
    const w = new World(examplePolicy());
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'incident', incident: 'inc-1' } }));
    const inside = ok(w.propose([inspectStep()], { incident: 'inc-1' })).steps[0]?.grant?.jti ?? '';
    const outside = ok(w.propose([inspectStep()], { incident: 'inc-2' })).steps[0]?.grant?.jti ?? '';
    const none = ok(w.propose([inspectStep()])).steps[0]?.grant?.jti ?? '';
    expect(refused(w.run({ kind: 'consume', caller: COPILOT, grant: inside })).code).toBe('HALT_ACTIVE');
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: outside }));
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: none }));
    expect(halted.revoked_grants).toEqual([]);
  });

  it('an incident halt revokes a lease over steps of that incident', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()], { incident: 'inc-1' })).steps[0];
    const artifact = ok(register(w, s?.step ?? '')).artifact;
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, null, s?.digest ?? '', artifact) }));
    const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
    const lease = ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
    expect(ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'incident', incident: 'inc-1' } })).revoked_leases).toEqual([lease]);
  });
});

describe('reading the request indexes', () => {
  it('gives the open requests and those of one step digest as records, oldest first, and skips what the index names wrongly', () => {
    const w = new World(examplePolicy());
    const first = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    const other = ok(w.propose([restartStep({ target: 'refund-worker' })])).steps[0]?.request ?? '';
    const second = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    const digest = w.state.requests.get(first)?.digest ?? '';
    const ids = (records: Iterable<{ id: string }>): string[] => [...records].map((r) => r.id);

    expect(ids(openRequests(w.state))).toEqual([first, other, second]);
    expect(ids(requestsForDigest(w.state, digest))).toEqual([first, second]);
    expect(ids(requestsForDigest(w.state, 'sha256:none'))).toEqual([]);

    // an id with no record, or a record of another digest, is not returned
    w.state.index.openRequests.add('request-missing');
    w.state.index.requestsByDigest.get(digest)?.push('request-missing', other);
    expect(ids(openRequests(w.state))).toEqual([first, other, second]);
    expect(ids(requestsForDigest(w.state, digest))).toEqual([first, second]);
  });
});
