import { ApiError } from './api-error.js';

/**
 * The one reader of JSON request bodies. Bodies arrive from callers:
 * attacker-controlled, and whatever is granted must be exactly what was sent.
 * So a body is refused, rather than read with a guess, when two readers could
 * see two different requests in it:
 *
 * - bytes that are not UTF-8 (RFC 8259 §8.1), which a lenient decoder would
 *   turn into U+FFFD and the signed ledger would keep altered, and a string
 *   escaping an unpaired surrogate (`"\ud800"`, RFC 7493 §2.1), which no UTF-8
 *   can carry and the ledger's canonical JSON refuses;
 * - an object naming a member twice (RFC 8259 §4 leaves the meaning open,
 *   I-JSON, RFC 7493 §2.3, forbids it): JSON.parse keeps the last one, a proxy
 *   or a log reader may keep the first;
 * - a number the IEEE 754 double cannot hold as written (RFC 7493 §2.2):
 *   `-0`, a non-zero literal that underflows to 0, one that overflows to
 *   ±Infinity, an integer beyond ±(2^53 − 1). The ledger's canonical JSON
 *   (RFC 8785) takes safe integers only;
 * - a member named `__proto__`, or `prototype` inside a `constructor` member,
 *   which Fastify's default parser (secure-json-parse) refuses and this one
 *   must not let back in.
 *
 * Module without Fastify, so the rules are tested on their own.
 */

export type JsonBodyCode = 'BAD_REQUEST' | 'BODY_INVALID_UTF8' | 'BODY_DUPLICATE_KEY' | 'BODY_NUMBER_NOT_CANONICAL' | 'BODY_FORBIDDEN_KEY';

export class JsonBodyError extends ApiError {
  declare readonly code: JsonBodyCode;

  constructor(code: JsonBodyCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'JsonBodyError';
  }
}

// `fatal`: a malformed sequence throws instead of becoming U+FFFD. A leading BOM is dropped (RFC 8259 §8.1 lets a parser ignore it).
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Parse a request body: UTF-8, then JSON, then the member and number rules above. Throws JsonBodyError. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new JsonBodyError('BAD_REQUEST', 'request body is empty');
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new JsonBodyError('BODY_INVALID_UTF8', 'request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonBodyError('BAD_REQUEST', 'request body is not valid JSON');
  }
  // JSON.parse has accepted the text: the scan below may take its grammar for granted
  // includes first: a plain substring search is several times faster than the regex over a body without escapes
  checkMembersAndNumbers(text, text.includes('\\u') && SURROGATE_ESCAPE.test(text));
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const NUMBER = /[-+.0-9eE]+/y;
// A hint only: it also matches an escaped backslash followed by `ud800`; each string is then decoded and checked.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const SURROGATE = /\p{Surrogate}/u;

/** Objects with more members than this get a Set; smaller ones are searched in place, which is faster at their size. */
const LINEAR_MEMBERS = 16;

/**
 * One pass over text JSON.parse accepted, tracking per open container the
 * member names seen (objects) or the index (arrays), so a refusal can name the
 * JSON pointer of the member or value at fault. Strings are skipped with
 * indexOf; only member names are sliced, and decoded only when escaped.
 */
function checkMembersAndNumbers(text: string, surrogateEscapes: boolean): void {
  // The open containers, innermost last; slots at and beyond `depth` are stale.
  const isObject: boolean[] = [];
  // object: the name of its current member; array: unused
  const current: string[] = [];
  // object: where its member names start in `names`; array: the index of its current element
  const position: number[] = [];
  const sets: (Set<string> | null)[] = [];
  // the member names of every open object, innermost object's last
  const names: string[] = [];
  let depth = 0;
  let expectName = false;

  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i + 1);
      // rare: only a body with a surrogate escape somewhere decodes its strings here
      const loneSurrogate = surrogateEscapes && SURROGATE.test(JSON.parse(text.slice(i, end + 1)) as string);
      if (expectName) {
        expectName = false;
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        const top = depth - 1;
        current[top] = name;
        if (isDuplicate(name, names, position[top]!, sets, top)) {
          throw refusal('BODY_DUPLICATE_KEY', 'member', pointer(depth, isObject, current, position), 'appears twice');
        }
        if (name === '__proto__' || (name === 'prototype' && top > 0 && isObject[top - 1] && current[top - 1] === 'constructor')) {
          throw refusal('BODY_FORBIDDEN_KEY', 'member', pointer(depth, isObject, current, position), 'is not allowed (prototype poisoning)');
        }
        if (loneSurrogate) throw refusal('BODY_INVALID_UTF8', 'member name', pointer(depth, isObject, current, position), 'escapes an unpaired surrogate');
      } else if (loneSurrogate) {
        throw refusal('BODY_INVALID_UTF8', 'string', pointer(depth, isObject, current, position), 'escapes an unpaired surrogate');
      }
      i = end + 1;
    } else if (c === OPEN_OBJECT) {
      isObject[depth] = true;
      position[depth] = names.length;
      sets[depth] = null;
      depth++;
      expectName = true;
      i++;
    } else if (c === OPEN_ARRAY) {
      isObject[depth] = false;
      position[depth] = 0;
      depth++;
      i++;
    } else if (c === CLOSE_OBJECT) {
      // `{}` closes while a name is still expected
      expectName = false;
      depth--;
      names.length = position[depth]!;
      sets[depth] = null;
      i++;
    } else if (c === CLOSE_ARRAY) {
      depth--;
      i++;
    } else if (c === COMMA) {
      const top = depth - 1;
      if (isObject[top]) expectName = true;
      else position[top]!++;
      i++;
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      NUMBER.lastIndex = i;
      NUMBER.test(text);
      const end = NUMBER.lastIndex;
      const literal = text.slice(i, end);
      const value = Number(literal);
      // the common case, decided without numberProblem: a safe integer other than 0, or a finite fraction
      if (value === 0 || !(Number.isSafeInteger(value) || (Number.isFinite(value) && !Number.isInteger(value)))) {
        const problem = numberProblem(literal);
        if (problem !== null) throw refusal('BODY_NUMBER_NOT_CANONICAL', `number \`${clip(literal)}\``, pointer(depth, isObject, current, position), problem);
      }
      i = end;
    } else {
      // whitespace, `:`, and the letters of true, false, null
      i++;
    }
  }
}

/** Whether the object at `top` already has a member `name`; records it otherwise. */
function isDuplicate(name: string, names: string[], from: number, sets: (Set<string> | null)[], top: number): boolean {
  const set = sets[top] ?? null;
  if (set === null) {
    for (let k = from; k < names.length; k++) if (names[k] === name) return true;
    names.push(name);
    if (names.length - from > LINEAR_MEMBERS) sets[top] = new Set(names.slice(from));
    return false;
  }
  if (set.has(name)) return true;
  set.add(name);
  return false;
}

/** RFC 6901 pointer of the member or element being read in each open container. */
function pointer(depth: number, isObject: readonly boolean[], current: readonly string[], position: readonly number[]): string {
  let out = '';
  for (let d = 0; d < depth; d++) out += `/${isObject[d] ? escapePointer(current[d]!) : String(position[d])}`;
  return out;
}

function refusal(code: JsonBodyCode, subject: string, pointer: string, problem: string): JsonBodyError {
  return new JsonBodyError(code, `${subject} at \`${clip(pointer)}\` ${problem}`, { pointer });
}

/** Index of the `"` closing the string whose contents start at `from`. */
function closingQuote(text: string, from: number): number {
  let at = text.indexOf('"', from);
  while (text.charCodeAt(at - 1) === BACKSLASH) {
    let backslashes = 1;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    // an even run of backslashes escapes itself, not the quote
    if (backslashes % 2 === 0) break;
    at = text.indexOf('"', at + 1);
  }
  return at;
}

/** Why the double cannot hold the literal as written, or null when it can. */
export function numberProblem(literal: string): string | null {
  const value = Number(literal);
  if (!Number.isFinite(value)) return 'overflows to infinity';
  if (value === 0) {
    if (Object.is(value, -0)) return 'is negative zero';
    // a zero from a literal with a non-zero digit before its exponent has underflowed
    const exponent = literal.search(/[eE]/);
    return /[1-9]/.test(exponent === -1 ? literal : literal.slice(0, exponent)) ? 'underflows to zero' : null;
  }
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) return 'is an integer beyond 2^53 - 1, which a double cannot hold exactly';
  return null;
}

// RFC 6901 §3: `~` is written `~0` and `/` is written `~1`
function escapePointer(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** User input quoted in a message stays short; details carry it whole. */
function clip(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 119)}…`;
}
