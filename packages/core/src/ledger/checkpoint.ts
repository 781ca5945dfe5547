import { CountersignError } from '../errors.js';
import { toVerifierKeys, type NoteVerifierKey, type Signer } from './key.js';
import { openNote, parseNote, signNote, type NoteSignature } from './note.js';

/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): a signed note whose
 * text is
 *
 *     <origin>\n<tree size in decimal>\n<base64 RFC 6962 root hash>\n[extension lines\n]
 *
 * signed by the gateway key. The key ID travels in the signature line (the
 * first four bytes of the signature blob) and `verifyCheckpoint` returns it.
 * Countersign adds no extension line: the spec does not recommend them, as
 * monitors cannot audit them, and the key ID is already bound to the note.
 */

export interface Checkpoint {
  readonly origin: string;
  readonly treeSize: number;
  /** RFC 6962 Merkle Tree Hash of the first `treeSize` entries. */
  readonly rootHash: Uint8Array;
  /** Opaque extension lines, without newlines. */
  readonly extensions?: readonly string[];
}

export interface ParsedCheckpoint extends Checkpoint {
  readonly extensions: readonly string[];
  /** Unverified signatures as they appear in the note. */
  readonly signatures: readonly NoteSignature[];
}

export interface VerifiedCheckpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
  /** Name of the key whose signature verified. */
  readonly keyName: string;
  /** Its 4-byte key ID, 8 hex digits. */
  readonly keyId: string;
}

const TREE_SIZE = /^(0|[1-9][0-9]*)$/;

function invalid(message: string): CountersignError {
  return new CountersignError('CHECKPOINT_INVALID', message);
}

function assertLine(value: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\n')) {
    throw invalid(`checkpoint ${what} is empty or spans lines`);
  }
}

/** The note text of a checkpoint. */
export function checkpointText(checkpoint: Checkpoint): string {
  const { origin, treeSize, rootHash, extensions = [] } = checkpoint;
  assertLine(origin, 'origin');
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) {
    throw invalid(`checkpoint tree size \`${String(treeSize)}\` is not a non-negative integer`);
  }
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== 32) throw invalid('checkpoint root hash is not 32 bytes');
  for (const line of extensions) assertLine(line, 'extension line');
  const lines = [origin, String(treeSize), Buffer.from(rootHash).toString('base64'), ...extensions];
  return `${lines.join('\n')}\n`;
}

/** Sign a checkpoint with the gateway key: the full signed note text. */
export function signCheckpoint(checkpoint: Checkpoint, signer: Signer): string {
  return signNote(checkpointText(checkpoint), [signer]);
}

/** Parse a checkpoint's note text (tlog-checkpoint §Note text). */
export function parseCheckpointText(text: string): Omit<ParsedCheckpoint, 'signatures'> {
  const lines = text.split('\n');
  // The text ends in a newline, so the last element is empty.
  if (lines.length < 4 || lines.pop() !== '') throw invalid('checkpoint has fewer than three lines');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw invalid('checkpoint origin is empty');
  if (!TREE_SIZE.test(size) || !Number.isSafeInteger(Number(size))) {
    throw invalid(`checkpoint tree size \`${size.slice(0, 32)}\` is not a decimal without leading zeroes`);
  }
  const rootHash = Buffer.from(root, 'base64');
  if (rootHash.length !== 32 || rootHash.toString('base64') !== root) {
    throw invalid('checkpoint root hash is not the standard base64 of 32 bytes');
  }
  if (extensions.some((line) => line.length === 0)) throw invalid('checkpoint extension line is empty');
  return { origin, treeSize: Number(size), rootHash: new Uint8Array(rootHash), extensions };
}

/** Parse a signed checkpoint without verifying it: for display and scheduling only. */
export function parseCheckpoint(note: string): ParsedCheckpoint {
  const parsed = parseNote(note);
  return { ...parseCheckpointText(parsed.text), signatures: parsed.signatures };
}

/**
 * Verify a signed checkpoint with public keys only. Throws CHECKPOINT_INVALID
 * when the note or its text is malformed or names another origin, and
 * BAD_SIGNATURE when no trusted key signed it or a trusted key's signature
 * fails.
 */
export function verifyCheckpoint(
  note: string,
  verifierKeys: readonly (NoteVerifierKey | string)[],
  options: { readonly origin?: string } = {},
): VerifiedCheckpoint {
  const opened = openNote(note, toVerifierKeys(verifierKeys));
  const body = parseCheckpointText(opened.text);
  if (options.origin !== undefined && body.origin !== options.origin) {
    throw invalid(`checkpoint origin \`${body.origin}\` is not \`${options.origin}\``);
  }
  return { ...body, keyName: opened.signedBy.name, keyId: opened.signedBy.keyId };
}
