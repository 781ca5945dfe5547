import { canonicalJson, type CanonicalValue } from '../canonical.js';
import { CountersignError } from '../errors.js';
import { leafHashBin, sha256Latin1 } from './merkle.js';

/**
 * A ledger entry before it has a place in the chain. Everything here comes from
 * the gateway, but payload fields often carry agent input: they are validated
 * to the canonical subset before they are sealed.
 */
export interface EntryDraft {
  /** RFC 3339 UTC timestamp with milliseconds, from the injected clock. */
  readonly at: string;
  /** Dotted entry type, e.g. `proposal.decided`, `approval.rejected`, `grant.consumed`. */
  readonly type: string;
  /** Principal id of whoever caused the entry; `null` for the gateway itself. */
  readonly actor: string | null;
  /** Surface the call came through; `null` for the gateway itself. */
  readonly surface: string | null;
  /** Policy bundle in force; `null` before any bundle is active. */
  readonly bundle_id: string | null;
  /** Ids of the things this entry is about: proposal, request, step, grant, hold, override, incident. */
  readonly subjects: Readonly<Record<string, string>>;
  readonly payload: { readonly [key: string]: CanonicalValue };
}

/** The exact stored form: canonical bytes and the hash that is both chain link and Merkle leaf. */
export interface SealedEntry {
  readonly seq: number;
  /** RFC 8785 canonical JSON of the full entry, `prev_hash` included. Verification reads these bytes only. */
  readonly bytes: Uint8Array;
  /** RFC 6962 leaf hash: SHA-256(0x00 || bytes). The next entry's `prev_hash` is this value in hex. */
  readonly hash: Uint8Array;
}

/** The decoded entry, as the bytes say. */
export interface LedgerEntry extends EntryDraft {
  readonly v: 1;
  readonly seq: number;
  readonly prev_hash: string;
}

export const ENTRY_VERSION = 1;
/** `prev_hash` of entry 0. */
export const GENESIS_PREV_HASH = '0'.repeat(64);

const TYPE_PATTERN = /^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/;
const SUBJECT_KEY_PATTERN = /^[a-z][a-z_]{0,31}$/;
const AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HASH_SIZE = 32;

// RFC 6962 §2.1: the leaf hash input is 0x00 || bytes; entries are encoded straight
// after the prefix so the bytes are written once and hashed in one call.
let scratch = Buffer.alloc(4096);

/** Room for 0x00 plus `utf8Bytes` bytes at least. */
function scratchFor(utf8Bytes: number): Buffer {
  if (utf8Bytes + 1 > scratch.length) scratch = Buffer.alloc(2 ** Math.ceil(Math.log2(utf8Bytes + 1)));
  return scratch;
}

// crypto.hash's `'buffer'` output allocates outside Node's pool and costs about twice
// a binary-string digest copied into a pooled Buffer.
function hashFrom(bin: string): Uint8Array {
  return Buffer.from(bin, 'latin1');
}

/** RFC 6962 §2.1: leaves are hashed with a 0x00 prefix. */
export function leafHash(bytes: Uint8Array): Uint8Array {
  return hashFrom(leafHashBin(bytes));
}

function optionalString(value: string | null, field: string): string {
  if (value === null) return 'null';
  if (typeof value !== 'string') {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `entry field \`${field}\` is neither a string nor null`);
  }
  return canonicalJson(value, `/${field}`);
}

/**
 * `subjects` maps lower-case names to strings. The verifier relies on that: it
 * finds the top-level `prev_hash` as the last look-alike in the bytes, and
 * nothing after it (`subjects`, `surface`, `type`) may hold a nested object.
 */
function subjectsJson(subjects: Readonly<Record<string, string>>): string {
  const proto = typeof subjects === 'object' && subjects !== null ? (Object.getPrototypeOf(subjects) as unknown) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', 'entry field `subjects` is not a plain object');
  }
  const keys = Object.keys(subjects).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (!SUBJECT_KEY_PATTERN.test(key)) {
      throw new CountersignError('LEDGER_ENTRY_INVALID', `subject key \`${key}\` is not a lower-case name`);
    }
    const value = subjects[key];
    if (typeof value !== 'string') {
      throw new CountersignError('LEDGER_ENTRY_INVALID', `subject \`${key}\` is not a string`);
    }
    // the key pattern needs no JSON escaping
    out += `${i === 0 ? '"' : ',"'}${key}":${canonicalJson(value, `/subjects/${key}`)}`;
  }
  return `${out}}`;
}

/** Validate a draft and fix it at `seq` after the entry whose hash is `prevHash`. */
export function sealEntry(draft: EntryDraft, seq: number, prevHash: Uint8Array | null): SealedEntry {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `sequence number \`${seq}\` is not a non-negative integer`);
  }
  if (typeof draft.type !== 'string' || !TYPE_PATTERN.test(draft.type)) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `entry type \`${String(draft.type)}\` is not a dotted lower-case name`);
  }
  if (typeof draft.at !== 'string' || !AT_PATTERN.test(draft.at)) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `timestamp \`${String(draft.at)}\` is not RFC 3339 UTC with milliseconds`);
  }
  let prevHex = GENESIS_PREV_HASH;
  if (prevHash !== null) {
    if (prevHash.length !== HASH_SIZE) {
      throw new CountersignError('LEDGER_ENTRY_INVALID', `previous hash has ${prevHash.length} bytes, not ${HASH_SIZE}`);
    }
    prevHex = Buffer.from(prevHash.buffer, prevHash.byteOffset, HASH_SIZE).toString('hex');
  }
  // RFC 8785 §3.2.3 order of the top-level keys, fixed by the entry format:
  // actor, at, bundle_id, payload, prev_hash, seq, subjects, surface, type, v.
  // `at` and `type` match patterns that need no JSON escaping.
  const text =
    `{"actor":${optionalString(draft.actor, 'actor')},"at":"${draft.at}","bundle_id":${optionalString(draft.bundle_id, 'bundle_id')}` +
    `,"payload":${canonicalJson(draft.payload, '/payload')},"prev_hash":"${prevHex}","seq":${seq}` +
    `,"subjects":${subjectsJson(draft.subjects)},"surface":${optionalString(draft.surface, 'surface')}` +
    `,"type":"${draft.type}","v":${ENTRY_VERSION}}`;
  // UTF-8 is at most 3 bytes per UTF-16 code unit
  const input = scratchFor(text.length * 3);
  input[0] = 0x00;
  const size = input.write(text, 1, 'utf8');
  // a slice of Node's Buffer pool, every byte overwritten by the copy
  const bytes = Buffer.allocUnsafe(size);
  input.copy(bytes, 0, 1, size + 1);
  return { seq, bytes, hash: hashFrom(sha256Latin1(input.subarray(0, size + 1))) };
}

/** Decode stored bytes. Only for reading fields: verification works on the bytes themselves. */
export function decodeEntry(bytes: Uint8Array): LedgerEntry {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as LedgerEntry;
  } catch {
    throw new CountersignError('LEDGER_ENTRY_INVALID', 'stored entry is not valid UTF-8 JSON');
  }
}
