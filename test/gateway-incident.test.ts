import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TransactionalLedgerStore } from '../packages/core/src/ledger/store.js';
import type { Refusal } from '../packages/core/src/state/command.js';
import { Gateway } from '../packages/gateway/src/service/gateway.js';
import { replayCheck } from '../packages/gateway/src/service/replay.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../packages/gateway/src/store/pg-test-url.js';
import { PostgresLedgerStore } from '../packages/gateway/src/store/postgres.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { playGoverned, playPermissive } from './scenario/incident.js';
import { GATEWAY_ORIGIN, gatewayKey, readEntries, recordScript, replayThroughGateway, rowsOf, withoutTokens, type Recorded } from './helpers/gateway-replay.js';

/**
 * The reference incident (test/scenario/incident.ts) through the durable
 * Gateway on both stores: the same script, the same clock, and the ledger the
 * gateway commits is the pure machine's ledger byte for byte, its projections
 * pass `replay --check`, and a reopened gateway rebuilds the same state.
 */

const SCRIPTS: Record<string, () => Recorded> = {
  permissive: () => recordScript(playPermissive),
  governed: () => recordScript(playGoverned),
};

interface StoreFactory {
  readonly name: string;
  open(): Promise<TransactionalLedgerStore>;
  /** Another connection to the same storage. */
  reopen(): Promise<TransactionalLedgerStore>;
  dispose(): Promise<void>;
}

function sqliteFactory(): StoreFactory {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-gateway-'));
  const path = join(dir, 'ledger.db');
  return {
    name: 'sqlite',
    open: async () => SqliteLedgerStore.open(path),
    reopen: async () => SqliteLedgerStore.open(path),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresFactory(url: string): StoreFactory {
  const schema = testSchemaName('cs_gw');
  return {
    name: 'postgres',
    open: () => PostgresLedgerStore.open(url, { schema }),
    reopen: () => PostgresLedgerStore.open(url, { schema }),
    dispose: () => dropTestSchema(url, schema),
  };
}

function incidentSuite(newFactory: () => StoreFactory): void {
  for (const [variant, script] of Object.entries(SCRIPTS)) {
    describe(`the ${variant} incident`, () => {
      const factory = newFactory();
      afterAll(() => factory.dispose());

      it('commits the reference ledger byte for byte, returns the reference results, and replays clean', async () => {
        const recorded = script();
        const reference = recorded.run.world.machine;
        const store = await factory.open();
        try {
          const { gateway, results } = await replayThroughGateway(store, recorded);
          // the machine's answers, command for command (the first, the activation, was Gateway.open's)
          expect(results.map(withoutTokens)).toEqual(recorded.commands.slice(1).map((c) => c.result));
          // every grant issued came with its token
          const issued = reference.entries.filter((e) => e.type === 'grant.issued').map((e) => e.payload['jti']);
          expect(issued.length).toBeGreaterThan(0);
          expect(results.flatMap((r) => (r.ok ? Object.keys(r.tokens) : []))).toEqual(issued);

          const { sealed } = await readEntries(store);
          expect(sealed.map((e) => Buffer.from(e.bytes).toString('utf8'))).toEqual(reference.sealed.map((e) => Buffer.from(e.bytes).toString('utf8')));
          expect(await rowsOf(gateway.state, store)).toEqual(await rowsOf(reference.state));

          const report = await replayCheck(store);
          expect(report.differences).toEqual([]);
          expect(report.entries).toBe(reference.sealed.length);
          expect(report.storedRows).toBe(report.rebuiltRows);
          await gateway.close();
        } finally {
          await store.close();
        }
      });

      it('rebuilds the same state after a restart, and records nothing new for the same bundle', async () => {
        const recorded = script();
        const store = await factory.reopen();
        try {
          const before = (await store.head()).size;
          const gateway = await Gateway.open({ store, policy: recorded.run.world.policy, key: gatewayKey(), origin: GATEWAY_ORIGIN, clock: () => recorded.run.world.now });
          expect(gateway.size).toBe(before);
          expect((await store.head()).size).toBe(before);
          expect(await rowsOf(gateway.state, store)).toEqual(await rowsOf(recorded.run.world.state));
          await gateway.close();
        } finally {
          await store.close();
        }
      });
    });
  }

  describe('the governed incident, moment by moment', () => {
    const factory = newFactory();
    afterAll(() => factory.dispose());

    it('refuses what the report let through, with the codes, and keeps every attempt', async () => {
      const recorded = recordScript(playGoverned);
      const store = await factory.open();
      try {
        const { gateway, results } = await replayThroughGateway(store, recorded);
        const refusals = results.filter((r): r is Refusal => !r.ok).map((r) => r.code);
        // 09:17 the operator as her own second key, then the same-console override
        expect(refusals).toEqual(['SELF_APPROVAL', 'O1_IDENTITY_COLLISION']);
        const { entries } = await readEntries(store);
        const types = entries.map((e) => e.type);
        expect(types).toContain('approval.rejected');
        expect(types).toContain('override.denied');
        const denied = entries.find((e) => e.type === 'override.denied');
        expect(denied?.payload['codes']).toContain('O1_IDENTITY_COLLISION');
        // the queue clear ran only after the snapshot, both on their own grants
        const consumed = entries.filter((e) => e.type === 'grant.consumed').map((e) => gateway.state.steps.get(e.payload['step'] as string)?.action);
        expect(consumed.indexOf('queue.snapshot_shard')).toBeLessThan(consumed.indexOf('queue.clear_shard'));
        expect(consumed.filter((a) => a === 'queue.clear_shard')).toHaveLength(1);
        // diagnostics kept running during the hold
        const held = entries.filter((e) => e.type === 'step.decided' && e.payload['effect'] === 'held').map((e) => e.payload['action']);
        expect(held).toEqual(['queue.clear_shard']);
        await gateway.close();
      } finally {
        await store.close();
      }
    });
  });
}

describe('the reference incident through the Gateway on SQLite', () => {
  incidentSuite(sqliteFactory);
});

const url = await reachableTestPostgres();

describe.skipIf(url === null)('the reference incident through the Gateway on PostgreSQL', () => {
  incidentSuite(() => postgresFactory(url!));
});
