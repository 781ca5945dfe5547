#!/usr/bin/env node
// The `countersign-mcp` binary (the same command as `countersign mcp`). It
// lives outside dist/ so that npm can link it before the build has run.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('error[USAGE]: countersign-mcp is not built yet; run `npm run build` in the repository root\n');
  process.exit(2);
}
const { runMcpCli } = await import(cli.href);
await runMcpCli('countersign-mcp', process.argv.slice(2));
