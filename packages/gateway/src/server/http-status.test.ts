import { describe, expect, it } from 'vitest';
import { COMMAND_CODES } from '@countersign/core';
import { httpStatusFor } from './http-status.js';
import type { JsonBodyCode } from './json-body.js';
import type { ProtocolErrorCode } from './protocol-errors.js';

/** Every code the body parser, Node's HTTP layer and the router answer with; `satisfies` makes a new one in either union fail to compile until listed. */
const INPUT_STATUSES = {
  BAD_REQUEST: 400,
  BODY_INVALID_UTF8: 400,
  BODY_DUPLICATE_KEY: 400,
  BODY_NUMBER_NOT_CANONICAL: 400,
  BODY_FORBIDDEN_KEY: 400,
  REQUEST_MALFORMED: 400,
  URL_MALFORMED: 400,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  PATH_PARAM_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  EXPECTATION_FAILED: 417,
  HEADERS_TOO_LARGE: 431,
} as const satisfies Record<JsonBodyCode | ProtocolErrorCode | 'URL_MALFORMED' | 'PATH_PARAM_TOO_LONG' | 'UNSUPPORTED_MEDIA_TYPE', number>;

describe('httpStatusFor', () => {
  it('maps every workflow refusal to a 4xx, never a 5xx', () => {
    for (const code of COMMAND_CODES) {
      const status = httpStatusFor(code);
      expect([code, status >= 400 && status < 500]).toEqual([code, true]);
    }
  });

  it('maps credentials to 401, rights to 403, and unknown codes to 500', () => {
    for (const code of ['TOKEN_MISSING', 'TOKEN_MALFORMED', 'TOKEN_UNKNOWN', 'TOKEN_REVOKED', 'TOKEN_EXPIRED']) expect(httpStatusFor(code)).toBe(401);
    expect(httpStatusFor('FORBIDDEN')).toBe(403);
    expect(httpStatusFor('SOMETHING_ELSE')).toBe(500);
  });

  it('maps every code of unreadable input to its 4xx, none to the 500 of an unmapped code', () => {
    for (const [code, status] of Object.entries(INPUT_STATUSES)) expect([code, httpStatusFor(code)]).toEqual([code, status]);
  });
});
