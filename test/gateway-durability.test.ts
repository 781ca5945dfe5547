import { afterEach, describe, expect, it } from 'vitest';
import type { AppendBuilder, TransactionalLedgerStore } from '../packages/core/src/ledger/store.js';
import { verifyCheckpoint } from '../packages/core/src/ledger/checkpoint.js';
import { noteVerifierKey, rawPublicKey } from '../packages/core/src/ledger/key.js';
import { merkleRoot } from '../packages/core/src/ledger/merkle.js';
import { Gateway, type GatewayResult } from '../packages/gateway/src/service/gateway.js';
import { replayCheck } from '../packages/gateway/src/service/replay.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { GatewayBench } from './helpers/gateway-bench.js';
import { GATEWAY_ORIGIN, readEntries, rowsOf } from './helpers/gateway-replay.js';
import { withAppendWith } from './helpers/store-wrap.js';
import { COPILOT, examplePolicy, inspectStep } from './scenario/world.js';

/**
 * What makes the gateway durable rather than an in-memory machine: exactly
 * one consumption under concurrency, state rebuilt identically after a
 * restart, a failed commit leaving no trace in memory, and a writer that
 * did not catch up refused as stale, writing nothing (the store compares
 * the head its entries were sealed on; it never seals them again).
 */

const benches: GatewayBench[] = [];
const extra: { close(): Promise<void> }[] = [];

async function bench(options: Parameters<typeof GatewayBench.open>[1] = {}): Promise<GatewayBench> {
  const b = await GatewayBench.open(examplePolicy(), options);
  benches.push(b);
  return b;
}

afterEach(async () => {
  for (const x of extra.splice(0).reverse()) await x.close();
  for (const b of benches.splice(0)) {
    expect((await replayCheck(b.store)).differences).toEqual([]);
    await b.close();
  }
});

/** A diagnostic step the example policy allows at once: a grant and its token, no approval. */
async function inspectGrant(b: GatewayBench): Promise<{ jti: string; token: string }> {
  const r = await b.ok(() => b.propose([inspectStep()]));
  const jti = r.steps[0]?.grant?.jti ?? '';
  return { jti, token: r.tokens[jti] ?? '' };
}

function outcomes(results: readonly GatewayResult[]): string[] {
  return results.map((r) => (r.ok ? 'ok' : r.code)).sort();
}

describe('one grant, many concurrent consumers, one process', () => {
  it('exactly one consumption succeeds; every other caller gets GRANT_USED, recorded', async () => {
    const b = await bench();
    const { jti, token } = await inspectGrant(b);
    const results = await Promise.all(Array.from({ length: 64 }, () => b.gateway.execute(COPILOT, { token })));
    expect(outcomes(results)).toEqual(['GRANT_USED', ...Array.from({ length: 62 }, () => 'GRANT_USED'), 'ok'].sort());
    const { entries } = await readEntries(b.store);
    expect(entries.filter((e) => e.type === 'grant.consumed' && e.payload['jti'] === jti)).toHaveLength(1);
    expect(entries.filter((e) => e.type === 'grant.rejected' && e.payload['code'] === 'GRANT_USED')).toHaveLength(63);
  });

  it('two gateways on one SQLite file: one succeeds, the other learns by catching up', async () => {
    const b = await bench();
    const { jti, token } = await inspectGrant(b);
    const store = SqliteLedgerStore.open(b.path);
    extra.push(store);
    const other = await Gateway.open({ store, policy: examplePolicy(), key: b.key, origin: GATEWAY_ORIGIN, clock: b.clock.read });
    extra.push(other);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? b.gateway : other).execute(COPILOT, { token })));
    expect(outcomes(results).filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes(results).filter((o) => o === 'GRANT_USED')).toHaveLength(19);
    const { entries } = await readEntries(b.store);
    expect(entries.filter((e) => e.type === 'grant.consumed' && e.payload['jti'] === jti)).toHaveLength(1);
  });
});

describe('restart', () => {
  it('a reopened gateway rebuilds exactly the state the closed one had', async () => {
    const b = await bench();
    const { token } = await inspectGrant(b);
    await b.ok((g) => g.execute(COPILOT, { token }));
    await b.ok(() => b.propose([inspectStep({ target: 'payments-queue/shard-8' })]));
    const before = await rowsOf(b.gateway.state, b.store);
    const size = b.gateway.size;
    // a fresh connection, as a restarted process would open
    const store = await b.reopen();
    const reopened = b.gateway;
    expect(reopened.size).toBe(size);
    expect((await store.head()).size).toBe(size);
    expect(await rowsOf(reopened.state, store)).toEqual(before);
    // the grant consumed before the restart stays consumed after it
    const again = await reopened.execute(COPILOT, { token });
    expect(again.ok ? 'ok' : again.code).toBe('GRANT_USED');
  });
});


/** A store that fails the next commit after the gateway built its plan: the transaction never happened. */
class FailingCommit {
  failNext = false;
  constructor(readonly inner: TransactionalLedgerStore) {}
  wrap(): TransactionalLedgerStore {
    return withAppendWith(this.inner, async (target, knownSize, build) => {
      if (!this.failNext) return target.appendWith(knownSize, build);
      this.failNext = false;
      // the plan is built (state mutated in memory), then the commit fails
      return target.appendWith(knownSize, (caughtUp, head) => {
        build(caughtUp, head);
        throw Object.assign(new Error('disk full'), { code: 'STORE_UNAVAILABLE' });
      });
    });
  }
}

describe('a failed commit', () => {
  it('rejects every caller of the batch and discards the in-memory effects', async () => {
    let failing: FailingCommit | null = null;
    const b = await bench({ store: (path) => (failing = new FailingCommit(SqliteLedgerStore.open(path))).wrap() });
    const f = failing as unknown as FailingCommit;
    extra.push(f.inner);
    const { jti, token } = await inspectGrant(b);
    const before = await rowsOf(b.gateway.state, b.store);
    f.failNext = true;
    const failed = await b.gateway.execute(COPILOT, { token }).catch((err: unknown) => err);
    expect(failed).toMatchObject({ message: 'disk full' });
    // nothing was allowed: the state is the committed one, and the grant is still there to use
    expect(await rowsOf(b.gateway.state, b.store)).toEqual(before);
    expect(b.gateway.state.grants.get(jti)?.status).toBe('issued');
    // commands submitted in the same turn share a batch, and its failure
    f.failNext = true;
    const batch = await Promise.allSettled([b.propose([inspectStep()]), b.propose([inspectStep({ target: 'payments-queue/shard-9' })])]);
    expect(batch.map((a) => a.status)).toEqual(['rejected', 'rejected']);
    expect(await rowsOf(b.gateway.state, b.store)).toEqual(before);
    expect((await b.gateway.execute(COPILOT, { token })).ok).toBe(true);
  });
});

/**
 * A store whose next batch fails in the writer thread (its plan carries an
 * at-most-once key already stored), and whose answer to that batch is held
 * until the gateway has sent the following batch ahead of it: the pipelined
 * failure, made deterministic.
 */
class FailingAhead {
  collide: string | null = null;
  readonly calls: string[] = [];
  readonly failedSent: Promise<void>;
  /** The store (not yet the gateway) has its answer to the failing batch. */
  readonly failedAnswered: Promise<void>;
  #sent: () => void = () => undefined;
  #answered: () => void = () => undefined;
  #release: (() => void) | null = null;
  constructor(readonly inner: TransactionalLedgerStore) {
    this.failedSent = new Promise((resolve) => (this.#sent = resolve));
    this.failedAnswered = new Promise((resolve) => (this.#answered = resolve));
  }
  wrap(): TransactionalLedgerStore {
    return withAppendWith(this.inner, (target, knownSize, build, options) => {
      const key = this.collide;
      this.collide = null;
      const label = options?.expected !== undefined ? 'ahead' : 'locked';
      const built: AppendBuilder = key === null ? build : (caughtUp, head) => {
        const plan = build(caughtUp, head);
        return { ...plan, uniqueKeys: [key, ...plan.uniqueKeys.slice(1)] };
      };
      const result = target.appendWith(knownSize, built, options).then(
        (r) => {
          this.calls.push(`${label}: ok`);
          return r;
        },
        (err: { code?: string }) => {
          this.calls.push(`${label}: ${err.code ?? 'error'}`);
          throw err;
        },
      );
      // a later batch has been sent: let the held answer through
      this.#release?.();
      this.#release = null;
      if (key === null) return result;
      result.catch(() => undefined).finally(() => this.#answered());
      this.#sent();
      return new Promise<void>((resolve) => (this.#release = resolve)).then(() => result);
    });
  }
}

describe('a failed batch with the next one sent ahead behind it', () => {
  // the next batch is sent before the writer thread answered the failing one, or after the store (not yet the gateway) heard
  it.each(['before', 'after'] as const)('fails only its own callers; the batch behind, sent %s the store heard, writes nothing, is evaluated again and commits', async (when) => {
    let failing: FailingAhead | null = null;
    const b = await bench({ store: (path) => (failing = new FailingAhead(SqliteLedgerStore.open(path))).wrap() });
    const f = failing as unknown as FailingAhead;
    extra.push(f.inner);
    expect(f.inner.pipelines).toBe(true);
    const { jti } = await inspectGrant(b);
    const size = (await b.store.head()).size;
    f.calls.length = 0;
    f.collide = `grant.issued:${jti}`;
    const first = b.propose([inspectStep({ target: 'payments-queue/shard-8' })]).catch((err: unknown) => err);
    await (when === 'before' ? f.failedSent : f.failedAnswered);
    const second = b.propose([inspectStep({ target: 'payments-queue/shard-9' })]);
    expect(await first).toMatchObject({ code: 'STORE_CONFLICT' });
    const r = await second;
    expect(r.ok).toBe(true);
    // posted behind it and refused as stale in the writer thread, then evaluated again on the rebuilt state and sealed on its head
    expect(f.calls).toEqual(['ahead: STORE_CONFLICT', 'ahead: STORE_STALE', 'ahead: ok']);
    const { entries } = await readEntries(b.store);
    const targets = entries.slice(size).filter((e) => e.type === 'proposal.received').map((e) => JSON.stringify(e.payload));
    expect(targets.some((t) => t.includes('shard-8'))).toBe(false);
    expect(targets.filter((t) => t.includes('shard-9'))).toHaveLength(1);
  });
});

/** A store that hides what other writers appended from the gateway: a replica whose catch-up is broken. */
function blindCatchUp(inner: TransactionalLedgerStore): TransactionalLedgerStore {
  return withAppendWith(inner, (target, knownSize, build) => target.appendWith(knownSize, (_caughtUp, head) => build([], { ...head, size: knownSize })));
}

describe('a writer that did not catch up (ADR 002 §5, issue 12)', () => {
  it('has its batch refused as stale, nothing of it written: it rebuilds, and the grant consumed elsewhere is GRANT_USED', async () => {
    const b = await bench();
    const { jti, token } = await inspectGrant(b);
    const store = SqliteLedgerStore.open(b.path);
    extra.push(store);
    // the blind replica knows the grant, then the other consumes it behind its back
    // and follows nothing: a replica whose follower is broken too
    const blind = await Gateway.open({ store: blindCatchUp(store), policy: examplePolicy(), key: b.key, origin: GATEWAY_ORIGIN, clock: b.clock.read, follow: false });
    extra.push(blind);
    expect((await b.gateway.execute(COPILOT, { token })).ok).toBe(true);
    const size = (await b.store.head()).size;
    // its entries, sealed after the head it believed in, do not extend the stored one: the store
    // never seals them again, so no second grant.consumed can reach even the UNIQUE backstop
    const again = await blind.execute(COPILOT, { token });
    expect(again.ok ? 'ok' : again.code).toBe('GRANT_USED');
    const { entries } = await readEntries(b.store);
    expect(entries.filter((e) => e.type === 'grant.consumed' && e.payload['jti'] === jti)).toHaveLength(1);
    // the command, evaluated again on the rebuilt state, records its refusal and nothing else
    expect(entries.slice(size).map((e) => e.type)).toEqual(['grant.rejected']);
    expect(blind.state.grants.get(jti)?.status).toBe('consumed');
  });
});

describe('signed checkpoints', () => {
  it('covers the ledger with checkpoints signed by the gateway key, the last one on close', async () => {
    const b = await bench();
    const store = SqliteLedgerStore.open(b.path);
    extra.push(store);
    const gateway = await Gateway.open({ store, policy: examplePolicy(), key: b.key, origin: GATEWAY_ORIGIN, clock: b.clock.read, checkpoints: { every: 5 } });
    for (let i = 0; i < 4; i += 1) {
      const r = await gateway.propose(COPILOT, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep({ target: `payments-queue/shard-${i}` })] });
      expect(r.ok).toBe(true);
    }
    const during = await store.latestCheckpoint();
    expect(during).not.toBeNull();
    await gateway.close();
    const { sealed } = await readEntries(store);
    const last = await store.latestCheckpoint();
    expect(last?.treeSize).toBe(sealed.length);
    const verifier = noteVerifierKey(GATEWAY_ORIGIN, rawPublicKey(gateway.publicKey));
    const checkpoint = verifyCheckpoint(last?.note ?? '', [verifier], { origin: GATEWAY_ORIGIN });
    expect(Buffer.from(checkpoint.rootHash).toString('hex')).toBe(Buffer.from(merkleRoot(sealed.map((e) => e.hash))).toString('hex'));
    for await (const c of store.checkpoints()) verifyCheckpoint(c.note, [verifier]);
  });
});
