import { describe, expect, it } from 'vitest';
import { randomIds } from './ids.js';

describe('randomIds', () => {
  it('gives `<kind>-<12 hex time><16 hex random>` ids that never repeat, across refills of its pool', () => {
    const ids = randomIds();
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = ids.next('grant');
      expect(id).toMatch(/^grant-[0-9a-f]{28}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5_000);
  });

  it('sorts ids of later milliseconds after earlier ones, whatever their random part', () => {
    let now = 1_748_768_400_000;
    const ids = randomIds(() => now);
    const earlier = Array.from({ length: 50 }, () => ids.next('grant'));
    now += 1;
    const later = Array.from({ length: 50 }, () => ids.next('grant'));
    expect(earlier.every((a) => later.every((b) => a < b))).toBe(true);
    expect(earlier[0]!.slice(6, 18)).toBe((now - 1).toString(16).padStart(12, '0'));
  });

  it('shares nothing between generators', () => {
    const a = randomIds();
    const b = randomIds();
    expect(a.next('proposal')).not.toBe(b.next('proposal'));
  });
});
