// Benchmark: the tail of a gateway with a long past (issue 12, ADR 006). The
// stalls of `bench/http.js` at a fixed rate come from the collector marking a
// heap that grows with the ledger, so this part gives the gateway a past
// first: PROPOSALS of the bench's allowed one-step proposals (closed loop),
// through `countersign serve` on SQLite. Then ROUNDS rounds at a fixed RATE
// well under the machine's maximum, open loop (each request's latency counts
// from when it was due), each with the gateway's heap when it began and the
// major collections in it.
//
//   node bench/run.js tail      (needs `npm run build` first)
//   BENCH_TAIL_PROPOSALS=300000 BENCH_TAIL_RATE=1000 node bench/run.js tail
//   BENCH_GATEWAY_NODE_ARGS='--max-semi-space-size=64' node bench/run.js tail
//                              (node/V8 flags for the gateway process alone)
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { gcFigures, paced } from './load.js';
import { gatewayKey, issueToken, serveGateway, stop } from './processes.js';
import { int } from './stats.js';

const PROPOSALS = Number(process.env.BENCH_TAIL_PROPOSALS ?? 150_000);
const RATE = Number(process.env.BENCH_TAIL_RATE ?? 700);
const ROUNDS = Number(process.env.BENCH_TAIL_ROUNDS ?? 3);
const ROUND_S = 10;
const GATEWAY_NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
const PROPOSAL = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }] };

for (const [name, value] of [['BENCH_TAIL_PROPOSALS', PROPOSALS], ['BENCH_TAIL_RATE', RATE], ['BENCH_TAIL_ROUNDS', ROUNDS]]) {
  if (!Number.isSafeInteger(value) || value <= 0) {
    process.stderr.write(`error[USAGE]: ${name} must be a positive integer\n`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-tail-'));
let gateway = null;
try {
  const db = join(dir, 'ledger.db');
  const key = gatewayKey(dir);
  const token = issueToken(['--db', db], 'payments-copilot', 'copilot-console');
  const served = await serveGateway({ store: ['--db', db], key, nodeArgs: GATEWAY_NODE_ARGS });
  gateway = served.child;
  const url = `${served.url}/v1/proposals`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const body = JSON.stringify(PROPOSAL);

  process.stdout.write(`tail: giving the gateway a past of ${int(PROPOSALS)} proposals, closed loop over 64 connections\n`);
  const filled = await autocannon({ url, method: 'POST', headers, body, connections: 64, amount: PROPOSALS });
  if (filled.non2xx > 0 || filled.errors > 0) throw new Error(`filling: ${filled.non2xx} non-2xx answers, ${filled.errors} errors`);
  process.stdout.write(`tail: ${int(filled['2xx'])} proposals in ${filled.duration.toFixed(0)} s; now ${ROUNDS} rounds at ${int(RATE)}/s, open loop, ${ROUND_S} s each\n`);

  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const before = await gcFigures(served.url);
    const run = await paced({ url, method: 'POST', headers, body, rate: RATE, duration: ROUND_S, connections: 32 });
    const after = await gcFigures(served.url);
    if (run.bad > 0 || run.errors > 0) throw new Error(`round ${round}: ${run.bad} non-2xx answers, ${run.errors} errors`);
    rows.push([
      `round ${round}`,
      run.p50.toFixed(2),
      run.p99.toFixed(2),
      run.max.toFixed(2),
      before === null ? 'n/a' : int(before.heapMb),
      before === null || after === null ? 'n/a' : `${after.majors - before.majors}, ${((after.majorS - before.majorS) * 1000).toFixed(1)}`,
    ]);
  }
  const table = [['', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'heap MB at start', 'major GCs, their pauses (ms)'], ...rows];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => String(row[c]).length)));
  process.stdout.write('\n');
  for (const row of table) process.stdout.write(`${row.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('   ')}\n`);
} finally {
  if (gateway !== null) await stop(gateway);
  rmSync(dir, { recursive: true, force: true });
}
