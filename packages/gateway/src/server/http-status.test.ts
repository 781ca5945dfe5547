import { describe, expect, it } from 'vitest';
import { COMMAND_CODES } from '@countersign/core';
import { httpStatusFor } from './http-status.js';

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
});
