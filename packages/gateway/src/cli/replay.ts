import type { Command } from 'commander';
import { GatewayError } from '../errors.js';
import { replayCheck, type ProjectionDifference } from '../service/replay.js';
import { openStore } from '../store/open.js';
import { EXIT } from './exit.js';
import { ENVIRONMENT_STORE, exitCodesHelp, USAGE_INPUT } from './help.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';

/** Differences printed in full; the rest are counted. */
const SHOWN = 50;
/** A projection value longer than this is cut in the listing. */
const VALUE_CHARS = 400;

function clip(value: string | null): string {
  if (value === null) return '(absent)';
  return value.length > VALUE_CHARS ? `${value.slice(0, VALUE_CHARS)}…` : value;
}

function describe(d: ProjectionDifference): string {
  if (d.stored === null) return `${d.kind}/${d.id}: missing from the stored projections\n  ledger says: ${clip(d.rebuilt)}\n`;
  if (d.rebuilt === null) return `${d.kind}/${d.id}: stored, but no entry creates it\n  stored:      ${clip(d.stored)}\n`;
  return `${d.kind}/${d.id}: differs\n  stored:      ${clip(d.stored)}\n  ledger says: ${clip(d.rebuilt)}\n`;
}

/** `countersign ledger replay --check`: registered on the `ledger` command group. */
export function registerReplay(ledger: Command): void {
  storeOptions(
    ledger
      .command('replay')
      .description('rebuild all authority state from the ledger entries and compare it with the stored projections')
      .option('--check', 'compare with the stored projections and exit 1 on any difference (the only mode for now)')
      .option('--json', 'print {"ok", "entries", "rows", "stored_rows", "differences"} as JSON')
      .addHelpText(
        'after',
        `
The state tables are projections of the ledger (docs/adr/002-single-writer-state-machine.md):
this replays every entry through the one reducer, from nothing, and compares each
row (proposals, steps, requests, grants, executions, holds, overrides, leases,
artifacts, halts, budgets, the active bundle) with the row the gateway stored
when it committed the entry. Prints \`ok <entries> entries, <rows> rows\` and exits 0,
or lists every difference and exits 1. Run it on a quiet ledger: rows committed
while it reads show up as differences.
${exitCodesHelp({
  ok: 'every stored row matches the ledger',
  negative: 'a negative answer: a row differs from the ledger (PROJECTION_MISMATCH)',
  usage: `${USAGE_INPUT}, --check missing`,
  environment: ENVIRONMENT_STORE,
})}

Examples:
  countersign ledger replay --check --db cs/ledger.db
  countersign ledger replay --check --postgres postgres://countersign@db/countersign --json
`,
      ),
  ).action(async (opts: StoreFlags & { check?: boolean; json?: boolean }) => {
    if (!opts.check) throw new GatewayError('USAGE', 'say what to do: `countersign ledger replay --check`');
    const store = await openStore(storeConfig(opts, { readonly: true }));
    let report: Awaited<ReturnType<typeof replayCheck>>;
    try {
      report = await replayCheck(store);
    } finally {
      await store.close();
    }
    const ok = report.differences.length === 0;
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ ok, entries: report.entries, rows: report.rebuiltRows, stored_rows: report.storedRows, differences: report.differences })}\n`,
      );
    } else if (ok) {
      process.stdout.write(`ok ${report.entries} entries, ${report.rebuiltRows} rows\n`);
    } else {
      for (const d of report.differences.slice(0, SHOWN)) process.stdout.write(describe(d));
      if (report.differences.length > SHOWN) process.stdout.write(`... and ${report.differences.length - SHOWN} more\n`);
      process.stderr.write(`error[PROJECTION_MISMATCH]: ${report.differences.length} of ${report.rebuiltRows} rows differ from the ledger (${report.entries} entries)\n`);
    }
    if (!ok) process.exitCode = EXIT.NEGATIVE;
  });
}
