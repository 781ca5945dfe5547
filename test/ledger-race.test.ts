import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreConfig } from '../packages/gateway/src/store/open.js';
import { openStore } from '../packages/gateway/src/store/open.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../packages/gateway/src/store/pg-test-url.js';
import { readEntries } from './helpers/gateway-replay.js';
import { call, CLI, EXAMPLE_POLICY, startGatewayProcess, type Answer, type GatewayProcess, type Json } from './helpers/gateway-process.js';

/**
 * Issue 12: valid traffic racing recorded refusals. Every entry, refusals
 * included, goes through the gateway's one writer, so an agent's 403s
 * (recorded as `authority.rejected`) never make a concurrent proposal fail:
 * no 5xx, every acknowledged proposal and every answered refusal is in the
 * ledger, and the ledger verifies. Run against the real server process on
 * both stores.
 */

const ROUNDS = 5;
const PER_ROUND = 100;
const inspect = { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} };

const postgres = await reachableTestPostgres();

interface Target {
  readonly label: string;
  start(dir: string): Promise<GatewayProcess>;
  /** Make the store refuse every write (`true`), or take them again (`false`), under the running server. */
  fault(dir: string, on: boolean): Promise<void>;
  cleanup(): Promise<void>;
}

const targets: Target[] = [
  {
    label: 'sqlite',
    start: (dir) => startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db: join(dir, 'ledger.db') }),
    // the ledger's files made immutable while serving, as the issue found them (root on ext4, as on CI)
    fault: async (dir, on) => {
      const db = join(dir, 'ledger.db');
      const run = spawnSync('chattr', [on ? '+i' : '-i', db, `${db}-wal`], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`chattr failed (${String(run.status)}): ${run.stderr}; the fault test needs root on a filesystem with immutable files`);
    },
    cleanup: async () => undefined,
  },
];
if (postgres !== null) {
  const schema = testSchemaName('cs_race12');
  targets.push({
    label: 'postgres',
    start: (dir) => startGatewayProcess({ policy: EXAMPLE_POLICY, dir, postgres: { url: postgres, schema } }),
    // every insert and update in the ledger's schema refused as a read-only session refuses it
    fault: async (_dir, on) => {
      const client = new pg.Client({ connectionString: postgres });
      await client.connect();
      try {
        if (on) {
          await client.query(`CREATE OR REPLACE FUNCTION ${schema}.refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'cannot execute in a read-only transaction' USING ERRCODE = 'read_only_sql_transaction'; END $$`);
          for (const table of ['ledger_entries', 'write_probe']) {
            await client.query(`CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON ${schema}.${table} FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_writes()`);
          }
        } else {
          for (const table of ['ledger_entries', 'write_probe']) await client.query(`DROP TRIGGER refuse_writes ON ${schema}.${table}`);
        }
      } finally {
        await client.end();
      }
    },
    cleanup: () => dropTestSchema(postgres, schema),
  });
}

function tally(list: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of list) {
    const key = `${a.status} ${String((a.body as Json)['error']?.['code'] ?? '')}`.trim();
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function verify(store: StoreConfig, keyPath: string): { code: number | null; out: string } {
  const where = 'sqlite' in store ? ['--db', store.sqlite] : ['--postgres', store.postgres, '--schema', store.schema ?? 'public'];
  const pub = spawnSync(process.execPath, [CLI, 'keys', 'public', '--key', keyPath], { encoding: 'utf8' });
  const vkey = pub.stdout.split('\n')[0] ?? '';
  const run = spawnSync(process.execPath, [CLI, 'ledger', 'verify', ...where, '--public-key', vkey, '--threads', '1'], { encoding: 'utf8' });
  return { code: run.status, out: `${run.stdout}${run.stderr}` };
}

for (const target of targets) {
  describe(`proposals racing recorded refusals (${target.label})`, () => {
    const dir = mkdtempSync(join(tmpdir(), `countersign-race-${target.label}-`));
    let gw: GatewayProcess;
    let agent = '';

    beforeAll(async () => {
      gw = await target.start(dir);
      agent = await gw.token('payments-copilot', 'copilot-console');
    }, 60_000);

    afterAll(async () => {
      const code = await gw?.stop();
      await target.cleanup();
      rmSync(dir, { recursive: true, force: true });
      expect(code).toBe(0);
    }, 60_000);

    it(`answers ${ROUNDS} rounds of ${PER_ROUND} proposals and ${PER_ROUND} forbidden reads with no 5xx, and records every one`, async () => {
      const proposals: Answer<Record<string, Json>>[] = [];
      const refusals: Answer<Record<string, Json>>[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const work: Promise<void>[] = [];
        for (let i = 0; i < PER_ROUND; i++) {
          work.push(call(gw.url, 'POST', '/v1/proposals', agent, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspect] }).then((a) => void proposals.push(a)));
          // an agent may not read the ledger: a 403 recorded as authority.rejected
          work.push(call(gw.url, 'GET', '/v1/ledger/head', agent).then((a) => void refusals.push(a)));
        }
        await Promise.all(work);
      }
      expect(tally(proposals)).toEqual({ '201': ROUNDS * PER_ROUND });
      expect(tally(refusals)).toEqual({ '403 FORBIDDEN': ROUNDS * PER_ROUND });

      const store = await openStore(gw.store);
      try {
        const { entries } = await readEntries(store);
        const received = new Set(entries.filter((e) => e.type === 'proposal.received').map((e) => e.payload['proposal']));
        for (const a of proposals) expect(received.has(a.body['proposal'])).toBe(true);
        expect(received.size).toBe(ROUNDS * PER_ROUND);
        const rejected = entries.filter((e) => e.type === 'authority.rejected' && e.payload['operation'] === 'ledger_read' && e.payload['code'] === 'FORBIDDEN');
        expect(rejected).toHaveLength(ROUNDS * PER_ROUND);
      } finally {
        await store.close();
      }
      const verified = verify(gw.store, gw.keyPath);
      expect(verified.out).toMatch(/^ok /);
      expect(verified.code).toBe(0);
    }, 120_000);

    it('under a write fault answers 503 (never 500, never an unrecorded 403), is not ready, and recovers by itself', async () => {
      const ready = async (): Promise<number> => (await call(gw.url, 'GET', '/readyz', null)).status;
      expect(await ready()).toBe(200);
      const proposals: Answer<Record<string, Json>>[] = [];
      const refusals: Answer<Record<string, Json>>[] = [];
      const round = async (): Promise<void> => {
        const work: Promise<void>[] = [];
        for (let i = 0; i < PER_ROUND; i++) {
          work.push(call(gw.url, 'POST', '/v1/proposals', agent, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspect] }).then((a) => void proposals.push(a)));
          work.push(call(gw.url, 'GET', '/v1/ledger/head', agent).then((a) => void refusals.push(a)));
        }
        await Promise.all(work);
      };
      await target.fault(dir, true);
      try {
        await round();
        await round();
        // readiness is the truth: a replica whose store refuses writes leaves the rotation
        expect(await ready()).toBe(503);
      } finally {
        await target.fault(dir, false);
      }
      // and comes back by itself, with no other traffic (bounded wait: the probe runs at most once a second)
      let status = await ready();
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = await ready();
      }
      expect(status).toBe(200);
      const during = { proposals: tally(proposals), refusals: tally(refusals) };
      await round();
      const after = { proposals: tally(proposals.slice(-PER_ROUND)), refusals: tally(refusals.slice(-PER_ROUND)) };
      expect(after, gw.output().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-5).join('\n')).toEqual({ proposals: { '201': PER_ROUND }, refusals: { '403 FORBIDDEN': PER_ROUND } });

      // during the fault: only 201/403 that were recorded, or 503
      const fiveHundreds = [...proposals, ...refusals].filter((a) => a.status >= 500 && a.status !== 503).map((a) => JSON.stringify(a.body));
      expect(fiveHundreds).toEqual([]);
      for (const key of Object.keys(during.proposals)) expect(['201', '503 STORE_UNAVAILABLE']).toContain(key);
      for (const key of Object.keys(during.refusals)) expect(['403 FORBIDDEN', '503 STORE_UNAVAILABLE']).toContain(key);
      expect(during.proposals['503 STORE_UNAVAILABLE'] ?? 0).toBeGreaterThan(0);
      const store = await openStore(gw.store);
      try {
        const { entries } = await readEntries(store);
        const received = new Set(entries.filter((e) => e.type === 'proposal.received').map((e) => e.payload['proposal']));
        for (const a of proposals.filter((p) => p.status === 201)) expect(received.has(a.body['proposal'])).toBe(true);
        const forbidden = entries.filter((e) => e.type === 'authority.rejected' && e.payload['operation'] === 'ledger_read').length;
        // every 403 answered is recorded, the first test's included
        expect(forbidden).toBe(ROUNDS * PER_ROUND + refusals.filter((r) => r.status === 403).length);
      } finally {
        await store.close();
      }
      const verified = verify(gw.store, gw.keyPath);
      expect(verified.out).toMatch(/^ok /);
    }, 120_000);
  });
}
