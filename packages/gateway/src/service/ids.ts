import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@countersign/core';

const ID_BYTES = 8;
/** Ids drawn from one CSPRNG fill: `randomBytes(8)` per id costs a call into the kernel's generator each time. */
const POOL_BYTES = ID_BYTES * 512;

/** `<kind>-<16 hex>`: 64 random bits, unguessable and unique across replicas without coordination. */
export function randomIds(): IdGenerator {
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
      return `${kind}-${hex}`;
    },
  };
}
