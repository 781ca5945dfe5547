import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  cleanup(): Promise<void>;
}

const targets: Target[] = [
  { label: 'sqlite', start: (dir) => startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db: join(dir, 'ledger.db') }), cleanup: async () => undefined },
];
if (postgres !== null) {
  const schema = testSchemaName('cs_race12');
  targets.push({
    label: 'postgres',
    start: (dir) => startGatewayProcess({ policy: EXAMPLE_POLICY, dir, postgres: { url: postgres, schema } }),
    cleanup: () => dropTestSchema(postgres, schema),
  });
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
      const statuses = (list: readonly Answer[]): Record<string, number> => {
        const counts: Record<string, number> = {};
        for (const a of list) {
          const key = `${a.status} ${String((a.body as Json)['error']?.['code'] ?? '')}`.trim();
          counts[key] = (counts[key] ?? 0) + 1;
        }
        return counts;
      };
      expect(statuses(proposals)).toEqual({ '201': ROUNDS * PER_ROUND });
      expect(statuses(refusals)).toEqual({ '403 FORBIDDEN': ROUNDS * PER_ROUND });

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
  });
}
