import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../packages/gateway/src/store/pg-test-url.js';
import { PostgresLedgerStore } from '../packages/gateway/src/store/postgres.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { playGoverned } from './scenario/incident.js';
import { recordScript, replayThroughGateway } from './helpers/gateway-replay.js';

/** `countersign ledger replay --check`, run as the built binary against ledgers the Gateway wrote. */

const CLI = fileURLToPath(new URL('../packages/gateway/dist/cli.js', import.meta.url));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, 'ledger', 'replay', ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('ledger replay --check on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-replay-'));
  const path = join(dir, 'ledger.db');
  let entries = 0;
  beforeAll(async () => {
    const store = SqliteLedgerStore.open(path);
    const { gateway } = await replayThroughGateway(store, recordScript(playGoverned));
    entries = gateway.size;
    await gateway.close();
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is clean after the governed incident', () => {
    const run = cli('--check', '--db', path);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(new RegExp(`^ok ${entries} entries, \\d+ rows\\n$`));
    expect(run.status).toBe(0);
    const json = JSON.parse(cli('--check', '--db', path, '--json').stdout) as { ok: boolean; entries: number; rows: number; stored_rows: number };
    expect(json).toMatchObject({ ok: true, entries, differences: [] });
    expect(json.rows).toBe(json.stored_rows);
  });

  it('reports a changed, a missing and an invented row, and exits 1', () => {
    const db = new Database(path);
    db.prepare("UPDATE projections SET value = replace(value, '\"consumed\"', '\"issued\"') WHERE kind = 'grant' AND id = 'grant-1'").run();
    db.prepare("DELETE FROM projections WHERE kind = 'hold'").run();
    db.prepare("INSERT INTO projections (kind, id, value) VALUES ('grant', 'grant-999', '{}')").run();
    db.close();
    const run = cli('--check', '--db', path);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('grant/grant-1: differs');
    expect(run.stdout).toMatch(/hold\/hold-1: missing from the stored projections/);
    expect(run.stdout).toContain('grant/grant-999: stored, but no entry creates it');
    expect(run.stderr).toMatch(/^error\[PROJECTION_MISMATCH\]: 3 of \d+ rows differ from the ledger/);
    const json = JSON.parse(cli('--check', '--db', path, '--json').stdout) as { ok: boolean; differences: { kind: string; id: string }[] };
    expect(json.ok).toBe(false);
    expect(json.differences.map((d) => `${d.kind}/${d.id}`)).toEqual(['grant/grant-1', 'grant/grant-999', 'hold/hold-1']);
  });

  it('needs --check and a store', () => {
    expect(cli('--db', path).status).toBe(2);
    expect(cli('--check').status).toBe(2);
  });
});

const url = await reachableTestPostgres();

describe.skipIf(url === null)('ledger replay --check on PostgreSQL', () => {
  const pgUrl = url!;
  const schema = testSchemaName('cs_replay');
  afterAll(() => dropTestSchema(pgUrl, schema));

  it('is clean after the governed incident, and names a tampered row', async () => {
    const store = await PostgresLedgerStore.open(pgUrl, { schema });
    const { gateway } = await replayThroughGateway(store, recordScript(playGoverned));
    await gateway.close();
    await store.close();
    const clean = cli('--check', '--postgres', pgUrl, '--schema', schema);
    expect(clean.stdout).toMatch(/^ok \d+ entries, \d+ rows\n$/);
    expect(clean.status).toBe(0);
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`UPDATE "${schema}".projections SET value = '{"tampered":true}' WHERE kind = 'request' AND id = 'request-1'`);
    await client.end();
    const dirty = cli('--check', '--postgres', pgUrl, '--schema', schema);
    expect(dirty.status).toBe(1);
    expect(dirty.stdout).toContain('request/request-1: differs');
  });
});
