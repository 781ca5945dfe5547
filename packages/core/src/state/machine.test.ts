import { describe, expect, it } from 'vitest';
import { examplePolicy, inspectStep, ok, restartStep, World } from '../../../../test/scenario/world.js';

/**
 * The in-memory machine seals every draft exactly as the sequencer does: one
 * hash chain, each entry naming the hash of the one before (ADR 001), and
 * applies what the sealed bytes say.
 */

describe('the machine’s ledger', () => {
  it('is one hash chain: every entry names the hash of the entry before it', () => {
    const w = new World(examplePolicy());
    ok(w.propose([inspectStep(), restartStep()]));
    ok(w.propose([inspectStep({ target: 'payments-queue/shard-8' })]));
    const { sealed, entries } = w.machine;
    expect(sealed.length).toBeGreaterThan(4);
    expect(entries[0]?.prev_hash).toBe('0'.repeat(64));
    for (let i = 1; i < sealed.length; i += 1) {
      expect(entries[i]?.seq).toBe(i);
      expect(entries[i]?.prev_hash).toBe(Buffer.from(sealed[i - 1]?.hash ?? []).toString('hex'));
    }
  });
});
