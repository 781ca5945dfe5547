import type { TraceField, TraceProblem } from './check.js';
import type { TraceProofs } from './prove.js';
import type { Trace, TraceLine, TraceStep } from './trace.js';

/** A trace with what `--check` and `--prove` add: the JSON `countersign trace --json` prints. */
export interface TraceReport extends Trace {
  readonly check?: { readonly required_fields: readonly TraceField[]; readonly problems: readonly TraceProblem[] };
  readonly proofs?: TraceProofs;
}

function who(line: TraceLine): string {
  return `${line.actor ?? 'gateway'}@${line.surface ?? '-'}`;
}

function stepText(s: TraceStep): string[] {
  const head = `  ${s.step}  ${s.action}@${s.environment} ${s.target}: ${s.effect ?? 'undecided'}, risk ${s.risk ?? '-'}`;
  const runs = s.executions.map((x) => `${x.execution} via ${x.via} ${x.outcome ?? 'no outcome'}`);
  const detail = [
    `approvers ${s.approvers.join(', ') || 'none'}`,
    `grants ${s.grants.join(', ') || 'none'}`,
    ...(s.leases.length > 0 ? [`leases ${s.leases.join(', ')}`] : []),
    `executions ${runs.join(', ') || 'none'}`,
  ];
  return [head, `      ${detail.join('; ')}`];
}

/**
 * The human view: steps first (what ran on whose authority), then the
 * timeline, one line per entry: time, seq, who@surface, what, [codes], with
 * the rule ids that decided on the line below.
 */
export function formatTrace(report: TraceReport): string {
  const out: string[] = [];
  out.push(`trace ${report.id} (${report.kind}): ${report.lines.length} entries, bundle ${report.bundle_ids.join(', ') || 'none'}`);
  if (report.steps.length > 0) {
    out.push('', 'steps');
    for (const s of report.steps) out.push(...stepText(s));
  }
  out.push('', 'timeline');
  // a reduce, not a spread: a chain of a hundred thousand lines or so would overflow the call's arguments
  const width = report.lines.reduce((widest, l) => Math.max(widest, who(l).length), 0);
  // Rule ids repeat along a step's chain; print them when they change.
  const shown = new Map<string, string>();
  for (const line of report.lines) {
    const codes = line.codes.length > 0 ? `  [${line.codes.join(', ')}]` : '';
    out.push(`  ${line.at}  #${String(line.seq).padEnd(4)} ${who(line).padEnd(width)}  ${line.what}${codes}`);
    const key = line.step ?? line.type;
    const rules = line.rule_ids.join(', ');
    if (shown.get(key) === rules) continue;
    shown.set(key, rules);
    if (line.rule_ids.length > 0) out.push(`  ${' '.repeat(line.at.length)}  ${' '.repeat(5)} ${' '.repeat(width)}  rules ${line.rule_ids.join(', ')}`);
  }
  if (report.check) {
    out.push('');
    const { problems, required_fields: fields } = report.check;
    if (problems.length === 0) {
      out.push(`check: ok; every entry carries ${fields.join(', ')} where they apply, and every execution matches a grant or lease`);
    } else {
      out.push(`check: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
      for (const p of problems) out.push(`  #${p.seq} ${p.type}: ${p.field}: ${p.message}`);
    }
  }
  if (report.proofs) {
    const { proofs, unproven, tree_size: size, root } = report.proofs;
    out.push('', `proofs: ${proofs.length} inclusion proofs against the checkpoint of ${size} entries, root ${root}`);
    for (const p of proofs) out.push(`  #${p.seq} leaf ${p.leaf_hash} path ${p.path.length} hashes`);
    if (unproven.length > 0) out.push(`  not yet checkpointed: ${unproven.map((s) => `#${s}`).join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}
