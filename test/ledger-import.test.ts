import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Signer, type LedgerStore } from '@countersign/core';
import { DEFAULT_LEDGER_ORIGIN, loadPrivateKey, signedCheckpoints, SqliteLedgerStore } from '@countersign/gateway';
import { Sequencer } from '../packages/gateway/src/testing/plain-sequencer.js';
import { openStore, type StoreConfig } from '../packages/gateway/src/store/open.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../packages/gateway/src/store/pg-test-url.js';
import { call, CLI, signedApproval, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';

/**
 * `countersign ledger import` end to end (issue 16, backup and restore): a
 * real gateway's ledger, exported, restored into an empty SQLite file and an
 * empty PostgreSQL schema, verified and replayed there, and served again; a
 * tampered, truncated or foreign export and a store in use are refused with
 * nothing written. Build first.
 */

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

type Flags = readonly string[];
const sqlite = (path: string): Flags => ['--db', path];

/** Every entry's bytes and every checkpoint note of a store. */
async function contents(config: StoreConfig): Promise<{ entries: string[]; checkpoints: string[] }> {
  const store: LedgerStore = await openStore(config);
  try {
    const entries: string[] = [];
    for await (const e of store.read(0)) entries.push(Buffer.from(e.bytes).toString('utf8'));
    const checkpoints: string[] = [];
    for await (const c of store.checkpoints()) checkpoints.push(c.note);
    return { entries, checkpoints };
  } finally {
    await store.close();
  }
}

const pgUrl = await reachableTestPostgres();

let dir = '';
let policy = '';
let pub = '';
let key = '';
let original = '';
let exported = '';
let requestId = '';
let consumedGrant = '';

/** Propose, approve, execute and report one step on `gw`: entries of every stage, a grant consumed. */
async function workflow(gw: GatewayProcess, message: string): Promise<{ id: string; grant: string }> {
  const token = await gw.token('payments-copilot', 'copilot-console');
  const proposed = await call(gw.url, 'POST', '/v1/proposals', token, {
    agent: 'payments-copilot',
    on_behalf_of: 'olivia',
    surface: 'copilot-console',
    steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message } }],
  });
  expect(proposed.status).toBe(201);
  const id = proposed.body['steps'][0]['request'] as string;
  const view = await call(gw.url, 'GET', `/v1/requests/${id}`, token);
  expect((await call(gw.url, 'POST', `/v1/requests/${id}/approvals`, await gw.token('sam', 'signed-cli'), signedApproval(view.body as never, 'sam', 'signed-cli'))).status).toBe(200);
  const grant = (await call(gw.url, 'GET', `/v1/requests/${id}`, token)).body['grant'] as string;
  const executed = await call(gw.url, 'POST', '/v1/executions', token, { grant });
  expect(executed.status).toBe(201);
  expect((await call(gw.url, 'POST', `/v1/executions/${executed.body['execution']}/outcome`, token, { outcome: 'succeeded' })).status).toBe(200);
  return { id, grant };
}

/** Restored: the same bytes and checkpoints as the original, `ledger verify` and `ledger replay --check` pass. */
async function expectRestored(target: StoreConfig, flags: Flags): Promise<void> {
  const source = await contents({ sqlite: original });
  expect(await contents(target)).toEqual(source);
  const verified = cli('ledger', 'verify', ...flags, '--key-file', pub);
  expect(verified.status, verified.stderr).toBe(0);
  expect(verified.stdout).toMatch(new RegExp(`^ok ${source.entries.length} entries, ${source.checkpoints.length} checkpoints`));
  const replayed = cli('ledger', 'replay', '--check', ...flags);
  expect(replayed.status, replayed.stdout + replayed.stderr).toBe(0);
}

/** `serve` on the restored store: the old request reads back as it was, a new one runs, and the ledger still verifies. */
async function expectServes(start: () => Promise<GatewayProcess>, flags: Flags): Promise<void> {
  const gw = await start();
  try {
    const old = await call(gw.url, 'GET', `/v1/requests/${requestId}`, await gw.token('payments-copilot', 'copilot-console'));
    expect(old.status).toBe(200);
    expect(old.body).toMatchObject({ id: requestId, status: 'approved' });
    // a grant the original consumed stays consumed: the at-most-once keys came back with the entries
    const again = await call(gw.url, 'POST', '/v1/executions', await gw.token('payments-copilot', 'copilot-console'), { grant: consumedGrant });
    expect(again.body).toMatchObject({ error: { code: 'GRANT_USED' } });
    await workflow(gw, 'after the restore');
  } finally {
    expect(await gw.stop()).toBe(0);
  }
  const verified = cli('ledger', 'verify', ...flags, '--key-file', pub);
  expect(verified.status, verified.stderr).toBe(0);
  const replayed = cli('ledger', 'replay', '--check', ...flags);
  expect(replayed.status, replayed.stdout + replayed.stderr).toBe(0);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-import-'));
  policy = writeTestPolicy(dir);
  original = join(dir, 'ledger.db');
  const gw = await startGatewayProcess({ policy, dir, db: original });
  try {
    ({ id: requestId, grant: consumedGrant } = await workflow(gw, 'degraded'));
    await workflow(gw, 'resolved');
  } finally {
    // SIGTERM writes the final checkpoint: the export has no unsigned tail
    expect(await gw.stop()).toBe(0);
  }
  key = gw.keyPath;
  pub = `${key}.pub`;
  exported = join(dir, 'ledger.jsonl');
  const run = cli('ledger', 'export', '--db', original, '--out', exported);
  expect(run.status, run.stderr).toBe(0);
}, 90_000);

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('ledger import into SQLite', () => {
  it('restores an export into a new file: same bytes and checkpoints, verify and replay pass, serve works on it', async () => {
    const target = join(dir, 'restored', 'ledger.db');
    const run = cli('ledger', 'import', '--file', exported, '--db', target, '--key-file', pub);
    expect(run.status, run.stderr).toBe(0);
    const { entries, checkpoints } = await contents({ sqlite: original });
    expect(run.stdout).toMatch(new RegExp(`^imported ${entries.length} entries, ${checkpoints.length} checkpoints, \\d+ rows, root \\S+, origin ${DEFAULT_LEDGER_ORIGIN}\\n$`));
    await expectRestored({ sqlite: target }, sqlite(target));
    await expectServes(() => startGatewayProcess({ policy, dir, db: target, key }), sqlite(target));
  }, 90_000);

  it('refuses a store that is not empty and leaves it as it was', async () => {
    const before = await contents({ sqlite: original });
    const run = cli('ledger', 'import', '--file', exported, '--db', original, '--key-file', pub);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^error\[STORE_NOT_EMPTY\]: the target store is not empty \(\d+ entries, checkpoints, projection rows\)/);
    expect(await contents({ sqlite: original })).toEqual(before);
  });

  it('refuses a tampered export with the entry at fault and writes nothing', () => {
    const lines = readFileSync(exported, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('"degraded"'));
    expect(at).toBeGreaterThan(0);
    const tampered = join(dir, 'tampered.jsonl');
    writeFileSync(tampered, lines.map((l, i) => (i === at ? l.replace('"degraded"', '"resolved"') : l)).join('\n'));
    const target = join(dir, 'from-tampered.db');
    const run = cli('ledger', 'import', '--file', tampered, '--db', target, '--key-file', pub);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq \d+: hash mismatch/);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a truncated export: cut in a line, cut before its last checkpoint, or missing entries a checkpoint covers', () => {
    const text = readFileSync(exported, 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    const cases: { name: string; body: string; code: RegExp; status: number }[] = [
      { name: 'mid-line', body: text.slice(0, Math.floor(text.length / 2)), code: /^error\[LEDGER_VERIFY_FAILED\]/, status: 1 },
      // the last lines are entries then the final checkpoint: without the checkpoint, its entries are signed by nothing
      { name: 'tail', body: `${lines.slice(0, -1).join('\n')}\n`, code: /^error\[EXPORT_UNSIGNED_TAIL\]: \d+ entries after the last signed checkpoint/, status: 1 },
      { name: 'gap', body: `${[...lines.slice(0, -2), lines[lines.length - 1]].join('\n')}\n`, code: /^error\[LEDGER_VERIFY_FAILED\]: seq \d+: truncation/, status: 1 },
    ];
    for (const c of cases) {
      const file = join(dir, `truncated-${c.name}.jsonl`);
      writeFileSync(file, c.body);
      const target = join(dir, `from-truncated-${c.name}.db`);
      const run = cli('ledger', 'import', '--file', file, '--db', target, '--key-file', pub);
      expect([c.name, run.status, run.stderr]).toEqual([c.name, c.status, expect.stringMatching(c.code)]);
      expect(existsSync(target)).toBe(false);
    }
  });

  it('restores an unsigned tail only when told, and says so', async () => {
    const lines = readFileSync(exported, 'utf8').split('\n').filter((l) => l !== '');
    const file = join(dir, 'unsigned-tail.jsonl');
    writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n`);
    const target = join(dir, 'unsigned-tail.db');
    const run = cli('ledger', 'import', '--file', file, '--db', target, '--key-file', pub, '--allow-unsigned-tail');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/warning: \d+ entries after tree size \d+ were restored unsigned/);
    expect((await contents({ sqlite: target })).entries).toEqual((await contents({ sqlite: original })).entries);
  });

  it('refuses an export whose checkpoints another key signed', () => {
    const other = join(dir, 'other.key');
    expect(cli('keys', 'generate', '--out', other).status).toBe(0);
    const target = join(dir, 'foreign.db');
    const run = cli('ledger', 'import', '--file', exported, '--db', target, '--key-file', `${other}.pub`);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: .*bad checkpoint signature/);
    expect(existsSync(target)).toBe(false);
  });

  it('follows a key rotation recorded in the export from the first key, and refuses the new key alone', async () => {
    const rotated = join(dir, 'rotated.db');
    copyFileSync(original, rotated);
    const next = join(dir, 'next.key');
    expect(cli('keys', 'generate', '--out', next).status).toBe(0);
    const rotation = cli('keys', 'rotate', '--key', key, '--new-key', next, '--db', rotated);
    expect(rotation.status, rotation.stderr).toBe(0);
    const file = join(dir, 'rotated.jsonl');
    expect(cli('ledger', 'export', '--db', rotated, '--out', file).status).toBe(0);
    const restored = join(dir, 'rotated-restored.db');
    const run = cli('ledger', 'import', '--file', file, '--db', restored, '--key-file', pub);
    expect(run.status, run.stderr).toBe(0);
    expect(await contents({ sqlite: restored })).toEqual(await contents({ sqlite: rotated }));
    const alone = cli('ledger', 'import', '--file', file, '--db', join(dir, 'rotated-new-key.db'), '--key-file', `${next}.pub`);
    expect(alone.status).toBe(1);
    expect(alone.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq \d+: bad checkpoint signature/);
  });

  it('reports progress on stderr on a long import', async () => {
    // 12,000 entries of a type the reducer does not know (replayed as nothing), checkpointed by the gateway key
    const big = join(dir, 'big.db');
    const store = SqliteLedgerStore.open(big);
    const signer = ed25519Signer(DEFAULT_LEDGER_ORIGIN, loadPrivateKey(key));
    const sequencer = await Sequencer.open(store, { checkpoints: signedCheckpoints(DEFAULT_LEDGER_ORIGIN, signer, { every: 5_000 }) });
    for (let i = 0; i < 12_000; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) =>
          sequencer.append({ at: '2026-01-01T00:00:00.000Z', type: 'test.filler', actor: null, surface: null, bundle_id: null, subjects: {}, payload: { n: i + j } }),
        ),
      );
    }
    await sequencer.close();
    await store.close();
    const file = join(dir, 'big.jsonl');
    expect(cli('ledger', 'export', '--db', big, '--out', file).status).toBe(0);
    const run = cli('ledger', 'import', '--file', file, '--db', join(dir, 'big-restored.db'), '--key-file', pub);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr.split('\n')).toEqual(['verified 10000 entries', 'imported 10000 of 12000 entries', '']);
    expect(run.stdout).toMatch(/^imported 12000 entries, \d+ checkpoints, 0 rows/);
  }, 60_000);
});

describe.skipIf(pgUrl === null)('ledger import into PostgreSQL', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const schema of schemas) await dropTestSchema(pgUrl!, schema);
  });

  it('restores a SQLite export into an empty schema: verify and replay pass, serve works on it; a schema in use is refused', async () => {
    const schema = testSchemaName('cs_import');
    schemas.push(schema);
    const flags = ['--postgres', pgUrl!, '--schema', schema];
    const run = cli('ledger', 'import', '--file', exported, ...flags, '--key-file', pub);
    expect(run.status, run.stderr).toBe(0);
    const target: StoreConfig = { postgres: pgUrl!, schema };
    await expectRestored(target, flags);

    const before = await contents(target);
    const again = cli('ledger', 'import', '--file', exported, ...flags, '--key-file', pub);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^error\[STORE_NOT_EMPTY\]/);
    expect(await contents(target)).toEqual(before);

    await expectServes(() => startGatewayProcess({ policy, dir, postgres: { url: pgUrl!, schema }, key }), flags);
  }, 90_000);

  it('refuses a tampered export and writes no entry', async () => {
    const schema = testSchemaName('cs_import');
    schemas.push(schema);
    const lines = readFileSync(exported, 'utf8').split('\n');
    const tampered = join(dir, 'tampered-pg.jsonl');
    writeFileSync(tampered, lines.map((l) => l.replace('"resolved"', '"degraded"')).join('\n'));
    const run = cli('ledger', 'import', '--file', tampered, '--postgres', pgUrl!, '--schema', schema, '--key-file', pub);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]/);
    expect(await contents({ postgres: pgUrl!, schema })).toEqual({ entries: [], checkpoints: [] });
  });
});
