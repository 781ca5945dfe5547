import { ERROR_STATUS, statusOfCode } from '@countersign/client/contract';

/**
 * Stable error codes become HTTP statuses by the contract's one table
 * (`ERROR_STATUS` in @countersign/client/contract, ADR 005), where clients
 * read it too; the rule for choosing a status is written at its top.
 * Anything not listed is a 500 that says only `internal error`.
 */
export function httpStatusFor(code: string): number {
  return statusOfCode(code);
}

/** Every code with its status, for docs and the table-driven tests. */
export function statusTable(): Readonly<Record<string, number>> {
  return ERROR_STATUS;
}
