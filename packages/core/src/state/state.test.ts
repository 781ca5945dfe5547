import { describe, expect, it } from 'vitest';
import { examplePolicy, inspectStep, ok, World } from '../../../../test/scenario/world.js';
import { rebuildState } from './machine.js';
import { BUNDLE_ROW_ID, createState, projectionRow, projectionRows } from './state.js';

/**
 * The projections a store keeps beside the ledger: one row per (kind, id),
 * the bundle in force as the one row `bundle/active`, and the sequence number
 * of the last entry applied, so a replica knows where to resume.
 */

describe('projections', () => {
  it('keep the bundle in force as the single row `bundle/active`', () => {
    const w = new World(examplePolicy());
    expect(BUNDLE_ROW_ID).toBe('active');
    expect(projectionRows(w.state)[0]).toEqual({ kind: 'bundle', id: 'active', value: w.state.bundle });
    expect(projectionRow(w.state, { kind: 'bundle', id: 'active' })).toBe(w.state.bundle);
    expect(projectionRow(w.state, { kind: 'bundle', id: w.policy.bundleId })).toBeNull();
  });

  it('count the entries applied: none before the first, the last seq after', () => {
    expect(createState().seq).toBe(-1);
    expect(rebuildState([]).seq).toBe(-1);
    const w = new World(examplePolicy());
    ok(w.propose([inspectStep()]));
    expect(rebuildState(w.machine.entries).seq).toBe(w.machine.entries.length - 1);
  });
});
