import type { StoredCheckpoint, TransactionalLedgerStore } from '@countersign/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommandSequencer } from '../service/command-sequencer.js';
import { Sequencer } from '../testing/plain-sequencer.js';
import { CheckpointScheduler, type CheckpointSchedule, type CheckpointTree } from './checkpoint-scheduler.js';
import { checkpointAsOnlyWriter } from '../store/checkpoint.js';
import type { SequencerObserver } from './observer.js';

/** The checkpoint half of a LedgerStore: what was stored, a gate to hold a write open, a fault switch. */
class CheckpointStore {
  readonly stored: StoredCheckpoint[] = [];
  puts = 0;
  gate: Promise<void> | null = null;
  fail: Error | null = null;

  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    this.puts += 1;
    if (this.gate) await this.gate;
    if (this.fail) throw this.fail;
    this.stored.push(checkpoint);
  }
  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.stored.at(-1) ?? null;
  }
  checkpointWith(treeSize: number, sign: (latest: number) => string | null): Promise<number> {
    return checkpointAsOnlyWriter(this, treeSize, sign);
  }
}

/** A tree of `size` leaves whose root is the size, so a note shows which tree it signed. */
function tree(size: number): CheckpointTree {
  return { size, root: () => Uint8Array.of(size) };
}

const sign: CheckpointSchedule['sign'] = (treeSize, root) => `test\n${treeSize}\n${Buffer.from(root).toString('hex')}\n`;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Setup {
  readonly store: CheckpointStore;
  readonly scheduler: CheckpointScheduler;
  readonly events: string[];
  readonly fired: { count: number };
}

async function setup(schedule: Partial<CheckpointSchedule> = {}, observer: Pick<SequencerObserver, 'checkpoint' | 'error'> | null = null): Promise<Setup> {
  const store = new CheckpointStore();
  const events: string[] = [];
  const fired = { count: 0 };
  const scheduler = new CheckpointScheduler(
    store,
    { sign, ...schedule },
    {
      observer: observer ?? {
        checkpoint: (e) => events.push(`checkpoint ${e.treeSize}`),
        error: (err) => events.push(`error ${(err as Error).message}`),
      },
      now: () => Date.now(),
      onInterval: () => (fired.count += 1),
    },
  );
  await scheduler.resume();
  return { store, scheduler, events, fired };
}

describe('CheckpointScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('schedule', () => {
    it('rejects an `every` or `intervalMs` that is not a positive integer, naming the option', () => {
      const store = new CheckpointStore();
      const options = { observer: {}, now: () => 0, onInterval: () => undefined };
      for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => new CheckpointScheduler(store, { sign, every: bad }, options)).toThrow(
          expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('`checkpoints.every`') }),
        );
        expect(() => new CheckpointScheduler(store, { sign, intervalMs: bad }, options)).toThrow(
          expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('`checkpoints.intervalMs`') }),
        );
      }
      expect(() => new CheckpointScheduler(store, { sign, every: 1, intervalMs: 1 }, options)).not.toThrow();
    });

    it('is validated by both sequencers before they read the store', async () => {
      // any store call would fail with a TypeError, not USAGE
      const nothing = {} as TransactionalLedgerStore;
      await expect(Sequencer.open(nothing, { checkpoints: { sign, every: 0 } })).rejects.toMatchObject({ code: 'USAGE' });
      const command = { clock: () => 0, ids: { next: () => 'id' }, policies: [] };
      await expect(CommandSequencer.open(nothing, { ...command, checkpoints: { sign, intervalMs: 0 } })).rejects.toMatchObject({ code: 'USAGE' });
    });

    it('is due once `every` entries are uncovered, or after `intervalMs` with any uncovered', async () => {
      const { scheduler } = await setup({ every: 3, intervalMs: 100 });
      expect(scheduler.due(tree(0))).toBe(false);
      expect(scheduler.due(tree(2))).toBe(false);
      expect(scheduler.due(tree(3))).toBe(true);
      vi.advanceTimersByTime(99);
      expect(scheduler.due(tree(1))).toBe(false);
      vi.advanceTimersByTime(1);
      expect(scheduler.due(tree(1))).toBe(true);
      // the interval alone is not enough: nothing uncovered, nothing due
      expect(scheduler.due(tree(0))).toBe(false);
    });

    it('presses (holds the pipeline back) from `every` uncovered, in-flight entries counted, until a write stores one; not while writes fail', async () => {
      const { store, scheduler } = await setup({ every: 3, intervalMs: 100 });
      expect(scheduler.pressing(2)).toBe(false);
      expect(scheduler.pressing(3)).toBe(true);
      const gate = deferred();
      store.gate = gate.promise;
      const writing = scheduler.write(tree(3), 'now');
      // still uncovered while the write is open
      expect(scheduler.pressing(4)).toBe(true);
      gate.resolve();
      await writing;
      expect(scheduler.pressing(5)).toBe(false);
      expect(scheduler.pressing(6)).toBe(true);
      store.gate = null;
      store.fail = new Error('disk full');
      await scheduler.write(tree(6), 'now');
      expect(scheduler.pressing(9)).toBe(false);
    });

    it('takes the store’s latest checkpoint as covered on resume', async () => {
      const { store, scheduler } = await setup({ every: 2 });
      store.stored.push({ treeSize: 10, note: 'elsewhere' });
      await scheduler.resume();
      expect(scheduler.due(tree(11))).toBe(false);
      expect(scheduler.due(tree(12))).toBe(true);
    });
  });

  describe('a checkpoint another writer stored meanwhile (replicas: decided under the write lock)', () => {
    it("'due' signs nothing while that checkpoint leaves fewer than `every` uncovered, and takes it as the base", async () => {
      const { store, scheduler, events } = await setup({ every: 10, intervalMs: 1000 });
      expect(scheduler.due(tree(12))).toBe(true);
      // another replica checkpointed 8 of the 12 entries this one has followed
      store.stored.push({ treeSize: 8, note: 'theirs\n' });
      await scheduler.write(tree(12), 'due');
      expect(store.puts).toBe(0);
      expect(events).toEqual([]);
      expect(scheduler.due(tree(12))).toBe(false);
      expect(scheduler.pressing(17)).toBe(false);
      expect(scheduler.pressing(18)).toBe(true);
      // `every` past the other writer's checkpoint: due, and signed
      await scheduler.write(tree(18), 'due');
      expect(store.stored.map((c) => c.treeSize)).toEqual([8, 18]);
      expect(events).toEqual(['checkpoint 18']);
    });

    it("'due' on the interval signs only if no writer stored a checkpoint since this scheduler last looked", async () => {
      const { store, scheduler, events } = await setup({ every: 10, intervalMs: 1000 });
      vi.advanceTimersByTime(1000);
      expect(scheduler.due(tree(3))).toBe(true);
      store.stored.push({ treeSize: 2, note: 'theirs\n' });
      await scheduler.write(tree(3), 'due');
      // that checkpoint was the interval's: the next interval counts from here
      expect(events).toEqual([]);
      expect(scheduler.due(tree(3))).toBe(false);
      vi.advanceTimersByTime(1000);
      expect(scheduler.due(tree(3))).toBe(true);
      await scheduler.write(tree(3), 'due');
      expect(events).toEqual(['checkpoint 3']);
      expect(store.stored.map((c) => c.treeSize)).toEqual([2, 3]);
    });

    it("'now' signs whatever is past that checkpoint, and nothing it covers", async () => {
      const { store, scheduler, events } = await setup({ every: 10, intervalMs: 1000 });
      store.stored.push({ treeSize: 8, note: 'theirs\n' });
      await scheduler.write(tree(8), 'now');
      expect(events).toEqual([]);
      await scheduler.write(tree(9), 'now');
      expect(events).toEqual(['checkpoint 9']);
      expect(store.stored.map((c) => c.treeSize)).toEqual([8, 9]);
    });
  });

  describe('write', () => {
    it('signs the tree as it was when the write began and reports the checkpoint', async () => {
      const { store, scheduler, events } = await setup({ every: 1 });
      const gate = deferred();
      store.gate = gate.promise;
      const growing = { size: 4, root: (): Uint8Array => Uint8Array.of(growing.size) };
      const writing = scheduler.write(growing, 'now');
      growing.size = 6;
      gate.resolve();
      await writing;
      expect(store.stored).toEqual([{ treeSize: 4, note: sign(4, Uint8Array.of(4)) }]);
      expect(events).toEqual(['checkpoint 4']);
      expect(scheduler.due(tree(4))).toBe(false);
      expect(scheduler.due(tree(5))).toBe(true);
    });

    it('is not due while a write runs: two cycles never write at once', async () => {
      const { store, scheduler } = await setup({ every: 1 });
      const gate = deferred();
      store.gate = gate.promise;
      const cycle = async (t: CheckpointTree): Promise<void> => {
        if (scheduler.due(t)) await scheduler.write(t, 'due');
      };
      const first = cycle(tree(1));
      const second = cycle(tree(2));
      expect(scheduler.due(tree(3))).toBe(false);
      gate.resolve();
      await Promise.all([first, second]);
      expect(store.puts).toBe(1);
      expect(store.stored.map((c) => c.treeSize)).toEqual([1]);
      // once it settled the next one is due again
      expect(scheduler.due(tree(2))).toBe(true);
    });

    it('reports a failure to the observer, never throws, and waits a full interval before the next attempt', async () => {
      const { store, scheduler, events, fired } = await setup({ every: 1000, intervalMs: 100 });
      store.fail = new Error('checkpoint table locked');
      vi.advanceTimersByTime(100);
      expect(scheduler.due(tree(1))).toBe(true);
      await expect(scheduler.write(tree(1), 'now')).resolves.toBeUndefined();
      expect(events).toEqual(['error checkpoint table locked']);
      store.fail = null;
      // the interval restarts at the failed attempt, for the check at the end of a cycle and for the timer alike
      scheduler.arm(tree(2));
      vi.advanceTimersByTime(99);
      expect(fired.count).toBe(0);
      expect(scheduler.due(tree(2))).toBe(false);
      vi.advanceTimersByTime(1);
      expect(fired.count).toBe(1);
      expect(scheduler.due(tree(2))).toBe(true);
      await scheduler.write(tree(2), 'now');
      expect(events).toEqual(['error checkpoint table locked', 'checkpoint 2']);
    });

    it('after a failure, retries on the interval even when `every` entries wait, not at the end of every cycle', async () => {
      const { store, scheduler, events } = await setup({ every: 2, intervalMs: 100 });
      store.fail = new Error('checkpoint table locked');
      expect(scheduler.due(tree(2))).toBe(true);
      await scheduler.write(tree(2), 'now');
      // more entries than `every` are uncovered, but the last attempt failed a moment ago
      vi.advanceTimersByTime(50);
      expect(scheduler.due(tree(5))).toBe(false);
      vi.advanceTimersByTime(50);
      expect(scheduler.due(tree(5))).toBe(true);
      store.fail = null;
      await scheduler.write(tree(5), 'now');
      // a success restores the `every` rule at once
      expect(scheduler.due(tree(7))).toBe(true);
      expect(events).toEqual(['error checkpoint table locked', 'checkpoint 5']);
      expect(store.puts).toBe(2);
    });

    it('ignores an observer that throws: the checkpoint was stored, not failed', async () => {
      const errors: unknown[] = [];
      const observer = {
        checkpoint: (): void => {
          throw new Error('metrics down');
        },
        error: (err: unknown) => errors.push(err),
      };
      const { store, scheduler } = await setup({ every: 1 }, observer);
      await expect(scheduler.write(tree(1), 'now')).resolves.toBeUndefined();
      expect(store.stored.map((c) => c.treeSize)).toEqual([1]);
      expect(errors).toEqual([]);
      expect(scheduler.due(tree(1))).toBe(false);
    });
  });

  describe('timer', () => {
    it('fires once, `intervalMs` after the last checkpoint, when entries are uncovered', async () => {
      const { scheduler, fired } = await setup({ intervalMs: 50 });
      vi.advanceTimersByTime(20);
      scheduler.arm(tree(3));
      scheduler.arm(tree(3)); // already armed: still one timer
      vi.advanceTimersByTime(29);
      expect(fired.count).toBe(0);
      vi.advanceTimersByTime(1);
      expect(fired.count).toBe(1);
      vi.advanceTimersByTime(1000);
      expect(fired.count).toBe(1);
    });

    it('is not armed when every entry is covered', async () => {
      const { scheduler, fired } = await setup({ intervalMs: 50 });
      scheduler.arm(tree(0));
      await scheduler.write(tree(2), 'now');
      scheduler.arm(tree(2));
      vi.advanceTimersByTime(1000);
      expect(fired.count).toBe(0);
    });

    it('never keeps the process alive', async () => {
      vi.useRealTimers();
      const spy = vi.spyOn(globalThis, 'setTimeout');
      try {
        const { scheduler } = await setup({ intervalMs: 60_000 });
        scheduler.arm(tree(1));
        const timer = spy.mock.results.at(-1)?.value as NodeJS.Timeout;
        expect(timer.hasRef()).toBe(false);
        await scheduler.close(tree(1));
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('close', () => {
    it('stops the timer for good and covers the remaining entries with one last checkpoint', async () => {
      const { store, scheduler, fired, events } = await setup({ every: 1000, intervalMs: 50 });
      scheduler.arm(tree(3));
      await scheduler.close(tree(3));
      expect(store.stored.map((c) => c.treeSize)).toEqual([3]);
      expect(events).toEqual(['checkpoint 3']);
      scheduler.arm(tree(4));
      vi.advanceTimersByTime(1000);
      expect(fired.count).toBe(0);
    });

    it('writes nothing when every entry is covered', async () => {
      const { store, scheduler } = await setup({ every: 1 });
      await scheduler.write(tree(2), 'now');
      await scheduler.close(tree(2));
      expect(store.puts).toBe(1);
    });
  });
});
