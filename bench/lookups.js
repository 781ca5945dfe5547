// Benchmark: what the gateway reads to answer, as the state grows (issue 12,
// ADR 006). With REQUESTS open requests held (each a restart of its own
// worker pool in prod, which needs approval), through `countersign serve` on
// SQLite:
//
//   1. a retried one-call proposal (`POST /v1/proposals/execute?resume=true`)
//      that finds the newest of them: p50 and p99, one call at a time. It
//      reads the step digest index; before that index, it read every
//      request ever opened (7.41 ms at the median with 50,000 held).
//   2. the default listing of open requests (`GET /v1/requests`, 50 a page),
//      and one page after a cursor in the middle: p50 and p99.
//
//   node bench/run.js lookups   (needs `npm run build` first)
//   BENCH_LOOKUPS_REQUESTS=100000 node bench/run.js lookups
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { gatewayKey, issueToken, serveGateway, stop } from './processes.js';
import { int, percentile } from './stats.js';

const REQUESTS = Number(process.env.BENCH_LOOKUPS_REQUESTS ?? 50_000);
const CALLS = 2_000;
const CONNECTIONS = 16;

const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-lookups-'));
let gateway = null;
try {
  await main();
} finally {
  if (gateway !== null && gateway.exitCode === null) gateway.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

async function main() {
  const store = ['--db', join(dir, 'ledger.db')];
  const key = gatewayKey(dir);
  const agent = { 'content-type': 'application/json', authorization: `Bearer ${issueToken(store, 'payments-copilot', 'copilot-console')}` };
  const approver = { authorization: `Bearer ${issueToken(store, 'priya', 'approver-console')}` };
  const served = await serveGateway({ store, key });
  gateway = served.child;
  const pool = new Pool(served.url, { connections: CONNECTIONS });

  const body = (i) =>
    JSON.stringify({
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'workers.restart_pool', environment: 'prod', target: `pool-${i}`, params: { strategy: 'rolling' } }],
    });
  const send = async (path, method, headers, payload) => {
    const res = await pool.request({ path, method, headers, body: payload });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text);
  };

  log(`opening ${int(REQUESTS)} requests over ${CONNECTIONS} connections`);
  const started = performance.now();
  let next = 0;
  let middle = null;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        const answer = await send('/v1/proposals', 'POST', agent, body(i));
        if (i === Math.floor(REQUESTS / 2)) middle = answer.steps[0].request;
        if ((i + 1) % 10_000 === 0) log(`${int(i + 1)} of ${int(REQUESTS)} after ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
    }),
  );

  const newest = body(REQUESTS - 1);
  const resume = () => send('/v1/proposals/execute?resume=true', 'POST', agent, newest);
  const first = await resume();
  if (first.resumed !== true) throw new Error(`the retried call was not resumed: ${JSON.stringify(first)}`);
  const retried = await timed(resume);
  const listed = await timed(() => send('/v1/requests?limit=50', 'GET', approver));
  const paged = await timed(() => send(`/v1/requests?limit=50&cursor=${middle}`, 'GET', approver));
  await pool.close();
  await stop(gateway);

  const rows = [
    ['a retried one-call proposal, resumed with the newest request', retried],
    ['the open requests, first page of 50', listed],
    ['the open requests, a page after a cursor half way', paged],
  ];
  process.stdout.write(`\nwith ${int(REQUESTS)} open requests held, one call at a time (${int(CALLS)} calls each)\n`);
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(`${''.padEnd(width)}  ${'p50 (ms)'.padStart(9)}  ${'p99 (ms)'.padStart(9)}\n`);
  for (const [label, q] of rows) process.stdout.write(`${label.padEnd(width)}  ${q.p50.toFixed(2).padStart(9)}  ${q.p99.toFixed(2).padStart(9)}\n`);
}

/** p50 and p99 of CALLS sequential calls, after 100 to warm up. */
async function timed(call) {
  for (let i = 0; i < 100; i++) await call();
  const latencies = [];
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await call();
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

function log(line) {
  process.stderr.write(`lookups: ${line}\n`);
}
