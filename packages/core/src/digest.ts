import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';

// Hashing lives apart from canonical.ts so the serialisation runs in a
// browser (the approver console) without node:crypto: see browser.ts.

export function sha256(data: Uint8Array | string): Uint8Array {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>` over the canonical bytes: the digest form used in ids and statements. */
export function canonicalDigest(value: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(value))}`;
}
