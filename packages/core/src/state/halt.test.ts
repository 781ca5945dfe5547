import { describe, expect, it } from 'vitest';
import { caller, compileBundle, COPILOT, examplePolicy, ok, refused, restartOverride, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { HaltCommand, HaltResult } from './halt.js';
import type { MachineStep } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * Halt: one key with halt authority suspends every grant and lease in its
 * scope at once. The authority covers environments; a halt of everything
 * needs all of them, a halt of an incident none. Every entry cites the halt
 * authority and is filed under the halt (and its incident).
 */

const SAM = caller('sam', 'signed-cli');
const OLIVIA = caller('olivia', 'approver-console');

const only = <R>(step: MachineStep<R>): LedgerEntry => {
  expect(step.entries).toHaveLength(1);
  return step.entries[0] as LedgerEntry;
};

const halt = (w: World, scope: HaltCommand['scope'], who = SAM, reason?: string): MachineStep<HaltResult> =>
  w.run<HaltResult>({ kind: 'halt', caller: who, scope, ...(reason === undefined ? {} : { reason }) });

/** The example bundle with halt authority over prod only. */
function prodOnlyHalts(): World {
  const example = examplePolicy().bundle;
  return new World(compileBundle({ ...example, halt: { ...example.halt, environments: ['prod'] } }));
}

describe('halt authority covers environments', () => {
  it('allows a halt of an environment it covers, or of an incident', () => {
    const w = prodOnlyHalts();
    ok(halt(w, { kind: 'environment', environment: 'prod' }));
    ok(halt(w, { kind: 'incident', incident: 'inc-1' }));
  });

  it.each([
    ['an environment it does not cover', { kind: 'environment', environment: 'dev' }],
    ['everything, when it does not cover every environment', { kind: 'all' }],
  ] as const)('refuses a halt of %s, citing the halt authority', (_label, scope) => {
    const w = prodOnlyHalts();
    const attempt = halt(w, scope);
    expect(refused(attempt).code).toBe('ENVIRONMENT_NOT_ALLOWED');
    expect(only(attempt).payload['rule_ids']).toEqual(['halt:authority']);
    expect(w.state.halts.size).toBe(0);
  });
});

describe('who may halt and lift', () => {
  it('refuses a caller outside the roster, an agent and a role without halt authority, citing it', () => {
    const w = new World(examplePolicy());
    for (const [who, code] of [[caller('mallory', 'signed-cli'), 'UNKNOWN_PRINCIPAL'], [COPILOT, 'AGENT_CANNOT_HALT'], [caller('fatima', 'signed-cli'), 'ROLE_NOT_ELIGIBLE']] as const) {
      const attempt = halt(w, { kind: 'all' }, who);
      expect(refused(attempt).code).toBe(code);
      expect(only(attempt).payload['rule_ids']).toEqual(['halt:authority']);
    }
    expect(w.state.halts.size).toBe(0);
  });

  it('refuses to lift for the same reasons, and a halt that is unknown or no longer active, naming it', () => {
    const w = new World(examplePolicy());
    const h = ok(halt(w, { kind: 'all' })).halt;
    const lift = (who = SAM, id = h) => w.run<HaltResult>({ kind: 'halt_lift', caller: who, halt: id });
    for (const [who, code] of [[caller('mallory', 'signed-cli'), 'UNKNOWN_PRINCIPAL'], [COPILOT, 'AGENT_CANNOT_HALT'], [caller('fatima', 'signed-cli'), 'ROLE_NOT_ELIGIBLE']] as const) {
      const attempt = lift(who);
      expect(refused(attempt).code).toBe(code);
      expect(only(attempt)).toMatchObject({ subjects: { target: h }, payload: { rule_ids: ['halt:authority'] } });
    }
    expect(w.state.halts.get(h)?.status).toBe('active');
    expect(only(lift(SAM, 'halt-404')).payload).toMatchObject({ code: 'HALT_UNKNOWN', rule_ids: ['halt:authority'] });
    expect(ok(lift())).toEqual({ ok: true, halt: h, revoked_grants: [], revoked_leases: [] });
    expect(only(lift()).payload).toMatchObject({ code: 'HALT_NOT_ACTIVE', rule_ids: ['halt:authority'] });
  });
});

describe('what a halt records', () => {
  it('files issuing and lifting under the halt and its incident, citing the authority, keeping 2,000 characters of a reason', () => {
    const w = new World(examplePolicy());
    const issued = halt(w, { kind: 'incident', incident: 'inc-1' }, SAM, 'h'.repeat(3_000));
    const h = ok(issued).halt;
    expect(only(issued).subjects).toEqual({ halt: h, incident: 'inc-1' });
    expect(only(issued).payload).toMatchObject({ reason: 'h'.repeat(2_000), rule_ids: ['halt:authority'] });
    const lifted = only(w.run({ kind: 'halt_lift', caller: SAM, halt: h, reason: 'l'.repeat(3_000) }));
    expect(lifted.subjects).toEqual({ halt: h, incident: 'inc-1' });
    expect(lifted.payload).toMatchObject({ reason: 'l'.repeat(2_000), rule_ids: ['halt:authority'] });
  });

  it('revokes the live grants in its scope by its own entry, which counts them; lifting it revives none', () => {
    const w = new World(examplePolicy());
    const prod = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
    const dev = ok(w.propose([snapshotStep({ environment: 'dev' })])).steps[0]?.grant?.jti ?? '';
    const incident = ok(w.propose([snapshotStep({ environment: 'staging' })], { incident: 'inc-1' })).steps[0]?.grant?.jti ?? '';
    const step = halt(w, { kind: 'environment', environment: 'prod' });
    const h = ok(step).halt;
    // one entry, however many grants are live (ADR 006 decision 4)
    expect(step.entries.map((e) => e.type)).toEqual(['halt.issued']);
    expect(only(step).payload).toMatchObject({ grants_revoked: 1 });
    expect(ok(step).revoked_grants).toEqual([prod]);
    expect(w.state.grants.get(prod)).toMatchObject({ status: 'revoked', revoked_reason: 'halt' });
    expect(w.state.grants.get(dev)?.status).toBe('issued');
    const byIncident = halt(w, { kind: 'incident', incident: 'inc-1' });
    expect(ok(byIncident).revoked_grants).toEqual([incident]);
    expect(w.state.grants.get(dev)?.status).toBe('issued');
    ok(w.run({ kind: 'halt_lift', caller: SAM, halt: h }));
    expect(w.state.grants.get(prod)).toMatchObject({ status: 'revoked', revoked_reason: 'halt' });
    expect(refused(w.run({ kind: 'consume', caller: COPILOT, grant: prod })).code).toBe('GRANT_REVOKED');
    expect([...w.state.index.liveGrants]).toEqual([dev]);
  });
});

describe('the leases a halt revokes', () => {
  /** One lease over the restart in prod and the same restart in dev. */
  function twoEnvironmentLease(w: World): string {
    const prod = ok(w.propose([restartStep()])).steps[0];
    const dev = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    if (!prod?.digest || !dev?.digest) throw new Error('both restarts should have digests');
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: prod.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
    const draft = { ...restartOverride(w, null, prod.digest, artifact), step_digests: [prod.digest, dev.digest], scope: { environments: ['prod', 'dev'], actions: ['workers.restart_pool'], targets: ['payments-worker'] } };
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
    const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
    return ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
  }

  it('are those covering any environment in its scope, and no other', () => {
    const w = new World(examplePolicy());
    const lease = twoEnvironmentLease(w);
    expect(w.state.leases.get(lease)?.environments).toEqual(['dev', 'prod']);
    expect(ok(halt(w, { kind: 'environment', environment: 'staging' })).revoked_leases).toEqual([]);
    const step = halt(w, { kind: 'environment', environment: 'prod' });
    const h = ok(step).halt;
    expect(ok(step).revoked_leases).toEqual([lease]);
    const revoked = step.entries.find((e) => e.type === 'lease.revoked');
    expect(revoked?.subjects).toEqual({ lease, override: w.state.leases.get(lease)?.override, halt: h });
    expect(revoked?.payload).toMatchObject({ reason: 'halt', cause: h, rule_ids: ['halt:authority'] });
  });
});

describe('what a refusal and an omitted reason record', () => {
  it('names the operation refused: halt, or halt_lift', () => {
    const w = prodOnlyHalts();
    const h = ok(halt(w, { kind: 'environment', environment: 'prod' })).halt;
    const lift = (who: typeof SAM, id = h) => w.run<HaltResult>({ kind: 'halt_lift', caller: who, halt: id });
    for (const who of [caller('mallory', 'signed-cli'), COPILOT, caller('fatima', 'signed-cli')]) {
      expect(only(halt(w, { kind: 'all' }, who)).payload['operation']).toBe('halt');
      expect(only(lift(who)).payload['operation']).toBe('halt_lift');
    }
    expect(only(halt(w, { kind: 'environment', environment: 'dev' })).payload).toMatchObject({ operation: 'halt', code: 'ENVIRONMENT_NOT_ALLOWED' });
    expect(only(lift(SAM, 'halt-404')).payload).toMatchObject({ operation: 'halt_lift', code: 'HALT_UNKNOWN' });
    ok(lift(SAM));
    expect(only(lift(SAM)).payload).toMatchObject({ operation: 'halt_lift', code: 'HALT_NOT_ACTIVE' });
  });

  it('records an empty reason when none is given, issuing and lifting', () => {
    const w = new World(examplePolicy());
    const issued = halt(w, { kind: 'all' });
    expect(only(issued).payload['reason']).toBe('');
    expect(only(w.run({ kind: 'halt_lift', caller: SAM, halt: ok(issued).halt })).payload['reason']).toBe('');
  });
});
