import { InvalidArgumentError, type Command } from 'commander';
import {
  CountersignError,
  createExportVerifier,
  createVerifier,
  exportCheckpointLine,
  exportEntryLine,
  exportHeaderLine,
  inclusionProof,
  inclusionProofToJson,
  LineSplitter,
  isCountersignError,
  leafHash,
  MerkleFrontier,
  noteVerifierKey,
  parseCheckpoint,
  parseVerifierKey,
  rawPublicKey,
  type LedgerStore,
  type ExportVerifier,
  type LedgerVerifier,
  type NoteVerifierKey,
  type VerifierOptions,
  type VerifyResult,
  type StoredCheckpoint,
} from '@countersign/core';
import { readFileSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { GatewayError } from '../errors.js';
import { loadPublicKey } from '../keys.js';
import { openStore } from '../store/open.js';
import { DEFAULT_LEDGER_ORIGIN } from '../ledger/checkpoint-scheduler.js';
import { ThreadedVerifier } from '../ledger/threaded-verify.js';
import { EXIT } from './exit.js';
import { ENVIRONMENT_STORE, exitCodesHelp, USAGE_INPUT } from './help.js';
import { registerImport } from './ledger-import.js';
import { registerReplay } from './replay.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';

export function register(program: Command): void {
  const ledger = program
    .command('ledger')
    .description('verify, export, import and prove entries of the signed ledger')
    .addHelpText(
      'after',
      `
Every command reads the ledger from --db FILE (SQLite) or --postgres URL.
${exitCodesHelp({
  ok: 'success: verified, written or printed',
  negative: 'a negative answer: verification failed, replay found a difference, no checkpoint yet',
  usage: USAGE_INPUT,
  environment: `${ENVIRONMENT_STORE}, or a key file is unusable`,
})}

Examples:
  countersign ledger verify --db cs/ledger.db --public-key "$(countersign keys public --key cs/gateway.key | head -1)"
  countersign ledger export --db cs/ledger.db --out /tmp/ledger.jsonl
  countersign ledger verify --file /tmp/ledger.jsonl --key-file cs/gateway.key.pub
  countersign ledger import --file /tmp/ledger.jsonl --db restored/ledger.db --key-file cs/gateway.key.pub
  countersign ledger prove 3 --db cs/ledger.db > proof.json
  countersign ledger checkpoint --db cs/ledger.db
`,
    );

  storeOptions(
    ledger
      .command('verify')
      .description('verify hash chain, Merkle roots and checkpoint signatures, streaming in constant memory')
      .option('--file <ledger.jsonl>', 'verify an exported ledger instead of a store')
      .option('--public-key <vkey>', 'trusted verifier key, as `countersign keys public` prints it')
      .option('--key-file <file>', 'trusted key file: a PEM public key (<key>.pub) or a file whose first line is a vkey')
      .option('--origin <origin>', 'ledger origin (default: the name in the verifier key)')
      .option('--threads <n>', `1, or 2 to check Merkle roots and signatures on a second thread (default: 2 from ${THREADED_FROM_ENTRIES} entries on, with more than 2 cores)`, parseThreads)
      .addHelpText(
        'after',
        `
Prints \`ok <size> entries, <n> checkpoints, root <base64>\` and exits 0, or names the
first bad entry and what is wrong and exits 1:
  error[LEDGER_VERIFY_FAILED]: seq 41: hash mismatch (...)
Kinds: hash mismatch, broken chain, bad checkpoint signature, root mismatch,
gap, duplicate, out of order, truncation, malformed.
With two threads the verdict is the same, whichever thread finds the problem.
${exitCodesHelp({
  ok: 'the ledger verifies: every entry, root and checkpoint signature',
  negative: 'a negative answer: verification failed (LEDGER_VERIFY_FAILED names the first bad entry)',
  usage: `${USAGE_INPUT}, a malformed verifier key`,
  environment: `${ENVIRONMENT_STORE}, or the key file is unusable (KEY_INVALID)`,
})}

Examples:
  countersign ledger verify --db cs/ledger.db --key-file cs/gateway.key.pub
  countersign ledger verify --file /tmp/ledger.jsonl --public-key "$(countersign keys public --key cs/gateway.key | head -1)"
  countersign ledger verify --db cs/ledger.db --key-file cs/gateway.key.pub --threads 1
`,
      ),
  ).action(async (opts: StoreFlags & { file?: string; publicKey?: string; keyFile?: string; origin?: string; threads?: 1 | 2 }) => {
    // a PEM key names no origin: without --origin, the ledger's own checkpoints (or the export's header) say it
    const derived = opts.origin === undefined && pemKeyFile(opts) ? await ledgerOrigin(opts) : undefined;
    const origin = opts.origin ?? derived;
    const key = trustedKey({ ...opts, ...(origin === undefined ? {} : { origin }) });
    let result: VerifyResult;
    let progress: Progress = { tick: () => undefined, stop: () => undefined };
    let verifiers: VerifierChoice | null = null;
    try {
      if (opts.file !== undefined) {
        if (opts.db !== undefined || opts.postgres !== undefined) throw new GatewayError('USAGE', 'verify either `--file` or a store, not both');
        const choice = new VerifierChoice(opts.threads ?? autoThreads((await fileSize(opts.file)) / EXPORT_BYTES_PER_ENTRY));
        verifiers = choice;
        // the export's header names its origin; the checkpoints signed by `key` must agree
        const verifier = createExportVerifier({ trustedKeys: [key], ...(opts.origin !== undefined ? { origin: opts.origin } : {}), createVerifier: choice.create });
        progress = progressReporter(verifier);
        result = await verifyExport(opts.file, verifier, progress.tick);
      } else {
        result = await withStore(opts, async (store) => {
          const choice = new VerifierChoice(opts.threads ?? autoThreads((await store.head()).size));
          verifiers = choice;
          const verifier = choice.create({ origin: opts.origin ?? key.name, trustedKeys: [key] });
          progress = progressReporter(verifier);
          return verifyStore(store, verifier, progress.tick);
        });
      }
    } catch (err) {
      // with two threads, a failure the worker found earlier in the ledger comes first
      throw verifyError((verifiers as VerifierChoice | null)?.firstFailure(err) ?? err);
    } finally {
      progress.stop();
      await (verifiers as VerifierChoice | null)?.close();
    }
    process.stdout.write(`ok ${result.size} entries, ${result.checkpoints} checkpoints, root ${Buffer.from(result.rootHash).toString('base64')}${derived === undefined ? '' : `, origin ${derived} (as the ledger names it)`}\n`);
  });

  storeOptions(
    ledger
      .command('export')
      .description('write the ledger as JSON Lines: a header, every entry\'s stored bytes, each checkpoint after its last entry')
      .option('--out <file>', 'output file (refuses to overwrite); default: stdout')
      .addHelpText(
        'after',
        `
The export verifies offline with only the gateway's public key (ledger verify --file).
${exitCodesHelp({
  ok: 'the ledger was written',
  usage: 'usage or input: bad flags, --out already exists or cannot be written',
  environment: ENVIRONMENT_STORE,
})}

Examples:
  countersign ledger export --db cs/ledger.db --out /tmp/ledger.jsonl
  countersign ledger verify --file /tmp/ledger.jsonl --key-file cs/gateway.key.pub
  countersign ledger export --postgres postgres://countersign@db/countersign | gzip > ledger.jsonl.gz
`,
      ),
  ).action(async (opts: StoreFlags & { out?: string }) => {
    await withStore(opts, async (store) => {
      const latest = await store.latestCheckpoint();
      const out: Writable = opts.out === undefined ? process.stdout : await createOutput(opts.out);
      try {
        // the header is a hint for the verifier; trust comes from the signed checkpoints
        if (latest !== null) await write(out, exportHeaderLine(parseCheckpoint(latest.note).origin));
        const checkpoints = store.checkpoints()[Symbol.asyncIterator]();
        let next = await checkpoints.next();
        const flushCheckpoints = async (treeSize: number): Promise<void> => {
          while (!next.done && next.value.treeSize <= treeSize) {
            await write(out, exportCheckpointLine(next.value.note));
            next = await checkpoints.next();
          }
        };
        await flushCheckpoints(0);
        for await (const entry of store.read(0)) {
          await write(out, exportEntryLine(entry.bytes));
          await flushCheckpoints(entry.seq + 1);
        }
        await flushCheckpoints(Number.MAX_SAFE_INTEGER);
      } finally {
        if (out !== process.stdout) await finished(out.end());
      }
    });
  });

  storeOptions(
    ledger
      .command('checkpoint')
      .description('print the latest signed checkpoint (C2SP tlog-checkpoint note)')
      .option('--json', 'print {"origin", "tree_size", "root", "key_id", "note"} as JSON (the signature is not verified)')
      .addHelpText(
        'after',
        `${exitCodesHelp({
          ok: 'the latest checkpoint is printed',
          negative: 'a negative answer: no checkpoint has been written yet',
          usage: USAGE_INPUT,
          environment: ENVIRONMENT_STORE,
        })}

Examples:
  countersign ledger checkpoint --db cs/ledger.db > checkpoint.txt
  countersign ledger checkpoint --db cs/ledger.db --json | jq .tree_size
`,
      ),
  ).action(async (opts: StoreFlags & { json?: boolean }) => {
    await withStore(opts, async (store) => {
      const latest = await store.latestCheckpoint();
      if (latest === null) {
        process.stderr.write('no checkpoint has been written yet\n');
        process.exitCode = EXIT.NEGATIVE;
        return;
      }
      if (!opts.json) {
        process.stdout.write(latest.note);
        return;
      }
      const parsed = parseCheckpoint(latest.note);
      process.stdout.write(
        `${JSON.stringify({
          origin: parsed.origin,
          tree_size: parsed.treeSize,
          root: Buffer.from(parsed.rootHash).toString('base64'),
          key_id: parsed.signatures[0]?.keyId ?? null,
          note: latest.note,
        })}\n`,
      );
    });
  });

  registerImport(ledger);
  registerReplay(ledger);

  storeOptions(
    ledger
      .command('prove')
      .description('print an RFC 9162 inclusion proof of entry <seq> as JSON, with the checkpoint that commits to the tree')
      .argument('<seq>', 'sequence number of the entry', parseCount)
      .option('--size <n>', 'tree size of a stored checkpoint to prove against (default: the latest checkpoint)', parseCount)
      .addHelpText(
        'after',
        `
The output holds the entry's bytes (base64), its leaf hash, the audit path and
the signed checkpoint note: anyone with the gateway's public key can check it
offline (verifyCheckpoint, then verifyInclusion from @countersign/core).
${exitCodesHelp({
  ok: 'the proof is printed',
  negative: 'a negative answer: the stored entries do not match the checkpoint (LEDGER_VERIFY_FAILED)',
  usage: 'usage or input: bad flags, no checkpoint yet (or none of --size), an entry the checkpoint does not cover (PROOF_INVALID)',
  environment: ENVIRONMENT_STORE,
})}

Examples:
  countersign ledger prove 3 --db cs/ledger.db > proof.json
  countersign ledger prove 3 --db cs/ledger.db | jq -r .leaf_hash
`,
      ),
  ).action(async (seq: number, opts: StoreFlags & { size?: number }) => {
    await withStore(opts, async (store) => {
      const checkpoint = await checkpointFor(store, opts.size);
      const treeSize = checkpoint.treeSize;
      if (seq >= treeSize) {
        throw new CountersignError('PROOF_INVALID', `seq ${seq} is not in the checkpointed tree of ${treeSize} entries; try again after the next checkpoint`);
      }
      // Leaf hashes in one contiguous buffer: 32 bytes each, no object per leaf
      const leaves = Buffer.alloc(treeSize * 32);
      const frontier = MerkleFrontier.empty();
      let entryBytes: Uint8Array | null = null;
      for await (const entry of store.read(0, treeSize)) {
        if (entry.seq !== frontier.size) break;
        const hash = leafHash(entry.bytes);
        leaves.set(hash, entry.seq * 32);
        frontier.push(hash);
        if (entry.seq === seq) entryBytes = entry.bytes;
      }
      const root = frontier.root();
      if (frontier.size !== treeSize || !root.every((b, i) => b === checkpoint.rootHash[i]) || entryBytes === null) {
        throw new CountersignError(
          'LEDGER_VERIFY_FAILED',
          `the stored entries do not match the checkpoint of ${treeSize} entries; run \`countersign ledger verify\``,
        );
      }
      const proof = inclusionProof((i) => leaves.subarray(i * 32, i * 32 + 32), seq, treeSize);
      const json = {
        seq,
        entry: Buffer.from(entryBytes).toString('base64'),
        leaf_hash: Buffer.from(leaves.subarray(seq * 32, seq * 32 + 32)).toString('base64'),
        ...inclusionProofToJson(proof),
        root: Buffer.from(root).toString('base64'),
        checkpoint: checkpoint.note,
      };
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    });
  });
}

async function createOutput(path: string): Promise<Writable> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new GatewayError('FILE_EXISTS', `\`${path}\` already exists; refusing to overwrite it`);
    throw new GatewayError('FILE_NOT_FOUND', `cannot create \`${path}\``);
  }
  return handle.createWriteStream();
}

/** Write with backpressure: the export of a large ledger never piles up in memory. */
function write(out: Writable, chunk: string | Uint8Array): Promise<void> | void {
  if (out.write(chunk)) return;
  return new Promise((resolve) => out.once('drain', () => resolve()));
}

/** From this many entries on, `verify` uses two threads unless told: below it, starting the worker costs more than it saves. */
export const THREADED_FROM_ENTRIES = 20_000;
/** An export's size in bytes over this estimates its entries (decision entries are 400 to 600 bytes). */
const EXPORT_BYTES_PER_ENTRY = 500;

/**
 * Two threads for a large ledger on a machine with a core to spare for the
 * worker. On two cores the worker competes with the reading thread, SQLite's
 * or the file reads' I/O threads and the garbage collector: measured on a
 * 1,000,000-entry ledger, it saved nothing there and cost about 10 MB.
 */
function autoThreads(entries: number): 1 | 2 {
  return entries >= THREADED_FROM_ENTRIES && availableParallelism() > 2 ? 2 : 1;
}

function parseThreads(value: string): 1 | 2 {
  if (value !== '1' && value !== '2') throw new InvalidArgumentError('`--threads` is 1 or 2');
  return value === '1' ? 1 : 2;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `cannot read ledger export \`${path}\``);
  }
}

/** Builds the run's verifier, one thread or two, and keeps a two-thread one to reconcile failures with and stop. */
class VerifierChoice {
  readonly #threads: 1 | 2;
  #threaded: ThreadedVerifier | null = null;

  constructor(threads: 1 | 2) {
    this.#threads = threads;
  }

  readonly create = (options: VerifierOptions): LedgerVerifier => {
    if (this.#threads === 1) return createVerifier(options);
    this.#threaded = ThreadedVerifier.start(options);
    return this.#threaded;
  };

  firstFailure(err: unknown): unknown {
    return this.#threaded === null ? err : this.#threaded.firstFailure(err);
  }

  async close(): Promise<void> {
    await this.#threaded?.close();
  }
}

/** Stream an export file through the verifier; memory is bounded by the longest line. */
async function verifyExport(path: string, verifier: ExportVerifier, tick: () => void): Promise<VerifyResult> {
  const splitter = new LineSplitter();
  let stream: AsyncIterable<Buffer>;
  try {
    const handle = await open(path, 'r');
    stream = handle.createReadStream({ highWaterMark: 1 << 16 });
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `cannot read ledger export \`${path}\``);
  }
  for await (const chunk of stream) {
    for (const line of splitter.push(chunk)) {
      verifier.line(line);
      tick();
    }
  }
  for (const line of splitter.end()) verifier.line(line);
  return verifier.finish();
}

/**
 * Feed the verifier entries and checkpoints interleaved by tree size: each
 * checkpoint goes in right before the entry at its tree size, so only one
 * checkpoint is held at a time.
 */
async function verifyStore(store: LedgerStore, verifier: LedgerVerifier, tick: () => void): Promise<VerifyResult> {
  const checkpoints = store.checkpoints()[Symbol.asyncIterator]();
  let next = await checkpoints.next();
  for await (const entry of store.read(0)) {
    while (!next.done && next.value.treeSize <= entry.seq) {
      verifier.checkpoint(next.value.note);
      next = await checkpoints.next();
    }
    verifier.entry(entry.seq, entry.bytes);
    tick();
  }
  while (!next.done) {
    verifier.checkpoint(next.value.note);
    next = await checkpoints.next();
  }
  return verifier.finish();
}

async function withStore<T>(flags: StoreFlags, work: (store: LedgerStore) => Promise<T>): Promise<T> {
  const store = await openStore(storeConfig(flags, { readonly: true }));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** The stored checkpoint of exactly `size` entries, or the latest one. */
async function checkpointFor(store: LedgerStore, size: number | undefined): Promise<StoredCheckpoint & { rootHash: Uint8Array }> {
  let found: StoredCheckpoint | null = null;
  if (size === undefined) {
    found = await store.latestCheckpoint();
    if (found === null) throw new GatewayError('USAGE', 'the ledger has no checkpoint yet');
  } else {
    for await (const checkpoint of store.checkpoints()) {
      if (checkpoint.treeSize === size) found = checkpoint;
      if (checkpoint.treeSize >= size) break;
    }
    if (found === null) throw new GatewayError('USAGE', `no stored checkpoint commits to tree size ${size}`);
  }
  const parsed = parseCheckpoint(found.note);
  if (parsed.treeSize !== found.treeSize) {
    throw new CountersignError('LEDGER_VERIFY_FAILED', `the checkpoint stored for tree size ${found.treeSize} says ${parsed.treeSize}`);
  }
  return { ...found, rootHash: parsed.rootHash };
}

/** Whether `--key-file` is a PEM public key (which, unlike a verifier key line, names no origin). */
export function pemKeyFile(opts: { publicKey?: string; keyFile?: string }): boolean {
  if (opts.publicKey !== undefined || opts.keyFile === undefined) return false;
  try {
    return readFileSync(opts.keyFile, 'utf8').startsWith('-----BEGIN');
  } catch {
    return false;
  }
}

/** The origin a ledger names: its export's header, or its store's latest checkpoint; undefined when it names none. */
export async function ledgerOrigin(opts: StoreFlags & { file?: string }): Promise<string | undefined> {
  if (opts.file !== undefined) {
    let handle: FileHandle | null = null;
    try {
      handle = await open(opts.file, 'r');
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(4_096), 0, 4_096, 0);
      const header = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '') as { origin?: unknown };
      return typeof header.origin === 'string' ? header.origin : undefined;
    } catch {
      return undefined;
    } finally {
      await handle?.close();
    }
  }
  if (opts.db === undefined && opts.postgres === undefined) return undefined;
  return withStore(opts, async (store) => {
    const latest = await store.latestCheckpoint();
    return latest === null ? undefined : parseCheckpoint(latest.note).origin;
  });
}

/** The one key a verification trusts from the start; rotations in the ledger hand over from it. */
export function trustedKey(opts: { publicKey?: string; keyFile?: string; origin?: string }): NoteVerifierKey {
  if (opts.publicKey !== undefined && opts.keyFile !== undefined) {
    throw new GatewayError('USAGE', 'give either `--public-key` or `--key-file`, not both');
  }
  if (opts.publicKey !== undefined) return parseVerifierKey(opts.publicKey);
  if (opts.keyFile === undefined) {
    throw new GatewayError('USAGE', 'verification needs the gateway\'s public key: `--public-key VKEY` or `--key-file FILE.pub`');
  }
  let text: string;
  try {
    text = readFileSync(opts.keyFile, 'utf8');
  } catch {
    throw new GatewayError('FILE_NOT_FOUND', `cannot read key file \`${opts.keyFile}\``);
  }
  if (!text.startsWith('-----BEGIN')) return parseVerifierKey(text.split('\n')[0] ?? '');
  if (text.includes('PRIVATE KEY')) {
    throw new GatewayError('KEY_INVALID', `\`${opts.keyFile}\` is a private key; verify with the public key (\`.pub\`)`);
  }
  return noteVerifierKey(opts.origin ?? DEFAULT_LEDGER_ORIGIN, rawPublicKey(loadPublicKey(opts.keyFile)));
}

/** A verifier failure as the CLI reports it: `seq 41: hash mismatch (bytes do not ...)`. */
export function verifyError(err: unknown): unknown {
  if (!isCountersignError(err) || err.code !== 'LEDGER_VERIFY_FAILED' || err.details === undefined) return err;
  const { seq, kind } = err.details as { seq?: unknown; kind?: unknown };
  if (typeof seq !== 'number' || typeof kind !== 'string') return err;
  const why = err.message.replace(/^entry \d+: /, '');
  return new CountersignError('LEDGER_VERIFY_FAILED', `seq ${seq}: ${kind.replace(/_/g, ' ')} (${why})`, { ...err.details });
}

interface Progress {
  tick(): void;
  stop(): void;
}

/**
 * `verified N entries` on stderr, refreshed in place, only when a person is
 * watching. Polled from the read loop: SQLite reads resolve as microtasks, so
 * a timer would never get a turn.
 */
function progressReporter(verifier: { readonly size: number }): Progress {
  if (!process.stderr.isTTY) return { tick: () => undefined, stop: () => undefined };
  let shownAt = performance.now();
  let shown = false;
  return {
    tick: () => {
      if ((verifier.size & 0x3fff) !== 0 || performance.now() - shownAt < 250) return;
      shownAt = performance.now();
      shown = true;
      process.stderr.write(`\rverified ${verifier.size} entries`);
    },
    stop: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

function parseCount(value: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`\`${value}\` is not a non-negative integer`);
  }
  return Number(value);
}
