import { CountersignError } from '../errors.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { budgetStanding, type BudgetStanding } from '../override/budget.js';
import { formatDuration } from '../policy/duration.js';
import { withoutRecreations } from '../state/creation.js';
import { entryIssueText, parseEntries, type AuthorityEntry } from '../state/parse.js';

/**
 * Override rarity (`countersign report overrides`): an override path that
 * people call rare must be provably rare (reference/000, "Decision
 * Criteria"). Counts come from the ledger alone; budgets from the policy.
 * Pure: the window and `now` are passed in.
 *
 * Entries are read through the parser (state/parse.ts). A count is only as
 * good as every entry it could include, so a ledger holding an entry that
 * does not match its type is refused (LEDGER_ENTRY_INVALID, naming the seq,
 * type and field) rather than counted around. Entries of types outside the
 * catalog are not authority entries and count for nothing.
 */

export interface OverrideReportOptions {
  /** Window length in ms, ending at `now`. */
  readonly windowMs: number;
  /** Epoch ms. */
  readonly now: number;
}

export interface CountRow {
  readonly granted: number;
  readonly denied: number;
}

export interface OverrideReport {
  readonly window: { readonly from: string; readonly to: string; readonly length: string };
  readonly overrides: { readonly requested: number; readonly granted: number; readonly denied: number };
  /** Requests approved through the normal path in the window. */
  readonly approvals: number;
  /** Granted overrides / (granted overrides + approved requests); null when neither happened. */
  readonly override_rate: number | null;
  readonly by_environment: readonly (CountRow & { readonly environment: string; readonly approvals: number; readonly override_rate: number | null })[];
  readonly by_reason_code: readonly (CountRow & { readonly reason_code: string })[];
  readonly by_signer: readonly (CountRow & { readonly signer: string })[];
  /** Denials by failing gate code. */
  readonly by_gate: readonly { readonly code: string; readonly count: number }[];
  readonly budgets: readonly BudgetStanding[];
  /** Median ms from the moment a step needed authority to its approval, and to an override that unlocked it. */
  readonly median_ms: { readonly request_to_approval: number | null; readonly request_to_override: number | null };
}

/**
 * Every authority entry of the ledger as the gateway applied it: without an
 * entry that creates a record an earlier one created (state/creation.ts), so
 * a lease granted twice counts once. Throws LEDGER_ENTRY_INVALID at the
 * first entry that does not match its type.
 */
function authorityEntries(entries: readonly LedgerEntry[]): AuthorityEntry[] {
  const out: AuthorityEntry[] = [];
  for (const [index, parsed] of parseEntries(entries).entries()) {
    if (parsed.kind === 'authority') out.push(parsed.entry);
    if (parsed.kind !== 'malformed') continue;
    const { issue } = parsed;
    const seq = issue.seq ?? index;
    throw new CountersignError(
      'LEDGER_ENTRY_INVALID',
      `entry ${seq}${issue.type === null ? '' : ` (\`${issue.type}\`)`} does not match its type at ${entryIssueText(issue)}: a report counts every entry and cannot count around it; run \`countersign ledger verify\``,
      { seq, type: issue.type, pointer: issue.pointer },
    );
  }
  return withoutRecreations(out).applied;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function rate(granted: number, approvals: number): number | null {
  return granted + approvals === 0 ? null : granted / (granted + approvals);
}

function bump<K>(map: Map<K, { granted: number; denied: number }>, key: K, field: 'granted' | 'denied'): void {
  const row = map.get(key) ?? { granted: 0, denied: 0 };
  row[field] += 1;
  map.set(key, row);
}

const byKey = <T>(rows: Map<string, T>): [string, T][] => [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Throws LEDGER_ENTRY_INVALID when an entry of the ledger does not match its type. */
export function overrideReport(ledger: readonly LedgerEntry[], policy: CompiledPolicy, options: OverrideReportOptions): OverrideReport {
  const entries = authorityEntries(ledger);
  const from = options.now - options.windowMs;
  const inWindow = (e: AuthorityEntry): boolean => {
    const at = Date.parse(e.at);
    return at >= from && at <= options.now;
  };
  const requests = new Map<string, AuthorityEntry<'override.requested'>>();
  const stepNeeded = new Map<string, number>();
  const requestOpened = new Map<string, AuthorityEntry<'request.opened'>>();
  for (const e of entries) {
    if (e.type === 'override.requested') requests.set(e.payload.override, e);
    if (e.type === 'request.opened') requestOpened.set(e.payload.request, e);
    // the moment a step first needed authority: its first decision
    if (e.type === 'step.decided' && e.payload.digest !== null && !stepNeeded.has(e.payload.digest)) stepNeeded.set(e.payload.digest, Date.parse(e.at));
  }

  const envRows = new Map<string, { granted: number; denied: number; approvals: number }>();
  const reasonRows = new Map<string, { granted: number; denied: number }>();
  const signerRows = new Map<string, { granted: number; denied: number }>();
  const gates = new Map<string, number>();
  const toApproval: number[] = [];
  const toOverride: number[] = [];
  let requested = 0;
  let granted = 0;
  let denied = 0;
  let approvals = 0;
  const env = (name: string): { granted: number; denied: number; approvals: number } => {
    const row = envRows.get(name) ?? { granted: 0, denied: 0, approvals: 0 };
    envRows.set(name, row);
    return row;
  };

  for (const e of entries) {
    if (!inWindow(e)) continue;
    switch (e.type) {
      case 'override.requested':
        requested += 1;
        break;
      case 'override.granted':
      case 'override.denied': {
        const field = e.type === 'override.granted' ? 'granted' : 'denied';
        const request = requests.get(e.payload.override);
        // a denial records no environments or reason of its own: its request's body says what was asked
        const envs = e.type === 'override.granted' ? e.payload.environments : (request?.payload.body.scope.environments ?? []);
        const reason = request?.payload.body.reason_code ?? (e.type === 'override.granted' ? e.payload.reason_code : '-');
        for (const name of new Set(envs)) env(name)[field] += 1;
        bump(reasonRows, reason, field);
        for (const signer of new Set(e.payload.signers.map((s) => s.principal))) bump(signerRows, signer, field);
        if (e.type === 'override.denied') {
          denied += 1;
          for (const code of new Set(e.payload.codes)) gates.set(code, (gates.get(code) ?? 0) + 1);
        } else {
          granted += 1;
          const needed = e.payload.step_digests.map((d) => stepNeeded.get(d)).filter((t): t is number => t !== undefined);
          const start = needed.length > 0 ? Math.min(...needed) : Date.parse(request?.at ?? e.at);
          toOverride.push(Date.parse(e.at) - start);
        }
        break;
      }
      case 'request.approved': {
        approvals += 1;
        const opened = requestOpened.get(e.payload.request);
        env(opened === undefined ? '-' : opened.payload.environment).approvals += 1;
        if (opened !== undefined) toApproval.push(Date.parse(e.at) - Date.parse(opened.at));
        break;
      }
      default:
        break;
    }
  }

  const grants = entries
    .filter((e): e is AuthorityEntry<'override.granted'> => e.type === 'override.granted')
    .map((e) => ({ environments: e.payload.environments, granted_at: e.at }));
  const budgets = (policy.bundle.overrides?.budgets ?? []).map((b) => budgetStanding(b, grants, options.now));

  return {
    window: { from: new Date(from).toISOString(), to: new Date(options.now).toISOString(), length: formatDuration(options.windowMs) },
    overrides: { requested, granted, denied },
    approvals,
    override_rate: rate(granted, approvals),
    by_environment: byKey(envRows).map(([environment, r]) => ({ environment, granted: r.granted, denied: r.denied, approvals: r.approvals, override_rate: rate(r.granted, r.approvals) })),
    by_reason_code: byKey(reasonRows).map(([reason_code, r]) => ({ reason_code, ...r })),
    by_signer: byKey(signerRows).map(([signer, r]) => ({ signer, ...r })),
    by_gate: byKey(gates).map(([code, count]) => ({ code, count })),
    budgets,
    median_ms: { request_to_approval: median(toApproval), request_to_override: median(toOverride) },
  };
}

function pct(r: number | null): string {
  return r === null ? 'n/a' : `${(r * 100).toFixed(1)}%`;
}

function ms(v: number | null): string {
  return v === null ? 'n/a' : formatDuration(Math.round(v));
}

export function formatOverrideReport(r: OverrideReport): string {
  const out = [
    `overrides from ${r.window.from} to ${r.window.to} (${r.window.length})`,
    '',
    `requested ${r.overrides.requested}, granted ${r.overrides.granted}, denied ${r.overrides.denied}; approvals ${r.approvals}; override rate ${pct(r.override_rate)}`,
    `median time to authority: approval ${ms(r.median_ms.request_to_approval)}, override ${ms(r.median_ms.request_to_override)}`,
  ];
  const table = (title: string, rows: string[]): void => {
    if (rows.length > 0) out.push('', title, ...rows.map((row) => `  ${row}`));
  };
  table('by environment', r.by_environment.map((e) => `${e.environment}: granted ${e.granted}, denied ${e.denied}, approvals ${e.approvals}, override rate ${pct(e.override_rate)}`));
  table('by reason code', r.by_reason_code.map((e) => `${e.reason_code}: granted ${e.granted}, denied ${e.denied}`));
  table('by signer', r.by_signer.map((e) => `${e.signer}: granted ${e.granted}, denied ${e.denied}`));
  table('denials by gate', r.by_gate.map((g) => `${g.code}: ${g.count}`));
  table('budgets', r.budgets.map((b) => `${b.environment}: ${b.used} of ${b.max} per ${b.window} used${b.spent ? ', SPENT: an extra signer is required' : `, ${b.remaining} left`}`));
  return `${out.join('\n')}\n`;
}
