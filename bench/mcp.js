// Benchmark: the MCP proxy (issue 15, Measure). One read-only tool call
// (`inspect_shard` → `queue.inspect` in prod: allowed) made by a real MCP
// client, through `countersign mcp` against the same upstream MCP server
// called directly, in one run, both over stdio:
//
//   1. added latency, p50 and p99, one call at a time        target <= +1 ms p50
//   2. calls/s with CONCURRENCY calls in flight on one session, and the ratio
//      proxied / direct                                      target >= 0.5x
//   3. the ledger afterwards: every answered proxied call is a durable
//      `step.executed` (SQLite, synchronous=FULL) and its outcome
//
// Anchor (issue 15): agentgateway publishes +0.86 ms mean and 0.39x direct
// throughput for 1 KB requests, recording nothing durable. Each proxied call
// here is two gateway round trips (the one-call path, then the outcome) and
// one upstream round trip, each proposal fsynced before it is answered.
//
//   node bench/run.js mcp      (needs `npm run build` first)
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import Database from 'better-sqlite3';
import { stringify as stringifyYaml } from 'yaml';
import { gatewayKey, issueToken, serveGateway, stop } from './processes.js';
import { int, percentile } from './stats.js';

const CLI = fileURLToPath(new URL('../packages/gateway/dist/cli.js', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../test/fixtures/mcp/upstream.mjs', import.meta.url));

const WARMUP_CALLS = Number(process.env.BENCH_MCP_WARMUP ?? 300);
const SEQUENTIAL_CALLS = Number(process.env.BENCH_MCP_CALLS ?? 2_000);
const DURATION_S = Number(process.env.BENCH_MCP_DURATION_S ?? 8);
const CONCURRENCY = Number(process.env.BENCH_MCP_CONCURRENCY ?? 32);
/** Every load loop is bounded in count as well as in time. */
const MAX_CALLS = 200_000;
const CALL = { name: 'inspect_shard', arguments: { shard: 'shard-7' } };

const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-mcp-'));
const children = [];
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
});

try {
  await main();
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

async function main() {
  const db = join(dir, 'ledger.db');
  const key = gatewayKey(dir);
  const token = issueToken(['--db', db], 'payments-copilot', 'copilot-console');
  const { child: gateway, url: gatewayUrl } = await serveGateway({ store: ['--db', db], key });
  children.push(gateway);

  const config = join(dir, 'mcp.yaml');
  writeFileSync(
    config,
    stringifyYaml({
      server: gatewayUrl,
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      upstreams: { queue: { command: process.execPath, args: [UPSTREAM] } },
      tools: { inspect_shard: { upstream: 'queue', action: 'queue.inspect', environment: 'prod', target: 'payments-queue/{shard}' } },
    }),
  );

  const direct = await connect({ command: process.execPath, args: [UPSTREAM] });
  const proxied = await connect({ command: process.execPath, args: [CLI, 'mcp', '--config', config], env: { ...getDefaultEnvironment(), COUNTERSIGN_TOKEN: token }, stderr: 'ignore' });
  const first = await proxied.callTool(CALL);
  if (first.isError) throw new Error(`the proxy refused the benchmark call: ${JSON.stringify(first.structuredContent ?? first.content)}`);

  log(`warming up: ${WARMUP_CALLS} calls each`);
  await sequential(direct, WARMUP_CALLS);
  await sequential(proxied, WARMUP_CALLS);
  log(`latency: ${SEQUENTIAL_CALLS} calls one at a time, each`);
  const directOne = await sequential(direct, SEQUENTIAL_CALLS);
  const proxiedOne = await sequential(proxied, SEQUENTIAL_CALLS);
  log(`throughput: ${CONCURRENCY} calls in flight on one session, ${DURATION_S}s each`);
  const directMax = await concurrent(direct, CONCURRENCY, DURATION_S);
  const proxiedMax = await concurrent(proxied, CONCURRENCY, DURATION_S);
  await proxied.close();
  await direct.close();
  await stop(gateway);

  const ledger = new Database(db, { readonly: true });
  const count = (type) => ledger.prepare(`SELECT COUNT(*) AS n FROM ledger_entries WHERE CAST(bytes AS TEXT) LIKE ?`).get(`%"type":"${type}"%`).n;
  const executed = count('step.executed');
  const outcomes = count('execution.outcome');
  const sync = ledger.pragma('journal_mode', { simple: true });
  ledger.close();
  const answered = 1 + WARMUP_CALLS + proxiedOne.ok + proxiedMax.ok;

  const added50 = proxiedOne.p50 - directOne.p50;
  const ratio = proxiedMax.rps / directMax.rps;
  const rows = [
    ['p50, one call at a time (ms)', ms(proxiedOne.p50), ms(directOne.p50), `+${ms(added50)}`, '<= +1 ms', added50 <= 1],
    ['p99, one call at a time (ms)', ms(proxiedOne.p99), ms(directOne.p99), `+${ms(proxiedOne.p99 - directOne.p99)}`, '', null],
    [`calls/s, ${CONCURRENCY} in flight`, int(proxiedMax.rps), int(directMax.rps), `${ratio.toFixed(2)}x`, '>= 0.5x', ratio >= 0.5],
    [`p50 / p99 at ${CONCURRENCY} in flight (ms)`, `${ms(proxiedMax.p50)} / ${ms(proxiedMax.p99)}`, `${ms(directMax.p50)} / ${ms(directMax.p99)}`, '', '', null],
    ['tool errors / failed calls', `${proxiedOne.bad + proxiedMax.bad} / ${proxiedOne.failed + proxiedMax.failed}`, `${directOne.bad + directMax.bad} / ${directOne.failed + directMax.failed}`, '', '0 / 0', null],
  ];
  const header = ['', 'through proxy', 'direct', 'added / ratio', 'target', 'met'];
  const cells = [header, ...rows.map((r) => [...r.slice(0, 5), r[5] === null ? '' : r[5] ? 'yes' : 'NO'])];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => String(row[i]).length)));
  process.stdout.write(`\n${cells.map((row) => row.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n')}\n`);
  process.stdout.write(
    `\nledger: ${int(executed)} step.executed and ${int(outcomes)} outcomes for ${int(answered)} answered proxied calls ` +
      `(${executed >= answered ? 'every call durable' : 'CALLS WITHOUT A LEDGER RECORD'}); SQLite journal ${sync}, synchronous=FULL\n`,
  );
}

async function connect(params) {
  const client = new Client({ name: 'bench-agent', version: '1.0.0' });
  await client.connect(new StdioClientTransport(params));
  return client;
}

async function sequential(client, calls) {
  const latencies = [];
  let bad = 0;
  let failed = 0;
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    try {
      const result = await client.callTool(CALL);
      if (result.isError) bad++;
      else latencies.push(performance.now() - started);
    } catch {
      failed++;
    }
  }
  return { ok: latencies.length, bad, failed, ...quantiles(latencies) };
}

/** A closed loop: `inFlight` callers, each sending its next call when its last is answered, until the time or the count runs out. */
async function concurrent(client, inFlight, seconds) {
  const latencies = [];
  let bad = 0;
  let failed = 0;
  let sent = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && sent < MAX_CALLS) {
      sent++;
      const at = performance.now();
      try {
        const result = await client.callTool(CALL);
        if (result.isError) bad++;
        else latencies.push(performance.now() - at);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = (performance.now() - started) / 1000;
  return { ok: latencies.length, bad, failed, rps: latencies.length / elapsed, ...quantiles(latencies) };
}

function quantiles(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50) ?? NaN, p99: percentile(sorted, 99) ?? NaN };
}




function ms(value) {
  return Number.isFinite(value) ? value.toFixed(2) : 'n/a';
}

function log(line) {
  process.stdout.write(`${line}\n`);
}
