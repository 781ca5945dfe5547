import { InvalidArgumentError, type Command } from 'commander';
import { compilePolicy, formatPolicyDiff, isCountersignError, parseDuration, policyDiff, type CompiledPolicy } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { ledgerSourceOptions, loadLedger, type LedgerSourceFlags } from '../ledger-source.js';
import { readPolicyFile } from '../policy-file.js';
import { EXIT, reportError, type ExitCode } from './exit.js';

interface DiffFlags extends LedgerSourceFlags {
  since?: number;
  json?: boolean;
}

/** RFC 3339 with a zone: a time without one would mean another instant on every machine. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** `--since`: an RFC 3339 time, or a duration back from now (`24h`, `7d`). */
function parseSince(value: string): number {
  if (RFC3339.test(value)) {
    const ms = Date.parse(value);
    if (Number.isSafeInteger(ms)) return ms;
  } else {
    try {
      return Date.now() - parseDuration(value);
    } catch {
      // not a duration either: the message below names both forms
    }
  }
  throw new InvalidArgumentError(`\`${value}\` is neither an RFC 3339 time such as 2025-06-01T09:00:00Z nor a duration such as \`24h\``);
}

function compiled(file: string): CompiledPolicy {
  const { bundle, bundleId } = readPolicyFile(file);
  return compilePolicy(bundle, bundleId);
}

async function diff(activeFile: string, candidateFile: string, flags: DiffFlags): Promise<ExitCode> {
  try {
    const ledgerNamed = flags.db !== undefined || flags.postgres !== undefined || flags.file !== undefined;
    if (flags.since !== undefined && !ledgerNamed) {
      throw new GatewayError('USAGE', '`--since` bounds the replay of a ledger: name one with `--db`, `--postgres` or `--file`');
    }
    const active = compiled(activeFile);
    const candidate = compiled(candidateFile);
    const entries = ledgerNamed ? (await loadLedger(flags)).entries : null;
    const result = policyDiff(active, candidate, { entries, since: flags.since ?? null });
    process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatPolicyDiff(result));
    return result.identical ? EXIT.OK : EXIT.NEGATIVE;
  } catch (err) {
    const code = reportError(err);
    // here a bundle that does not load is bad input, not a difference: exit 1 means "changes"
    return isCountersignError(err) && (err.code === 'POLICY_INVALID' || err.code === 'POLICY_PARSE_ERROR') ? EXIT.USAGE : code;
  }
}

/** `countersign policy diff`: attached to the `policy` command group by cli/policy.ts. */
export function registerPolicyDiff(policy: Command): void {
  ledgerSourceOptions(
    policy
      .command('diff')
      .description('what a candidate bundle changes: its rules, and the recorded decisions that would come out differently')
      .argument('<active>', 'the bundle in force (YAML)')
      .argument('<candidate>', 'the candidate bundle (YAML)')
      .option('--since <time>', 'replay only steps decided at or after an RFC 3339 time, or a duration ago (`24h`, `7d`)', parseSince)
      .option('--json', 'print the diff as one JSON document'),
  )
    .addHelpText(
      'after',
      `
First the rules: every action contract, risk class, principal, key, override
rule, hold, rollback and halt authority that differs, grouped by section with
counts; \`+\` added, \`-\` removed, \`~\` changed, one line per field. Then, with a
ledger, the traffic: every recorded step decided again under the active bundle
and under the candidate, against the state (holds, prior steps) and at the time
it was first decided, and each decision that would change: effect, risk,
quorum, approval surfaces, reason codes, with counts. The last line is the
diff's digest, which a release statement binds. See docs/policy-diff.md.

Exit codes:
  0  identical: no rule and no recorded decision changes
  1  something changes (as diff(1) does)
  2  bad usage or input: a bundle that does not load, an unreadable ledger entry
  3  store unreachable

Examples:
  countersign policy diff active.yaml candidate.yaml
  countersign policy diff active.yaml candidate.yaml --db ledger.db --since 24h
  countersign policy diff examples/permissive/policy.yaml examples/payments/policy.yaml --file ledger.jsonl --json`,
    )
    .action(async (activeFile: string, candidateFile: string, flags: DiffFlags) => {
      process.exitCode = await diff(activeFile, candidateFile, flags);
    });
}
