import type { LedgerStore } from '@countersign/core';
import { GatewayError } from '../errors.js';

/**
 * `checkpointWith` for a store that one process writes, its checkpoints one
 * at a time (SQLite, and the stores of tests): the latest read here is still
 * the latest when `putCheckpoint` stores the note, so no lock is needed.
 * Should another process on the same file store its note for this size
 * first (unsupported, but a second connection can), that note stands and
 * the tree counts as covered.
 */
export async function checkpointAsOnlyWriter(
  store: Pick<LedgerStore, 'putCheckpoint' | 'latestCheckpoint'>,
  treeSize: number,
  sign: (latest: number) => string | null,
): Promise<number> {
  const latest = (await store.latestCheckpoint())?.treeSize ?? 0;
  const note = sign(latest);
  if (note === null) return latest;
  try {
    await store.putCheckpoint({ treeSize, note });
  } catch (err) {
    if (!(err instanceof GatewayError && err.code === 'STORE_CONFLICT')) throw err;
    const stored = (await store.latestCheckpoint())?.treeSize ?? 0;
    if (stored < treeSize) throw err;
    return stored;
  }
  return Math.max(latest, treeSize);
}
