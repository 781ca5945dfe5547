import { CountersignError } from '../errors.js';

/**
 * What STYLE.md asks of every error message, as a test can check it without
 * pinning the wording (codes are API, wording is not): there is one, it
 * starts lower case (or with a quoted value or a number), it has no final
 * period, and no value interpolated into it went missing or came out as
 * `undefined` or `[object Object]` (nor, outside the backticks that quote
 * input, as `NaN`, or empty between two spaces). A `LEDGER_VERIFY_FAILED` message
 * is `entry <seq>: <what failed>`, and the part after the prefix is held to
 * the same rule. Returns what is wrong, or null.
 */
export function messageProblem(err: CountersignError): string | null {
  let text = err.message;
  if (err.code === 'LEDGER_VERIFY_FAILED') {
    const prefix = /^entry -?\d+: /.exec(text);
    if (prefix === null) return 'a verification failure names its entry first';
    text = text.slice(prefix[0].length);
  }
  if (text.trim().length === 0) return 'the message is empty';
  if (text !== text.trim()) return 'the message has leading or trailing space';
  if (!/^[a-z`'"\d(]/.test(text)) return 'the message does not start lower case';
  if (text.endsWith('.')) return 'the message ends with a period';
  // Quoted input is the caller's, whatever it holds (an empty name, `NaN`),
  // but no caller's input is a JavaScript `undefined` or a bare object.
  if (/`(undefined|\[object Object\])`/.test(text)) return 'a quoted value in the message is missing';
  const own = text.replace(/`[^`]*`/g, '`…`');
  if (/\bundefined\b|\bNaN\b|\[object Object\]/.test(own)) return 'a value in the message is missing';
  if (/:$|\s:| {2}/.test(own)) return 'a value in the message is empty';
  return null;
}

/** Fails the calling test when `err`'s message breaks the rule `messageProblem` states. */
export function expectWellFormedMessage(err: CountersignError): void {
  const problem = messageProblem(err);
  if (problem !== null) throw new Error(`${err.code}: ${problem}: ${JSON.stringify(err.message)}`);
}

/**
 * The CountersignError `f` throws, its message well formed (`messageProblem`),
 * or undefined when it returns. Anything else it throws is rethrown: a test
 * expecting a code fails on it.
 * (A test helper: `*.contract.ts` is left out of the build and of mutation.)
 */
function thrownBy(f: () => unknown): CountersignError | undefined {
  try {
    f();
  } catch (err) {
    if (!(err instanceof CountersignError)) throw err;
    expectWellFormedMessage(err);
    return err;
  }
  return undefined;
}

/** The code of the CountersignError `f` throws (see `thrownBy`), or undefined when it returns. */
export function codeOf(f: () => unknown): string | undefined {
  return thrownBy(f)?.code;
}

/** The CountersignError `f` throws (see `thrownBy`); fails when `f` returns. */
export function errorOf(f: () => unknown): CountersignError {
  const err = thrownBy(f);
  if (err === undefined) throw new Error('a CountersignError was expected, and none was thrown');
  return err;
}
