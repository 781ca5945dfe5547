import type { Command } from 'commander';
import { buildTrace, checkTraceContract, formatTrace, proveTrace, TRACE_FIELDS, type TraceField, type TraceReport } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { ledgerSourceOptions, loadLedger, type LedgerSourceFlags } from '../ledger-source.js';
import { readPolicyFile } from '../policy-file.js';
import { EXIT } from './exit.js';

interface TraceFlags extends LedgerSourceFlags {
  policy?: string;
  json?: boolean;
  prove?: boolean;
  check?: boolean;
}

export function register(program: Command): void {
  ledgerSourceOptions(
    program
      .command('trace')
      .description('rebuild the authority chain of a request, proposal, step or incident from the ledger')
      .argument('<id>', 'a request, proposal, step, grant, override or incident id')
      .option('--policy <file>', 'policy bundle whose `trace.required_fields` --check enforces (default: every trace field)')
      .option('--json', 'print the chain as JSON')
      .option('--prove', 'add an inclusion proof of every line against the latest signed checkpoint')
      .option('--check', 'report entries lacking a required trace field and executions without a matching grant or lease; exit 1 if any'),
  )
    .addHelpText(
      'after',
      `
Each line is one ledger entry: time, seq, who@surface, what, [reason codes],
with the rule ids that decided below it. Steps come first: what ran, on whose
authority. An entry that does not match its type is shown as unreadable,
naming the field, and --check reports it. See docs/trace-and-postmortem.md.

Examples:
  countersign trace request-1 --db ledger.db
  countersign trace inc-payments-0912 --file ledger.jsonl --json
  countersign trace proposal-2 --db ledger.db --check --policy policy.yaml
  countersign trace request-1 --db ledger.db --prove --json > chain-with-proofs.json

Exit codes: 0 chain printed (and --check found nothing), 1 --check found a problem,
2 unknown id or bad input, 3 store unreachable.`,
    )
    .action(async (id: string, flags: TraceFlags) => {
      const ledger = await loadLedger(flags);
      const trace = buildTrace(ledger.entries, id);
      let report: TraceReport = trace;
      if (flags.check) {
        const fields: readonly TraceField[] = flags.policy === undefined ? TRACE_FIELDS : readPolicyFile(flags.policy).bundle.trace.required_fields;
        const only = new Set(trace.lines.map((l) => l.seq));
        const problems = checkTraceContract(ledger.entries, fields, only);
        for (const seq of ledger.chainBreaks) {
          if (only.has(seq)) problems.push({ seq, type: ledger.entries[seq]?.type ?? '-', field: 'authority', message: '`prev_hash` is not the hash of the entry before: run `countersign ledger verify`' });
        }
        report = { ...report, check: { required_fields: fields, problems } };
      }
      if (flags.prove) {
        if (ledger.checkpoint === null) throw new GatewayError('USAGE', 'the ledger has no signed checkpoint to prove against yet');
        report = { ...report, proofs: proveTrace(trace, ledger.leaves, ledger.checkpoint) };
      }
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatTrace(report));
      if (report.check && report.check.problems.length > 0) process.exitCode = EXIT.NEGATIVE;
    });
}
