import type { ExitCode } from '../exit.js';

/**
 * What a client command produced, as data: the JSON document `--json` prints,
 * the text a human reads, and the exit code. Commands build an Outcome; only
 * `printResult` writes it, so both forms always say the same thing.
 */
export interface Outcome {
  readonly data: unknown;
  readonly text: string;
  readonly exit: ExitCode;
  /** Advice for a human (stderr, in both modes): never part of what scripts parse. */
  readonly note?: string;
}

export function printResult(outcome: Outcome, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(outcome.data)}\n` : ensureNewline(outcome.text));
  if (outcome.note !== undefined) process.stderr.write(ensureNewline(outcome.note));
}

export interface PrintedError {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** `error[CODE]: message` on stderr; with --json also `{"error": ...}` on stdout, the HTTP API's own shape. */
export function printError(error: PrintedError, json: boolean): void {
  process.stderr.write(`error[${error.code}]: ${error.message}\n`);
  const codes = error.details?.['codes'];
  if (Array.isArray(codes) && codes.length > 1) process.stderr.write(`  every failing gate: ${codes.join(', ')}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error })}\n`);
}

/** `label  value` lines with the values aligned; null and undefined values are left out. */
export function fields(rows: readonly (readonly [string, unknown])[]): string {
  const shown = rows.filter(([, v]) => v !== null && v !== undefined);
  const width = Math.max(0, ...shown.map(([label]) => label.length));
  return shown.map(([label, value]) => `${label.padEnd(width)}  ${show(value)}`).join('\n') + '\n';
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [header, ...rows];
  const widths = header.map((_, i) => cells.reduce((widest, row) => Math.max(widest, (row[i] ?? '').length), 0));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

/**
 * Ids for a human: all of them when few, else how many and the first ones (a
 * halt over a busy environment revokes tens of thousands of grants); `--json`
 * has them all.
 */
export function ids(list: readonly string[], shown = 10): string {
  if (list.length <= shown) return show(list);
  return `${list.length}: ${list.slice(0, shown).join(', ')}, ... (every id with --json)`;
}

/** A value for a human: strings as they are, lists joined, anything else as compact JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.length === 0 ? '-' : value.join(', ');
  return JSON.stringify(value) ?? String(value);
}

/** A string field of an answer, or null: answers are read defensively, the gateway may be older or newer. */
export function text(source: Readonly<Record<string, unknown>>, key: string): string | null {
  const value = source[key];
  return typeof value === 'string' ? value : null;
}

function ensureNewline(s: string): string {
  return s === '' || s.endsWith('\n') ? s : `${s}\n`;
}
