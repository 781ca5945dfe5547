// `node bench/floor.js PORT DB`: the floor of the gateway's hot path, for
// `bench/http.js`. A server that does only the work no design of the gateway
// can skip for one allowed proposal, with the same libraries and the same
// durability, so that the bench shows how far the gateway is from what this
// machine allows (issue 12), not only from a route that does nothing:
//
//   - authenticate the bearer token (SHA-256 of the secret, compared in constant time);
//   - parse the JSON body;
//   - seal three entries (proposal received, decided, grant issued): bytes
//     from JSON.stringify hashed with SHA-256, each chained to the one before
//     (not RFC 8785 canonical JSON: a design could hash the bytes it received);
//   - commit them durably: group commit, one batch in flight, SQLite WAL with
//     synchronous=FULL on a writer thread (as the gateway's embedded store);
//   - sign the grant token (Ed25519, node:crypto on the thread pool) once its
//     entries committed, and answer 201 with a body the size of the gateway's.
//
// It decides nothing (no policy, no authority state, no schema, no Merkle
// tree, checkpoints or projections): each of those is work the gateway adds
// on top, and the bench's gap between this floor and the gateway is what they,
// and the gateway's own overhead, cost. Not a product path; never imported.
import { createHash, createPrivateKey, sign, timingSafeEqual } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { newEd25519KeyPair } from '../packages/core/dist/index.js';

const port = Number(process.argv[2]);
const dbPath = process.argv[3];
const secretHash = createHash('sha256').update(process.env.BENCH_FLOOR_TOKEN ?? '').digest();
const answer = process.env.BENCH_HTTP_ANSWER ?? '';
// the gateway's grant token in its sample answer: the floor signs the same input, so its answer is the same size
const jws = /ey[\w-]+\.[\w-]+\.[\w-]+/.exec(answer);
if (jws === null) throw new Error('the sample answer holds no grant token');
const signingInput = jws[0].slice(0, jws[0].lastIndexOf('.'));
const privateKey = createPrivateKey(newEd25519KeyPair().privatePem);

// the writer thread: owns the SQLite connection, appends each batch in one transaction
const writer = new Worker(
  `
  const { parentPort, workerData } = require('node:worker_threads');
  const Database = require(workerData.sqlite);
  const db = new Database(workerData.path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, bytes BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO entries (seq, hash, bytes) VALUES (?, ?, ?)');
  const append = db.transaction((rows) => { for (const [seq, hash, bytes] of rows) insert.run(seq, hash, bytes); });
  parentPort.on('message', (rows) => { append(rows); parentPort.postMessage(rows.length); });
  `,
  { eval: true, workerData: { path: dbPath, sqlite: new URL('../node_modules/better-sqlite3/lib/index.js', import.meta.url).pathname } },
);

let seq = 0;
let lastHash = Buffer.alloc(32);
let pending = []; // { rows, resolve } of proposals sealed but not yet sent
let inFlight = null; // the waiters of the batch being committed

function seal(type, body) {
  const bytes = Buffer.from(JSON.stringify({ seq, prev: lastHash.toString('hex'), type, at: Date.now(), body }));
  lastHash = createHash('sha256').update(lastHash).update(bytes).digest();
  return [seq++, lastHash, bytes];
}

function flush() {
  if (inFlight !== null || pending.length === 0) return;
  inFlight = pending;
  pending = [];
  writer.postMessage(inFlight.flatMap((p) => p.rows));
}

writer.on('message', () => {
  const done = inFlight;
  inFlight = null;
  flush();
  for (const p of done) p.resolve();
});

function authenticated(header) {
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  return timingSafeEqual(createHash('sha256').update(header.slice(7)).digest(), secretHash);
}

const app = Fastify({ logger: false });
app.post('/v1/proposals', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send({ error: { code: 'UNAUTHENTICATED', message: 'no valid token' } });
  const proposal = request.body;
  const step = proposal.steps[0];
  const rows = [seal('proposal.received', proposal), seal('decision.made', { step, effect: 'allow' }), seal('grant.issued', { step, seq })];
  await new Promise((resolve) => {
    pending.push({ rows, resolve });
    flush();
  });
  const signature = await new Promise((resolve, reject) => sign(null, Buffer.from(signingInput), privateKey, (err, sig) => (err ? reject(err) : resolve(sig))));
  return reply.code(201).type('application/json; charset=utf-8').send(answer.replace(jws[0], `${signingInput}.${signature.toString('base64url')}`));
});
app.get('/healthz', async () => ({ status: 'ok' }));
await app.listen({ port, host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => writer.terminate()).then(() => process.exit(0)));
