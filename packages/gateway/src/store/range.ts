import { GatewayError } from '../errors.js';

/** Rows fetched per round trip when reading: bounds the memory of any read, however long the ledger. */
export const READ_PAGE_SIZE = 1000;

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function assertReadRange(from: number, to: number | undefined): void {
  if (!isSeq(from) || (to !== undefined && !isSeq(to))) {
    throw new GatewayError('USAGE', `read range \`${String(from)}\`..\`${String(to)}\` is not a pair of non-negative integers`);
  }
}

export function assertTreeSize(treeSize: number): void {
  if (!isSeq(treeSize)) {
    throw new GatewayError('USAGE', `checkpoint tree size \`${String(treeSize)}\` is not a non-negative integer`);
  }
}
