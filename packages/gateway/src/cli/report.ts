import { InvalidArgumentError, type Command } from 'commander';
import { compilePolicy, formatOverrideReport, overrideReport, parseDuration } from '@countersign/core';
import { ledgerSourceOptions, loadLedger, type LedgerSourceFlags } from '../ledger-source.js';
import { readPolicyFile } from '../policy-file.js';
import { ENVIRONMENT_STORE, exitCodesHelp, type ExitMeanings, USAGE_INPUT } from './help.js';
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

/** Every report reads a policy and a ledger, and says what it found whatever it finds. */
const REPORT_EXIT: ExitMeanings = {
  ok: 'the report is printed, whatever it shows',
  negative: 'a negative answer: the policy is invalid (POLICY_INVALID)',
  usage: `${USAGE_INPUT}, a ledger entry that does not match its type (LEDGER_ENTRY_INVALID)`,
  environment: ENVIRONMENT_STORE,
};

export function register(program: Command): void {
  const report = program
    .command('report')
    .description('reports computed from the ledger')
    .addHelpText(
      'after',
      `
Every report reads the ledger from --db FILE, --postgres URL or an export (--file).
${exitCodesHelp(REPORT_EXIT)}

Examples:
  countersign report overrides --db cs/ledger.db --policy cs/policy.yaml
  countersign report overrides --file /tmp/ledger.jsonl --policy cs/policy.yaml --json`,
    );
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
${exitCodesHelp(REPORT_EXIT)}

Examples:
  countersign report overrides --db cs/ledger.db --policy cs/policy.yaml
  countersign report overrides --window 24h --file /tmp/ledger.jsonl --policy cs/policy.yaml --json`,
    )
    .action(async (flags: OverridesFlags) => {
      const loaded = readPolicyFile(flags.policy);
      const policy = compilePolicy(loaded.bundle, loaded.bundleId);
      const ledger = await loadLedger(flags);
      const result = overrideReport(ledger.entries, policy, { windowMs: flags.window, now: flags.now ?? Date.now() });
      process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatOverrideReport(result));
    });
}
