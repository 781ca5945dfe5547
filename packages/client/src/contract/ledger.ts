import { z } from 'zod';
import { endpoint } from './endpoint.js';
import { IdParams } from './bounds.js';

/** A signed checkpoint: a C2SP signed note over the first `tree_size` entries. */
export const Checkpoint = z.object({ tree_size: z.number().int(), note: z.string() });
export type Checkpoint = z.output<typeof Checkpoint>;

export const LedgerHead = z.object({ size: z.number().int(), checkpoint: Checkpoint.nullable() });
export type LedgerHead = z.output<typeof LedgerHead>;

/** RFC 9162 inclusion proof of one entry, the JSON of `countersign ledger prove`. */
export const InclusionProof = z.object({
  seq: z.number().int(),
  entry: z.string(),
  leaf_hash: z.string(),
  leaf_index: z.number().int(),
  tree_size: z.number().int(),
  path: z.array(z.string()),
  root: z.string(),
  checkpoint: z.string(),
});
export type InclusionProof = z.output<typeof InclusionProof>;

const SeqParams = z.strictObject({ seq: z.string().regex(/^(0|[1-9]\d{0,15})$/, 'a ledger sequence number').transform(Number) });

/** The authority chain rebuilt from the ledger; its steps and lines are core's `Trace` (`buildTrace`), the type the client returns. */
export const TraceResult = z.looseObject({ id: z.string(), kind: z.string(), bundle_ids: z.array(z.string()), steps: z.array(z.unknown()), lines: z.array(z.unknown()) });

export const LEDGER_ENDPOINTS = {
  ledgerHead: endpoint({
    method: 'GET',
    path: '/v1/ledger/head',
    summary: 'ledger size and the latest signed checkpoint',
    tag: 'ledger',
    operation: 'ledger_read',
    response: LedgerHead,
  }),
  /** JSON Lines, the format of `countersign ledger export`, streamed. */
  exportLedger: endpoint({
    method: 'GET',
    path: '/v1/ledger/export',
    summary: 'the whole ledger as JSON Lines (the format of `countersign ledger export`), streamed; verify it offline with the gateway public key',
    tag: 'ledger',
    operation: 'ledger_read',
    response: z.string(),
    stream: { contentType: 'application/jsonl' },
  }),
  checkpoint: endpoint({
    method: 'GET',
    path: '/v1/ledger/checkpoint',
    summary: 'the latest signed checkpoint (C2SP signed note)',
    tag: 'ledger',
    operation: 'checkpoint',
    response: Checkpoint,
  }),
  prove: endpoint({
    method: 'GET',
    path: '/v1/ledger/proofs/{seq}',
    summary: 'RFC 9162 inclusion proof of entry `seq` against the latest signed checkpoint (the JSON of `countersign ledger prove`)',
    tag: 'ledger',
    operation: 'prove',
    params: SeqParams,
    response: InclusionProof,
  }),
  trace: endpoint({
    method: 'GET',
    path: '/v1/trace/{id}',
    summary: 'the authority chain of a request, proposal, step, grant, override or incident, rebuilt from the ledger',
    tag: 'ledger',
    operation: 'trace',
    params: IdParams,
    response: TraceResult,
  }),
};
