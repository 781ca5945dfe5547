import { describe, expect, it } from 'vitest';
import { table } from './output.js';

describe('table', () => {
  it('pads each column to its widest cell', () => {
    expect(table(['id', 'status'], [['request-1', 'open'], ['r-2', 'approved']])).toBe('id         status\nrequest-1  open\nr-2        approved\n');
  });

  it('prints 200,000 rows: the widths are found without spreading the rows into one call', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [`request-${i}`, 'open']);
    const lines = table(['id', 'status'], rows).trimEnd().split('\n');
    expect(lines).toHaveLength(200_001);
    expect(lines[1]).toBe(`${'request-0'.padEnd('request-199999'.length)}  open`);
  });
});
