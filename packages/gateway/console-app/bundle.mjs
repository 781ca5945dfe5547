// The approver console's script, bundled for the browser (issue 14): app.ts
// with the browser-safe part of core (canonical JSON, the statement text a
// passkey signs) and @simplewebauthn/browser, in one file the gateway serves
// from its own origin (no CDN at run time). `platform: 'browser'` makes the
// build fail if anything reachable imports a node:* module. tsc typechecks
// the same source first (console-app/tsconfig.json).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

await build({
  entryPoints: [fileURLToPath(new URL('./app.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('../dist/console-app/app.js', import.meta.url)),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
});
