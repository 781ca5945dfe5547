import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteCredentialStore } from '../packages/gateway/src/auth/credential-store.js';
import { authenticate } from '../packages/gateway/src/auth/credentials.js';

// End to end: the built CLI (`npm run build` first).
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const POLICY = join(ROOT, 'examples', 'payments', 'policy.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'countersign-token-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function countersign(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('countersign token', () => {
  const db = join(tmp, 'ledger.db');

  it('issues a token once, lists it without the secret, and revokes it', async () => {
    const issued = countersign(['token', 'issue', '--principal', 'olivia', '--surface', 'approver-console', '--db', db, '--policy', POLICY]);
    expect(issued.code).toBe(0);
    const [token, idLine] = issued.stdout.split('\n');
    expect(token).toMatch(/^cst_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    const id = token!.slice(4, 20);
    expect(idLine).toBe(`id         ${id}`);
    expect(issued.stderr).toContain('shown once');

    const store = SqliteCredentialStore.open(db);
    try {
      const identity = await authenticate(store, `Bearer ${token}`, Date.now());
      expect(identity).toEqual({ credentialId: id, principal: 'olivia', surface: 'approver-console' });
      // default lifetime: 30 days
      const [record] = await store.list();
      expect(record!.expiresAt! - record!.createdAt).toBe(30 * 86_400_000);
    } finally {
      await store.close();
    }

    const json = countersign(['token', 'issue', '--principal', 'payments-copilot', '--surface', 'copilot-console', '--expires', '12h', '--db', db, '--json']);
    expect(json.code).toBe(0);
    const agent = JSON.parse(json.stdout) as { token: string; id: string; principal: string; surface: string; created_at: string; expires_at: string };
    expect(agent.principal).toBe('payments-copilot');
    expect(Date.parse(agent.expires_at) - Date.parse(agent.created_at)).toBe(12 * 3_600_000);

    const list = countersign(['token', 'list', '--db', db]);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^id\s+principal\s+surface\s+created\s+expires\s+revoked$/);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain(agent.id);
    for (const secret of [token!.slice(21), agent.token.slice(21)]) expect(list.stdout).not.toContain(secret);
    const listJson = JSON.parse(countersign(['token', 'list', '--db', db, '--json']).stdout) as { id: string; revoked_at: string | null }[];
    expect(listJson.map((c) => [c.id, c.revoked_at])).toEqual([
      [id, null],
      [agent.id, null],
    ]);
    // the secret is nowhere in the database file, in any encoding the CLI printed
    expect(readFileSync(db).toString('latin1')).not.toContain(token!.slice(21));

    const revoked = countersign(['token', 'revoke', id, '--db', db]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked ${id} \\(olivia on approver-console\\) at \\d{4}-`));
    const after = JSON.parse(countersign(['token', 'list', '--db', db, '--json']).stdout) as { id: string; revoked_at: string | null }[];
    expect(after.find((c) => c.id === id)?.revoked_at).toMatch(/^\d{4}-/);
    const again = SqliteCredentialStore.open(db);
    await expect(authenticate(again, `Bearer ${token}`, Date.now())).rejects.toMatchObject({ code: 'TOKEN_REVOKED' });
    await again.close();
  });

  it('refuses principals and surfaces the policy does not declare, bad lifetimes and unknown ids', () => {
    const base = ['token', 'issue', '--db', db, '--policy', POLICY];
    const principal = countersign([...base, '--principal', 'mallory', '--surface', 'approver-console']);
    expect([principal.code, principal.stderr]).toEqual([2, 'error[USAGE]: principal `mallory` is not declared in policy `' + POLICY + '`\n']);
    const surface = countersign([...base, '--principal', 'olivia', '--surface', 'Approver-Console']);
    expect(surface.code).toBe(2);
    expect(surface.stderr).toContain('surface `Approver-Console` is not declared');
    const lifetime = countersign([...base, '--principal', 'olivia', '--surface', 'signed-cli', '--expires', 'soon']);
    expect(lifetime.code).toBe(2);
    expect(lifetime.stderr).toContain('`--expires`');
    expect(countersign(['token', 'revoke', 'aaaaaaaaaaaaaaaa', '--db', db]).stderr).toContain('no credential with id `aaaaaaaaaaaaaaaa`');
    const noStore = countersign(['token', 'list']);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toContain('--db FILE');
  });
});
