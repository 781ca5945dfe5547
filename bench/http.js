// Benchmark: the HTTP gateway (issue 5, Measure). Every figure is printed
// beside its baseline or target, all measured in the same run, on loopback:
//
//   1. proposals/s of one read-only step (`queue.inspect` in prod: decided
//      `allow`, granted, three durable ledger entries each) through
//      `countersign serve` on SQLite synchronous=FULL with an agent token,
//      against a bare Fastify route answering the same JSON, in the same run
//                                                  >= 0.25 of bare (issue 12)
//      and against the floor (`bench/floor.js`): a server doing only the work
//      no design can skip (authenticate, seal three hashed entries, commit
//      them durably in groups, sign the grant), which shows what this machine
//      allows at all; its max and its p99 at the fixed rate are printed too
//   2. p50/p99 latency at a fixed 2,000 proposals/s, same baseline  p99 < 10 ms;
//      beside it the gateway's heap and its collections in that round (its
//      /metrics); then p99 at 500, 1,000 and 1,500/s (the gateway only): where
//      it passes
//   3. the ledger afterwards: every 2xx answer is a durable `proposal.received`
//   5. the one-call path (`POST /v1/proposals/execute`: decided and executed
//      in one commit, no grant token) against the propose-then-execute pair
//      it replaces (`POST /v1/proposals`, then `POST /v1/executions` with the
//      grant): steps executed per second, closed loop, same connections
//   4. where the CPU goes at max load, in µs per request: the server's main
//      thread and all its threads (/proc, Linux), the load generator; and the
//      rates those allow, one main thread alone or every core shared
//
//   npm run bench              (builds, then runs every part)
//   node bench/run.js http     (this part only; needs `npm run build` first)
//   node bench/http.js         (same)
//   BENCH_GATEWAY_NODE_ARGS='--max-semi-space-size=64 --initial-old-space-size=1024' node bench/run.js http
//                              (node/V8 flags for the gateway process alone)
//
// The load generators run in this process and the server in its own, so on a
// 2-core machine they share the cores: the figures are what one client process
// can drive, not the server's ceiling alone.
//
// Throughput is autocannon's: closed loop, each connection sends its next
// request when the last one is answered. The fixed rate is an open loop of our
// own (`paced`, over an undici pool): request i is due at start + i/rate and
// is sent then, whatever has come back, and its latency counts from when it
// was due, so a stall shows in the figures instead of slowing the sender
// ("coordinated omission"). autocannon's own `overallRate` is not a fixed
// rate: each connection gets a quota per second and sends it back to back from
// the top of the second, so the first part of every second runs at saturation
// and the rest is idle. Its figure is printed too, labelled as such.
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { freePort, gatewayKey, issueToken, serveGateway, waitReady, stop } from './processes.js';
import { gcFigures, paced, quantiles } from './load.js';
import { int } from './stats.js';

const SELF = fileURLToPath(import.meta.url);
const FLOOR = fileURLToPath(new URL('floor.js', import.meta.url));

const WARMUP_S = Number(process.env.BENCH_HTTP_WARMUP_S ?? 3);
const DURATION_S = Number(process.env.BENCH_HTTP_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 64);
const RATE = 2_000;
/** node flags for the gateway process only (not the load generator or the baseline), e.g. V8 heap sizes (docs/capacity.md). */
const GATEWAY_NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
const RATE_CONNECTIONS = 32;
/** Lower fixed rates, to show where p99 passes 10 ms on this machine. */
const SWEEP_RATES = [500, 1_000, 1_500];
/** Cores the server and the load generator share. */
const CORES = availableParallelism();
/** Clock ticks per second of /proc's CPU times (serverCpu). */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

const PROPOSAL = {
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }],
};

// `node bench/http.js --bare PORT`: the baseline, a bare Fastify route answering the given JSON
if (process.argv[2] === '--bare') {
  const { default: Fastify } = await import('fastify');
  const answer = process.env.BENCH_HTTP_ANSWER ?? '{}';
  const app = Fastify({ logger: false });
  app.post('/v1/proposals', async (_request, reply) => reply.code(201).type('application/json; charset=utf-8').send(answer));
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.listen({ port: Number(process.argv[3]), host: '127.0.0.1' });
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-http-'));
  const db = join(dir, 'ledger.db');
  const key = gatewayKey(dir);
  const children = [];
  const stopAll = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.on('exit', stopAll);
  try {
    const token = issueToken(['--db', db], 'payments-copilot', 'copilot-console');
    const { child: gateway, url: gatewayUrl } = await serveGateway({ store: ['--db', db], key, nodeArgs: GATEWAY_NODE_ARGS });
    children.push(gateway);

    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const body = JSON.stringify(PROPOSAL);
    const sample = await fetch(`${gatewayUrl}/v1/proposals`, { method: 'POST', headers, body });
    const answer = await sample.text();
    if (!sample.ok) throw new Error(`the gateway refused the benchmark proposal: ${sample.status} ${answer}`);
    const effect = JSON.parse(answer).steps?.[0]?.effect;
    if (effect !== 'allow') throw new Error(`the benchmark step should be allowed, the gateway said \`${effect}\``);

    const barePort = await freePort();
    const bare = spawn(process.execPath, [SELF, '--bare', String(barePort)], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BENCH_HTTP_ANSWER: answer } });
    children.push(bare);
    const bareUrl = `http://127.0.0.1:${barePort}`;
    await waitReady(`${bareUrl}/healthz`, bare);

    // the floor (bench/floor.js): only the work no design can skip, same durability, same token
    const floorPort = await freePort();
    const floor = spawn(process.execPath, [FLOOR, String(floorPort), join(dir, 'floor.db')], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, BENCH_HTTP_ANSWER: answer, BENCH_FLOOR_TOKEN: token },
    });
    children.push(floor);
    const floorUrl = `http://127.0.0.1:${floorPort}`;
    await waitReady(`${floorUrl}/healthz`, floor);
    const floorSample = await fetch(`${floorUrl}/v1/proposals`, { method: 'POST', headers, body });
    if (floorSample.status !== 201) throw new Error(`the floor server refused the benchmark proposal: ${floorSample.status} ${await floorSample.text()}`);

    const target = (url) => ({ url: `${url}/v1/proposals`, method: 'POST', headers, body });
    if (GATEWAY_NODE_ARGS.length > 0) log(`gateway node flags: ${GATEWAY_NODE_ARGS.join(' ')}`);
    log(`warming up ${WARMUP_S}s each`);
    const gwWarm = await load({ ...target(gatewayUrl), connections: CONNECTIONS, duration: WARMUP_S });
    await load({ ...target(floorUrl), connections: CONNECTIONS, duration: WARMUP_S });
    await load({ ...target(bareUrl), connections: CONNECTIONS, duration: WARMUP_S });

    log(`throughput: ${CONNECTIONS} connections, ${DURATION_S}s each`);
    const gwMax = await withCpu(gateway.pid, () => load({ ...target(gatewayUrl), connections: CONNECTIONS, duration: DURATION_S }));
    const floorMax = await withCpu(floor.pid, () => load({ ...target(floorUrl), connections: CONNECTIONS, duration: DURATION_S }));
    const bareMax = await withCpu(bare.pid, () => load({ ...target(bareUrl), connections: CONNECTIONS, duration: DURATION_S }));

    log(`latency: fixed ${RATE}/s, open loop over up to ${RATE_CONNECTIONS} connections, ${DURATION_S}s each`);
    const gcBefore = await gcFigures(gatewayUrl);
    const gwRate = await paced({ ...target(gatewayUrl), connections: RATE_CONNECTIONS, rate: RATE, duration: DURATION_S });
    const gcAfter = await gcFigures(gatewayUrl);
    const floorRate = await paced({ ...target(floorUrl), connections: RATE_CONNECTIONS, rate: RATE, duration: DURATION_S });
    const bareRate = await paced({ ...target(bareUrl), connections: RATE_CONNECTIONS, rate: RATE, duration: DURATION_S });

    log(`latency: autocannon overallRate ${RATE}/s (per-second quota per connection), ${RATE_CONNECTIONS} connections, ${DURATION_S}s each`);
    const gwQuota = await load({ ...target(gatewayUrl), connections: RATE_CONNECTIONS, overallRate: RATE, duration: DURATION_S });
    const bareQuota = await load({ ...target(bareUrl), connections: RATE_CONNECTIONS, overallRate: RATE, duration: DURATION_S });

    // where the tail passes 10 ms: the same open loop at lower rates, the gateway only (docs/capacity.md)
    log(`latency against load: fixed ${SWEEP_RATES.map(int).join(', ')}/s, ${DURATION_S}s each`);
    const sweep = [];
    for (const rate of SWEEP_RATES) sweep.push(await paced({ ...target(gatewayUrl), connections: RATE_CONNECTIONS, rate, duration: DURATION_S }));

    log(`executed steps: one-call path against propose-then-execute, ${CONNECTIONS} callers, ${DURATION_S}s each`);
    const oneCall = await executedPerSecond(gatewayUrl, headers, body, CONNECTIONS, DURATION_S, 'one-call');
    const pair = await executedPerSecond(gatewayUrl, headers, body, CONNECTIONS, DURATION_S, 'pair');

    // SIGTERM drains and flushes; then the ledger is read back to check durability
    await stop(gateway);
    await stop(bare);
    await stop(floor);
    const ledger = new Database(db, { readonly: true });
    const received = ledger.prepare(`SELECT COUNT(*) AS n FROM ledger_entries WHERE CAST(bytes AS TEXT) LIKE '%"type":"proposal.received"%'`).get().n;
    const entries = ledger.prepare('SELECT COUNT(*) AS n FROM ledger_entries').get().n;
    const sync = ledger.pragma('journal_mode', { simple: true });
    ledger.close();
    const answered = 1 + gwWarm.ok + gwMax.ok + gwRate.ok + gwQuota.ok + sweep.reduce((n, run) => n + run.ok, 0);
    const byRate = [...SWEEP_RATES.map((rate, i) => ({ rate, run: sweep[i] })), { rate: RATE, run: gwRate }];
    const underTarget = byRate.filter(({ run }) => run.p99 < 10).map(({ rate }) => rate);

    // columns: the gateway, the floor (bench/floor.js), bare Fastify; the ratio and target are the gateway's against bare
    const rows = [
      ['proposals/s (max)', int(gwMax.rps), int(floorMax.rps), int(bareMax.rps), pct(gwMax.rps / bareMax.rps), '>= 25% of bare', gwMax.rps >= 0.25 * bareMax.rps],
      ['  the floor against bare', '', pct(floorMax.rps / bareMax.rps), '', '', 'what this machine allows', null],
      [`p50 at ${int(RATE)}/s (ms)`, ms(gwRate.p50), ms(floorRate.p50), ms(bareRate.p50), `x${(gwRate.p50 / bareRate.p50).toFixed(1)}`, '', null],
      [`p99 at ${int(RATE)}/s (ms)`, ms(gwRate.p99), ms(floorRate.p99), ms(bareRate.p99), `x${(gwRate.p99 / bareRate.p99).toFixed(1)}`, '< 10 ms', gwRate.p99 < 10],
      [`achieved rate (req/s)`, int(gwRate.rps), int(floorRate.rps), int(bareRate.rps), '', `${int(RATE)}/s`, null],
      [`  gateway: heap MB at start; in the round major GCs, pause / marking starts ms`, gcCell(gcBefore, gcAfter), '', '', '', 'docs/capacity.md', null],
      [`p99.9 / max at ${int(RATE)}/s (ms)`, `${ms(gwRate.p999)} / ${ms(gwRate.max)}`, `${ms(floorRate.p999)} / ${ms(floorRate.max)}`, `${ms(bareRate.p999)} / ${ms(bareRate.max)}`, '', '', null],
      [`p50 / p99, autocannon quota ${int(RATE)}/s (ms)`, `${ms(gwQuota.p50)} / ${ms(gwQuota.p99)}`, '', `${ms(bareQuota.p50)} / ${ms(bareQuota.p99)}`, '', 'bursts, not a fixed rate', null],
      [`p99 at ${SWEEP_RATES.map(int).join(' / ')}/s (ms)`, sweep.map((run) => ms(run.p99)).join(' / '), '', '', '', 'gateway only', null],
      ['fixed rates above with p99 < 10 ms', underTarget.length === 0 ? 'none' : underTarget.map(int).join(', '), '', '', '', `up to ${int(RATE)}/s`, null],
      ['p99 at max load (ms)', ms(gwMax.p99), ms(floorMax.p99), ms(bareMax.p99), '', '', null],
      ['CPU µs/request at max: server main thread / all threads', cpuCell(gwMax, 'main', 'all'), cpuCell(floorMax, 'main', 'all'), cpuCell(bareMax, 'main', 'all'), '', '', null],
      ['CPU µs/request at max: load generator', cpuCell(gwMax, 'client'), cpuCell(floorMax, 'client'), cpuCell(bareMax, 'client'), '', '', null],
      [`CPU ceiling, req/s: one main thread / ${CORES} cores shared`, ceilingCell(gwMax), ceilingCell(floorMax), ceilingCell(bareMax), '', 'from the rows above', null],
      ['non-2xx / errors', bad(gwMax, gwRate, gwQuota, ...sweep), bad(floorMax, floorRate), bad(bareMax, bareRate, bareQuota), '', '0 / 0', null],
      ['steps executed/s: one-call path / propose + execute', `${int(oneCall.rps)} / ${int(pair.rps)}`, '', '', `x${(oneCall.rps / pair.rps).toFixed(2)}`, '', null],
      ['  failed calls: one-call / pair', `${oneCall.failed} / ${pair.failed}`, '', '', '', '0 / 0', null],
    ];
    const header = ['', 'gateway', 'floor', 'bare fastify', 'ratio', 'target', 'met'];
    const cells = [header, ...rows.map((r) => [...r.slice(0, 6), r[6] === null ? '' : r[6] ? 'yes' : 'NO'])];
    const widths = header.map((_, i) => Math.max(...cells.map((row) => String(row[i]).length)));
    process.stdout.write(`\n${cells.map((row) => row.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n')}\n`);
    // a proposal still in flight when a run stops is recorded but never counted as answered: at least, not equal
    process.stdout.write(
      `\nledger: ${int(entries)} entries, ${int(received)} proposal.received for ${int(answered)} 2xx proposal answers ` +
        `(${received >= answered ? 'every answer durable' : 'ANSWERS WITHOUT A LEDGER RECORD'}); SQLite journal ${sync}, synchronous=FULL\n`,
    );
  } finally {
    stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The gateway's collector, from its own /metrics (prom-client's defaults):
 * heap in use, the major collections so far (count, pause seconds) and the
 * starts of incremental marking cycles (seconds: Node times only the start,
 * not the marking steps that follow on the main thread). prom-client records
 * the first collection of each batch Node reports at once, so the counts and
 * sums are lower bounds. Read around the fixed-rate round, they put the heap
 * the state keeps beside the round's tail (docs/capacity.md, "Tail
 * latency"). Null when /metrics cannot be read: the row then says so instead
 * of printing zeros.
 */

/** Heap in use (garbage included) when the round began; in the round, at least this many major collections, their pauses / the starts of incremental marking. */
function gcCell(before, after) {
  if (before === null || after === null) return 'n/a (/metrics unread)';
  const majors = after.majors - before.majors;
  return `${int(before.heapMb)}; >=${majors}, ${ms((after.majorS - before.majorS) * 1000)} / ${ms((after.incrementalS - before.incrementalS) * 1000)}`;
}

/**
 * Steps executed per second, closed loop: `callers` each propose one allowed
 * step and execute it, on the one-call path (one request) or as the pair it
 * replaces (a proposal, then the grant consumed). Bounded in time and count.
 */
async function executedPerSecond(base, headers, body, callers, seconds, mode) {
  const pool = new Pool(base, { connections: callers, pipelining: 1 });
  const post = async (path, payload) => {
    const res = await pool.request({ path, method: 'POST', headers, body: payload });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`${path} answered ${res.statusCode}`);
    return JSON.parse(text);
  };
  let done = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const caller = async () => {
    while (performance.now() < deadline && done + failed < 1_000_000) {
      try {
        if (mode === 'one-call') {
          const answer = await post('/v1/proposals/execute', body);
          if (typeof answer.steps[0].execution !== 'string') throw new Error('not executed');
        } else {
          const proposed = await post('/v1/proposals', body);
          await post('/v1/executions', JSON.stringify({ grant: proposed.steps[0].grant }));
        }
        done++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return { rps: done / elapsed, failed };
}

/** One autocannon run; latencies from each response's own timer, in fractional ms. */
async function load(opts) {
  const latencies = [];
  const instance = autocannon(opts);
  instance.on('response', (_client, status, _bytes, responseTime) => {
    if (status >= 200 && status < 300) latencies.push(responseTime);
  });
  const result = await instance;
  return {
    rps: result.requests.total / result.duration,
    ok: result['2xx'],
    bad: result.non2xx,
    errors: result.errors + result.timeouts,
    ...quantiles(latencies),
  };
}

/**
 * Run `work` (an autocannon run) and add the CPU it cost per answered
 * request: the server's main thread and all its threads (from /proc, Linux
 * only: null elsewhere), and this process, the load generator. The rows built
 * from these show where the time goes and what rate the cores could carry.
 */
async function withCpu(pid, work) {
  const before = serverCpu(pid);
  const started = process.cpuUsage();
  const result = await work();
  const after = serverCpu(pid);
  const { user, system } = process.cpuUsage(started);
  // no answer at all: no per-request figure (the table shows NaN)
  const requests = result.ok + result.bad || Number.NaN;
  const per = (seconds) => (seconds * 1e6) / requests;
  const client = (user + system) / requests;
  return { ...result, cpu: before && after ? { main: per(after.main - before.main), all: per(after.all - before.all), client } : { client } };
}

/** CPU seconds of process `pid` and of its main thread, or null without /proc. */
function serverCpu(pid) {
  const seconds = (path) => {
    const stat = readFileSync(path, 'utf8');
    // utime and stime, the 14th and 15th fields; the command name before them may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  };
  try {
    return { main: seconds(`/proc/${pid}/task/${pid}/stat`), all: seconds(`/proc/${pid}/stat`) };
  } catch (err) {
    if (err.code === 'ENOENT') return null; // no /proc: not Linux
    throw err;
  }
}

function cpuCell(run, ...keys) {
  return keys.map((key) => (run.cpu[key] === undefined ? 'n/a' : int(run.cpu[key]))).join(' / ');
}

/** Requests/s the CPU allows: one main thread alone; every core shared by the server's threads and the load generator. */
function ceilingCell(run) {
  if (run.cpu.main === undefined) return 'n/a';
  return `${int(1e6 / run.cpu.main)} / ${int((CORES * 1e6) / (run.cpu.all + run.cpu.client))}`;
}


function bad(...runs) {
  const sum = (key) => runs.reduce((n, run) => n + run[key], 0);
  return `${sum('bad')} / ${sum('errors')}`;
}




function log(line) {
  process.stderr.write(`http: ${line}\n`);
}

function ms(n) {
  return n.toFixed(2);
}

function pct(ratio) {
  return `${(ratio * 100).toFixed(0)}%`;
}
