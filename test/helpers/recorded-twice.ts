import type { LedgerEntry } from '../../packages/core/src/ledger/entry.js';

/**
 * A hand-made ledger: `entry` recorded a second time right after itself,
 * changed by `change`, and every later entry one seq further on.
 * The gateway never writes this (it creates a record once, under a fresh
 * id); the analyses must read it as the gateway would have applied it. The
 * hash chain is not rebuilt: the analyses read, `ledger verify` checks.
 */
export function recordedTwice(
  entries: readonly LedgerEntry[],
  entry: LedgerEntry,
  change: (entry: LedgerEntry) => LedgerEntry = (copy) => copy,
): { readonly ledger: LedgerEntry[]; readonly again: LedgerEntry } {
  const again: LedgerEntry = { ...change(entry), seq: entry.seq + 1 };
  const ledger = entries.flatMap((e) => (e.seq < entry.seq ? [e] : e.seq === entry.seq ? [e, again] : [{ ...e, seq: e.seq + 1 }]));
  return { ledger, again };
}
