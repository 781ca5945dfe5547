export { CountersignError, isCountersignError, type CoreErrorCode } from './errors.js';
export {
  assertCanonicalValue,
  canonicalBytes,
  canonicalDigest,
  canonicalJson,
  sha256,
  sha256Hex,
  type CanonicalValue,
} from './canonical.js';
export { formatDuration, parseDuration } from './policy/duration.js';
export * from './policy/schema.js';
export {
  decodeEntry,
  ENTRY_VERSION,
  GENESIS_PREV_HASH,
  leafHash,
  sealEntry,
  type EntryDraft,
  type LedgerEntry,
  type SealedEntry,
} from './ledger/entry.js';
export type { LedgerHead, LedgerStore, StoredCheckpoint } from './ledger/store.js';
