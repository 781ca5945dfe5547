import { CountersignClientError } from '@countersign/client';
import { describe, expect, it } from 'vitest';
import { clientExitCode } from './connection.js';
import { parseHaltScope } from './halt.js';

const err = (code: string, status: number | null = null) => new CountersignClientError(code, 'm', { status });

describe('clientExitCode', () => {
  it('says environment (3) when the gateway could not be asked or the credential was refused', () => {
    for (const e of [err('UNREACHABLE'), err('BAD_RESPONSE', 200), err('TOKEN_MISSING'), err('TOKEN_EXPIRED', 401), err('INTERNAL', 500), err('NOT_READY', 503), err('NOT_FOUND', 404)]) {
      expect(clientExitCode(e), e.code).toBe(3);
    }
  });

  it('says usage (2) for what was malformed on this side', () => {
    for (const e of [err('USAGE'), err('PROPOSAL_INVALID', 400), err('BODY_TOO_LARGE', 413), err('UNSUPPORTED_MEDIA_TYPE', 415)]) {
      expect(clientExitCode(e), e.code).toBe(2);
    }
  });

  it('says negative (1) for every answer that is the gateway saying no', () => {
    for (const e of [err('FORBIDDEN', 403), err('SELF_APPROVAL', 409), err('REQUEST_UNKNOWN', 404), err('GRANT_USED', 409), err('O2_SCOPE_CREEP', 422), err('WAIT_TIMEOUT'), err('DIGEST_MISMATCH'), err('DECLINED')]) {
      expect(clientExitCode(e), e.code).toBe(1);
    }
  });
});

describe('parseHaltScope', () => {
  it('reads env:, incident: and all, and nothing else', () => {
    expect(parseHaltScope('env:prod')).toEqual({ kind: 'environment', environment: 'prod' });
    expect(parseHaltScope('incident:inc:7')).toEqual({ kind: 'incident', incident: 'inc:7' });
    expect(parseHaltScope('all')).toEqual({ kind: 'all' });
    for (const bad of ['prod', 'env:', 'ALL', 'environment:prod', ':prod', '']) expect(() => parseHaltScope(bad), bad).toThrow(/`--scope` must be/);
  });
});
