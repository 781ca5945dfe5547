import { randomBytes } from 'node:crypto';
import type { IdGenerator } from '@countersign/core';

/** `<kind>-<16 hex>`: 64 random bits, unguessable and unique across replicas without coordination. */
export function randomIds(): IdGenerator {
  return { next: (kind) => `${kind}-${randomBytes(8).toString('hex')}` };
}
