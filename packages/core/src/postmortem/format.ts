import type { Postmortem } from './classify.js';

/**
 * Postmortem views. The field table is the incident analysis's own
 * classification table, filled from the ledger; every claim below it cites
 * the seqs it rests on, so `countersign trace` or `ledger prove` can check it.
 */

function seqList(seqs: readonly number[]): string {
  return seqs.map((s) => `#${s}`).join(', ');
}

function fields(pm: Postmortem): [string, string][] {
  return [
    ['observed_symptom', pm.observed_symptom],
    ['primary_failure_class', pm.primary_failure_class ?? 'none'],
    ['secondary_failure_class', pm.secondary_failure_class ?? 'none'],
    ['additional_classes', pm.additional_classes.length > 0 ? pm.additional_classes.join(', ') : 'none'],
    ['boundary_crossed', pm.boundary_crossed ?? 'none'],
    ['control_missed', pm.control_missed ?? 'none'],
    ['detection_stage', pm.detection_stage],
    ['release_action', pm.release_action],
  ];
}

function scopeText(pm: Postmortem): string {
  const s = pm.scope;
  const what = s.incident !== null ? `incident ${s.incident}` : s.from !== null || s.to !== null ? `${s.from ?? 'the start'} to ${s.to ?? 'the end'}` : 'the whole ledger';
  const range = s.first_seq === null ? 'no entries' : `${s.entries} entries, seq ${s.first_seq} to ${s.last_seq ?? s.first_seq}`;
  return `${what}: ${range}; judged against bundle ${pm.judged_against.name} ${pm.judged_against.bundle_id}`;
}

export function formatPostmortem(pm: Postmortem): string {
  const out: string[] = [`postmortem of ${scopeText(pm)}`, ''];
  const width = Math.max(...fields(pm).map(([k]) => k.length));
  for (const [key, value] of fields(pm)) out.push(`${key.padEnd(width)}  ${value}`);
  for (const c of pm.classes) {
    out.push('', `${c.class} (${seqList(c.seqs)})`);
    for (const f of c.findings) out.push(`  ${f.rule}: ${f.summary} [${seqList(f.seqs)}]`);
  }
  if (pm.stopped.length > 0) {
    out.push('', `stopped (${pm.stopped.length}): controls that held`);
    for (const s of pm.stopped) out.push(`  #${s.seq} ${s.summary}${s.codes.length > 0 ? ` [${s.codes.join(', ')}]` : ''}`);
  }
  for (const n of pm.not_evaluated) out.push('', `not evaluated: ${n}`);
  return `${out.join('\n')}\n`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const CODE_FIELDS = new Set(['primary_failure_class', 'secondary_failure_class', 'additional_classes']);

export function formatPostmortemMarkdown(pm: Postmortem): string {
  const out: string[] = [
    `# Postmortem: ${pm.scope.incident !== null ? `incident \`${pm.scope.incident}\`` : 'ledger window'}`,
    '',
    `Derived from the ledger alone (${cell(scopeText(pm))}).`,
    '',
    '| Field | Read |',
    '|---|---|',
  ];
  for (const [key, value] of fields(pm)) {
    const read = CODE_FIELDS.has(key) && value !== 'none' ? value.split(', ').map((v) => `\`${v}\``).join(', ') : cell(value);
    out.push(`| \`${key}\` | ${read} |`);
  }
  if (pm.classes.length > 0) {
    out.push('', '## Evidence');
    for (const c of pm.classes) {
      out.push('', `### \`${c.class}\``, '', `Entries: ${seqList(c.seqs)}`, '');
      for (const f of c.findings) out.push(`- **${f.rule}**: ${cell(f.summary)} (${seqList(f.seqs)})`);
    }
  }
  if (pm.stopped.length > 0) {
    out.push('', '## Stopped attempts', '', 'Controls that held; every refusal is a ledger entry.', '');
    for (const s of pm.stopped) out.push(`- #${s.seq} ${cell(s.summary)}${s.codes.length > 0 ? ` (${s.codes.map((c) => `\`${c}\``).join(', ')})` : ''}`);
  }
  if (pm.not_evaluated.length > 0) {
    out.push('', '## Not evaluated', '');
    for (const n of pm.not_evaluated) out.push(`- ${cell(n)}`);
  }
  return `${out.join('\n')}\n`;
}
