/**
 * The demo's two timelines and how they are shown: one row per moment of the
 * reference incident, the permissive run on the left and the governed run on
 * the right, each cell saying what the live gateway answered and with which
 * code.
 */

/** The moments of the reference incident, in the order of the report (09:12 to 09:26). */
export const MOMENTS = [
  { id: 'diagnostics', time: '09:14', label: 'read-only diagnostics' },
  { id: 'plan.restart', time: '09:16', label: 'plan step 1: restart workers' },
  { id: 'plan.clear', time: '09:16', label: 'plan step 2: clear the shard' },
  { id: 'second_key', time: '09:17', label: 'operator as her own second key' },
  { id: 'override', time: '09:17', label: 'override from her own console' },
  { id: 'policy.swap', time: '09:17', label: 'a looser policy, activated alone' },
  { id: 'hold', time: '09:17', label: 'hold K1: evidence at risk' },
  { id: 'diagnostics.hold', time: '09:17', label: 'diagnostics during the hold' },
  { id: 'rollback', time: '09:18', label: 'rollback of the restart registered' },
  { id: 'approval.restart', time: '09:19', label: 'independent key for the restart' },
  { id: 'restart', time: '09:19', label: 'restart runs' },
  { id: 'clear.hold', time: '09:21', label: 'clear proposed during the hold' },
  { id: 'snapshot', time: '09:21', label: 'snapshot of the shard' },
  { id: 'lift', time: '09:23', label: 'hold lifted by the owner' },
  { id: 'clear.decision', time: '09:23', label: 'clear proposed again' },
  { id: 'approval.clear', time: '09:24', label: 'two keys for the clear' },
  { id: 'clear', time: '09:25', label: 'clear runs' },
] as const;

export type MomentId = (typeof MOMENTS)[number]['id'];

/** One thing the live gateway answered. */
export interface Happening {
  readonly moment: MomentId;
  /** The report's wall-clock time of the moment. */
  readonly time: string;
  /** What the gateway did, in a sentence. */
  readonly what: string;
  /** The decision effect, the outcome, or the refusal's stable code. */
  readonly code: string;
  /** True when the gateway refused the call (an HTTP 4xx with a code). */
  readonly refused: boolean;
  /** When it happened, by the real clock of the run. */
  readonly at: string;
}

export interface RunReport {
  readonly run: 'permissive' | 'governed';
  readonly policy: string;
  readonly bundle_name: string;
  readonly bundle_id: string;
  /** The run's SQLite ledger (under `--keep DIR`, or a temporary file removed at exit). */
  readonly ledger: string;
  readonly incident: string;
  readonly timeline: readonly Happening[];
  /** Commands to read the authority chain and the classification of this run's ledger. */
  readonly next: readonly string[];
}

export interface DemoReport {
  readonly incident: string;
  readonly runs: readonly RunReport[];
  /** Where the ledgers were kept, or null when they were removed. */
  readonly kept: string | null;
}

/** Collects the happenings of one run, stamping each with the real clock. */
export class Timeline {
  readonly list: Happening[] = [];

  /** `time` overrides the moment's time of the report, for a run where it happened at another minute. */
  add(moment: MomentId, what: string, code: string, refused = false, time: string = MOMENTS.find((m) => m.id === moment)?.time ?? ''): void {
    this.list.push({ moment, time, what, code, refused, at: new Date().toISOString() });
  }
}

const TIME = 5;
const MOMENT = 34;
const CELL = 44;

/** The two runs side by side, one row per moment, wrapped to fit about 140 columns. */
export function formatSideBySide(report: DemoReport): string {
  const [left, right] = report.runs;
  if (left === undefined || right === undefined) return '';
  const out: string[] = [];
  out.push(row('time', 'moment', `${left.run} (${left.bundle_name})`, `${right.run} (${right.bundle_name})`));
  out.push(row('-'.repeat(TIME), '-'.repeat(MOMENT), '-'.repeat(CELL), '-'.repeat(CELL)));
  for (const moment of MOMENTS) {
    const l = left.timeline.filter((h) => h.moment === moment.id);
    const r = right.timeline.filter((h) => h.moment === moment.id);
    if (l.length === 0 && r.length === 0) continue;
    const lines = Math.max(l.length, r.length);
    for (let i = 0; i < lines; i++) {
      const cells = [cell(l[i], moment.time), cell(r[i], moment.time)];
      const height = Math.max(cells[0]!.length, cells[1]!.length);
      for (let j = 0; j < height; j++) {
        out.push(row(i === 0 && j === 0 ? moment.time : '', i === 0 && j === 0 ? moment.label : '', cells[0]![j] ?? '', cells[1]![j] ?? ''));
      }
    }
  }
  return `${out.join('\n')}\n`;
}

function cell(h: Happening | undefined, rowTime: string): string[] {
  if (h === undefined) return ['-'];
  const code = h.refused ? `REFUSED ${h.code}` : h.code;
  return [`[${code}]${h.time === rowTime ? '' : ` at ${h.time}`}`, ...wrap(h.what, CELL)];
}

function row(time: string, moment: string, left: string, right: string): string {
  return `${time.padEnd(TIME)}  ${moment.padEnd(MOMENT)}  ${left.padEnd(CELL)}  ${right}`.trimEnd();
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line.length > 0 ? `${line} ${word}` : word;
    }
  }
  if (line.length > 0) lines.push(line);
  return lines;
}
