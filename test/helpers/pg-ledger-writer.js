// A child process for test/postgres-two-writers.test.ts: opens the built
// Postgres store, says `ready`, waits for `go` on stdin, appends its first
// batch alone, says `started`, waits for a second `go`, then appends the rest:
// `count` entries in all, in batches of `batch`, `inflight` appends at a time.
// Prints one JSON line with what it appended; exits non-zero on any error.
import { createInterface } from 'node:readline';
import { PostgresLedgerStore } from '../../packages/gateway/dist/store/postgres.js';
import { appendDrafts } from '../../packages/gateway/dist/testing/plain-append.js';

const [url, schema, writer, count, batch, inflight] = process.argv.slice(2);
const total = Number(count);
const batchSize = Number(batch);

const store = await PostgresLedgerStore.open(url, { schema, poolSize: Number(inflight) + 1 });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function untilGo() {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error('stdin closed before `go`');
    if (value.trim() === 'go') return;
  }
}

let next = 0;
const seqs = [];
async function appendBatch() {
  const start = next;
  const size = Math.min(batchSize, total - start);
  next += size;
  const drafts = Array.from({ length: size }, (_, i) => ({
    at: '2025-01-01T00:00:00.000Z',
    type: 'test.appended',
    actor: writer,
    surface: 'signed-cli',
    bundle_id: null,
    subjects: { writer },
    payload: { writer, n: start + i },
  }));
  const sealed = await appendDrafts(store, drafts);
  for (const entry of sealed) seqs.push(entry.seq);
}
async function worker() {
  while (next < total) await appendBatch();
}
try {
  process.stdout.write('ready\n');
  await untilGo();
  await appendBatch();
  process.stdout.write('started\n');
  await untilGo();
  await lines.return();
  await Promise.all(Array.from({ length: Number(inflight) }, worker));
  process.stdout.write(`${JSON.stringify({ writer, appended: seqs.length, seqs })}\n`);
} catch (err) {
  process.stderr.write(`writer ${writer} failed: ${err && err.code} ${err && err.message}\n`);
  process.exitCode = 1;
} finally {
  await store.close();
  // a failure before the second `go` leaves stdin open: let the process exit and report
  process.stdin.destroy();
}
