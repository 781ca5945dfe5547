import { CountersignError } from '../errors.js';
import { parseCheckpoint, verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js';
import { decodeEntry, GENESIS_PREV_HASH } from './entry.js';
import { toVerifierKeys, type NoteVerifierKey } from './key.js';
import { leafHashBin, toBin } from './merkle.js';
import { KEY_ROTATED, verifyKeyRotation } from './rotation.js';
import { openCheckpoint, verifyFailure, VerifyTree, type PendingCheckpoint, type VerifyFailureKind } from './verify-tree.js';

export { verifyFailure, type VerifyFailureKind } from './verify-tree.js';

/**
 * The streaming ledger verifier. It reads entries as stored and never
 * re-canonicalises: each entry's bytes are hashed as they are (RFC 6962 leaf
 * hash), `seq` and `prev_hash` are read straight from the bytes, the hash
 * chain is checked link by link, and a Merkle frontier recomputes the root
 * each signed checkpoint commits to. Memory is O(log n) plus the checkpoints
 * handed in ahead of their tree size.
 *
 * It stops at the FIRST failure and names the entry at fault. A failure is
 * often seen one step after its cause (a changed entry k is seen when entry
 * k+1's `prev_hash` no longer matches it), so on an anomaly the verifier waits
 * for one more entry (or `finish`) to tell apart, for instance, "entry k's
 * bytes changed" from "entry k+1's `prev_hash` changed" from "entry k+1 is
 * missing".
 *
 * Two halves: the chain side (`createChainVerifier`: bytes, seq, links, key
 * rotations, the diagnosis) and the tree side (`VerifyTree`: Merkle frontier,
 * checkpoint signatures and roots). `createVerifier` runs both on the calling
 * thread; the gateway's two-thread verifier runs the tree side on a worker and
 * hands the diagnosis the tree when it needs it.
 */

export interface VerifierOptions {
  /** The ledger's origin: checkpoints and key rotations must name it. */
  readonly origin: string;
  /** Verifier keys (vkey text or parsed) trusted for checkpoints from the start of the ledger. */
  readonly trustedKeys: readonly (NoteVerifierKey | string)[];
}

export interface VerifyResult {
  /** Entries verified. */
  readonly size: number;
  /** RFC 6962 root over all entries. */
  readonly rootHash: Uint8Array;
  /** Leaf hash of the last entry (the chain head), `null` when empty. */
  readonly lastHash: Uint8Array | null;
  /** Checkpoints whose signature and root verified. */
  readonly checkpoints: number;
  /** Largest tree size a verified checkpoint covers: entries beyond it are protected by the chain only. */
  readonly checkpointedSize: number;
  /** The last verified checkpoint, if any. */
  readonly lastCheckpoint: VerifiedCheckpoint | null;
  /** vkeys in force at the end. */
  readonly keys: readonly string[];
  /** Key rotations applied, by seq. */
  readonly rotations: readonly { readonly seq: number; readonly newKey: string }[];
  /** `key.rotated` entries whose old-key signature did not verify: they changed nothing. */
  readonly rejectedRotations: readonly number[];
}

export interface LedgerVerifier {
  /**
   * The next stored entry. `seq` is the store's own sequence number for the
   * row, or `null` when the source has none (an export line): the bytes'
   * `seq` is always checked.
   */
  entry(seq: number | null, bytes: Uint8Array): void;
  /**
   * A signed checkpoint note. Hand it in no later than the entry at its tree
   * size (right after entry `treeSize - 1`, or all up front); earlier ones are
   * held until the ledger reaches their size.
   */
  checkpoint(note: string): void;
  /** End of input. Throws if the ledger is short of a checkpoint or of `expectedSize`. */
  finish(options?: { readonly expectedSize?: number }): VerifyResult;
  /**
   * Entries accepted so far (`entry` calls that returned), exactly: a
   * progress display reads it, and the export verifier names a malformed
   * line's position by it, so a verifier that hashes elsewhere (threads)
   * must not let it lag.
   */
  readonly size: number;
}

/** What the verifier reads from one entry without parsing it. */
interface Candidate {
  readonly stored: number | null;
  readonly bytes: Uint8Array;
  /** Leaf hash, lower-case hex like `prev_hash`. */
  readonly hash: string;
  /** `seq` in the bytes, -1 when unreadable. */
  readonly seq: number;
  /** `prev_hash` in the bytes, `null` when unreadable. */
  readonly prevHex: string | null;
}

const PREV_KEY = Buffer.from('"prev_hash":"', 'latin1');
const SEQ_KEY = Buffer.from('","seq":', 'latin1');
const ROTATION_TAIL = Buffer.from(`"type":"${KEY_ROTATED}","v":1}`, 'latin1');
const HEX64 = /^[0-9a-f]{64}$/;
const GENESIS_BIN = '\0'.repeat(32);

/** Where the top-level links sit in one entry's bytes; see `readLinks`. */
interface Links {
  /** Offset of the top-level `prev_hash` hex in the bytes, -1 when unreadable. */
  prevAt: number;
  /** `seq` in the bytes, -1 when unreadable. */
  seq: number;
}

/** A Buffer over the same memory: stores hand in Buffers, so usually no allocation. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Backward Horspool over SEQ_KEY (`","seq":`): on a mismatch the window moves left
// until some SEQ_KEY[k], k >= 1, lines up with the byte under its first position.
// Entry text is mostly letters and digits, so most steps skip all 8 bytes.
const SEQ_SKIP = new Uint8Array(256).fill(SEQ_KEY.length);
for (let k = SEQ_KEY.length - 1; k >= 1; k -= 1) SEQ_SKIP[SEQ_KEY[k] as number] = k;
const PREV_SPAN = PREV_KEY.length + 64;

function matchesAt(buf: Uint8Array, at: number, key: Uint8Array): boolean {
  for (let k = 0; k < key.length; k += 1) if (buf[at + k] !== key[k]) return false;
  return true;
}

/**
 * Read `prev_hash` and `seq` from canonical entry bytes. RFC 8785 sorts the
 * top-level keys (`actor, at, bundle_id, payload, prev_hash, seq, subjects,
 * surface, type, v`), so the LAST `"prev_hash":"<64 hex>","seq":<digits>` in
 * the bytes is the top-level one: only the payload, which comes before it,
 * may hold such a nested object; what follows it (`subjects` maps names to
 * strings, `surface` and `type` are strings, as `sealEntry` enforces) cannot
 * hold that text, since a string cannot contain an unescaped quote.
 *
 * It scans back from the end for `","seq":` followed by a digit and checks
 * `"prev_hash":"` 77 bytes before it. Fills `out`, which the verifier reuses:
 * the hot path allocates nothing here.
 */
function readLinks(buf: Uint8Array, out: Links): void {
  out.prevAt = -1;
  out.seq = -1;
  const end = buf.length;
  if (end < 2 || buf[0] !== 0x7b || buf[end - 1] !== 0x7d) return;
  // Search backwards past look-alikes in `subjects` (e.g. a subject named `prev_hash`).
  let i = end - SEQ_KEY.length - 1;
  for (; i >= PREV_SPAN; i -= SEQ_SKIP[buf[i] as number] as number) {
    if (!matchesAt(buf, i, SEQ_KEY)) continue;
    const digit = buf[i + SEQ_KEY.length] as number;
    if (digit >= 0x30 && digit <= 0x39 && matchesAt(buf, i - PREV_SPAN, PREV_KEY)) break;
  }
  if (i < PREV_SPAN) return;
  // Not checked for hex here: it is compared with a hash, and `resolveEntry` checks it on a mismatch.
  out.prevAt = i - 64;
  i += SEQ_KEY.length;
  const first = i;
  let seq = 0;
  for (; i < end; i += 1) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) break;
    seq = seq * 10 + (c - 0x30);
  }
  const digits = i - first;
  const canonicalNumber = digits === 1 || (digits > 1 && digits <= 16 && buf[first] !== 0x30);
  if (canonicalNumber && Number.isSafeInteger(seq) && buf[i] === 0x2c) out.seq = seq;
}

const HEX_VALUE = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d += 1) HEX_VALUE['0123456789abcdef'.charCodeAt(d)] = d;

/** Whether the 64 bytes at `at` are the lower-case hex of the binary-string hash `bin`, without allocating. */
function hexEquals(buf: Uint8Array, at: number, bin: string): boolean {
  if (at < 0) return false;
  for (let j = 0; j < 32; j += 1) {
    const hi = HEX_VALUE[buf[at + 2 * j] as number] as number;
    const lo = HEX_VALUE[buf[at + 2 * j + 1] as number] as number;
    if (hi < 0 || lo < 0 || ((hi << 4) | lo) !== bin.charCodeAt(j)) return false;
  }
  return true;
}

function prevHexAt(bytes: Uint8Array, links: Links): string | null {
  return links.prevAt < 0 ? null : asBuffer(bytes).toString('latin1', links.prevAt, links.prevAt + 64);
}

const ROTATION_MARK = ROTATION_TAIL[8] as number;

function isRotation(bytes: Uint8Array): boolean {
  const start = bytes.length - ROTATION_TAIL.length;
  // One byte first (the `k` of `key.rotated`): almost every entry stops there.
  if (start < 0 || bytes[start + 8] !== ROTATION_MARK) return false;
  return Buffer.compare(bytes.subarray(start), ROTATION_TAIL) === 0;
}

function failure(kind: VerifyFailureKind, seq: number, message: string, extra: Record<string, unknown> = {}): never {
  throw verifyFailure(kind, seq, message, extra);
}

/** @internal What the chain side hands the tree side: each accepted leaf, and each checkpoint once due. */
export interface TreeSink {
  /** Leaf hash of the next accepted entry, as a binary string. */
  push(leaf: string): void;
  /** A checkpoint of exactly the accepted size, with the keys in force; may throw the verifier failure. */
  judge(cp: PendingCheckpoint, keys: readonly NoteVerifierKey[]): void;
}

/** @internal The chain side of a verification; see the module comment. */
export interface ChainVerifier {
  /**
   * The next stored entry, as `LedgerVerifier.entry`. Returns false once an
   * anomaly and the entry after it are in: the verdict is then due, needs only
   * the whole tree (`settle`), and no further input.
   */
  entry(seq: number | null, bytes: Uint8Array): boolean;
  checkpoint(note: string): void;
  /** Name the anomaly `entry` returned false on, with the tree of every accepted entry. Always throws. */
  settle(tree: VerifyTree): never;
  /** End of input, with the tree of every accepted entry: judges what is left, as `LedgerVerifier.finish`. */
  finish(tree: VerifyTree, options?: { readonly expectedSize?: number }): VerifyResult;
  readonly size: number;
}

const hexToBin = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1');

/**
 * @internal The chain side: reads each entry's bytes, hashes them, checks seq
 * and link, applies key rotations, and hands `sink` each accepted leaf and each
 * checkpoint when the ledger reaches its size (right before the entry at that
 * size is accepted, so that entry vouches for the one before it).
 */
export function createChainVerifier(options: VerifierOptions, sink: TreeSink): ChainVerifier {
  const { origin } = options;
  let keys: NoteVerifierKey[] = toVerifierKeys(options.trustedKeys);
  if (keys.length === 0) throw new CountersignError('KEY_INVALID', 'the verifier needs at least one trusted key');

  // Hashes stay binary strings on the hot path; diagnosis speaks hex, like `prev_hash`.
  let count = 0;
  let lastBin = GENESIS_BIN;
  const lastHex = (): string => (count === 0 ? GENESIS_PREV_HASH : Buffer.from(lastBin, 'latin1').toString('hex'));
  let pending: PendingCheckpoint[] = [];
  let suspect: Candidate | null = null;
  let successor: Candidate | null = null;
  let settling = false;
  let finished = false;
  /** The whole tree, handed in once a verdict needs it; holds exactly `count` leaves. */
  let tree: VerifyTree | null = null;
  const rotations: { seq: number; newKey: string }[] = [];
  const rejectedRotations: number[] = [];

  const wholeTree = (): VerifyTree => {
    if (tree === null) throw new CountersignError('INTERNAL', 'the verifier needs the tree before it was handed in');
    return tree;
  };
  const handIn = (whole: VerifyTree): void => {
    if (whole.size !== count) throw new CountersignError('INTERNAL', `the tree holds ${whole.size} leaves, the chain ${count}`);
    tree = whole;
  };
  /** Root over the accepted entries but the last, followed by `leaves` (hex), as a binary string. */
  const frontierRoot = (leaves: readonly string[]): string => wholeTree().rootReplacingLast(leaves.map(hexToBin));
  /** Root over all accepted entries followed by `leaves`. */
  const rootWith = (...leaves: string[]): string => wholeTree().rootWith(leaves.map(hexToBin));
  const checkpointed = (): number => wholeTree().checkpointed;

  /** The root a pending checkpoint of exactly `treeSize` vouches for, if its signature holds. */
  const signedRootAt = (treeSize: number): string | null => {
    const cp = pending.find((p) => p.treeSize === treeSize);
    if (cp === undefined) return null;
    try {
      return toBin(verifyCheckpoint(cp.note, keys, { origin }).rootHash);
    } catch {
      return null;
    }
  };

  /** Hand `judge` the checkpoints of tree size `count`; called once entry count - 1 is vouched for by its successor, or at the end. */
  const runDueCheckpoints = (judge: TreeSink): void => {
    while (pending.length > 0 && (pending[0] as PendingCheckpoint).treeSize === count) {
      judge.judge(pending.shift() as PendingCheckpoint, keys);
    }
  };

  const links: Links = { prevAt: -1, seq: -1 };

  const accept = (seq: number, bytes: Uint8Array, hash: string): void => {
    sink.push(hash);
    lastBin = hash;
    count += 1;
    if (isRotation(bytes)) applyRotation(seq, bytes);
  };

  const applyRotation = (seq: number, bytes: Uint8Array): void => {
    try {
      const entry = decodeEntry(bytes);
      if (entry.type !== KEY_ROTATED) return;
      const next = verifyKeyRotation(entry.payload, { origin, seq }, keys);
      keys = [next];
      rotations.push({ seq, newKey: next.text });
    } catch {
      // A rotation the old key did not sign changes nothing: checkpoints signed by the
      // would-be new key then fail as bad signatures. Tampering shows at the next link.
      rejectedRotations.push(seq);
    }
  };

  /**
   * What a witness says about candidate x at position `count`: `y` is the next
   * entry (or null at the end), whose `prev_hash` must be x's hash; without
   * one, a signed checkpoint of size count + 1 must have x as its last leaf.
   */
  const witness = (x: Candidate, y: Candidate | null): 'authentic' | 'altered' | 'unknown' => {
    if (y !== null) return y.prevHex === x.hash ? 'authentic' : 'altered';
    const root = signedRootAt(count + 1);
    if (root === null) return 'unknown';
    return rootWith(x.hash) === root ? 'authentic' : 'altered';
  };

  const changed = (s: number, y: Candidate | null, extra: Record<string, unknown> = {}): never =>
    y !== null
      ? failure('hash_mismatch', s, `bytes do not hash to the \`prev_hash\` of the entry after it`, extra)
      : failure('root_mismatch', s, `bytes do not match the signed checkpoint that covers it`, { ...extra, tree_size: s + 1 });

  /** Settle an anomaly at candidate x (expected seq `count`) with the next entry y. Always throws. */
  const resolveEntry = (x: Candidate, y: Candidate | null): never => {
    const s = count;
    const linked = x.prevHex === lastHex();
    if (x.seq < 0 || x.prevHex === null || !HEX64.test(x.prevHex)) {
      // An unreadable item followed by the entry that belongs at s (a stray line, or
      // entry s - 1 broken in two): judge entry s - 1 by that entry's link.
      if (y !== null && y.seq === s) {
        if (s > 0 && y.prevHex !== lastHex() && checkpointed() < s) changed(s - 1, y);
        failure('malformed', s, 'an item that is not a canonical ledger entry precedes it');
      }
      // Otherwise a signed checkpoint over the entries before the item, if one
      // disagrees, names entry s - 1: the earliest failure a signature proves,
      // whatever follows the item (nothing, more stray items, a later entry).
      if (s > 0) {
        const root = signedRootAt(s);
        if (root !== null && root !== rootWith()) changed(s - 1, null);
      }
      if (witness(x, y) === 'altered') changed(s, y);
      failure('malformed', s, 'is not a canonical ledger entry');
    }
    if (x.seq === s) {
      if (linked) {
        // Bytes in place and linked: only the store's own row number disagrees.
        failure('malformed', s, `is stored as seq ${String(x.stored)}`, { stored_seq: x.stored });
      }
      // x is in its place but does not link to entry s - 1.
      if (y === null) {
        const root = signedRootAt(s + 1);
        if (root !== null) {
          if (rootWith(x.hash) === root) {
            failure('broken_chain', s, '`prev_hash` does not match the entry before it');
          }
          if (s > 0 && frontierRoot([x.prevHex, x.hash]) === root) {
            failure('hash_mismatch', s - 1, 'bytes do not hash to the `prev_hash` of the entry after it');
          }
          changed(s, null);
        }
      } else if (witness(x, y) === 'altered') {
        changed(s, y);
      }
      if (s === 0) failure('broken_chain', 0, '`prev_hash` of the first entry is not the genesis value');
      const vouched = checkpointed() >= s || (signedRootAt(s) !== null && signedRootAt(s) === rootWith());
      if (vouched) failure('broken_chain', s, '`prev_hash` does not match the entry before it, which a checkpoint vouches for');
      failure('hash_mismatch', s - 1, 'bytes do not hash to the `prev_hash` of the entry after it');
    }
    if (linked) {
      // x follows entry s - 1 yet names another seq: its seq was changed, unless a witness vouches for it.
      if (witness(x, y) === 'altered') changed(s, y, { found: x.seq });
      if (x.seq > s) failure('gap', s, `is missing: the entry in its place says seq ${x.seq}`, { found: x.seq });
      failure('out_of_order', s, `the entry in its place says seq ${x.seq}`, { found: x.seq });
    }
    if (x.seq > s) {
      if (y !== null && y.seq >= 0 && y.seq < x.seq) {
        failure('out_of_order', s, `the entry in its place says seq ${x.seq}, the next one ${y.seq}`, { found: x.seq });
      }
      failure('gap', s, `is missing: the next entry says seq ${x.seq}`, { found: x.seq });
    }
    return failure('duplicate', x.seq, `appears again after entry ${s - 1}`, { position: s });
  };

  const assertOpen = (): void => {
    if (finished || settling) throw new CountersignError('INTERNAL', finished ? 'the verifier has finished' : 'the verifier awaits `settle`');
  };

  return {
    get size() {
      return count;
    },

    entry(stored, bytes) {
      assertOpen();
      // Hash first: its sequential copy of the bytes brings them into cache for the
      // backward scan, which otherwise waits on memory for a cold entry.
      const hash = leafHashBin(bytes);
      readLinks(bytes, links);
      const { seq } = links;
      // The common case, without building a Candidate: in place, linked, nothing pending.
      if (suspect === null && seq === count && (stored === null || stored === count) && hexEquals(bytes, links.prevAt, lastBin)) {
        // the entry vouches for entry count - 1: the checkpoints at this size can be judged now
        if (pending.length > 0) runDueCheckpoints(sink);
        accept(seq, bytes, hash);
        return true;
      }
      const c: Candidate = { stored, bytes, hash: Buffer.from(hash, 'latin1').toString('hex'), seq, prevHex: prevHexAt(bytes, links) };
      if (suspect !== null) {
        successor = c;
        settling = true;
        return false;
      }
      if (seq === count && c.prevHex === lastHex() && (stored === null || stored === count)) {
        runDueCheckpoints(sink);
        accept(seq, bytes, hash);
        return true;
      }
      suspect = c;
      return true;
    },

    checkpoint(note) {
      assertOpen();
      let treeSize: number;
      try {
        treeSize = parseCheckpoint(note).treeSize;
      } catch {
        failure('malformed', count, `checkpoint after ${count} entries is malformed`);
      }
      const cp = { note, treeSize };
      if (treeSize < count && suspect === null) {
        openCheckpoint(cp, keys, origin);
        failure('out_of_order', Math.max(0, treeSize - 1), `checkpoint at tree size ${treeSize} comes after entry ${count - 1}`, {
          tree_size: treeSize,
        });
      }
      const at = pending.findIndex((p) => p.treeSize > treeSize);
      if (at < 0) pending.push(cp);
      else pending = [...pending.slice(0, at), cp, ...pending.slice(at)];
    },

    settle(whole) {
      if (!settling || suspect === null) throw new CountersignError('INTERNAL', 'nothing to settle');
      handIn(whole);
      return resolveEntry(suspect, successor);
    },

    finish(whole, finishOptions = {}) {
      assertOpen();
      finished = true;
      handIn(whole);
      if (suspect !== null) resolveEntry(suspect, null);
      runDueCheckpoints(whole);
      for (const cp of pending) {
        openCheckpoint(cp, keys, origin);
        failure('truncation', count, `is missing: the ledger ends before checkpoint tree size ${cp.treeSize}`, {
          tree_size: cp.treeSize,
        });
      }
      const { expectedSize } = finishOptions;
      if (expectedSize !== undefined && expectedSize > count) {
        failure('truncation', count, `is missing: the ledger ends at ${count} entries, ${expectedSize} expected`, {
          expected_size: expectedSize,
        });
      }
      return { size: count, ...whole.summary(), keys: keys.map((k) => k.text), rotations, rejectedRotations };
    },
  };
}

/** Verify on the calling thread: the tree side is a `VerifyTree` right here. */
export function createVerifier(options: VerifierOptions): LedgerVerifier {
  const tree = new VerifyTree(options.origin);
  const chain = createChainVerifier(options, tree);
  return {
    get size() {
      return chain.size;
    },
    entry(stored, bytes) {
      if (!chain.entry(stored, bytes)) chain.settle(tree);
    },
    checkpoint(note) {
      chain.checkpoint(note);
    },
    finish(finishOptions) {
      return chain.finish(tree, finishOptions);
    },
  };
}
