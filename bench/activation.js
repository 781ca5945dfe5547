// Benchmark: how long activating a bundle stops the gateway (issue 12,
// ADR 006 decision 4). The `bundle.activated` entry revokes every live grant
// by itself, and the commit rewrites each revoked grant's projection row, in
// one command on the thread that also serves HTTP, so its cost still grows
// with the live grants (before decision 4 it also wrote three entries for
// each, deciding its step again). Through `countersign serve` on SQLite (or
// PostgreSQL, below):
//
//   1. GRANTS allowed proposals (the http part's `queue.inspect` step), each
//      leaving one live grant;
//   2. a release of the same policy, but for its description: proposed by
//      priya (`countersign policy propose`: its golden cases and replay diff
//      run first) and signed by fatima (`countersign policy approve`);
//   3. `GET /v1/releases/{id}`, what a signer reads before signing (its diff
//      report, which this gateway kept when it took the proposal; another
//      replica, or this one after a restart, rebuilds it from the ledger
//      once), then sam's signature, posted as
//      `countersign policy approve` posts it, which completes the quorum and
//      activates the release. Each is timed alone, with `GET /healthz` sent
//      every 5 ms meanwhile: the longest wait is how long the gateway
//      answered nothing;
//   4. as many allowed proposals again, under the new bundle, then sam's
//      halt of prod (`POST /v1/halts`), which revokes every grant they left,
//      timed the same way (ADR 006 decision 4: one entry, as the activation).
//
//   node bench/run.js activation   (needs `npm run build` first)
//   BENCH_ACTIVATION_GRANTS=50000 node bench/run.js activation
//   BENCH_ACTIVATION_STORE=postgres node bench/run.js activation   (a schema of its own on
//     COUNTERSIGN_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test, dropped after)
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Pool } from 'undici';
import { signStatement } from '../packages/core/dist/index.js';
import { gatewayKey, issueToken, POLICY, serveGateway, stop } from './processes.js';
import { int } from './stats.js';

const GRANTS = Number(process.env.BENCH_ACTIVATION_GRANTS ?? 20_000);
if (!Number.isSafeInteger(GRANTS) || GRANTS < 1 || GRANTS > 1_000_000) {
  process.stderr.write(`error[USAGE]: BENCH_ACTIVATION_GRANTS must be a whole number from 1 to 1000000, not \`${process.env.BENCH_ACTIVATION_GRANTS}\`\n`);
  process.exit(2);
}
const STORE = process.env.BENCH_ACTIVATION_STORE ?? 'sqlite';
if (STORE !== 'sqlite' && STORE !== 'postgres') {
  process.stderr.write(`error[USAGE]: BENCH_ACTIVATION_STORE must be sqlite or postgres, not \`${STORE}\`\n`);
  process.exit(2);
}
const URL_PG = process.env.COUNTERSIGN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `cs_bench_activation_${process.pid}`;
const CONNECTIONS = 16;
/** Every loop and child process of the part stops within this much time. */
const BUDGET_MS = 15 * 60_000;
const CLI = fileURLToPath(new URL('../packages/gateway/dist/cli.js', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../examples/payments/golden', import.meta.url));
const KEYS = fileURLToPath(new URL('../test/fixtures/keys/', import.meta.url));
const PROPOSAL = JSON.stringify({
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }],
});

const started = performance.now();
/** Milliseconds left of the budget, at least 1 (a timeout of 0 would mean none). */
const left = () => Math.max(1, Math.floor(BUDGET_MS - (performance.now() - started)));
const spent = () => performance.now() - started >= BUDGET_MS;
const log = (line) => process.stdout.write(`activation: ${line}\n`);
const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-activation-'));
let gateway = null;
try {
  await main();
} finally {
  if (gateway !== null) await stop(gateway);
  if (STORE === 'postgres') {
    await withPostgres((client) => client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)).catch((err) => {
      process.stderr.write(`activation: schema ${SCHEMA} was left behind: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  }
  rmSync(dir, { recursive: true, force: true });
}

async function main() {
  const db = join(dir, 'ledger.db');
  const store = STORE === 'postgres' ? ['--postgres', URL_PG, '--schema', SCHEMA] : ['--db', db];
  const key = gatewayKey(dir);
  const tokens = {
    agent: issueToken(store, 'payments-copilot', 'copilot-console'),
    priya: issueToken(store, 'priya', 'approver-console'),
    fatima: issueToken(store, 'fatima', 'signed-cli'),
    sam: issueToken(store, 'sam', 'signed-cli'),
  };
  const served = await serveGateway({ store, key });
  gateway = served.child;
  const pool = new Pool(served.url, { connections: CONNECTIONS + 2 });
  const request = async (path, method, token, body) => {
    const headers = token === null ? {} : { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await pool.request({ path, method, headers, body, headersTimeout: left(), bodyTimeout: left() });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 500)}`);
    return text;
  };

  const propose = async () => {
    log(`proposing ${int(GRANTS)} allowed steps over ${CONNECTIONS} connections`);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < GRANTS) {
          if (spent()) throw new Error(`${int(next)} of ${int(GRANTS)} proposals after ${BUDGET_MS / 60_000} minutes: stopped`);
          const i = next++;
          await request('/v1/proposals', 'POST', tokens.agent, PROPOSAL);
          if ((i + 1) % 10_000 === 0) log(`${int(i + 1)} of ${int(GRANTS)} after ${((performance.now() - started) / 1000).toFixed(0)} s`);
        }
      }),
    );
  };
  await propose();

  // the same policy under another description: another bundle id, the same rules
  const candidate = join(dir, 'candidate.yaml');
  writeFileSync(candidate, readFileSync(POLICY, 'utf8').replace(/^description: .*$/m, 'description: the same rules, released again by the activation bench'));
  const server = ['--server', served.url];
  log('proposing the release (its golden cases and replay diff run first)');
  const proposedAt = performance.now();
  const proposed = JSON.parse(await cli(['policy', 'propose', candidate, '--golden', GOLDEN, ...server, '--json'], tokens.priya));
  const proposeMs = performance.now() - proposedAt;
  const release = proposed.release ?? proposed.id;
  const fatimaKey = join(dir, 'fatima.key');
  copyFileSync(join(KEYS, 'fatima.key'), fatimaKey);
  chmodSync(fatimaKey, 0o600);
  await cli(['policy', 'approve', release, '--key', fatimaKey, '--policy', POLICY, '--candidate', candidate, '--yes', ...server, '--json'], tokens.fatima);

  log('reading the release as a signer does, then the last signature, each with /healthz probed every 5 ms');
  const read = await probed(pool, () => request(`/v1/releases/${release}`, 'GET', tokens.sam));
  const shown = JSON.parse(read.value);
  const statement = {
    request: release,
    step_digest: shown.statement.step_digest,
    bundle_id: shown.statement.bundle_id,
    decision: 'approve',
    approver: 'sam',
    surface: 'signed-cli',
    reason: 'the same rules, released again by the activation bench',
    signed_at: new Date().toISOString(),
  };
  const signature = signStatement(statement, createPrivateKey(readFileSync(join(KEYS, 'sam.key'))));
  const before = await head(db);
  const signed = await probed(pool, () => request(`/v1/releases/${release}/signatures`, 'POST', tokens.sam, JSON.stringify({ statement, attestation: { kind: 'key', key_id: 'sam-2025', signature } })));
  const answer = JSON.parse(signed.value);
  if (typeof answer.activated?.bundle_id !== 'string') throw new Error(`the last signature did not activate the release (status ${answer.status})`);
  if (answer.activated.revoked_grants.length !== GRANTS) throw new Error(`the activation revoked ${answer.activated.revoked_grants.length} grants, not the ${GRANTS} proposed`);
  const written = await head(db) - before;

  // as many grants again, under the new bundle, then sam halts prod: the halt revokes them all
  await propose();
  log('halting prod, with /healthz probed every 5 ms');
  const beforeHalt = await head(db);
  const halted = await probed(pool, () => request('/v1/halts', 'POST', tokens.sam, JSON.stringify({ scope: { kind: 'environment', environment: 'prod' }, reason: 'the activation bench halts prod' })));
  const halt = JSON.parse(halted.value);
  // at least the grants just proposed; code from before ADR 006 decision 4 also finds those its activation issued again
  if (halt.revoked_grants.length < GRANTS) throw new Error(`the halt revoked ${halt.revoked_grants.length} grants, fewer than the ${GRANTS} proposed`);
  const haltWritten = await head(db) - beforeHalt;
  await pool.close();
  await stop(gateway);

  process.stdout.write(`\nwith ${int(GRANTS)} live grants, on ${STORE === 'postgres' ? 'PostgreSQL' : 'SQLite'}: the activating signature wrote ${int(written)} entries, the halt ${int(haltWritten)} (revoking ${int(halt.revoked_grants.length)} grants)\n`);
  const rows = [
    ['proposing the release: golden cases and replay diff (s)', proposeMs / 1000],
    ['GET /v1/releases/{id}, what a signer reads first (its diff kept): answered in (s)', read.ms / 1000],
    ['  the longest /healthz wait meanwhile (s)', read.longest / 1000],
    ['the activating signature: answered in (s)', signed.ms / 1000],
    ['  the longest /healthz wait meanwhile: the gateway answered nothing (s)', signed.longest / 1000],
    ['  its answer, which lists every grant revoked and every step decided again (MB)', Buffer.byteLength(signed.value) / 1e6],
    ['the halt of prod, over as many live grants: answered in (s)', halted.ms / 1000],
    ['  the longest /healthz wait meanwhile: the gateway answered nothing (s)', halted.longest / 1000],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) process.stdout.write(`${label.padEnd(width)}  ${value.toFixed(2).padStart(7)}\n`);
  const failed = read.failed + signed.failed + halted.failed;
  if (failed > 0) process.stdout.write(`(${failed} /healthz probes failed; the waits above count only answered ones)\n`);
}

/** The ledger's last seq, read from the store. */
async function head(db) {
  if (STORE === 'postgres') {
    const { rows } = await withPostgres((client) => client.query(`SELECT max(seq) AS seq FROM "${SCHEMA}".ledger_entries`));
    return Number(rows[0].seq);
  }
  const ledger = new Database(db, { readonly: true });
  try {
    return ledger.prepare('SELECT max(seq) AS seq FROM ledger_entries').get().seq;
  } finally {
    ledger.close();
  }
}

/** `run` with a PostgreSQL client of its own, closed after. */
async function withPostgres(run) {
  const client = new pg.Client({ connectionString: URL_PG, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The CLI against the gateway, with `token`: its stdout, or an error with its stderr; killed when the budget runs out. */
function cli(args, token) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, COUNTERSIGN_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'], timeout: left() });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('close', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`countersign ${args.slice(0, 2).join(' ')} exited ${code ?? signal}: ${err.slice(-2_000)}`))));
  });
}

/**
 * `call`, with `GET /healthz` sent every 5 ms until it settles: its value,
 * how long it took, and the longest wait for a probe's answer (probes that
 * fail are counted, not thrown). The probe stops before the value is used.
 */
async function probed(pool, call) {
  let running = true;
  let longest = 0;
  let failed = 0;
  const probe = (async () => {
    while (running && !spent()) {
      const sent = performance.now();
      try {
        const res = await pool.request({ path: '/healthz', method: 'GET', headersTimeout: left(), bodyTimeout: left() });
        await res.body.text();
        longest = Math.max(longest, performance.now() - sent);
      } catch {
        failed += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const at = performance.now();
  try {
    const value = await call();
    return { value, ms: performance.now() - at, longest: await stopProbe(), failed };
  } finally {
    await stopProbe();
  }
  async function stopProbe() {
    running = false;
    await probe;
    return longest;
  }
}
