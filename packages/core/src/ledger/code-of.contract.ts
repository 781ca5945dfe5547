import { CountersignError } from '../errors.js';

/**
 * The code of the CountersignError `f` throws, or undefined when it returns.
 * Anything else it throws is rethrown: a test expecting a code fails on it.
 * (A test helper: `*.contract.ts` is left out of the build and of mutation.)
 */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof CountersignError) return err.code;
    throw err;
  }
  return undefined;
}
