import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call, EXAMPLE_POLICY, startGatewayProcess } from './helpers/gateway-process.js';

// The path a newcomer walks: serve on its defaults (no --origin), stop it, then
// verify the ledger offline with exactly what `countersign keys public` prints.
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'cs-serve-defaults-'));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function countersign(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('serve on its defaults', () => {
  it('writes a ledger that verifies with the key `keys public` prints, after a SIGTERM drain', async () => {
    const gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir: tmp });
    const token = await gw.token('payments-copilot', 'copilot-console');
    const proposal = {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7' }],
    };
    const answer = await call(gw.url, 'POST', '/v1/proposals', token, proposal);
    expect(answer.status).toBe(201);
    expect(await gw.stop('SIGTERM')).toBe(0);

    const vkey = countersign(['keys', 'public', '--key', gw.keyPath]);
    expect(vkey.code, vkey.stderr).toBe(0);
    const publicKey = vkey.stdout.split('\n')[0]!;
    const db = join(tmp, 'ledger.db');
    const verified = countersign(['ledger', 'verify', '--db', db, '--public-key', publicKey]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^ok \d+ entries, [1-9]\d* checkpoints?/);

    const file = join(tmp, 'ledger.jsonl');
    expect(countersign(['ledger', 'export', '--db', db, '--out', file]).code).toBe(0);
    const offline = countersign(['ledger', 'verify', '--file', file, '--public-key', publicKey]);
    expect(offline.code, offline.stderr).toBe(0);
  });
});
