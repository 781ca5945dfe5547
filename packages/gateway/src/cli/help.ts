import { EXIT, type ExitCode } from './exit.js';

/**
 * What each exit code means for one command, in its own words. The README's
 * table says what a code means for every command; a command lists only the
 * codes it can return. 70 (a bug) can happen anywhere and is always listed.
 */
export interface ExitMeanings {
  readonly ok: string;
  readonly negative?: string;
  readonly usage: string;
  readonly environment?: string;
}

const WIDTH = 80;

/** The `Exit codes:` section of a command's `--help`, the README's table with this command's meanings. */
export function exitCodesHelp(meanings: ExitMeanings): string {
  const rows: readonly (readonly [ExitCode, string | undefined])[] = [
    [EXIT.OK, meanings.ok],
    [EXIT.NEGATIVE, meanings.negative],
    [EXIT.USAGE, meanings.usage],
    [EXIT.ENVIRONMENT, meanings.environment],
    [EXIT.INTERNAL, 'internal error (a bug: please report it)'],
  ];
  const lines = rows.flatMap(([code, text]) => (text === undefined ? [] : [wrap(`  ${String(code).padEnd(2)} `, text)]));
  return `\nExit codes:\n${lines.join('\n')}`;
}

/** The README's wording of 2 and 3, for commands that read files and a ledger store. */
export const USAGE_INPUT = 'usage or input: bad flags, an unreadable or malformed file';
export const ENVIRONMENT_STORE = 'environment: the store is unreachable';

/** Continuation lines line up under the meaning, as commander indents option descriptions. */
function wrap(prefix: string, text: string): string {
  const lines: string[] = [];
  let line = prefix;
  for (const word of text.split(' ')) {
    if (line.length > prefix.length && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = ' '.repeat(prefix.length) + word;
    } else {
      line += line.length > prefix.length ? ` ${word}` : word;
    }
  }
  lines.push(line);
  return lines.join('\n');
}
