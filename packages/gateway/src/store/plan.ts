import { uniqueKey, type AppendPlan, type EntryDraft, type ProjectionWrite } from '@countersign/core';
import { GatewayError } from '../errors.js';

/** A plain append: no projection rows, and the at-most-once keys its entries carry by type (ADR 002 §5). */
export function plainPlan(drafts: readonly EntryDraft[]): AppendPlan {
  return { drafts, uniqueKeys: drafts.map((draft) => uniqueKey(draft)), projections: [] };
}

export function assertKnownSize(knownSize: number): void {
  if (!Number.isSafeInteger(knownSize) || knownSize < 0) {
    throw new GatewayError('USAGE', `known ledger size \`${String(knownSize)}\` is not a non-negative integer`);
  }
}

/** A writer that believes the ledger is longer than it is has read another ledger: refuse before writing. */
export function assertWithinHead(knownSize: number, size: number): void {
  if (knownSize > size) {
    throw new GatewayError('STORE_CORRUPT', `the ledger has ${size} entries but this writer already read ${knownSize}`, { size, known: knownSize });
  }
}

/** The builder is gateway code, but a plan that does not line up would misfile keys: check before sealing. */
export function checkPlan(plan: AppendPlan): AppendPlan {
  if (plan.uniqueKeys.length !== plan.drafts.length) {
    throw new GatewayError('USAGE', `append plan has ${plan.drafts.length} drafts but ${plan.uniqueKeys.length} unique keys`);
  }
  return plan;
}

/** One write per row, the last one winning: a multi-row upsert may not touch a row twice. */
export function latestProjections(rows: readonly ProjectionWrite[]): ProjectionWrite[] {
  const latest = new Map<string, ProjectionWrite>();
  for (const row of rows) {
    const key = `${row.kind}\u0000${row.id}`;
    latest.delete(key);
    latest.set(key, row);
  }
  return [...latest.values()];
}
