import { GENESIS_PREV_HASH, leafHash, sealEntry, uniqueKey, type AppendPlan, type EntryDraft, type LedgerHead, type ProjectionWrite, type SealedEntry } from '@countersign/core';
import { GatewayError } from '../errors.js';

/** A plain append: no projection rows, and the at-most-once keys its entries carry by type (ADR 002 §5). */
export function plainPlan(drafts: readonly EntryDraft[]): AppendPlan {
  return { drafts, uniqueKeys: drafts.map((draft) => uniqueKey(draft)), projections: [] };
}

export function assertKnownSize(knownSize: number): void {
  if (!Number.isSafeInteger(knownSize) || knownSize < 0) {
    throw new GatewayError('USAGE', `known ledger size \`${String(knownSize)}\` is not a non-negative integer`);
  }
}

/** A writer that believes the ledger is longer than it is has read another ledger: refuse before writing. */
export function assertWithinHead(knownSize: number, size: number): void {
  if (knownSize > size) {
    throw new GatewayError('STORE_CORRUPT', `the ledger has ${size} entries but this writer already read ${knownSize}`, { size, known: knownSize });
  }
}

/** The head a ledger at `head` has once `sealed` (appended after it, in order) committed. */
export function headAfter(head: LedgerHead, sealed: readonly SealedEntry[]): LedgerHead {
  const last = sealed[sealed.length - 1];
  return last === undefined ? head : { size: last.seq + 1, lastHash: last.hash };
}

/** The builder is gateway code, but a plan that does not line up would misfile keys: check before sealing. */
export function checkPlan(plan: AppendPlan): AppendPlan {
  if (plan.uniqueKeys.length !== plan.drafts.length) {
    throw new GatewayError('USAGE', `append plan has ${plan.drafts.length} drafts but ${plan.uniqueKeys.length} unique keys`);
  }
  return plan;
}

/** One write per row, the last one winning: a multi-row upsert may not touch a row twice. */
export function latestProjections(rows: readonly ProjectionWrite[]): ProjectionWrite[] {
  const latest = new Map<string, ProjectionWrite>();
  for (const row of rows) {
    const key = `${row.kind}\u0000${row.id}`;
    latest.delete(key);
    latest.set(key, row);
  }
  return [...latest.values()];
}

// RFC 8785 orders the top-level keys: `prev_hash` then `seq`; nothing after them holds a nested object,
// so the last look-alike in the bytes is the entry's own (the verifier reads it the same way)
const PREV_HASH_KEY = Buffer.from('"prev_hash":"', 'latin1');

/**
 * The plan's drafts sealed after `head`, as the store stores them. A builder
 * that sealed them already on this very head hands its seals over, and each
 * is used once it is shown to sit at its place (sequence number, previous
 * hash, leaf hash of its bytes); from the first that does not (a builder
 * that read another head), the drafts are sealed here, as without seals, so
 * the UNIQUE backstop and the chain judge what was really appended.
 */
export function sealPlan(plan: AppendPlan, head: LedgerHead): SealedEntry[] {
  const given = plan.sealed;
  if (given !== undefined && given.length !== plan.drafts.length) {
    throw new GatewayError('USAGE', `append plan has ${plan.drafts.length} drafts but ${given.length} sealed entries`);
  }
  let prevHash = head.lastHash;
  let trusted = given !== undefined;
  return plan.drafts.map((draft, index) => {
    const seq = head.size + index;
    const offered = given?.[index];
    trusted &&= offered !== undefined && offered.seq === seq && linksTo(offered, prevHash) && sameBytes(leafHash(offered.bytes), offered.hash);
    const entry = trusted ? (offered as SealedEntry) : sealEntry(draft, seq, prevHash);
    prevHash = entry.hash;
    return entry;
  });
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
