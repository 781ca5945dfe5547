import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { canonicalJson } from '../packages/core/src/canonical.js';
import type { TransactionalLedgerStore } from '../packages/core/src/ledger/store.js';
import type { AuthorityState } from '../packages/core/src/state/state.js';
import { rebuildState } from '../packages/core/src/state/machine.js';
import { Gateway } from '../packages/gateway/src/service/gateway.js';
import { replayCheck } from '../packages/gateway/src/service/replay.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { GatewayBench } from './helpers/gateway-bench.js';
import { GATEWAY_ORIGIN, readEntries, rowsOf } from './helpers/gateway-replay.js';
import { withAppendWith } from './helpers/store-wrap.js';
import { COPILOT, examplePolicy, inspectStep, restartStep } from './scenario/world.js';

/**
 * ADR 006 decision 1 on SQLite: once a batch commits, the proposals, steps
 * and grants it changed leave memory, unless they are open work or a batch
 * still in flight changed them too; a later read takes them back from their
 * projection rows. Everything the gateway answers stays the same.
 */

const benches: GatewayBench[] = [];
const extra: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const x of extra.splice(0).reverse()) await x.close();
  for (const b of benches.splice(0)) {
    expect((await replayCheck(b.store)).differences).toEqual([]);
    await b.close();
  }
});

async function bench(options: Parameters<typeof GatewayBench.open>[1] = {}): Promise<GatewayBench> {
  const b = await GatewayBench.open(examplePolicy(), options);
  benches.push(b);
  return b;
}

/**
 * Holds the answers of two appends: the first until the second has been
 * sent (a batch in flight behind it), the second until `go`. The writes
 * themselves go on: only the gateway hears of them later.
 */
class HeldAnswers {
  armed = false;
  #calls = 0;
  readonly firstSent: Promise<void>;
  readonly firstAnswered: Promise<void>;
  readonly #secondSent: Promise<void>;
  readonly #go: Promise<void>;
  #markFirstSent: () => void = () => undefined;
  #markFirstAnswered: () => void = () => undefined;
  #markSecondSent: () => void = () => undefined;
  go: () => void = () => undefined;

  constructor() {
    this.firstSent = new Promise((resolve) => (this.#markFirstSent = resolve));
    this.firstAnswered = new Promise((resolve) => (this.#markFirstAnswered = resolve));
    this.#secondSent = new Promise((resolve) => (this.#markSecondSent = resolve));
    this.#go = new Promise((resolve) => (this.go = resolve));
  }

  wrap(inner: TransactionalLedgerStore): TransactionalLedgerStore {
    return withAppendWith(inner, (target, knownSize, build, options) => {
      const result = target.appendWith(knownSize, build, options);
      if (!this.armed) return result;
      this.#calls += 1;
      if (this.#calls === 1) {
        this.#markFirstSent();
        return this.#secondSent.then(() => result).finally(() => this.#markFirstAnswered());
      }
      this.armed = false;
      this.#markSecondSent();
      return this.#go.then(() => result);
    });
  }
}

const held = (state: AuthorityState): number => state.proposals.held + state.steps.held + state.grants.held;

describe('committed records leave memory on SQLite', () => {
  it('holds only open work after its commits, reads the rest back for every rule and answer, and again after a restart', async () => {
    const b = await bench();
    const granted = [];
    for (let i = 0; i < 40; i++) granted.push(await b.ok(() => b.propose([inspectStep({ target: `payments-queue/shard-${i}` })])));
    const restart = await b.ok(() => b.propose([restartStep()]));
    // 41 proposals with their steps and 40 grants: what stays is the last commit's (its answer was built from them)
    // and the restart's step, whose request is open
    const restartStep_ = restart.steps[0]?.step ?? '';
    expect(held(b.gateway.state)).toBe(2);
    expect(b.gateway.state.steps.peek(restartStep_)).toBeDefined();
    expect(b.gateway.state.proposals.peek(restart.proposal)).toBeDefined();
    expect(b.gateway.state.proposals.peek(granted[39]?.proposal ?? '')).toBeUndefined();

    // a grant that left memory is read back to be consumed, once
    const first = granted[7]?.steps[0]?.grant?.jti ?? '';
    expect(b.gateway.state.grants.peek(first)).toBeUndefined();
    const token = granted[7]?.tokens[first] ?? '';
    expect((await b.gateway.execute(COPILOT, { token })).ok).toBe(true);
    const again = await b.gateway.execute(COPILOT, { token });
    expect(again.ok ? 'ok' : again.code).toBe('GRANT_USED');
    expect(b.gateway.state.grants.get(first)?.status).toBe('consumed');
    // the approval reads the open request's step, which stayed in memory; it now waits for its rollback, still held
    const request = restart.steps[0]?.request ?? '';
    for (const approver of ['lena', 'fatima']) if (b.gateway.state.index.openRequests.has(request)) await b.ok(() => b.approve(request, approver, 'approver-console'));
    expect(b.gateway.state.index.openRequests.has(request)).toBe(false);
    expect(b.gateway.state.steps.peek(restartStep_)).toMatchObject({ authorized: true, grants: [] });
    expect(b.gateway.state.index.rollbackSteps.has(restartStep_)).toBe(true);

    const rows = await rowsOf(b.gateway.state, b.store);
    const size = b.gateway.size;
    const store = await b.reopen();
    const reopened = b.gateway;
    expect(reopened.size).toBe(size);
    // the rebuild held everything, then let go of all but open work: the restart awaits its rollback
    expect(held(reopened.state)).toBe(1);
    expect(await rowsOf(reopened.state, store)).toEqual(rows);
    const used = await reopened.execute(COPILOT, { token });
    expect(used.ok ? 'ok' : used.code).toBe('GRANT_USED');
  });

  it('answers STORE_CORRUPT for a row that does not read back as JSON, and acts on nothing', async () => {
    const b = await bench();
    const proposed = await b.ok(() => b.propose([inspectStep()]));
    const jti = proposed.steps[0]?.grant?.jti ?? '';
    await b.ok(() => b.propose([inspectStep({ target: 'payments-queue/shard-2' })]));
    expect(b.gateway.state.grants.peek(jti)).toBeUndefined();
    const db = new Database(b.path);
    try {
      db.prepare("UPDATE projections SET value = '{not json' WHERE kind = 'grant' AND id = ?").run(jti);
    } finally {
      db.close();
    }
    const used = await b.gateway.execute(COPILOT, { token: proposed.tokens[jti] ?? '' }).catch((err: unknown) => err);
    expect(used).toMatchObject({ code: 'STORE_CORRUPT' });
    const { entries } = await readEntries(b.store);
    expect(entries.filter((e) => e.type === 'grant.consumed')).toHaveLength(0);
    // put back as it was, so the afterEach replay check compares rows that the ledger explains
    const fixed = new Database(b.path);
    try {
      fixed.prepare('UPDATE projections SET value = ? WHERE kind = ? AND id = ?').run(canonicalJson(rebuildState(entries).grants.get(jti) as never), 'grant', jti);
    } finally {
      fixed.close();
    }
  });

  it('meets another writer on the file: a read from a row ahead of its state is refused STORE_STALE, and it rebuilds, keeping every record from then on', async () => {
    const b = await bench();
    const proposed = await b.ok(() => b.propose([inspectStep()]));
    const jti = proposed.steps[0]?.grant?.jti ?? '';
    const store = SqliteLedgerStore.open(b.path);
    extra.push(store);
    // a second gateway on the same file, which follows nothing: its rebuild let the grant go
    const other = await Gateway.open({ store, policy: examplePolicy(), key: b.key, origin: GATEWAY_ORIGIN, clock: b.clock.read, follow: false });
    extra.push(other);
    expect(other.state.grants.peek(jti)).toBeUndefined();
    // the first consumes it: the grant's row is now ahead of the second's state
    expect((await b.gateway.execute(COPILOT, { token: proposed.tokens[jti] ?? '' })).ok).toBe(true);
    expect(() => other.state.grants.get(jti)).toThrow(expect.objectContaining({ code: 'STORE_STALE' }) as Error);
    // rebuilt without waiting for a command of its own: every record in memory, the grant consumed
    await vi.waitFor(() => expect(other.state.grants.peek(jti)?.status).toBe('consumed'));
    expect(other.state.grants.tiered).toBe(false);
    expect(other.size).toBe(b.gateway.size);
  });

  it('keeps a record a batch in flight changed when the batch before it commits, and lets it go once that batch commits too', async () => {
    const held_ = new HeldAnswers();
    const b = await bench({ store: (path) => held_.wrap(SqliteLedgerStore.open(path)) });
    const first = await b.ok(() => b.propose([inspectStep()]));
    const jti = first.steps[0]?.grant?.jti ?? '';
    const token = first.tokens[jti] ?? '';
    // held until the next commit, for the answer built from it; then gone
    expect(b.gateway.state.grants.peek(jti)).toBeDefined();
    await b.ok(() => b.propose([inspectStep({ target: 'payments-queue/shard-2' })]));
    expect(b.gateway.state.grants.peek(jti)).toBeUndefined();
    held_.armed = true;
    // the first batch consumes the grant; the second, evaluated on that state, is refused GRANT_USED and counts it on the grant
    const consumed = b.gateway.execute(COPILOT, { token });
    await held_.firstSent;
    const replayed = b.gateway.execute(COPILOT, { token });
    await held_.firstAnswered;
    expect((await consumed).ok).toBe(true);
    // committed, but changed again by the batch in flight: still in memory, with that batch's change
    expect(b.gateway.state.grants.peek(jti)).toMatchObject({ status: 'consumed', rejected: 1 });
    held_.go();
    const refused = await replayed;
    expect(refused.ok ? 'ok' : refused.code).toBe('GRANT_USED');
    expect(b.gateway.state.grants.peek(jti)).toBeUndefined();
    expect(b.gateway.state.grants.get(jti)).toMatchObject({ status: 'consumed', rejected: 1 });
    const { entries } = await readEntries(b.store);
    expect(entries.filter((e) => e.type === 'grant.consumed')).toHaveLength(1);
  });
});
