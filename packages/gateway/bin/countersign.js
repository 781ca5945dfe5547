#!/usr/bin/env node
// The `countersign` binary. It lives outside dist/ so that npm can link it at
// install time, before the TypeScript build has produced dist/cli.js.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('error[USAGE]: countersign is not built yet; run `npm run build` in the repository root\n');
  process.exit(2);
}
await import(cli.href);
