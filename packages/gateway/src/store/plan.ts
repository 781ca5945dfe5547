import { GENESIS_PREV_HASH, leafHash, projectionKey, type AppendBuilder, type AppendPlan, type LedgerHead, type ProjectionWrite, type SealedEntry } from '@countersign/core';
import { GatewayError } from '../errors.js';

export function assertKnownSize(knownSize: number): void {
  if (!Number.isSafeInteger(knownSize) || knownSize < 0) {
    throw new GatewayError('USAGE', `known ledger size \`${String(knownSize)}\` is not a non-negative integer`);
  }
}

/**
 * A writer that counts more entries than the ledger holds counted its own
 * append that failed (or was refused) as written: its view is stale, and it
 * must catch up before sealing again. Refuse before building anything.
 */
export function assertWithinHead(knownSize: number, size: number): void {
  if (knownSize > size) throw staleAppend(`the ledger has ${size} entries but this writer counted ${knownSize}`, size);
}

/** The head a ledger at `head` has once `sealed` (appended after it, in order) committed. */
export function headAfter(head: LedgerHead, sealed: readonly SealedEntry[]): LedgerHead {
  const last = sealed[sealed.length - 1];
  return last === undefined ? head : { size: last.seq + 1, lastHash: last.hash };
}

/** True when two heads are the same ledger size and last hash. */
export function sameHead(a: LedgerHead, b: LedgerHead): boolean {
  if (a.size !== b.size) return false;
  if (a.lastHash === null || b.lastHash === null) return a.lastHash === b.lastHash;
  return sameBytes(a.lastHash, b.lastHash);
}

/** The builder is gateway code, but a plan that does not line up would misfile keys: check before comparing. */
export function checkPlan(plan: AppendPlan): AppendPlan {
  if (plan.sealed.length !== plan.drafts.length || plan.uniqueKeys.length !== plan.sealed.length) {
    throw new GatewayError('USAGE', `append plan has ${plan.sealed.length} sealed entries, ${plan.drafts.length} drafts and ${plan.uniqueKeys.length} unique keys`);
  }
  return plan;
}

/** STORE_STALE: nothing was written; the writer catches up and seals again. */
export function staleAppend(why: string, size: number): GatewayError {
  return new GatewayError('STORE_STALE', `${why}: nothing was written; catch up and seal again`, { size });
}

// RFC 8785 orders the top-level keys: `prev_hash` then `seq`; nothing after them holds a nested object,
// so the last look-alike in the bytes is the entry's own (the verifier reads it the same way)
const PREV_HASH_KEY = Buffer.from('"prev_hash":"', 'latin1');

/**
 * The compare of compare-and-append: `sealed` extends `head`, entry by entry
 * (its sequence number, the previous hash its bytes name, the leaf hash of
 * its bytes). Entries sealed on another head are STORE_STALE; a hash that is
 * not the leaf hash of its bytes is a writer's bug (USAGE). The store never
 * seals in their place.
 */
export function assertExtends(head: LedgerHead, sealed: readonly SealedEntry[]): void {
  let prevHash = head.lastHash;
  sealed.forEach((entry, index) => {
    const seq = head.size + index;
    if (entry.seq !== seq || !linksTo(entry, prevHash)) {
      throw staleAppend(`the entry sealed as ${entry.seq} does not extend the ledger at ${seq}`, head.size);
    }
    if (!sameBytes(leafHash(entry.bytes), entry.hash)) {
      throw new GatewayError('USAGE', `the hash given for entry ${entry.seq} is not the leaf hash of its bytes`);
    }
    prevHash = entry.hash;
  });
}

/** One write per row, the last one winning: a multi-row upsert may not touch a row twice. */
export function latestProjections(rows: readonly ProjectionWrite[]): ProjectionWrite[] {
  const latest = new Map<string, ProjectionWrite>();
  for (const row of rows) {
    const key = projectionKey(row.kind, row.id);
    latest.delete(key);
    latest.set(key, row);
  }
  return [...latest.values()];
}

function linksTo(entry: SealedEntry, prevHash: Uint8Array | null): boolean {
  const bytes = Buffer.from(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.byteLength);
  const at = bytes.lastIndexOf(PREV_HASH_KEY);
  if (at < 0) return false;
  const prevHex = prevHash === null ? GENESIS_PREV_HASH : Buffer.from(prevHash.buffer, prevHash.byteOffset, prevHash.byteLength).toString('hex');
  const expected = `${prevHex}","seq":${entry.seq},`;
  const start = at + PREV_HASH_KEY.length;
  return bytes.toString('latin1', start, start + expected.length) === expected;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * The plan of an append with an `expected` head: built at once, before any
 * IO, with no entries caught up, and checked to extend that head. The
 * builder's own errors pass through as they are.
 */
export function planOnExpected(knownSize: number, build: AppendBuilder, expected: LedgerHead): AppendPlan {
  assertKnownSize(knownSize);
  if (expected.size !== knownSize) {
    throw new GatewayError('USAGE', `known ledger size ${knownSize} is not the size of the expected head ${expected.size}`);
  }
  const plan = checkPlan(build([], expected));
  assertExtends(expected, plan.sealed);
  return plan;
}
