import { open } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { classifyExportLine, CountersignError, decodeEntry, isCountersignError, leafHash, LineSplitter, type LedgerEntry } from '@countersign/core';
import { GatewayError } from './errors.js';
import { storeConfig, storeOptions, type StoreFlags } from './cli/store-options.js';
import { openStore } from './store/open.js';

/**
 * A whole ledger read into memory for the offline analyses (`trace`,
 * `postmortem`, `report`), from a store (`--db`, `--postgres`) or from an
 * export (`--file`, the JSON Lines of `ledger export`). Entries are decoded
 * from their stored bytes; leaf hashes are kept for `--prove`.
 *
 * This reads; it does not verify. `countersign ledger verify` is the check
 * that a ledger is what its checkpoints say: the analyses only report the
 * hash-chain breaks they stumble on (see `chainBreaks`).
 */
export interface LoadedLedger {
  readonly entries: readonly LedgerEntry[];
  /** RFC 6962 leaf hash of each entry, by seq. */
  readonly leaves: readonly Uint8Array[];
  /** The latest signed checkpoint note, if any. */
  readonly checkpoint: string | null;
  /** Seqs where the stored `prev_hash` is not the hash of the entry before. */
  readonly chainBreaks: readonly number[];
}

export interface LedgerSourceFlags extends StoreFlags {
  readonly file?: string;
}

/** `--db FILE | --postgres URL | --file ledger.jsonl` on a command. */
export function ledgerSourceOptions(command: Command): Command {
  return storeOptions(command).addOption(new Option('--file <ledger.jsonl>', 'read an exported ledger (`countersign ledger export`) instead of a store').conflicts(['db', 'postgres']));
}

export async function loadLedger(flags: LedgerSourceFlags): Promise<LoadedLedger> {
  const collected: { bytes: Uint8Array }[] = [];
  let checkpoint: string | null = null;
  if (flags.file !== undefined) {
    if (flags.db !== undefined || flags.postgres !== undefined) throw new GatewayError('USAGE', 'read either `--file` or a store, not both');
    checkpoint = await readExport(flags.file, (bytes) => collected.push({ bytes }));
  } else {
    const store = await openStore(storeConfig(flags, { readonly: true }));
    try {
      for await (const entry of store.read(0)) collected.push({ bytes: entry.bytes });
      checkpoint = (await store.latestCheckpoint())?.note ?? null;
    } finally {
      await store.close();
    }
  }
  const entries: LedgerEntry[] = [];
  const leaves: Uint8Array[] = [];
  const chainBreaks: number[] = [];
  for (const [i, { bytes }] of collected.entries()) {
    let entry: LedgerEntry;
    try {
      entry = decodeEntry(bytes);
    } catch (err) {
      if (isCountersignError(err)) throw new CountersignError('LEDGER_ENTRY_INVALID', `entry ${i} of the ledger is not valid JSON`);
      throw err;
    }
    if (entry.seq !== i) throw new CountersignError('LEDGER_ENTRY_INVALID', `entry ${i} of the ledger says seq ${String(entry.seq)}; run \`countersign ledger verify\``);
    const previous = leaves[i - 1];
    if (previous !== undefined && entry.prev_hash !== Buffer.from(previous).toString('hex')) chainBreaks.push(i);
    entries.push(entry);
    leaves.push(leafHash(bytes));
  }
  return { entries, leaves, checkpoint, chainBreaks };
}

/** Stream an export: entry lines to `onEntry`; returns the last checkpoint note. */
async function readExport(path: string, onEntry: (bytes: Uint8Array) => void): Promise<string | null> {
  let stream: AsyncIterable<Buffer>;
  try {
    const handle = await open(path, 'r');
    stream = handle.createReadStream({ highWaterMark: 1 << 16 });
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `cannot read ledger export \`${path}\``, { path });
  }
  const splitter = new LineSplitter();
  let checkpoint: string | null = null;
  const take = (line: Uint8Array): void => {
    const item = classifyExportLine(line);
    if (item.kind === 'entry') onEntry(new Uint8Array(item.bytes));
    else if (item.kind === 'checkpoint') checkpoint = item.note;
  };
  for await (const chunk of stream) for (const line of splitter.push(chunk)) take(line);
  for (const line of splitter.end()) take(line);
  return checkpoint;
}
