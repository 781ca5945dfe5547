import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryDraft } from '@countersign/core';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { CommandSequencer, type CommandJob } from './command-sequencer.js';
import { randomIds } from './ids.js';

/**
 * One command may write far more entries than a call can take arguments: a
 * bundle activation writes three for every live grant, 150,002 with 50,000
 * of them, and such a commit once failed with "Maximum call stack size
 * exceeded" (answered 500, nothing written). The writer that builds the
 * commit takes it whole, and another writer that catches up with it under
 * the write lock (as a replica does before its own append) takes it whole.
 */

const ENTRIES = 200_000;

function draft(n: number): EntryDraft {
  return { at: '2025-01-01T00:00:00.000Z', type: 'test.appended', actor: null, surface: null, bundle_id: null, subjects: {}, payload: { n } };
}

const many: CommandJob = { withoutPolicy: true, evaluate: () => ({ entries: Array.from({ length: ENTRIES }, (_, n) => draft(n)), result: ENTRIES }) };
const one: CommandJob = { withoutPolicy: true, evaluate: (_state, _policy, _ctx, seq) => ({ entries: [draft(seq)], result: seq }) };

describe('a command that writes a very large commit', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  // a writer that keeps every record (as on PostgreSQL) applies what it catches up on in its batch; one that reads
  // committed records back from the store's rows (ADR 006 decision 1) rebuilds instead, since those rows are ahead of it
  it.each([
    ['catches up with them under the lock', true],
    ['rebuilds from them, as one that reads records back from the store does', false],
  ])(`commits ${ENTRIES.toLocaleString('en')} entries from one command, and a second writer %s, then appends`, async (_how, keepRecords) => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-sequencer-'));
    dirs.push(dir);
    const path = join(dir, 'ledger.db');
    const options = { clock: () => Date.parse('2025-01-01T00:00:00.000Z'), ids: randomIds(), policies: [] };
    const storeA = SqliteLedgerStore.open(path);
    // inline: this writer does not pipeline, so its append reads what others committed under the lock and
    // hands it to the batch it builds (a pipelining one is refused STORE_STALE and rebuilds from the store)
    const storeB = SqliteLedgerStore.open(path, { writer: 'inline' });
    const followed: number[] = [];
    const a = await CommandSequencer.open(storeA, options);
    const b = await CommandSequencer.open(storeB, { ...options, keepRecords, onFollowed: (entries) => followed.push(entries.length) });
    try {
      const committed = await a.submit(many);
      expect(committed.entries).toHaveLength(ENTRIES);
      expect(committed.entries.at(-1)?.seq).toBe(ENTRIES - 1);
      // b has not seen them: its next command catches up with the whole commit, in the batch it builds
      const next = await b.submit(one);
      expect(next.entries.map((e) => e.seq)).toEqual([ENTRIES]);
      expect(followed).toEqual([ENTRIES]);
      expect(b.size).toBe(ENTRIES + 1);
      expect((await storeA.head()).size).toBe(ENTRIES + 1);
    } finally {
      await a.close();
      await b.close();
      await storeA.close();
      await storeB.close();
    }
  }, 120_000);
});
