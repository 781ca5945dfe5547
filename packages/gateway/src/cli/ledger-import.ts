import { existsSync, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import {
  applyEntry,
  classifyExportLine,
  CountersignError,
  createExportVerifier,
  createState,
  decodeEntry,
  leafHash,
  LineSplitter,
  parseCheckpoint,
  projectionKey,
  uniqueKey,
  type LedgerEntry,
  type ProjectionRef,
  type SealedEntry,
  type TransactionalLedgerStore,
} from '@countersign/core';
import { GatewayError } from '../errors.js';
import { projectionWrites } from '../service/replay.js';
import { openStore } from '../store/open.js';
import { ENVIRONMENT_STORE, exitCodesHelp } from './help.js';
import { ledgerOrigin, pemKeyFile, trustedKey, verifyError } from './ledger.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';

/**
 * `countersign ledger import`: restore an export (`ledger export`) into an
 * empty store. Two passes over the file:
 *
 * 1. verify: every line through the export verifier (hash chain, Merkle
 *    roots, checkpoint signatures from the trusted key, rotations, as
 *    `ledger verify --file`), every entry through the one reducer (a ledger
 *    that does not replay could not be served), the at-most-once keys
 *    checked for duplicates. Nothing is written yet.
 * 2. write: the same lines again, cut into the same batches, each batch
 *    appended with its unique keys and the projection rows it touched, in
 *    one transaction, as the command sequencer commits; each checkpoint
 *    stored once its entries are.
 *
 * INVARIANT: nothing pass 2 writes differs from what pass 1 verified. The
 * last entry of each batch must have the leaf hash pass 1 saw there, and the
 * store checks each entry links to the one before (`assertExtends`), so by
 * the hash chain every entry of the batch is the one verified; checkpoints
 * must be the notes pass 1 verified, in order.
 */

/** Entries per append transaction: large enough to amortise a commit, small enough to hold in memory. */
const BATCH = 1_000;
/** Without a terminal, a progress line every this many entries (for logs of a long restore). */
const LOG_EVERY = 10_000;

interface ImportFlags extends StoreFlags {
  file?: string;
  publicKey?: string;
  keyFile?: string;
  origin?: string;
  allowUnsignedTail?: boolean;
}

export function registerImport(ledger: Command): void {
  storeOptions(
    ledger
      .command('import')
      .description('restore a `ledger export` into an empty store: the whole export is verified first, then its entries, checkpoints and projections are written')
      .option('--file <ledger.jsonl>', 'the export to restore (as `ledger export --out` wrote it)')
      .option('--public-key <vkey>', 'trusted verifier key of the ledger, as `countersign keys public` prints it')
      .option('--key-file <file>', 'trusted key file: a PEM public key (<key>.pub) or a file whose first line is a vkey')
      .option('--origin <origin>', "ledger origin (default: the export's header, else the name in the verifier key)")
      .option('--allow-unsigned-tail', 'also restore entries after the last signed checkpoint (covered by the hash chain only)')
      .addHelpText(
        'after',
        `
Restores into an EMPTY store (--db FILE, created if missing, or --postgres URL
with --schema): a store that holds any entry, checkpoint or projection row is
refused (STORE_NOT_EMPTY) and left as it is. Before anything is written the
whole export is checked as \`ledger verify --file\` checks it: every entry's
hash chain, every Merkle root, every checkpoint's signature by the trusted key
(and the keys that key rotated to in the ledger). A tampered or truncated
export is refused (LEDGER_VERIFY_FAILED) and nothing is written.

Entries after the export's last signed checkpoint are protected by the hash
chain only: anyone could append to an export there. They are refused
(EXPORT_UNSIGNED_TAIL) unless --allow-unsigned-tail. A gateway stopped with
SIGTERM writes a final checkpoint, so an export taken after it has none.

The state tables are rebuilt from the entries by the gateway's own reducer,
in the same transactions as the entries (\`ledger replay --check\` agrees
afterwards). Tokens are not in the ledger: issue new ones with
\`countersign token issue\` against the restored store.

Prints \`imported <size> entries, <n> checkpoints, <rows> rows, root <base64>,
origin <origin>\`. Progress goes to stderr: refreshed in place on a terminal,
otherwise a line every ${LOG_EVERY} entries.
${exitCodesHelp({
  ok: 'the export was verified and restored',
  negative: 'a negative answer: the export does not verify (LEDGER_VERIFY_FAILED), has unsigned entries at its end (EXPORT_UNSIGNED_TAIL) or changed while it was read (EXPORT_CHANGED); nothing was written',
  usage: 'usage or input: bad flags, an unreadable export, an empty export, a target that is not empty (STORE_NOT_EMPTY), an entry that does not replay (LEDGER_ENTRY_INVALID)',
  environment: `${ENVIRONMENT_STORE}, or the key file is unusable (KEY_INVALID)`,
})}

Examples:
  countersign ledger import --file /backup/ledger.jsonl --db /var/lib/countersign/ledger.db --key-file /etc/countersign/gateway.key.pub
  countersign ledger import --file ledger.jsonl --postgres postgres://countersign@db/countersign --schema restored --public-key "$(head -1 countersign.vkey)"
  countersign ledger verify --db /var/lib/countersign/ledger.db --key-file /etc/countersign/gateway.key.pub
`,
      ),
  ).action(async (opts: ImportFlags) => {
    if (opts.file === undefined) throw new GatewayError('USAGE', 'name the export to restore with `--file FILE`');
    const file = opts.file;
    // a PEM key names no origin: the export's header says it, and the checkpoints signed by the key must agree
    const derived = opts.origin === undefined && pemKeyFile(opts) ? await ledgerOrigin({ file }) : undefined;
    const origin = opts.origin ?? derived;
    const key = trustedKey({ ...opts, ...(origin === undefined ? {} : { origin }) });
    const config = storeConfig(opts);
    // a SQLite file that does not exist yet is created only once the export verified: a refusal leaves no file
    const fresh = opts.db !== undefined && !existsSync(opts.db);
    let store: TransactionalLedgerStore | null = fresh ? null : await openStore(config);
    const progress = new ImportProgress();
    try {
      // refuse a store in use before spending a pass on the export
      if (store !== null) await assertEmpty(store);
      let verified: Verified;
      try {
        verified = await verifyPass(file, { trustedKeys: [key], ...(opts.origin === undefined ? {} : { origin: opts.origin }) }, progress);
      } catch (err) {
        throw verifyError(err);
      }
      if (verified.size === 0) throw new GatewayError('USAGE', `\`${file}\` holds no entries; there is nothing to restore`);
      if (verified.checkpointedSize < verified.size && opts.allowUnsignedTail !== true) {
        throw new GatewayError(
          'EXPORT_UNSIGNED_TAIL',
          `${verified.size - verified.checkpointedSize} entries after the last signed checkpoint (tree size ${verified.checkpointedSize}) are covered by the hash chain only; restore them with \`--allow-unsigned-tail\` if this export came straight from your gateway`,
          { size: verified.size, checkpointed_size: verified.checkpointedSize },
        );
      }
      if (store === null) {
        mkdirSync(dirname(opts.db as string), { recursive: true });
        store = await openStore(config);
        await assertEmpty(store);
      }
      const rows = await writePass(file, store, verified, progress);
      progress.stop();
      if (verified.checkpointedSize < verified.size) {
        process.stderr.write(`warning: ${verified.size - verified.checkpointedSize} entries after tree size ${verified.checkpointedSize} were restored unsigned; the gateway signs them at its next checkpoint\n`);
      }
      process.stdout.write(
        `imported ${verified.size} entries, ${verified.checkpoints.length} checkpoints, ${rows} rows, root ${Buffer.from(verified.rootHash).toString('base64')}, origin ${verified.origin}\n`,
      );
    } finally {
      progress.stop();
      await store?.close();
    }
  });
}

/** What pass 1 verified, for pass 2 to write exactly that. */
interface Verified {
  readonly size: number;
  readonly checkpointedSize: number;
  readonly rootHash: Uint8Array;
  readonly origin: string;
  /** Checkpoint notes in the order the export holds them. */
  readonly checkpoints: readonly string[];
  /** The leaf hash of the last entry of each batch, in order. */
  readonly batchEnds: readonly Uint8Array[];
}

/** An export's items as both passes cut them: batches of entry lines, and checkpoints between them. */
type ImportItem = { readonly kind: 'entries'; readonly lines: readonly Uint8Array[] } | { readonly kind: 'checkpoint'; readonly note: string };

/**
 * The export's lines, each handed to `onLine` first (the verifier in pass 1),
 * then grouped: entries into batches of up to BATCH, a batch ending early at
 * a checkpoint so the checkpoint is stored after its entries. The header and
 * blank lines carry nothing to write.
 */
async function* importItems(path: string, onLine: (line: Uint8Array) => void): AsyncGenerator<ImportItem> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `cannot read ledger export \`${path}\``);
  }
  const splitter = new LineSplitter();
  let batch: Uint8Array[] = [];
  const items = function* (lines: Iterable<Uint8Array>): Generator<ImportItem> {
    for (const line of lines) {
      onLine(line);
      const item = classifyExportLine(line);
      if (item.kind === 'entry') {
        // the splitter's lines may share the read buffer: keep a copy
        batch.push(Buffer.from(item.bytes));
        if (batch.length === BATCH) {
          yield { kind: 'entries', lines: batch };
          batch = [];
        }
      } else if (item.kind === 'checkpoint') {
        if (batch.length > 0) yield { kind: 'entries', lines: batch };
        batch = [];
        yield { kind: 'checkpoint', note: item.note };
      }
    }
  };
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 16 }) as AsyncIterable<Buffer>) yield* items(splitter.push(chunk));
    yield* items(splitter.end());
    if (batch.length > 0) yield { kind: 'entries', lines: batch };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Pass 1: verify everything and replay it; nothing is written. */
async function verifyPass(path: string, options: Parameters<typeof createExportVerifier>[0], progress: ImportProgress): Promise<Verified> {
  const verifier = createExportVerifier(options);
  const state = createState();
  const keys = new Set<string>();
  const checkpoints: string[] = [];
  const batchEnds: Uint8Array[] = [];
  // the verifier may name a changed entry only at the next one: its verdict comes before the reducer's
  let replayFailure: CountersignError | null = null;
  let seq = 0;
  for await (const item of importItems(path, (line) => verifier.line(line))) {
    if (item.kind === 'checkpoint') {
      checkpoints.push(item.note);
      continue;
    }
    for (const bytes of item.lines) {
      if (replayFailure === null) replayFailure = replayOne(state, keys, bytes, seq);
      seq += 1;
    }
    batchEnds.push(leafHash(item.lines[item.lines.length - 1] as Uint8Array));
    progress.show('verified', seq);
  }
  const result = verifier.finish();
  if (replayFailure !== null) throw replayFailure;
  return { size: result.size, checkpointedSize: result.checkpointedSize, rootHash: result.rootHash, origin: result.origin, checkpoints, batchEnds };
}

/** Apply one entry to the state as a gateway would; the failure to report, or null. */
function replayOne(state: ReturnType<typeof createState>, keys: Set<string>, bytes: Uint8Array, seq: number): CountersignError | null {
  let entry: LedgerEntry;
  try {
    entry = decodeEntry(bytes);
    applyEntry(state, entry);
  } catch (err) {
    return new CountersignError('LEDGER_ENTRY_INVALID', `entry ${seq} does not replay: ${err instanceof Error ? err.message : String(err)}`, { seq });
  }
  // ADR 002 §5: a key the store already holds would abort the restore half way; refuse it here instead
  const unique = uniqueKey(entry);
  if (unique !== null) {
    if (keys.has(unique)) return new CountersignError('LEDGER_ENTRY_INVALID', `entry ${seq} repeats the at-most-once key \`${unique}\``, { seq });
    keys.add(unique);
  }
  return null;
}

/** Pass 2: append what pass 1 verified, batch by batch, with the projections it touched; returns the rows written. */
async function writePass(path: string, store: TransactionalLedgerStore, verified: Verified, progress: ImportProgress): Promise<number> {
  const state = createState();
  const rows = new Set<string>();
  let size = 0;
  let batches = 0;
  let checkpoints = 0;
  const changed = (what: string): GatewayError =>
    new GatewayError('EXPORT_CHANGED', `\`${path}\` changed after it was verified (${what}); the store holds the first ${size} entries: empty it and import again`, { size });
  for await (const item of importItems(path, () => undefined)) {
    if (item.kind === 'checkpoint') {
      if (item.note !== verified.checkpoints[checkpoints]) throw changed(`checkpoint ${checkpoints + 1}`);
      checkpoints += 1;
      await store.putCheckpoint({ treeSize: parseCheckpoint(item.note).treeSize, note: item.note });
      continue;
    }
    const sealed: SealedEntry[] = item.lines.map((bytes, i) => ({ seq: size + i, bytes, hash: leafHash(bytes) }));
    const last = sealed[sealed.length - 1] as SealedEntry;
    const expected = verified.batchEnds[batches];
    if (expected === undefined || !Buffer.from(expected).equals(last.hash)) throw changed(`entry ${last.seq}`);
    batches += 1;
    const entries = sealed.map((s) => decodeEntry(s.bytes));
    const touched = new Map<string, ProjectionRef>();
    for (const entry of entries) for (const ref of applyEntry(state, entry)) touched.set(projectionKey(ref.kind, ref.id), ref);
    const projections = projectionWrites(state, touched.values());
    const known = size;
    await store.appendWith(known, (caughtUp, head) => {
      // another writer got there first (a gateway started on the store mid-import): write nothing more
      if (caughtUp.length > 0 || head.size !== known) {
        throw new GatewayError('STORE_NOT_EMPTY', `another writer appended to the store during the import (it holds ${head.size} entries, ${known} imported)`);
      }
      return { drafts: entries, sealed, uniqueKeys: entries.map((e) => uniqueKey(e)), projections };
    });
    for (const row of projections) {
      if (row.value === null) rows.delete(projectionKey(row.kind, row.id));
      else rows.add(projectionKey(row.kind, row.id));
    }
    size += sealed.length;
    progress.show('imported', size, verified.size);
  }
  if (size !== verified.size || checkpoints !== verified.checkpoints.length) throw changed('it ends elsewhere');
  return rows.size;
}

/** Empty: no entry, no checkpoint, no projection row. */
async function assertEmpty(store: TransactionalLedgerStore): Promise<void> {
  const head = await store.head();
  const checkpoint = await store.latestCheckpoint();
  let projections = 0;
  for await (const _row of store.readProjections()) {
    projections += 1;
    break;
  }
  if (head.size > 0 || checkpoint !== null || projections > 0) {
    throw new GatewayError(
      'STORE_NOT_EMPTY',
      `the target store is not empty (${head.size} entries${checkpoint === null ? '' : ', checkpoints'}${projections > 0 ? ', projection rows' : ''}); restore into a new --db file or --schema`,
      { size: head.size },
    );
  }
}

/**
 * Progress on stderr: on a terminal one line refreshed in place at most four
 * times a second; otherwise (a log, a pipe) a line every LOG_EVERY entries.
 */
class ImportProgress {
  readonly #tty = process.stderr.isTTY === true;
  #shownAt = 0;
  #shown = false;
  #logged = new Map<string, number>();

  show(verb: 'verified' | 'imported', entries: number, total?: number): void {
    const text = `${verb} ${entries}${total === undefined ? '' : ` of ${total}`} entries`;
    if (this.#tty) {
      if (performance.now() - this.#shownAt < 250) return;
      this.#shownAt = performance.now();
      this.#shown = true;
      process.stderr.write(`\r${text}\x1b[K`);
      return;
    }
    const step = Math.floor(entries / LOG_EVERY);
    if (step <= (this.#logged.get(verb) ?? 0)) return;
    this.#logged.set(verb, step);
    process.stderr.write(`${text}\n`);
  }

  stop(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}
