import { createHash } from 'node:crypto';
import { assertCanonicalValue, canonicalJson, type CanonicalValue } from '../canonical.js';
import { CountersignError } from '../errors.js';

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
const LEAF_PREFIX = new Uint8Array([0x00]);

/** RFC 6962 §2.1: leaves are hashed with a 0x00 prefix. */
export function leafHash(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(LEAF_PREFIX).update(bytes).digest();
}

/** Validate a draft and fix it at `seq` after the entry whose hash is `prevHash`. */
export function sealEntry(draft: EntryDraft, seq: number, prevHash: Uint8Array | null): SealedEntry {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `sequence number \`${seq}\` is not a non-negative integer`);
  }
  if (!TYPE_PATTERN.test(draft.type)) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `entry type \`${draft.type}\` is not a dotted lower-case name`);
  }
  if (!AT_PATTERN.test(draft.at)) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', `timestamp \`${draft.at}\` is not RFC 3339 UTC with milliseconds`);
  }
  for (const key of Object.keys(draft.subjects)) {
    if (!SUBJECT_KEY_PATTERN.test(key)) {
      throw new CountersignError('LEDGER_ENTRY_INVALID', `subject key \`${key}\` is not a lower-case name`);
    }
  }
  assertCanonicalValue(draft.subjects, '/subjects');
  assertCanonicalValue(draft.payload, '/payload');
  const entry: LedgerEntry = {
    v: ENTRY_VERSION,
    seq,
    at: draft.at,
    type: draft.type,
    actor: draft.actor,
    surface: draft.surface,
    bundle_id: draft.bundle_id,
    subjects: draft.subjects,
    payload: draft.payload,
    prev_hash: prevHash === null ? GENESIS_PREV_HASH : Buffer.from(prevHash).toString('hex'),
  };
  const bytes = new TextEncoder().encode(canonicalJson(entry));
  return { seq, bytes, hash: leafHash(bytes) };
}

/** Decode stored bytes. Only for reading fields: verification works on the bytes themselves. */
export function decodeEntry(bytes: Uint8Array): LedgerEntry {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as LedgerEntry;
  } catch {
    throw new CountersignError('LEDGER_ENTRY_INVALID', 'stored entry is not valid UTF-8 JSON');
  }
}
