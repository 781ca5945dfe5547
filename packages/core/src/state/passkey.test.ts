import { describe, expect, it } from 'vitest';
import { caller, compileBundle, COPILOT, examplePolicy, ok, refused, SAMPLE_PASSKEY, World } from '../../../../test/scenario/world.js';
import type { MachineStep } from './machine.js';
import { applyEntry } from './reduce.js';
import type { PasskeyResult, RegisterPasskeyCommand } from './passkey.js';

/**
 * The passkey registry's own records: what registering and revoking write,
 * under which subjects, and which operation a refusal names; who counts as a
 * token administrator (issue 14, issue 17's mutation run).
 */

const LENA = caller('lena', 'approver-console');
const SAM = caller('sam', 'approver-console');

const register = (w: World, who = LENA, passkey: RegisterPasskeyCommand['passkey'] = SAMPLE_PASSKEY): MachineStep<PasskeyResult> =>
  w.run<PasskeyResult>({ kind: 'passkey_register', caller: who, passkey, identity: null });

const revoke = (w: World, who: ReturnType<typeof caller>, credential_id: string = SAMPLE_PASSKEY.credential_id): MachineStep<PasskeyResult> =>
  w.run<PasskeyResult>({ kind: 'passkey_revoke', caller: who, credential_id });

/** The example bundle with `credentials.admin_roles` and extra roles for some principals. */
function withAdmins(adminRoles: string[], extraRoles: Record<string, string[]> = {}): World {
  const example = examplePolicy().bundle;
  const principals = example.principals.map((p) => (extraRoles[p.id] ? { ...p, roles: [...p.roles, ...(extraRoles[p.id] ?? [])] } : p));
  return new World(compileBundle({ ...example, principals, credentials: { admin_roles: adminRoles } }));
}

describe('what registering and revoking a passkey record', () => {
  it('files both under the principal and the passkey, and says the registered one is not revoked', () => {
    const w = new World(examplePolicy());
    const registered = register(w);
    expect(ok(registered)).toEqual({ ok: true, credential_id: SAMPLE_PASSKEY.credential_id, principal: 'lena', revoked: false });
    expect(registered.entries.map((e) => e.subjects)).toEqual([{ principal: 'lena', passkey: SAMPLE_PASSKEY.credential_id }]);
    const revoked = revoke(w, LENA);
    expect(ok(revoked)).toEqual({ ok: true, credential_id: SAMPLE_PASSKEY.credential_id, principal: 'lena', revoked: true });
    expect(revoked.entries.map((e) => e.subjects)).toEqual([{ principal: 'lena', passkey: SAMPLE_PASSKEY.credential_id }]);
  });

  it('names the operation refused: passkey_register or passkey_revoke', () => {
    const w = new World(examplePolicy());
    for (const attempt of [register(w, caller('mallory', 'approver-console')), register(w, COPILOT)]) {
      expect(attempt.entries.map((e) => e.payload['operation'])).toEqual(['passkey_register']);
    }
    ok(register(w));
    expect(register(w, SAM).entries[0]?.payload).toMatchObject({ operation: 'passkey_register', code: 'PASSKEY_EXISTS' });
    expect(revoke(w, SAM).entries[0]?.payload).toMatchObject({ operation: 'passkey_revoke', code: 'PASSKEY_NOT_YOURS' });
    expect(revoke(w, LENA, 'cred-never-registered').entries[0]?.payload).toMatchObject({ operation: 'passkey_revoke', code: 'PASSKEY_UNKNOWN' });
  });
});

describe('who may revoke a passkey', () => {
  it('refuses a credential id nobody registered as PASSKEY_UNKNOWN', () => {
    const w = new World(examplePolicy());
    expect(refused(revoke(w, LENA, 'cred-never-registered')).code).toBe('PASSKEY_UNKNOWN');
  });

  it('refuses a caller outside the roster another person’s passkey: PASSKEY_NOT_YOURS', () => {
    const w = withAdmins(['payments-owner']);
    ok(register(w));
    expect(refused(revoke(w, caller('mallory', 'approver-console'))).code).toBe('PASSKEY_NOT_YOURS');
    expect(w.state.passkeys.get(SAMPLE_PASSKEY.credential_id)?.revoked_at).toBeNull();
  });

  it('has no token administrator when the bundle names no credentials section', () => {
    const w = new World(examplePolicy());
    expect(w.policy.bundle.credentials).toBeUndefined();
    ok(register(w));
    expect(refused(revoke(w, caller('priya', 'approver-console'))).code).toBe('PASSKEY_NOT_YOURS');
  });

  it('counts as administrator a principal holding an admin role among others', () => {
    const w = withAdmins(['sre'], { priya: ['sre'] });
    ok(register(w));
    expect(ok(revoke(w, caller('priya', 'approver-console')))).toMatchObject({ revoked: true, principal: 'lena' });
    expect(w.state.passkeys.get(SAMPLE_PASSKEY.credential_id)?.revoked_by).toBe('priya');
  });
});

describe('a passkey entry a racing replica repeats', () => {
  it('registers a credential id once: a second registration of it, to someone else, changes nothing', () => {
    const w = new World(examplePolicy());
    const registered = register(w).entries[0];
    if (!registered) throw new Error('no registration entry');
    const before = structuredClone(w.state.passkeys.get(SAMPLE_PASSKEY.credential_id));
    applyEntry(w.state, { ...registered, seq: w.machine.entries.length, at: '2025-06-01T10:00:00.000Z', actor: 'sam', payload: { ...registered.payload, principal: 'sam', credential: 'cred-sam-approver-console' } });
    expect(w.state.passkeys.get(SAMPLE_PASSKEY.credential_id)).toEqual(before);
    expect(before).toMatchObject({ principal: 'lena' });
  });

  it('revokes once: a second revocation keeps who revoked it and when', () => {
    const w = new World(examplePolicy());
    ok(register(w));
    const revoked = revoke(w, LENA).entries[0];
    if (!revoked) throw new Error('no revocation entry');
    applyEntry(w.state, { ...revoked, seq: w.machine.entries.length, at: '2025-06-01T10:00:00.000Z', actor: 'priya', payload: { ...revoked.payload, revoked_by: 'priya' } });
    expect(w.state.passkeys.get(SAMPLE_PASSKEY.credential_id)).toMatchObject({ revoked_at: revoked.at, revoked_by: 'lena' });
  });
});
