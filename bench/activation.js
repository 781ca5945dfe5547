// Benchmark: how long activating a bundle stops the gateway (issue 12,
// ADR 006 decision 4). The commit that activates a bundle revokes every
// live grant and decides its step again, in one command on the thread that
// also serves HTTP, so its cost grows with the live grants. Through
// `countersign serve` on SQLite:
//
//   1. GRANTS allowed proposals (the http part's `queue.inspect` step), each
//      leaving one live grant;
//   2. a release of the same policy, but for its description: proposed by
//      priya (`countersign policy propose`, its golden cases and replay
//      diff run first), signed by fatima, then by sam, whose signature
//      completes the quorum and activates it;
//   3. meanwhile, `GET /healthz` every 5 ms: the longest wait is how long the
//      gateway answered nothing.
//
//   node bench/run.js activation   (needs `npm run build` first)
//   BENCH_ACTIVATION_GRANTS=50000 node bench/run.js activation
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import { gatewayKey, issueToken, POLICY, serveGateway, stop } from './processes.js';
import { int } from './stats.js';

const GRANTS = Number(process.env.BENCH_ACTIVATION_GRANTS ?? 20_000);
const CONNECTIONS = 16;
const CLI = fileURLToPath(new URL('../packages/gateway/dist/cli.js', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../examples/payments/golden', import.meta.url));
const KEYS = fileURLToPath(new URL('../test/fixtures/keys/', import.meta.url));
const PROPOSAL = JSON.stringify({
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }],
});

const log = (line) => process.stdout.write(`activation: ${line}\n`);
const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-activation-'));
let gateway = null;
try {
  await main();
} finally {
  if (gateway !== null && gateway.exitCode === null) gateway.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

async function main() {
  const db = join(dir, 'ledger.db');
  const store = ['--db', db];
  const key = gatewayKey(dir);
  const tokens = {
    agent: issueToken(store, 'payments-copilot', 'copilot-console'),
    priya: issueToken(store, 'priya', 'approver-console'),
    fatima: issueToken(store, 'fatima', 'signed-cli'),
    sam: issueToken(store, 'sam', 'signed-cli'),
  };
  const served = await serveGateway({ store, key });
  gateway = served.child;
  const pool = new Pool(served.url, { connections: CONNECTIONS + 1 });

  log(`proposing ${int(GRANTS)} allowed steps over ${CONNECTIONS} connections`);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < GRANTS) {
        const i = next++;
        const res = await pool.request({ path: '/v1/proposals', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.agent}` }, body: PROPOSAL });
        const text = await res.body.text();
        if (res.statusCode !== 201) throw new Error(`proposal ${i}: ${res.statusCode} ${text}`);
        if ((i + 1) % 10_000 === 0) log(`${int(i + 1)} of ${int(GRANTS)} after ${((performance.now() - started) / 1000).toFixed(0)} s`);
      }
    }),
  );

  // the same policy under another description: another bundle id, the same rules
  const candidate = join(dir, 'candidate.yaml');
  writeFileSync(candidate, readFileSync(POLICY, 'utf8').replace(/^description: .*$/m, 'description: the same rules, released again by the activation bench'));
  const server = ['--server', served.url];
  log('proposing the release (its golden cases and replay diff run first)');
  const proposedAt = performance.now();
  const proposed = JSON.parse(await cli(['policy', 'propose', candidate, '--golden', GOLDEN, ...server, '--json'], tokens.priya));
  const proposeMs = performance.now() - proposedAt;
  const release = proposed.release ?? proposed.id;
  const sign = (who) => {
    const keyFile = join(dir, `${who}.key`);
    copyFileSync(join(KEYS, `${who}.key`), keyFile);
    chmodSync(keyFile, 0o600);
    return cli(['policy', 'approve', release, '--key', keyFile, '--policy', POLICY, '--candidate', candidate, '--yes', ...server, '--json'], tokens[who]);
  };
  await sign('fatima');

  const head = () => {
    const ledger = new Database(db, { readonly: true });
    try {
      return ledger.prepare('SELECT max(seq) AS seq FROM ledger_entries').get().seq;
    } finally {
      ledger.close();
    }
  };
  const before = head();
  log('the last signature, with /healthz probed every 5 ms');
  const probe = healthProbe(pool);
  const signedAt = performance.now();
  const activated = JSON.parse(await sign('sam'));
  const signMs = performance.now() - signedAt;
  const longest = await probe.stop();
  if (typeof activated.activated?.bundle_id !== 'string') throw new Error(`the last signature did not activate the release (status ${activated.status})`);
  const answerBytes = Buffer.byteLength(JSON.stringify(activated));
  await pool.close();
  await stop(gateway);
  const written = head() - before;

  process.stdout.write(`\nwith ${int(GRANTS)} live grants, on SQLite: the last signature wrote ${int(written)} entries\n`);
  const rows = [
    ['proposing the release: golden cases and replay diff (s)', proposeMs / 1000],
    ['the last signature, which activates it, answered in (s)', signMs / 1000],
    ['the longest /healthz wait meanwhile: the gateway answered nothing (s)', longest / 1000],
    ['the size of that answer, which lists every grant revoked and step decided again (MB)', answerBytes / 1e6],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) process.stdout.write(`${label.padEnd(width)}  ${value.toFixed(2).padStart(7)}\n`);
}

/** The CLI against the gateway, with `token`: its stdout, or an error with its stderr. */
function cli(args, token) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, COUNTERSIGN_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`countersign ${args.slice(0, 2).join(' ')} exited ${code}: ${err}`))));
  });
}

/** `GET /healthz` every 5 ms until stopped (and for at most 10 minutes): the longest wait for an answer, in ms. */
function healthProbe(pool) {
  let running = true;
  let longest = 0;
  const until = performance.now() + 600_000;
  const done = (async () => {
    while (running && performance.now() < until) {
      const sent = performance.now();
      const res = await pool.request({ path: '/healthz', method: 'GET' });
      await res.body.text();
      longest = Math.max(longest, performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return longest;
    },
  };
}
