import type { CanonicalValue } from '../canonical.js';

/**
 * Every string NFC-normalised, recursively. RFC 8785 hashes the code points it
 * is given, so `é` typed on one keyboard (U+00E9) and pasted from another
 * (U+0065 U+0301) would otherwise hash differently: the reference procedure's
 * "hash mismatch on whitespace" failure, fixed as it says, by normalising first.
 * Keys are ASCII in the canonical subset and need no normalisation.
 */
export function nfcDeep<T extends CanonicalValue>(value: T): T;
export function nfcDeep(value: CanonicalValue): CanonicalValue {
  if (typeof value === 'string') return value.normalize('NFC');
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v: CanonicalValue) => nfcDeep(v));
  const out: Record<string, CanonicalValue> = {};
  for (const [k, v] of Object.entries(value as { readonly [key: string]: CanonicalValue })) out[k] = nfcDeep(v);
  return out;
}

/** RFC 3339 UTC timestamps as the gateway writes them, milliseconds optional. */
export const UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** Milliseconds since the epoch, or NaN for anything that is not a UTC timestamp. Callers fail closed on NaN. */
export function parseUtc(text: string): number {
  return UTC_TIMESTAMP.test(text) ? Date.parse(text) : Number.NaN;
}
