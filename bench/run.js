// `npm run bench`: builds, then runs every benchmark part in turn and prints
// their tables. `node bench/run.js <part> [<part> ...]` runs only those parts
// (after `npm run build`). Each part is a module exporting `run()`.
//
// Benchmarks are scripts that print figures, never tests that assert a time (STYLE.md).
const PARTS = {
  decide: () => import('./decide.js'),
  ledger: () => import('./ledger.js'),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in PARTS));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench part(s): ${unknown.join(', ')}; parts: ${Object.keys(PARTS).join(', ')}\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(PARTS)) {
  process.stderr.write(`\n== bench: ${name} ==\n`);
  const part = await PARTS[name]();
  await part.run();
}
