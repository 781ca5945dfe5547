import { describe, expect, it } from 'vitest';
import { uniqueKey } from './entries.js';

/**
 * The store's uniqueness backstop (ADR 002 §5): entries that must happen at
 * most once carry a unique key, so two replicas racing on the same stale
 * state cannot both commit them. Everything else has none.
 */

describe('uniqueKey', () => {
  it('keys a step’s execution by the step, whichever authority ran it', () => {
    expect(uniqueKey({ type: 'grant.consumed', payload: { jti: 'grant-1', step: 'proposal-1.0' } })).toBe('step.executed:proposal-1.0');
    expect(uniqueKey({ type: 'lease.used', payload: { lease: 'lease-1', step: 'proposal-1.0' } })).toBe('step.executed:proposal-1.0');
    // a payload that names no step cannot be keyed by one
    expect(uniqueKey({ type: 'grant.consumed', payload: { jti: 'grant-1' } })).toBeNull();
  });

  it('keys a grant’s issue by its jti and an outcome by its execution', () => {
    expect(uniqueKey({ type: 'grant.issued', payload: { jti: 'grant-7' } })).toBe('grant.issued:grant-7');
    expect(uniqueKey({ type: 'grant.issued', payload: {} })).toBeNull();
    expect(uniqueKey({ type: 'execution.outcome', payload: { execution: 'execution-3' } })).toBe('execution.outcome:execution-3');
    expect(uniqueKey({ type: 'execution.outcome', payload: { execution: 3 } })).toBeNull();
  });

  it('keys a passkey’s registration by its credential id', () => {
    expect(uniqueKey({ type: 'passkey.registered', payload: { credential_id: 'cred-lena-phone', principal: 'lena' } })).toBe('passkey.registered:cred-lena-phone');
    expect(uniqueKey({ type: 'passkey.registered', payload: { principal: 'lena' } })).toBeNull();
  });

  it('gives every other entry no key', () => {
    for (const type of ['proposal.received', 'approval.accepted', 'hold.opened', 'grant.revoked', 'request.approved'] as const) {
      expect(uniqueKey({ type, payload: { jti: 'grant-1', execution: 'execution-1', step: 'proposal-1.0' } })).toBeNull();
    }
  });
});
