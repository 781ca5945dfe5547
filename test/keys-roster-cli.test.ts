/**
 * End to end: `countersign keys roster` makes an approver key whose printed
 * line the policy accepts and whose private half is the key it names. Needs
 * the built CLI (`npx tsc -b packages/core packages/client packages/gateway`).
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPublicKey, loadPolicy } from '@countersign/core';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'packages/gateway/dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'countersign-keys-roster-'));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build before these tests`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('countersign keys roster', () => {
  it("writes the private key 0600 and prints the roster's public key line and a snippet to paste", () => {
    const { status, stdout, stderr } = run('keys', 'roster', '--principal', 'lena', '--out', 'lena.key');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const file = join(dir, 'lena.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const publicKey = formatPublicKey(createPublicKey(createPrivateKey(readFileSync(file, 'utf8'))));
    expect(publicKey).toMatch(/^ed25519:[A-Za-z0-9_-]{43}$/);
    const year = new Date().getUTCFullYear();
    expect(stdout).toBe(
      [
        'wrote private key lena.key (mode 0600); it never goes in the policy',
        publicKey,
        '',
        'paste under principal `lena` in the policy:',
        '    keys:',
        `      - id: lena-${year}`,
        `        public_key: ${publicKey}`,
        '',
      ].join('\n'),
    );

    // pasted in place of lena's key in the example, the policy is valid and names this key
    const snippet = stdout.split('\n').slice(4, 7).join('\n');
    const example = readFileSync(join(ROOT, 'examples/payments/policy.yaml'), 'utf8');
    const lenaKey = / {4}keys:\n {6}- id: lena-2025\n {8}public_key: \S+/.exec(example)?.[0] ?? '';
    expect(lenaKey).not.toBe('');
    const policy = loadPolicy(example.replace(lenaKey, snippet), 'policy.yaml');
    expect(policy.bundle.principals.find((p) => p.id === 'lena')?.keys).toEqual([{ id: `lena-${year}`, public_key: publicKey }]);
  });

  it('refuses to overwrite a key unless --force, and then the file is 0600 whatever it was', () => {
    const file = join(dir, 'sam.key');
    writeFileSync(file, 'not a key', { mode: 0o644 });
    const refused = run('keys', 'roster', '--principal', 'sam', '--out', 'sam.key');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe('error[FILE_EXISTS]: `sam.key` already exists; refusing to overwrite a key (pass --force to replace it)\n');
    expect(readFileSync(file, 'utf8')).toBe('not a key');

    chmodSync(file, 0o644);
    const forced = run('keys', 'roster', '--principal', 'sam', '--key-id', 'sam-laptop', '--out', 'sam.key', '--force', '--json');
    expect(forced.status).toBe(0);
    const printed = JSON.parse(forced.stdout) as Record<string, string>;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(printed).toEqual({
      principal: 'sam',
      key_id: 'sam-laptop',
      public_key: formatPublicKey(createPublicKey(createPrivateKey(readFileSync(file, 'utf8')))),
      private_key_file: 'sam.key',
    });
  });

  it('refuses an id the policy would refuse, before making a key', () => {
    for (const args of [['--principal', 'Lena'], ['--principal', 'lena', '--key-id', 'lena*']]) {
      const r = run('keys', 'roster', ...args, '--out', 'bad.key');
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error\[USAGE\]: --(principal|key-id) `[^`]+` is not a lower-case id/);
    }
    expect(existsSync(join(dir, 'bad.key'))).toBe(false);
  });

  it('documents itself', () => {
    const { status, stdout } = run('keys', 'roster', '--help');
    expect(status).toBe(0);
    expect(stdout).toContain('Exit status:');
    expect(stdout).toContain('countersign keys roster --principal lena --out lena.key');
    expect(run('keys', '--help').stdout).toContain('roster');
  });
});
