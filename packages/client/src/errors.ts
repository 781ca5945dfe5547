/**
 * The client's one error class. `code` is either a code the gateway sent in
 * `{ "error": { code, message, details } }` (passed through unchanged, so
 * scripts match on the same codes as the HTTP API), or one of the client's
 * own below. Codes are API; wording is not.
 */
export type ClientErrorCode =
  /** The gateway could not be reached: connection refused, DNS, TLS, timeout. No answer means no authority. */
  | 'UNREACHABLE'
  /** The gateway answered with something that is not the documented JSON. */
  | 'BAD_RESPONSE'
  /** `waitForRequest` gave up while the request was still open. */
  | 'WAIT_TIMEOUT'
  /** A step was not granted (denied, held, still open, expired, awaiting a rollback artifact): the tool does not run. */
  | 'NOT_GRANTED'
  /** A grant is not a well-formed compact JWS with valid claims. */
  | 'GRANT_INVALID'
  | 'BAD_SIGNATURE'
  | 'GRANT_EXPIRED'
  | 'BUNDLE_CHANGED'
  | 'DIGEST_MISMATCH'
  | 'USAGE';

/** A gateway code, as sent; kept open so new server codes reach callers unchanged. */
export type ServerErrorCode = string & { readonly __server?: never };

export class CountersignClientError extends Error {
  readonly code: ClientErrorCode | ServerErrorCode;
  /** HTTP status of the gateway's answer; null when there was none (UNREACHABLE) or no request at all. */
  readonly status: number | null;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ClientErrorCode | ServerErrorCode,
    message: string,
    options: { readonly status?: number | null; readonly details?: Record<string, unknown>; readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CountersignClientError';
    this.code = code;
    this.status = options.status ?? null;
    this.details = options.details;
  }
}

export function isCountersignClientError(err: unknown): err is CountersignClientError {
  return err instanceof CountersignClientError;
}
