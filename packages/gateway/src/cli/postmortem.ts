import { InvalidArgumentError, type Command } from 'commander';
import { classify, compilePolicy, formatPostmortem, formatPostmortemMarkdown, type GoldenCase, type PostmortemScope } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { parseCaseFile } from '../golden/cases.js';
import { collectCaseFiles, readInputFile } from '../golden/files.js';
import { ledgerSourceOptions, loadLedger, type LedgerSourceFlags } from '../ledger-source.js';
import { readPolicyFile } from '../policy-file.js';

interface PostmortemFlags extends LedgerSourceFlags {
  incident?: string;
  from?: number;
  to?: number;
  policy: string;
  golden?: string[];
  json?: boolean;
  markdown?: boolean;
}

export function parseInstant(value: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`\`${value}\` is not an RFC 3339 time such as 2025-06-01T09:00:00Z`);
  return ms;
}

/** Golden cases from files and directories, as `policy test` reads them. */
export async function readGoldenCases(paths: readonly string[]): Promise<GoldenCase[]> {
  const cases: GoldenCase[] = [];
  for (const file of await collectCaseFiles(paths)) cases.push(...parseCaseFile(await readInputFile(file, 'case file'), file).map((c) => c.case));
  if (cases.length === 0) throw new GatewayError('USAGE', `no golden cases found in ${paths.map((p) => `\`${p}\``).join(', ')}`);
  return cases;
}

export function register(program: Command): void {
  ledgerSourceOptions(
    program
      .command('postmortem')
      .description('classify what went wrong by the incident taxonomy, from the ledger alone, judged against a governed bundle')
      .option('--incident <id>', 'classify the chain of this incident')
      .option('--from <time>', 'classify entries from this RFC 3339 time', parseInstant)
      .option('--to <time>', 'classify entries up to this RFC 3339 time', parseInstant)
      .requiredOption('--policy <file>', 'the governed bundle every execution is judged against')
      .option('--golden <path...>', 'golden cases of the governed bundle (files or directories), for evaluation-blind-spot')
      .option('--json', 'print the classification as JSON')
      .option('--markdown', 'print the classification as a Markdown table with its evidence'),
  )
    .addHelpText(
      'after',
      `
Prints the fields of the incident analysis's classification table
(observed_symptom, primary_failure_class, secondary_failure_class,
additional_classes, boundary_crossed, control_missed, detection_stage,
release_action), then each class with the ledger entries that support it,
then the attempts that were stopped. Classes and precedence are in
docs/trace-and-postmortem.md.

Examples:
  countersign postmortem --incident inc-payments-0912 --db ledger.db --policy policy.yaml --golden golden/
  countersign postmortem --from 2025-06-01T09:00:00Z --to 2025-06-01T10:00:00Z --file ledger.jsonl --policy policy.yaml --markdown

Exit codes: 0 classified (whatever it found), 2 bad input, 3 store unreachable.`,
    )
    .action(async (flags: PostmortemFlags) => {
      if (flags.json && flags.markdown) throw new GatewayError('USAGE', 'choose one of `--json` and `--markdown`');
      const loaded = readPolicyFile(flags.policy);
      const policy = compilePolicy(loaded.bundle, loaded.bundleId);
      const golden = flags.golden === undefined ? undefined : await readGoldenCases(flags.golden);
      const ledger = await loadLedger(flags);
      const scope: PostmortemScope = {
        ...(flags.incident === undefined ? {} : { incident: flags.incident }),
        ...(flags.from === undefined ? {} : { from: flags.from }),
        ...(flags.to === undefined ? {} : { to: flags.to }),
      };
      const postmortem = classify(ledger.entries, {
        policy,
        scope,
        ...(golden === undefined ? {} : { golden }),
        verificationFailures: ledger.chainBreaks.map((seq) => ({ seq, message: '`prev_hash` is not the hash of the entry before' })),
      });
      const text = flags.json ? `${JSON.stringify(postmortem, null, 2)}\n` : flags.markdown ? formatPostmortemMarkdown(postmortem) : formatPostmortem(postmortem);
      process.stdout.write(text);
    });
}
