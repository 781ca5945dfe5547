// Crash-test child: appends under load through the Sequencer to a SQLite ledger
// (synchronous=FULL) and prints `<seq> <leaf hash hex>` for every ACKNOWLEDGED entry.
// The parent (test/ledger-crash.test.ts) kills it with SIGKILL at random moments.
//
//   node test/helpers/ledger-appender.mjs <db> --key FILE [--in-flight N] [--count N]
//
// stdout to a pipe is synchronous on Linux, so a printed ack is in the parent's
// pipe before the next append starts; it is printed only after the commit.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ed25519Signer } from '../../packages/core/dist/index.js';
import { DEFAULT_LEDGER_ORIGIN, loadPrivateKey, signedCheckpoints, SqliteLedgerStore } from '../../packages/gateway/dist/index.js';
// not exported by the package: the one writer in production is the command sequencer (ADR 002)
import { Sequencer } from '../../packages/gateway/dist/testing/plain-sequencer.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { key: { type: 'string' }, 'in-flight': { type: 'string', default: '64' }, count: { type: 'string' } },
});
const db = positionals[0];
if (!db || !values.key) throw new Error('usage: ledger-appender.mjs <db> --key FILE');
const inFlight = Number(values['in-flight']);
const limit = values.count === undefined ? Infinity : Number(values.count);

const store = SqliteLedgerStore.open(db, { synchronous: 'FULL' });
const signer = ed25519Signer(DEFAULT_LEDGER_ORIGIN, loadPrivateKey(values.key));
// frequent checkpoints, so kills also land while a checkpoint is being written
const sequencer = await Sequencer.open(store, {
  maxBatch: 256,
  checkpoints: signedCheckpoints(DEFAULT_LEDGER_ORIGIN, signer, { every: 500, intervalMs: 20 }),
});
process.stdout.write('ready\n');

let issued = 0;
async function worker(id) {
  while (issued < limit) {
    issued += 1;
    const entry = await sequencer.append({
      at: new Date().toISOString(),
      type: 'test.appended',
      actor: `worker-${id}`,
      surface: null,
      bundle_id: null,
      subjects: { request: `r-${process.pid}-${issued}` },
      // entries of varying size so a torn write would not line up with page boundaries
      payload: { pad: randomBytes(16 + (issued % 200)).toString('base64') },
    });
    process.stdout.write(`${entry.seq} ${Buffer.from(entry.hash).toString('hex')}\n`);
  }
}
await Promise.all(Array.from({ length: inFlight }, (_, i) => worker(i)));
await sequencer.close();
await store.close();
process.stdout.write('done\n');
