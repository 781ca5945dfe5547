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

/**
 * Deeper values are refused rather than left to overflow the stack: a cycle
 * fails with a pointer, and no legitimate payload nests this far.
 */
export const MAX_CANONICAL_DEPTH = 512;

/**
 * A refusal on its way up to `canonicalJson`: the containers it passes through
 * prepend their segment, so the happy path never builds a JSON pointer.
 */
class Refusal {
  /** Escaped JSON pointer segments from the root to the offending value, filled in while unwinding. */
  readonly segments: string[] = [];
  constructor(
    readonly subject: 'value' | 'key' | 'string',
    readonly problem: string,
  ) {}
}

function within(err: unknown, segment: string): unknown {
  if (err instanceof Refusal) err.segments.push(segment);
  return err;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

// ES2024 String.prototype.isWellFormed: native in Node 20, absent from the ES2023 lib typings.
const nativeWellFormed = (String.prototype as unknown as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const LONE_SURROGATE = /\p{Surrogate}/u;
const isWellFormed: (text: string) => boolean =
  typeof nativeWellFormed === 'function' ? (text) => nativeWellFormed.call(text) : (text) => !LONE_SURROGATE.test(text);

// Printable ASCII other than `"` and `\`: JSON.stringify would copy these verbatim.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * RFC 8785 §3.2.2.2: strings are serialised as ECMAScript JSON.stringify does.
 * RFC 8785 §3.1 requires I-JSON (RFC 7493 §2.1), which forbids unpaired
 * surrogates; JSON.stringify would escape them as `\udXXX`, the `canonicalize`
 * package throws a plain Error. We refuse, with a pointer.
 */
function quote(text: string): string {
  // most strings are plain ASCII: the regex is about twice as fast as JSON.stringify on them
  if (PLAIN.test(text)) return `"${text}"`;
  if (!isWellFormed(text)) throw new Refusal('string', 'is not well-formed Unicode (unpaired surrogate)');
  return JSON.stringify(text);
}

function isAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** A JSON object member name; throws for a non-ASCII key. */
function quoteKey(key: string): string {
  if (PLAIN.test(key)) return `"${key}"`;
  if (!isAscii(key)) throw new Refusal('key', 'is not ASCII');
  // an ASCII key is well-formed: JSON.stringify escapes it exactly as RFC 8785 does
  return JSON.stringify(key);
}

/**
 * RFC 8785 §3.2.3 sorts member names by UTF-16 code units, which is what both
 * Array#sort and `<` on strings compare. Insertion sort is several times faster
 * than Array#sort on the handful of keys objects usually have; a large object
 * (attacker-controlled payloads may be) gets the O(n log n) native sort.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

function writeValue(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      // RFC 8785 §3.2.2.3 prints a safe integer as its decimal digits (-0 as `0`, as `${}` does)
      if (Number.isSafeInteger(value)) return `${value}`;
      throw new Refusal('value', 'is not a safe integer');
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (depth >= MAX_CANONICAL_DEPTH) throw new Refusal('value', `is nested deeper than ${MAX_CANONICAL_DEPTH} levels`);
      return Array.isArray(value) ? writeArray(value as readonly unknown[], depth + 1) : writeObject(value, depth + 1);
    case 'undefined':
      throw new Refusal('value', 'is undefined');
    default:
      throw new Refusal('value', `has type ${typeof value}`);
  }
}

function writeArray(items: readonly unknown[], depth: number): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) {
    let text: string;
    try {
      // a hole reads as undefined and is refused
      text = writeValue(items[i], depth);
    } catch (err) {
      throw within(err, `${i}`);
    }
    out += i === 0 ? text : `,${text}`;
  }
  return `${out}]`;
}

function writeObject(value: object, depth: number): string {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new Refusal('value', 'is not a plain object');
  const keys = sortKeys(Object.keys(value));
  const record = value as Record<string, unknown>;
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const name = quoteKey(key);
    let text: string;
    try {
      text = writeValue(record[key], depth);
    } catch (err) {
      throw within(err, escapePointer(key));
    }
    out += `${i === 0 ? '' : ','}${name}:${text}`;
  }
  return `${out}}`;
}

function refused(err: unknown, pointer: string): unknown {
  if (!(err instanceof Refusal)) return err;
  const at = pointer + err.segments.reverse().map((s) => `/${s}`).join('');
  // a key problem is reported at the object holding the key, as the pointer cannot name a key
  return new CountersignError('NOT_CANONICALIZABLE', `${err.subject} at \`${at || '/'}\` ${err.problem}`, { pointer: at });
}

/**
 * RFC 8785 canonical JSON text of a restricted value, validated and written in
 * one walk. Throws NOT_CANONICALIZABLE naming the JSON pointer (under
 * `pointer`) of the first offending value in key order; for a non-ASCII key,
 * the pointer of the object that holds it.
 */
export function canonicalJson(value: unknown, pointer = ''): string {
  try {
    return writeValue(value, 0);
  } catch (err) {
    throw refused(err, pointer);
  }
}

/** Throws NOT_CANONICALIZABLE naming the JSON pointer of the first offending value. */
export function assertCanonicalValue(value: unknown, pointer = ''): asserts value is CanonicalValue {
  canonicalJson(value, pointer);
}

/** RFC 8785 canonical bytes (UTF-8) of a restricted value. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
