import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { newEd25519KeyPair } from '../packages/core/src/ledger/key.js';
import type { AppendBuilder, TransactionalLedgerStore } from '../packages/core/src/ledger/store.js';
import { Gateway, type GatewayResult } from '../packages/gateway/src/service/gateway.js';
import { replayCheck } from '../packages/gateway/src/service/replay.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../packages/gateway/src/store/pg-test-url.js';
import { PostgresLedgerStore } from '../packages/gateway/src/store/postgres.js';
import { GATEWAY_ORIGIN, readEntries } from './helpers/gateway-replay.js';
import { COPILOT, examplePolicy, inspectStep } from './scenario/world.js';

/**
 * Several gateway replicas on one PostgreSQL database (ADR 002): one grant
 * presented to two replicas at the same moment is consumed exactly once. The
 * loser learns it by catching up under the sequencer lock (GRANT_USED); a
 * replica whose catch-up is broken has its batch refused as stale, since
 * its entries do not extend the stored head, and writes nothing.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CONSUMER = join(ROOT, 'test/helpers/gateway-consumer.mjs');
const POLICY = join(ROOT, 'examples/payments/policy.yaml');

const url = await reachableTestPostgres();

function outcomes(results: readonly GatewayResult[]): string[] {
  return results.map((r) => (r.ok ? 'ok' : r.code));
}

describe.skipIf(url === null)('two gateways on one PostgreSQL database', () => {
  const pgUrl = url!;
  const schemas: string[] = [];
  const key = newEd25519KeyPair().privateKey;
  const clock = (): number => Date.now();
  afterAll(async () => {
    for (const schema of schemas) await dropTestSchema(pgUrl, schema);
  });

  async function replicas(count: number, wrap: (s: TransactionalLedgerStore) => TransactionalLedgerStore = (s) => s): Promise<{ stores: PostgresLedgerStore[]; gateways: Gateway[]; close(): Promise<void> }> {
    const schema = testSchemaName('cs_gw2');
    schemas.push(schema);
    const stores: PostgresLedgerStore[] = [];
    const gateways: Gateway[] = [];
    for (let i = 0; i < count; i += 1) {
      // one pool each, as two processes would have
      const store = await PostgresLedgerStore.open(pgUrl, { schema, poolSize: 4 });
      stores.push(store);
      gateways.push(await Gateway.open({ store: i === 0 ? store : wrap(store), policy: examplePolicy(), key, origin: GATEWAY_ORIGIN, clock }));
    }
    return {
      stores,
      gateways,
      close: async () => {
        for (const g of gateways) await g.close();
        for (const s of stores) await s.close();
      },
    };
  }

  async function inspectToken(gateway: Gateway): Promise<{ jti: string; token: string }> {
    const r = await gateway.propose(COPILOT, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] });
    if (!r.ok) throw new Error(r.code);
    const jti = r.steps[0]?.grant?.jti ?? '';
    return { jti, token: r.tokens[jti] ?? '' };
  }

  it('the second replica opens on the first one\'s ledger and records no second activation', async () => {
    const { stores, gateways, close } = await replicas(2);
    const { entries } = await readEntries(stores[0]!);
    expect(entries.filter((e) => e.type === 'bundle.activated')).toHaveLength(1);
    expect(gateways[1]!.bundleId).toBe(gateways[0]!.bundleId);
    await close();
  });

  it('in one process on two pools: of many simultaneous consumptions on both, exactly one succeeds', async () => {
    const { stores, gateways, close } = await replicas(2);
    const [a, b] = gateways as [Gateway, Gateway];
    for (let round = 0; round < 5; round += 1) {
      const { jti, token } = await inspectToken(round % 2 === 0 ? a : b);
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? a : b).execute(COPILOT, { token })));
      const seen = outcomes(results);
      expect(seen.filter((o) => o === 'ok')).toHaveLength(1);
      expect(seen.filter((o) => o === 'GRANT_USED')).toHaveLength(15);
      const { entries } = await readEntries(stores[0]!);
      expect(entries.filter((e) => e.type === 'grant.consumed' && e.payload['jti'] === jti)).toHaveLength(1);
    }
    // both replicas agree with each other and with the stored projections
    await a.sync();
    await b.sync();
    expect(a.size).toBe(b.size);
    expect((await replayCheck(stores[0]!)).differences).toEqual([]);
    await close();
  });

  it('each checkpoint is signed once, by the replica that held the write lock, though both follow every entry', async () => {
    const schema = testSchemaName('cs_gwcp');
    schemas.push(schema);
    const signed: [replica: number, treeSize: number][] = [];
    const stores: PostgresLedgerStore[] = [];
    const gateways: Gateway[] = [];
    for (let i = 0; i < 2; i += 1) {
      const store = await PostgresLedgerStore.open(pgUrl, { schema, poolSize: 4 });
      stores.push(store);
      gateways.push(
        await Gateway.open({
          store,
          policy: examplePolicy(),
          key,
          origin: GATEWAY_ORIGIN,
          clock,
          // only `every` brings a checkpoint before close: the interval never passes in this test
          checkpoints: { every: 10, intervalMs: 600_000 },
          observer: { checkpoint: ({ treeSize }) => signed.push([i, treeSize]) },
        }),
      );
    }
    const [a, b] = gateways as [Gateway, Gateway];
    for (let i = 0; i < 40; i += 1) {
      const r = await (i % 4 === 3 ? b : a).propose(COPILOT, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] });
      expect(r.ok).toBe(true);
    }
    await a.sync();
    await b.sync();
    expect(b.size).toBe(a.size);
    await a.close();
    await b.close();
    const stored: number[] = [];
    for await (const checkpoint of stores[0]!.checkpoints()) stored.push(checkpoint.treeSize);
    for (const store of stores) await store.close();
    // 40 proposals of three entries each, a checkpoint at least every 10 + one batch
    expect(stored.length).toBeGreaterThanOrEqual(10);
    expect(stored.at(-1)).toBe(a.size);
    // one signature per stored checkpoint: the replica that followed the entries found them covered under the lock
    expect(signed.map(([, size]) => size).sort((x, y) => x - y)).toEqual(stored);
    // and none signed on a replica's own count alone: before close, each checkpoint covers `every` entries past the one before
    const gaps = stored.slice(1, -1).map((size, i) => size - stored[i]!);
    expect(gaps.filter((gap) => gap < 10), `checkpoints at ${stored.join(', ')}`).toEqual([]);
  });

  it('a replica that skips catch-up has its batch refused as stale, nothing of it written, and answers GRANT_USED', async () => {
    // blind from the moment it knows the grant: it never sees the other replica consume it
    let blinded = false;
    const blind = (inner: TransactionalLedgerStore): TransactionalLedgerStore =>
      new Proxy(inner, {
        get: (target, prop, receiver) => {
          if (prop === 'appendWith' && blinded) {
            return (knownSize: number, build: AppendBuilder) => target.appendWith(knownSize, (_caughtUp, head) => build([], { ...head, size: knownSize }));
          }
          // and its follower hears nothing once blinded
          if (prop === 'follow') {
            return (onAppended: (size: number | null) => void) => target.follow((size) => (blinded ? undefined : onAppended(size)));
          }
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    const { stores, gateways, close } = await replicas(2, blind);
    const [a, b] = gateways as [Gateway, Gateway];
    const { jti, token } = await inspectToken(a);
    await b.sync();
    expect(b.state.grants.get(jti)?.status).toBe('issued');
    blinded = true;
    expect((await a.execute(COPILOT, { token })).ok).toBe(true);
    const size = (await stores[0]!.head()).size;
    // its entries, sealed after the head it believed in, do not extend the stored one: the store never seals them again
    const again = await b.execute(COPILOT, { token });
    expect(again.ok ? 'ok' : again.code).toBe('GRANT_USED');
    const { entries } = await readEntries(stores[0]!);
    expect(entries.filter((e) => e.type === 'grant.consumed' && e.payload['jti'] === jti)).toHaveLength(1);
    // the command, evaluated again on the rebuilt state, records its refusal and nothing else
    expect(entries.slice(size).map((e) => e.type)).toEqual(['grant.rejected']);
    expect(b.state.grants.get(jti)?.status).toBe('consumed');
    await close();
  });

  it('in two processes: each replica presents the same token eight times at once, one consumption in all', async () => {
    const built = join(ROOT, 'packages/gateway/dist/service/gateway.js');
    if (!existsSync(built)) throw new Error('build first: npx tsc -b packages/core packages/gateway');
    const { stores, gateways, close } = await replicas(1);
    const dir = mkdtempSync(join(tmpdir(), 'countersign-replicas-'));
    const keyPath = join(dir, 'gateway.key');
    writeFileSync(keyPath, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const schema = schemas.at(-1)!;
    try {
      const { jti, token } = await inspectToken(gateways[0]!);
      const children = ['r1', 'r2'].map((name) => startReplica([pgUrl, schema, POLICY, keyPath, token, '8', name]));
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.go();
      const reports = await Promise.all(children.map((c) => c.done));
      const all = reports.flatMap((r) => r.outcomes);
      expect(all).toHaveLength(16);
      expect(all.filter((o) => o === 'ok')).toHaveLength(1);
      expect(all.filter((o) => o === 'GRANT_USED')).toHaveLength(15);
      const { entries } = await readEntries(stores[0]!);
      expect(entries.filter((e) => e.type === 'grant.consumed' && e.payload['jti'] === jti)).toHaveLength(1);
      expect(entries.filter((e) => e.type === 'grant.rejected' && e.payload['jti'] === jti)).toHaveLength(15);
      expect((await replayCheck(stores[0]!)).differences).toEqual([]);
    } finally {
      await close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

interface Replica {
  readonly ready: Promise<void>;
  readonly done: Promise<{ name: string; outcomes: string[] }>;
  go(): void;
}

function startReplica(args: string[]): Replica {
  const child = spawn(process.execPath, [CONSUMER, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) signalReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ name: string; outcomes: string[] }>((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`replica exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as { name: string; outcomes: string[] });
    });
  });
  return { ready: Promise.race([ready, done.then(() => undefined)]), done, go: () => child.stdin.end('go\n') };
}
