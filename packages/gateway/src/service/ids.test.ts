import { describe, expect, it } from 'vitest';
import { randomIds } from './ids.js';

describe('randomIds', () => {
  it('gives `<kind>-<16 hex>` ids that never repeat, across refills of its pool', () => {
    const ids = randomIds();
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = ids.next('grant');
      expect(id).toMatch(/^grant-[0-9a-f]{16}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5_000);
  });

  it('shares nothing between generators', () => {
    const a = randomIds();
    const b = randomIds();
    expect(a.next('proposal')).not.toBe(b.next('proposal'));
  });
});
