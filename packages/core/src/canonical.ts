import { createHash } from 'node:crypto';
import canonicalizeImpl from 'canonicalize';
import { CountersignError } from './errors.js';

/**
 * The JSON values Countersign hashes and signs: strings, safe integers,
 * booleans, null, arrays, and objects with ASCII keys. Floats and non-ASCII
 * keys are excluded so RFC 8785's number serialisation and UTF-16 key
 * ordering can never produce two opinions about the same value.
 */
export type CanonicalValue =
  | string
  | number
  | boolean
  | null
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

// eslint-disable-next-line no-control-regex -- the ASCII range is the point
const ASCII_KEY = /^[\x00-\x7f]*$/;

/** Throws NOT_CANONICALIZABLE naming the JSON pointer of the first offending value. */
export function assertCanonicalValue(value: unknown, pointer = ''): asserts value is CanonicalValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return;
    throw new CountersignError('NOT_CANONICALIZABLE', `value at \`${pointer || '/'}\` is not a safe integer`, { pointer });
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertCanonicalValue(item, `${pointer}/${i}`));
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new CountersignError('NOT_CANONICALIZABLE', `value at \`${pointer || '/'}\` is not a plain object`, { pointer });
    }
    for (const [key, item] of Object.entries(value)) {
      if (!ASCII_KEY.test(key)) {
        throw new CountersignError('NOT_CANONICALIZABLE', `key at \`${pointer || '/'}\` is not ASCII`, { pointer });
      }
      if (item === undefined) {
        throw new CountersignError('NOT_CANONICALIZABLE', `value at \`${pointer}/${key}\` is undefined`, { pointer: `${pointer}/${key}` });
      }
      assertCanonicalValue(item, `${pointer}/${escapePointer(key)}`);
    }
    return;
  }
  throw new CountersignError('NOT_CANONICALIZABLE', `value at \`${pointer || '/'}\` has type ${typeof value}`, { pointer });
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** RFC 8785 canonical JSON text of a restricted value. */
export function canonicalJson(value: unknown): string {
  assertCanonicalValue(value);
  const text = canonicalizeImpl(value);
  if (text === undefined) {
    throw new CountersignError('NOT_CANONICALIZABLE', 'value has no canonical form');
  }
  return text;
}

/** RFC 8785 canonical bytes (UTF-8) of a restricted value. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

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
