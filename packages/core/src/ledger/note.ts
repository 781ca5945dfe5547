import { CountersignError } from '../errors.js';
import { assertKeyName, noteKeyId, type NoteVerifierKey, type Signer } from './key.js';

/**
 * C2SP signed-note (https://c2sp.org/signed-note): a text ending in a
 * newline, a blank line, then one or more lines
 * `— <key name> <base64(4-byte key ID || signature)>`.
 */

export interface NoteSignature {
  readonly name: string;
  /** The 4-byte key ID as 8 hex digits. */
  readonly keyId: string;
  /** The signature proper, without the key ID. */
  readonly signature: Uint8Array;
}

export interface Note {
  /** The signed text, final newline included. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** What an opened note proves: its text and the trusted key that signed it. */
export interface OpenedNote extends Note {
  readonly signedBy: NoteVerifierKey;
}

// signed-note §Signatures: accept at least 16; more is a denial-of-service vector.
export const MAX_NOTE_SIGNATURES = 64;
const EM_DASH_SPACE = '\u2014 ';
// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function invalid(message: string): CountersignError {
  return new CountersignError('CHECKPOINT_INVALID', message);
}

/** signed-note §Format: valid UTF-8, no control characters but newline, non-empty, ending in a newline. */
export function assertNoteText(text: string): void {
  if (typeof text !== 'string' || text.length === 0 || !text.endsWith('\n')) {
    throw invalid('note text is empty or does not end in a newline');
  }
  if (CONTROL.test(text) || LONE_SURROGATE.test(text)) {
    throw invalid('note text has a control character or is not valid UTF-8');
  }
}

/** Sign `text` with each signer. */
export function signNote(text: string, signers: readonly Signer[]): string {
  assertNoteText(text);
  if (signers.length === 0) throw invalid('a note needs at least one signature');
  const message = new TextEncoder().encode(text);
  let lines = '';
  for (const signer of signers) {
    assertKeyName(signer.name);
    const keyId = Buffer.from(noteKeyId(signer.name, signer.publicKey), 'hex');
    const signature = signer.sign(message);
    lines += `${EM_DASH_SPACE}${signer.name} ${Buffer.concat([keyId, signature]).toString('base64')}\n`;
  }
  return `${text}\n${lines}`;
}

/** Split a note into text and signatures. Nothing here is trusted until `openNote` verifies it. */
export function parseNote(note: string): Note {
  if (typeof note !== 'string') throw invalid('note is not text');
  if (CONTROL.test(note) || LONE_SURROGATE.test(note)) {
    throw invalid('note has a control character or is not valid UTF-8');
  }
  // The text is separated from the signatures by the last empty line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw invalid('note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2, -1).split('\n');
  if (block.length > MAX_NOTE_SIGNATURES) throw invalid(`note has more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = block.map((line): NoteSignature => {
    if (!line.startsWith(EM_DASH_SPACE)) throw invalid('note signature line does not start with an em dash');
    const rest = line.slice(EM_DASH_SPACE.length);
    const space = rest.indexOf(' ');
    const name = rest.slice(0, space);
    const encoded = rest.slice(space + 1);
    if (space <= 0 || /[\s+]/u.test(name)) throw invalid('note signature line has no valid key name');
    const raw = Buffer.from(encoded, 'base64');
    if (raw.length < 5 || raw.toString('base64') !== encoded) {
      throw invalid(`signature of \`${name}\` is not standard base64 of a key id and a signature`);
    }
    return { name, keyId: raw.subarray(0, 4).toString('hex'), signature: new Uint8Array(raw.subarray(4)) };
  });
  assertNoteText(text);
  return { text, signatures };
}

/**
 * Verify a note against trusted keys (signed-note §Signatures): signatures
 * from unknown keys are ignored; a known key (same name and key ID) whose
 * signature fails rejects the whole note; at least one known key must
 * verify. Throws CHECKPOINT_INVALID (malformed) or BAD_SIGNATURE.
 */
export function openNote(note: string, keys: readonly NoteVerifierKey[]): OpenedNote {
  const parsed = parseNote(note);
  const message = new TextEncoder().encode(parsed.text);
  let signedBy: NoteVerifierKey | undefined;
  for (const sig of parsed.signatures) {
    const key = keys.find((k) => k.name === sig.name && k.keyId === sig.keyId);
    if (key === undefined) continue;
    if (!key.verify(message, sig.signature)) {
      throw new CountersignError('BAD_SIGNATURE', 'note signature verification failed', { key_id: sig.keyId });
    }
    signedBy ??= key;
  }
  if (signedBy === undefined) {
    throw new CountersignError('BAD_SIGNATURE', 'note is not signed by a trusted key');
  }
  return { ...parsed, signedBy };
}
