import { isCountersignError } from '@countersign/core';
import { GatewayError } from '../errors.js';

/**
 * Exit codes scripts can rely on. Documented in the README.
 *   0  success
 *   1  a negative answer: policy invalid, golden cases failed, ledger verification failed, step not allowed
 *   2  usage or input error: bad flags, unreadable or malformed file
 *   3  environment error: store or server unreachable, key unusable
 *   70 internal error (a bug)
 */
export const EXIT = { OK: 0, NEGATIVE: 1, USAGE: 2, ENVIRONMENT: 3, INTERNAL: 70 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const NEGATIVE_CODES = new Set(['LEDGER_VERIFY_FAILED', 'POLICY_INVALID', 'EXPORT_UNSIGNED_TAIL', 'EXPORT_CHANGED']);
const ENVIRONMENT_CODES = new Set(['STORE_UNAVAILABLE', 'KEY_INVALID', 'MIGRATION_FAILED']);

/** Print an error as `error[CODE]: message` to stderr and return the exit code it maps to. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): ExitCode {
  if (isCountersignError(err) || err instanceof GatewayError) {
    stderr.write(`error[${err.code}]: ${err.message}\n`);
    if (NEGATIVE_CODES.has(err.code)) return EXIT.NEGATIVE;
    if (ENVIRONMENT_CODES.has(err.code)) return EXIT.ENVIRONMENT;
    return EXIT.USAGE;
  }
  const message = err instanceof Error ? err.message : String(err);
  stderr.write(`error[INTERNAL]: ${message}\n`);
  return EXIT.INTERNAL;
}
