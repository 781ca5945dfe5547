// Benchmark: cross-replica visibility (issue 12, Measure). Two `countersign
// serve` processes share one PostgreSQL schema; each follows the other's
// commits through LISTEN/NOTIFY. Printed, beside the target:
//
//   1. request visible on B: from A's 201 for a proposal that opens an
//      approval request to B's first 200 for `GET /v1/requests/{id}`, B
//      polled back to back (resolution: one loopback round trip)
//   2. approval wakes a long poll on B: from A's 200 for the approval to the
//      answer of a `?wait=30s` long poll held on B (event-driven, no polling)
//
// Target: p99 under 100 ms for both. B runs with `--replica-refresh off`, so
// nothing but the follower can bring it A's entries.
//
//   node bench/run.js replicas     (needs `npm run build` and PostgreSQL on
//                                   127.0.0.1:5432, or COUNTERSIGN_TEST_POSTGRES_URL)
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { signStatement } from '../packages/core/dist/index.js';
import { gatewayKey, issueToken, serveGateway, stop } from './processes.js';
import { percentile } from './stats.js';

const SAM_KEY = fileURLToPath(new URL('../test/fixtures/keys/sam.key', import.meta.url));
const URL_PG = process.env.COUNTERSIGN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SAMPLES = Number(process.env.BENCH_REPLICA_SAMPLES ?? 200);

const STEP = { action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'investigating' } };

await main();

async function main() {
  const probe = new pg.Client({ connectionString: URL_PG, connectionTimeoutMillis: 3_000 });
  try {
    await probe.connect();
  } catch {
    process.stdout.write(`replicas: skipped, PostgreSQL is not reachable at ${new URL(URL_PG).host}\n`);
    return;
  }
  const schema = `cs_bench_replicas_${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-replicas-'));
  const key = gatewayKey(dir);
  const children = [];
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  });
  try {
    const store = ['--postgres', URL_PG, '--schema', schema];
    const a = await serveGateway({ store, key });
    children.push(a.child);
    const b = await serveGateway({ store, key, extra: ['--replica-refresh', 'off'] });
    children.push(b.child);
    const agent = issueToken(store, 'payments-copilot', 'copilot-console');
    const sam = issueToken(store, 'sam', 'signed-cli');
    const samKey = createPrivateKey(readFileSync(SAM_KEY));

    const visible = [];
    const woken = [];
    let polls = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const proposed = await call(a.url, 'POST', '/v1/proposals', agent, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ ...STEP, params: { ...STEP.params, message: `investigating ${i}` } }] });
      const answered = performance.now();
      const id = proposed.body.steps[0].request;
      let seen;
      for (;;) {
        seen = await call(b.url, 'GET', `/v1/requests/${id}`, agent);
        polls += 1;
        if (seen.status === 200 || performance.now() - answered > 5_000) break;
      }
      visible.push(performance.now() - answered);
      if (seen.status !== 200) throw new Error(`request ${id} not visible on B after 5 s`);

      const held = call(b.url, 'GET', `/v1/requests/${id}?wait=30s`, agent).then((r) => ({ r, at: performance.now() }));
      // the long poll is in B's hands before the approval goes to A
      await new Promise((resolve) => setTimeout(resolve, 5));
      const approved = await call(a.url, 'POST', `/v1/requests/${id}/approvals`, sam, approval(seen.body, samKey));
      const approvedAt = performance.now();
      if (approved.status !== 200) throw new Error(`approval refused: ${approved.status} ${JSON.stringify(approved.body)}`);
      const { r, at } = await held;
      if (r.body.status !== 'approved') throw new Error(`B's long poll answered \`${r.body.status}\``);
      woken.push(at - approvedAt);
    }
    const rows = [
      ['request visible on B after A answered (ms)', quantiles(visible), '< 100 ms'],
      ['approval on A wakes a long poll on B (ms)', quantiles(woken), '< 100 ms'],
    ];
    const header = ['', 'p50', 'p99', 'max', 'target', 'met'];
    const cells = [header, ...rows.map(([label, q, target]) => [label, ms(q.p50), ms(q.p99), ms(q.max), target, q.p99 < 100 ? 'yes' : 'NO'])];
    const widths = header.map((_, i) => Math.max(...cells.map((row) => String(row[i]).length)));
    process.stdout.write(`\n${cells.map((row) => row.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n')}\n`);
    process.stdout.write(`\n${SAMPLES} requests; B polled ${polls} times in all (${(polls / SAMPLES).toFixed(1)} a request); B runs with --replica-refresh off\n`);
  } finally {
    for (const child of children) await stop(child);
    await probe.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await probe.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An approval statement signed with sam's fixture key, as `countersign approve` sends it. */
function approval(view, privateKey) {
  const statement = {
    request: view.id,
    step_digest: view.digest,
    bundle_id: view.bundle_id,
    decision: 'approve',
    approver: 'sam',
    surface: 'signed-cli',
    reason: 'bench',
    signed_at: new Date().toISOString(),
  };
  const signature = signStatement(statement, privateKey);
  return { statement, attestation: { kind: 'key', key_id: 'sam-2025', signature } };
}

async function call(base, method, path, bearer, body) {
  const headers = { authorization: `Bearer ${bearer}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : JSON.parse(text) };
}

function quantiles(values) {
  const sorted = [...values].sort((x, y) => x - y);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) };
}



function ms(n) {
  return n.toFixed(2);
}
