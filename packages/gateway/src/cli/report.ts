import { InvalidArgumentError, type Command } from 'commander';
import { compilePolicy, formatOverrideReport, overrideReport, parseDuration } from '@countersign/core';
import { ledgerSourceOptions, loadLedger, type LedgerSourceFlags } from '../ledger-source.js';
import { readPolicyFile } from '../policy-file.js';
import { parseInstant } from './postmortem.js';

interface OverridesFlags extends LedgerSourceFlags {
  window: number;
  now?: number;
  policy: string;
  json?: boolean;
}

function parseWindow(value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new InvalidArgumentError(`\`${value}\` is not a duration such as \`24h\` or \`7d\``);
  }
}

export function register(program: Command): void {
  const report = program.command('report').description('reports computed from the ledger');
  ledgerSourceOptions(
    report
      .command('overrides')
      .description('override rarity: overrides granted and denied by environment, reason and signer, against approvals and the policy\'s budgets')
      .option('--window <duration>', 'how far back from --now to count', parseWindow, parseDuration('7d'))
      .option('--now <time>', 'end of the window, RFC 3339 (default: now)', parseInstant)
      .requiredOption('--policy <file>', 'the bundle whose override budgets to report against')
      .option('--json', 'print the report as JSON'),
  )
    .addHelpText(
      'after',
      `
An override path people call rare must be provably rare. The override rate is
granted overrides / (granted overrides + approved requests) in the window; the
medians compare the time from a step's first decision to its approval with the
time to an override that unlocked it. A ledger holding an entry that does not
match its type is refused (LEDGER_ENTRY_INVALID, naming its seq and field):
a count cannot count around an entry it cannot read.

Examples:
  countersign report overrides --db ledger.db --policy policy.yaml
  countersign report overrides --window 24h --file ledger.jsonl --policy policy.yaml --json`,
    )
    .action(async (flags: OverridesFlags) => {
      const loaded = readPolicyFile(flags.policy);
      const policy = compilePolicy(loaded.bundle, loaded.bundleId);
      const ledger = await loadLedger(flags);
      const result = overrideReport(ledger.entries, policy, { windowMs: flags.window, now: flags.now ?? Date.now() });
      process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatOverrideReport(result));
    });
}
