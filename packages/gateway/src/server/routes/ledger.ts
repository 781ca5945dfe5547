import { Readable } from 'node:stream';
import { ENDPOINTS } from '@countersign/client/contract';
import { buildTrace, decodeEntry, exportCheckpointLine, exportEntryLine, exportHeaderLine, type LedgerEntry } from '@countersign/core';
import { ApiError, route, type RouteSpec } from '../app.js';
import type { ServerContext } from '../context.js';

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
    route(ENDPOINTS.ledgerHead, {
      handler: async () => {
        const [head, checkpoint] = await Promise.all([ctx.store.head(), ctx.store.latestCheckpoint()]);
        return { size: head.size, checkpoint: checkpoint ? { tree_size: checkpoint.treeSize, note: checkpoint.note } : null };
      },
    }),
    route(ENDPOINTS.exportLedger, {
      handler: async () => {
        // a checkpoint covering everything so far, so the export verifies to its end
        await ctx.checkpoints.flush();
        return Readable.from(exportLines(ctx));
      },
    }),
    route(ENDPOINTS.checkpoint, {
      handler: async () => {
        const latest = await ctx.store.latestCheckpoint();
        if (latest === null) throw new ApiError('NO_CHECKPOINT', 'the ledger has no signed checkpoint yet');
        return { tree_size: latest.treeSize, note: latest.note };
      },
    }),
    route(ENDPOINTS.prove, {
      handler: async ({ params }) => {
        const proof = await ctx.checkpoints.prove(params.seq);
        return { ...proof, path: [...proof.path] };
      },
    }),
    route(ENDPOINTS.trace, {
      handler: async ({ params }) => {
        const trace = buildTrace(await allEntries(ctx), params.id);
        return { ...trace, bundle_ids: [...trace.bundle_ids], steps: [...trace.steps], lines: [...trace.lines] };
      },
    }),
  ];
}
