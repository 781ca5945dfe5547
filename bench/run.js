// `npm run bench`: runs each benchmark part in its own node process, in
// sequence, so one part's JIT state and heap never colour another's figures.
//
//   node bench/run.js            every part
//   node bench/run.js decide     only the named parts
//
// Adding a part is one line below: its name and the script that prints its figures.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PARTS = {
  decide: 'decide.js',
  ledger: 'ledger.js',
  http: 'http.js',
  replicas: 'replicas.js',
  mcp: 'mcp.js',
  lookups: 'lookups.js',
  activation: 'activation.js',
  memory: 'memory.js',
  tail: 'tail.js',
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !Object.hasOwn(PARTS, name));
if (unknown.length > 0) {
  process.stderr.write(`error[USAGE]: unknown benchmark part \`${unknown.join('`, `')}\`; known: ${Object.keys(PARTS).join(', ')}\n`);
  process.exit(2);
}

let failed = 0;
for (const name of requested.length > 0 ? requested : Object.keys(PARTS)) {
  process.stdout.write(`\n== bench ${name} ==\n`);
  const script = fileURLToPath(new URL(PARTS[name], import.meta.url));
  const result = spawnSync(process.execPath, [script], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    process.stderr.write(`bench ${name} exited with ${result.status ?? result.signal}\n`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
