import type { StoredCheckpoint } from '@countersign/core';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { checkpointAsOnlyWriter } from './checkpoint.js';

/** A store whose `putCheckpoint` fails as told, after another connection stored `theirs`. */
function storeFailing(failure: Error, theirs: StoredCheckpoint | null) {
  let latest: StoredCheckpoint | null = null;
  return {
    latestCheckpoint: async () => latest,
    putCheckpoint: async () => {
      latest = theirs;
      throw failure;
    },
  };
}

describe('checkpointAsOnlyWriter', () => {
  it('counts the tree covered when another connection stored its note for the size first', async () => {
    const store = storeFailing(new GatewayError('STORE_CONFLICT', 'a different checkpoint for tree size 5 is already stored'), { treeSize: 5, note: 'theirs\n' });
    expect(await checkpointAsOnlyWriter(store, 5, () => 'ours\n')).toBe(5);
  });

  it('passes the conflict on when what is stored does not cover the tree', async () => {
    const store = storeFailing(new GatewayError('STORE_CONFLICT', 'checkpoint tree size 5 is beyond the ledger size 4'), null);
    await expect(checkpointAsOnlyWriter(store, 5, () => 'ours\n')).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
  });

  it('passes any other failure on, covered or not', async () => {
    const store = storeFailing(new GatewayError('STORE_UNAVAILABLE', 'disk full'), { treeSize: 5, note: 'theirs\n' });
    await expect(checkpointAsOnlyWriter(store, 5, () => 'ours\n')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
