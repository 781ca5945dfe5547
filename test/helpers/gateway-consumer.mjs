// A child process for test/gateway-postgres.test.ts: one gateway replica.
// Opens the built Postgres store and a Gateway with the given policy and
// gateway key, says `ready`, waits for `go` on stdin, then presents the grant
// token `attempts` times at once. Prints one JSON line with the outcome of
// each attempt; exits non-zero on any error that is not a refusal.
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { createInterface } from 'node:readline';
import { loadPolicy } from '@countersign/core';
import { Gateway, PostgresLedgerStore } from '../../packages/gateway/dist/index.js';

const [url, schema, policyPath, keyPath, token, attempts, name] = process.argv.slice(2);

const store = await PostgresLedgerStore.open(url, { schema, poolSize: 4 });
const gateway = await Gateway.open({
  store,
  policy: loadPolicy(readFileSync(policyPath, 'utf8'), policyPath),
  key: createPrivateKey(readFileSync(keyPath, 'utf8')),
  origin: 'countersign.test/ledger/gateway',
  clock: () => Date.now(),
});
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'go') break;

const caller = { principal: 'payments-copilot', surface: 'copilot-console', credential: `cred-${name}` };
try {
  const results = await Promise.all(Array.from({ length: Number(attempts) }, () => gateway.execute(caller, { token })));
  process.stdout.write(`${JSON.stringify({ name, outcomes: results.map((r) => (r.ok ? 'ok' : r.code)) })}\n`);
} catch (err) {
  process.stderr.write(`replica ${name} failed: ${err && err.code} ${err && err.message}\n`);
  process.exitCode = 1;
} finally {
  await gateway.close();
  await store.close();
}
