import { Readable } from 'node:stream';
import { z } from 'zod';
import { buildTrace, decodeEntry, exportCheckpointLine, exportEntryLine, exportHeaderLine, type LedgerEntry } from '@countersign/core';
import { ApiError, route, type RouteSpec } from '../app.js';
import type { ServerContext } from '../context.js';
import { IdParams } from './bounds.js';

const Checkpoint = z.object({ tree_size: z.number().int(), note: z.string() });
const SeqParams = z.strictObject({ seq: z.string().regex(/^(0|[1-9]\d{0,15})$/, 'a ledger sequence number').transform(Number) });

/** JSON Lines as `countersign ledger export` writes them: a header, every entry's bytes, each checkpoint after its last entry. */
async function* exportLines(ctx: ServerContext): AsyncGenerator<Buffer> {
  const { store } = ctx;
  yield Buffer.from(exportHeaderLine(ctx.origin));
  const checkpoints = store.checkpoints()[Symbol.asyncIterator]();
  let next = await checkpoints.next();
  async function* upTo(treeSize: number): AsyncGenerator<Buffer> {
    while (!next.done && next.value.treeSize <= treeSize) {
      yield Buffer.from(exportCheckpointLine(next.value.note));
      next = await checkpoints.next();
    }
  }
  yield* upTo(0);
  for await (const entry of store.read(0)) {
    yield Buffer.from(exportEntryLine(entry.bytes));
    yield* upTo(entry.seq + 1);
  }
  yield* upTo(Number.MAX_SAFE_INTEGER);
}

async function allEntries(ctx: ServerContext): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  for await (const sealed of ctx.store.read(0)) entries.push(decodeEntry(sealed.bytes));
  return entries;
}

export function ledgerRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route({
      method: 'GET',
      path: '/v1/ledger/head',
      summary: 'ledger size and the latest signed checkpoint',
      tag: 'ledger',
      operation: 'ledger_read',
      response: z.object({ size: z.number().int(), checkpoint: Checkpoint.nullable() }),
      handler: async () => {
        const [head, checkpoint] = await Promise.all([ctx.store.head(), ctx.store.latestCheckpoint()]);
        return { size: head.size, checkpoint: checkpoint ? { tree_size: checkpoint.treeSize, note: checkpoint.note } : null };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/ledger/export',
      summary: 'the whole ledger as JSON Lines (the format of `countersign ledger export`), streamed; verify it offline with the gateway public key',
      tag: 'ledger',
      operation: 'ledger_read',
      response: z.string(),
      stream: { contentType: 'application/jsonl' },
      handler: async () => {
        // a checkpoint covering everything so far, so the export verifies to its end
        await ctx.checkpoints.flush();
        return Readable.from(exportLines(ctx));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/ledger/checkpoint',
      summary: 'the latest signed checkpoint (C2SP signed note)',
      tag: 'ledger',
      operation: 'checkpoint',
      response: Checkpoint,
      handler: async () => {
        const latest = await ctx.store.latestCheckpoint();
        if (latest === null) throw new ApiError('NO_CHECKPOINT', 'the ledger has no signed checkpoint yet');
        return { tree_size: latest.treeSize, note: latest.note };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/ledger/proofs/:seq',
      summary: 'RFC 9162 inclusion proof of entry `seq` against the latest signed checkpoint (the JSON of `countersign ledger prove`)',
      tag: 'ledger',
      operation: 'prove',
      params: SeqParams,
      response: z.object({
        seq: z.number().int(),
        entry: z.string(),
        leaf_hash: z.string(),
        leaf_index: z.number().int(),
        tree_size: z.number().int(),
        path: z.array(z.string()),
        root: z.string(),
        checkpoint: z.string(),
      }),
      handler: async ({ params }) => {
        const proof = await ctx.checkpoints.prove(params.seq);
        return { ...proof, path: [...proof.path] };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/trace/:id',
      summary: 'the authority chain of a request, proposal, step, grant, override or incident, rebuilt from the ledger',
      tag: 'ledger',
      operation: 'trace',
      params: IdParams,
      response: z.looseObject({ id: z.string(), kind: z.string(), bundle_ids: z.array(z.string()), steps: z.array(z.unknown()), lines: z.array(z.unknown()) }),
      handler: async ({ params }) => {
        const trace = buildTrace(await allEntries(ctx), params.id);
        return { ...trace, bundle_ids: [...trace.bundle_ids], steps: [...trace.steps], lines: [...trace.lines] };
      },
    }),
  ];
}
