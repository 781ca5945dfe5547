import type { LedgerEntry } from '../../packages/core/src/ledger/entry.js';

/**
 * A hand-made ledger: `entry` recorded a second time right after `after`
 * (itself unless given), changed by `change`, and every later entry one seq
 * further on.
 * The gateway never writes this (it creates a record once, under a fresh
 * id); the analyses must read it as the gateway would have applied it. The
 * hash chain is not rebuilt: the analyses read, `ledger verify` checks.
 */
export function recordedTwice(
  entries: readonly LedgerEntry[],
  entry: LedgerEntry,
  change: (entry: LedgerEntry) => LedgerEntry = (copy) => copy,
  after: LedgerEntry = entry,
): { readonly ledger: LedgerEntry[]; readonly again: LedgerEntry } {
  const again: LedgerEntry = { ...change(entry), seq: after.seq + 1 };
  const ledger = entries.flatMap((e) => (e.seq < after.seq ? [e] : e.seq === after.seq ? [e, again] : [{ ...e, seq: e.seq + 1 }]));
  return { ledger, again };
}
