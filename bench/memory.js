// Benchmark: what the authority state keeps per proposal, and what a full
// collection of that heap costs (issue 12, ADR 006 decision 1). A gateway on
// SQLite takes the bench's allowed one-step proposals (each granted), then
// the heap is collected and measured, at two ledger sizes; once with
// committed records leaving memory (the default on SQLite), once with every
// record kept (`keepRecords`, what PostgreSQL replicas do). Each mode and
// size runs in its own process, so one never colours another's heap.
//
//   node bench/run.js memory    (needs `npm run build` first)
//   BENCH_MEMORY_PROPOSALS=20000,100000 node bench/run.js memory
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadPolicy, newEd25519KeyPair } from '../packages/core/dist/index.js';
import { Gateway } from '../packages/gateway/dist/service/gateway.js';
import { SqliteLedgerStore } from '../packages/gateway/dist/store/sqlite.js';
import { int } from './stats.js';

const SIZES = (process.env.BENCH_MEMORY_PROPOSALS ?? '10000,60000').split(',').map(Number);
const CONCURRENT = 100;

if (process.argv[2] === 'child') await child(process.argv[3] === 'keep', Number(process.argv[4]));
else parent();

function parent() {
  if (SIZES.length !== 2 || SIZES.some((n) => !Number.isSafeInteger(n) || n <= 0) || SIZES[0] >= SIZES[1]) {
    process.stderr.write('error[USAGE]: BENCH_MEMORY_PROPOSALS is two proposal counts, smaller first, e.g. 10000,60000\n');
    process.exit(2);
  }
  const rows = [];
  for (const mode of ['evict', 'keep']) {
    const runs = SIZES.map((n) => {
      process.stdout.write(`memory: ${mode === 'keep' ? 'every record kept' : 'committed records evicted'}, ${int(n)} proposals\n`);
      const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', mode, String(n)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (out.status !== 0) throw new Error(`the ${mode} run of ${n} proposals exited with ${out.status ?? out.signal}`);
      return JSON.parse(out.stdout.trim().split('\n').at(-1));
    });
    rows.push({ mode, runs });
  }
  const [small, large] = SIZES;
  const table = [
    ['', 'committed records evicted (SQLite default)', 'every record kept'],
    ...SIZES.map((n, i) => [`V8 heap after a full collection, ${int(n)} proposals (MB)`, ...rows.map((r) => (r.runs[i].heap / 1e6).toFixed(1))]),
    [`V8 heap per proposal, ${int(small)} to ${int(large)} (bytes)`, ...rows.map((r) => int((r.runs[1].heap - r.runs[0].heap) / (large - small)))],
    [`a full collection at ${int(large)} proposals (ms, median of 5)`, ...rows.map((r) => r.runs[1].gcMs.toFixed(1))],
    [`records in memory at ${int(large)}: proposals / steps / grants`, ...rows.map((r) => r.runs[1].held.join(' / '))],
    [`proposals per second while filling, ${int(large)}`, ...rows.map((r) => int(r.runs[1].rate))],
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => String(row[c]).length)));
  process.stdout.write('\n');
  for (const row of table) process.stdout.write(`${row.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('   ')}\n`);
  process.stdout.write('\nper proposal, what stays when records are evicted: the live-grant index (its grant id), the steps-by-digest index (its step id) and the bits that remember evicted ids\n');
}

async function child(keepRecords, proposals) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-memory-'));
  const file = fileURLToPath(new URL('../examples/payments/policy.yaml', import.meta.url));
  const loaded = loadPolicy(readFileSync(file, 'utf8'), file);
  const store = SqliteLedgerStore.open(join(dir, 'ledger.db'));
  try {
    const gateway = await Gateway.open({ store, policy: loaded, key: newEd25519KeyPair().privateKey, origin: 'bench.example/countersign', clock: () => Date.now(), keepRecords });
    const caller = { principal: 'payments-copilot', surface: 'copilot-console', credential: 'bench' };
    const body = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }] };
    const started = performance.now();
    for (let done = 0; done < proposals; done += CONCURRENT) {
      const results = await Promise.all(Array.from({ length: Math.min(CONCURRENT, proposals - done) }, () => gateway.propose(caller, body)));
      if (results.some((r) => !r.ok)) throw new Error('a proposal of the bench was refused');
    }
    const rate = proposals / ((performance.now() - started) / 1000);
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const heap = process.memoryUsage().heapUsed;
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      gc();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const state = gateway.state;
    const held = [state.proposals.held, state.steps.held, state.grants.held];
    await gateway.close();
    process.stdout.write(`${JSON.stringify({ heap, gcMs: times[2], held, rate })}\n`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
