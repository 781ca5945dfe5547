import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteCredentialStore } from '../packages/gateway/src/auth/credential-store.js';
import { authenticate } from '../packages/gateway/src/auth/credentials.js';
import { loadPrivateKey, loadPublicKey, publicKeyOf } from '../packages/gateway/src/keys.js';
import { loadServeConfig } from '../packages/gateway/src/cli/serve-config.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { formatPublicKey, loadPolicy } from '../packages/core/src/index.js';

// End to end: the built CLI (`npx tsc -b packages/core packages/client packages/gateway` first).
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const EXAMPLE = join(ROOT, 'examples', 'payments', 'policy.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'countersign-init-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Run from a directory that has no examples/ of its own: the example must be found relative to the CLI. */
function countersign(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** `export NAME='value'  # comment` lines of tokens.env. */
function envFile(path: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)='([^']*)'/.exec(line);
    if (m) vars.set(m[1]!, m[2]!);
  }
  return vars;
}

const EXPECTED_PLAN = [
  ['payments-copilot', 'copilot-console'],
  ['olivia', 'copilot-console'],
  ['omar', 'copilot-console'],
  ...['lena', 'leo', 'priya', 'fatima', 'sam'].flatMap((p) => [
    [p, 'approver-console'],
    [p, 'signed-cli'],
  ]),
];

describe('countersign init', () => {
  const dir = join(tmp, 'gw');

  it('scaffolds policy, key, database and tokens with the right modes, from any working directory', async () => {
    const r = countersign(['init', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('shown once');
    // the policy is the example with every roster key replaced: no key whose private
    // half ships in the repository (the fixtures) is trusted by a scaffolded gateway
    const scaffolded = loadPolicy(readFileSync(join(dir, 'policy.yaml'), 'utf8'), 'policy.yaml').bundle;
    const example = loadPolicy(readFileSync(EXAMPLE, 'utf8'), 'example.yaml').bundle;
    const withoutKeys = (b: typeof example) => b.principals.map((p) => ({ ...p, keys: p.keys.map((k) => k.id) }));
    expect(withoutKeys(scaffolded)).toEqual(withoutKeys(example));
    const exampleKeys = new Set(example.principals.flatMap((p) => p.keys.map((k) => k.public_key)));
    const rosterKeys = scaffolded.principals.flatMap((p) => p.keys);
    expect(rosterKeys.length).toBe(exampleKeys.size);
    for (const { id, public_key } of rosterKeys) {
      expect(exampleKeys.has(public_key)).toBe(false);
      const file = join(dir, 'keys', `${id}.key`);
      expect(mode(file)).toBe(0o600);
      expect(formatPublicKey(publicKeyOf(loadPrivateKey(file)))).toBe(public_key);
    }
    expect(mode(join(dir, 'gateway.key'))).toBe(0o600);
    expect(mode(join(dir, 'tokens.env'))).toBe(0o600);
    expect(mode(dir) & 0o077).toBe(0);
    // and git leaves every secret alone
    const ignored = readFileSync(join(dir, '.gitignore'), 'utf8').split('\n');
    for (const secret of ['gateway.key', 'keys/', 'tokens.env', 'ledger.db']) expect(ignored).toContain(secret);
    // the key pair is a pair
    const key = loadPrivateKey(join(dir, 'gateway.key'));
    expect(publicKeyOf(key).export({ format: 'jwk' })).toEqual(loadPublicKey(join(dir, 'gateway.key.pub')).export({ format: 'jwk' }));
    // the database is migrated: the ledger store opens it read-only
    const ledger = SqliteLedgerStore.open(join(dir, 'ledger.db'), { readonly: true });
    expect((await ledger.head()).size).toBe(0);
    await ledger.close();

    // one file configures the gateway: this policy, key and database, by paths relative to it
    expect(r.stdout).toContain(`countersign serve --config ${join(dir, 'countersign.yaml')}`);
    expect(loadServeConfig(join(dir, 'countersign.yaml'))).toEqual({ listen: { host: '127.0.0.1', port: 8080 }, policy: 'policy.yaml', store: { sqlite: 'ledger.db' }, key: { file: 'gateway.key' } });
    expect(r.stdout).toMatch(/^principal +surface +token$/m);

    const vars = envFile(join(dir, 'tokens.env'));
    expect(vars.get('COUNTERSIGN_SERVER')).toBe('http://127.0.0.1:8080');
    const store = SqliteCredentialStore.open(join(dir, 'ledger.db'));
    try {
      const seen: string[][] = [];
      for (const [principal, surface] of EXPECTED_PLAN) {
        const name = `COUNTERSIGN_TOKEN_${principal!.toUpperCase().replace(/-/g, '_')}_${surface!.toUpperCase().replace(/-/g, '_')}`;
        const token = vars.get(name);
        expect(token, name).toMatch(/^cst_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
        // printed once in the table, and it authenticates as exactly this principal on this surface
        expect(r.stdout).toContain(token);
        const identity = await authenticate(store, `Bearer ${token}`, Date.now());
        seen.push([identity.principal, identity.surface]);
      }
      expect(seen).toEqual(EXPECTED_PLAN);
      expect(await store.list()).toHaveLength(EXPECTED_PLAN.length);
      // default lifetime: 30 days
      const [first] = await store.list();
      expect(first!.expiresAt! - first!.createdAt).toBe(30 * 86_400_000);
    } finally {
      await store.close();
    }
    // only hashes in the database
    const dbBytes = readFileSync(join(dir, 'ledger.db')).toString('latin1');
    for (const token of vars.values()) if (token.startsWith('cst_')) expect(dbBytes).not.toContain(token.slice(21));
  });

  it('writes the gateway URL --server names into tokens.env, and refuses one that is not a URL', () => {
    const dir = join(tmp, 'other-port');
    const r = countersign(['init', dir, '--server', 'http://127.0.0.1:9090']);
    expect(r.code, r.stderr).toBe(0);
    expect(envFile(join(dir, 'tokens.env')).get('COUNTERSIGN_SERVER')).toBe('http://127.0.0.1:9090');
    expect(loadServeConfig(join(dir, 'countersign.yaml')).listen).toEqual({ host: '127.0.0.1', port: 9090 });
    const bad = countersign(['init', join(tmp, 'bad-server'), '--server', 'not a url']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error[USAGE]');
    expect(existsSync(join(tmp, 'bad-server'))).toBe(false);
  });

  it('refuses a non-empty directory and changes nothing', () => {
    const before = readFileSync(join(dir, 'gateway.key'), 'utf8');
    const tokensBefore = readFileSync(join(dir, 'tokens.env'), 'utf8');
    const r = countersign(['init', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error[FILE_EXISTS]: \`${dir}\` is not empty; pass --force to add what is missing (existing files are kept)\n`);
    expect(readFileSync(join(dir, 'gateway.key'), 'utf8')).toBe(before);
    expect(readFileSync(join(dir, 'tokens.env'), 'utf8')).toBe(tokensBefore);

    const other = join(tmp, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    expect(countersign(['init', other]).code).toBe(2);
  });

  it('--force keeps the key and the policy, and issues new tokens', async () => {
    const key = readFileSync(join(dir, 'gateway.key'), 'utf8');
    writeFileSync(join(dir, 'policy.yaml'), readFileSync(EXAMPLE, 'utf8') + '# edited by the operator\n');
    const r = countersign(['init', dir, '--force', '--json', '--expires', '12h']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { kept: string[]; tokens: { principal: string; surface: string; variable: string; token: string }[]; serve: string };
    expect(out.kept).toEqual(['policy.yaml', 'gateway.key', 'countersign.yaml']);
    expect(out.tokens.map((t) => [t.principal, t.surface])).toEqual(EXPECTED_PLAN);
    expect(readFileSync(join(dir, 'gateway.key'), 'utf8')).toBe(key);
    expect(readFileSync(join(dir, 'policy.yaml'), 'utf8')).toContain('# edited by the operator');
    expect(mode(join(dir, 'tokens.env'))).toBe(0o600);
    expect(envFile(join(dir, 'tokens.env')).get(out.tokens[0]!.variable)).toBe(out.tokens[0]!.token);
    const store = SqliteCredentialStore.open(join(dir, 'ledger.db'));
    try {
      expect(await store.list()).toHaveLength(2 * EXPECTED_PLAN.length);
      const identity = await authenticate(store, `Bearer ${out.tokens[0]!.token}`, Date.now());
      expect(identity.principal).toBe('payments-copilot');
    } finally {
      await store.close();
    }
  });

  it('--force refuses a key others can read rather than use or replace it', () => {
    const loose = join(tmp, 'loose');
    expect(countersign(['init', loose]).code).toBe(0);
    chmodSync(join(loose, 'gateway.key'), 0o644);
    const r = countersign(['init', loose, '--force']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error\[KEY_INVALID\]/);
  });

  it('starts from --policy when given, and fails clearly on a missing one', () => {
    const r = countersign(['init', join(tmp, 'nope'), '--policy', join(tmp, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error\[FILE_NOT_FOUND\]: cannot read policy/);
    const bad = countersign(['init', join(tmp, 'nope'), '--expires', 'forever']);
    expect(bad.code).toBe(2);
  });
});
