import { canonicalJson } from '../canonical.js';
import { CountersignError } from '../errors.js';
import { toVerifierKeys, type NoteVerifierKey } from './key.js';
import { createVerifier, verifyFailure, type LedgerVerifier, type VerifierOptions, type VerifyResult } from './verify.js';

/**
 * The export format: JSON Lines, one item per line, `\n` terminated.
 *
 * - optional first line, the header: `{"countersign_ledger":1,"origin":"<origin>"}`
 * - an entry line IS the entry's stored canonical bytes, unchanged (RFC 8785
 *   output never holds a raw newline: control characters in strings are escaped)
 * - a checkpoint line: `{"checkpoint":"<signed note text>"}`, written right
 *   after the entry at `tree size - 1`
 *
 * The header is not signed and is only a hint: what a verifier trusts comes
 * from the checkpoints signed by the key it was given.
 */

export const EXPORT_FORMAT_VERSION = 1;

export type ExportLine =
  | { readonly kind: 'header'; readonly origin: string }
  | { readonly kind: 'entry'; readonly bytes: Uint8Array }
  | { readonly kind: 'checkpoint'; readonly note: string }
  | { readonly kind: 'blank' };

const NEWLINE = 0x0a;
const HEADER_PREFIX = Buffer.from('{"countersign_ledger":', 'latin1');
const CHECKPOINT_PREFIX = Buffer.from('{"checkpoint":', 'latin1');

export function exportHeaderLine(origin: string): string {
  return `${canonicalJson({ countersign_ledger: EXPORT_FORMAT_VERSION, origin })}\n`;
}

/** The entry's stored bytes followed by a newline. */
export function exportEntryLine(bytes: Uint8Array): Uint8Array {
  if (bytes.includes(NEWLINE)) {
    throw new CountersignError('LEDGER_ENTRY_INVALID', 'stored entry holds a raw newline and cannot be exported as one line');
  }
  const line = new Uint8Array(bytes.length + 1);
  line.set(bytes);
  line[bytes.length] = NEWLINE;
  return line;
}

export function exportCheckpointLine(note: string): string {
  return `${canonicalJson({ checkpoint: note })}\n`;
}

function startsWith(line: Uint8Array, prefix: Buffer): boolean {
  return line.length >= prefix.length && Buffer.compare(line.subarray(0, prefix.length), prefix) === 0;
}

/**
 * Classify one line (without its newline). Entry lines are not parsed: the
 * verifier reads their bytes. Throws CHECKPOINT_INVALID for a header or
 * checkpoint line that is not the JSON it claims to be.
 */
export function classifyExportLine(line: Uint8Array): ExportLine {
  if (line.length === 0) return { kind: 'blank' };
  const isHeader = startsWith(line, HEADER_PREFIX);
  if (!isHeader && !startsWith(line, CHECKPOINT_PREFIX)) return { kind: 'entry', bytes: line };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(line));
  } catch {
    throw new CountersignError('CHECKPOINT_INVALID', `${isHeader ? 'header' : 'checkpoint'} line is not valid JSON`);
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (isHeader) {
    if (record.countersign_ledger !== EXPORT_FORMAT_VERSION || typeof record.origin !== 'string') {
      throw new CountersignError('CHECKPOINT_INVALID', `header line is not countersign_ledger version ${EXPORT_FORMAT_VERSION}`);
    }
    return { kind: 'header', origin: record.origin };
  }
  if (typeof record.checkpoint !== 'string') {
    throw new CountersignError('CHECKPOINT_INVALID', 'checkpoint line has no `checkpoint` string');
  }
  return { kind: 'checkpoint', note: record.checkpoint };
}

/**
 * Splits a byte stream into lines without decoding it: the entry bytes must
 * reach the verifier exactly as stored, and a text decoder would replace
 * invalid UTF-8. Memory is bounded by the longest line.
 */
export class LineSplitter {
  #rest: Uint8Array = new Uint8Array(0);

  /** Complete lines in `chunk` (and what was carried over), without their newlines. */
  push(chunk: Uint8Array): Uint8Array[] {
    const data = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    const lines: Uint8Array[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      lines.push(data.subarray(start, nl));
      start = nl + 1;
    }
    // Copy the tail so the caller's chunk buffer can be reused.
    this.#rest = new Uint8Array(data.subarray(start));
    return lines;
  }

  /** The last line when the input did not end in a newline. */
  end(): Uint8Array[] {
    const rest = this.#rest;
    this.#rest = new Uint8Array(0);
    return rest.length > 0 ? [rest] : [];
  }
}

export interface ExportVerifierOptions {
  readonly trustedKeys: readonly (NoteVerifierKey | string)[];
  /** Expected origin; by default the header's, else the first trusted key's name. */
  readonly origin?: string;
  /** The verifier the items go to (default `createVerifier`); the gateway passes its two-thread one. */
  readonly createVerifier?: (options: VerifierOptions) => LedgerVerifier;
}

export interface ExportVerifier {
  /** One line of the export, without its newline. */
  line(bytes: Uint8Array): void;
  finish(options?: { readonly expectedSize?: number }): VerifyResult & { readonly origin: string };
  readonly size: number;
}

/** Verify an export line by line, offline, with public keys only. */
export function createExportVerifier(options: ExportVerifierOptions): ExportVerifier {
  const keys = toVerifierKeys(options.trustedKeys);
  if (keys.length === 0) throw new CountersignError('KEY_INVALID', 'the verifier needs at least one trusted key');
  let verifier: LedgerVerifier | null = null;
  let origin = options.origin;
  let lines = 0;

  const start = (): LedgerVerifier => {
    origin ??= (keys[0] as NoteVerifierKey).name;
    verifier ??= (options.createVerifier ?? createVerifier)({ origin, trustedKeys: keys });
    return verifier;
  };

  return {
    get size() {
      return verifier?.size ?? 0;
    },

    line(bytes) {
      lines += 1;
      let item: ExportLine;
      try {
        item = classifyExportLine(bytes);
      } catch (err) {
        const at = verifier?.size ?? 0;
        throw verifyFailure('malformed', at, `line ${lines} ${(err as Error).message}`, { line: lines });
      }
      switch (item.kind) {
        case 'blank':
          return;
        case 'header':
          if (verifier !== null) throw verifyFailure('malformed', verifier.size, `line ${lines} is a header after the start`, { line: lines });
          if (origin !== undefined && item.origin !== origin) {
            throw verifyFailure('malformed', 0, `export is of origin \`${item.origin}\`, not \`${origin}\``, { line: lines });
          }
          origin = item.origin;
          start();
          return;
        case 'entry':
          start().entry(null, item.bytes);
          return;
        case 'checkpoint':
          start().checkpoint(item.note);
          return;
      }
    },

    finish(finishOptions) {
      const result = start().finish(finishOptions);
      return { ...result, origin: origin as string };
    },
  };
}
