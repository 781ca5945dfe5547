import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@countersign/core';

const ID_BYTES = 8;
/** Ids drawn from one CSPRNG fill: `randomBytes(8)` per id costs a call into the kernel's generator each time. */
const POOL_BYTES = ID_BYTES * 512;

/**
 * `<kind>-<12 hex: milliseconds since the epoch><16 hex: 64 random bits>`:
 * unguessable and unique across replicas without coordination (the random
 * part), and in creation order (the time part). The order is for the store:
 * rows keyed by id land at the right edge of their B-tree index instead of on
 * a random page each, so a commit writes a few pages rather than one per row.
 * The time part tells nothing the ledger entry's `at` does not.
 */
export function randomIds(clock: () => number = Date.now): IdGenerator {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  let offset = POOL_BYTES;
  return {
    next: (kind) => {
      if (offset === POOL_BYTES) {
        randomFillSync(pool);
        offset = 0;
      }
      // INVARIANT: each pooled byte serves one id only; the pool is refilled, never reread
      const hex = pool.toString('hex', offset, offset + ID_BYTES);
      offset += ID_BYTES;
      const ms = Math.max(0, Math.trunc(clock()));
      return `${kind}-${ms.toString(16).padStart(12, '0')}${hex}`;
    },
  };
}
