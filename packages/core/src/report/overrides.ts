import type { LedgerEntry } from '../ledger/entry.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { formatDuration, parseDuration } from '../policy/duration.js';

/**
 * Override rarity (`countersign report overrides`): an override path that
 * people call rare must be provably rare (reference/000, "Decision
 * Criteria"). Counts come from the ledger alone; budgets from the policy.
 * Pure: the window and `now` are passed in.
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
  readonly budgets: readonly {
    readonly environment: string;
    readonly max: number;
    readonly window: string;
    readonly used: number;
    readonly remaining: number;
    readonly spent: boolean;
  }[];
  /** Median ms from the moment a step needed authority to its approval, and to an override that unlocked it. */
  readonly median_ms: { readonly request_to_approval: number | null; readonly request_to_override: number | null };
}

function str(e: LedgerEntry, key: string): string | null {
  const v = e.payload[key];
  return typeof v === 'string' ? v : null;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
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

export function overrideReport(entries: readonly LedgerEntry[], policy: CompiledPolicy, options: OverrideReportOptions): OverrideReport {
  const from = options.now - options.windowMs;
  const inWindow = (e: LedgerEntry): boolean => {
    const at = Date.parse(e.at);
    return at >= from && at <= options.now;
  };
  const requests = new Map<string, LedgerEntry>();
  const stepNeeded = new Map<string, number>();
  const requestOpened = new Map<string, LedgerEntry>();
  for (const e of entries) {
    if (e.type === 'override.requested') requests.set(str(e, 'override') ?? '', e);
    if (e.type === 'request.opened') requestOpened.set(str(e, 'request') ?? '', e);
    // the moment a step first needed authority: its first decision
    if (e.type === 'step.decided') {
      const digest = str(e, 'digest');
      if (digest !== null && !stepNeeded.has(digest)) stepNeeded.set(digest, Date.parse(e.at));
    }
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
        if (field === 'granted') granted += 1;
        else denied += 1;
        const request = requests.get(str(e, 'override') ?? '');
        const body = (request?.payload['body'] ?? {}) as Record<string, unknown>;
        const scope = (body['scope'] ?? {}) as Record<string, unknown>;
        const envs = field === 'granted' ? strings(e.payload['environments']) : strings(scope['environments']);
        for (const name of new Set(envs)) env(name)[field] += 1;
        bump(reasonRows, typeof body['reason_code'] === 'string' ? body['reason_code'] : str(e, 'reason_code') ?? '-', field);
        const signers = new Set(((e.payload['signers'] ?? []) as { principal?: unknown }[]).map((s) => String(s.principal ?? '-')));
        for (const signer of signers) bump(signerRows, signer, field);
        if (field === 'denied') for (const code of new Set(strings(e.payload['codes']))) gates.set(code, (gates.get(code) ?? 0) + 1);
        if (field === 'granted') {
          const needed = strings(e.payload['step_digests']).map((d) => stepNeeded.get(d)).filter((t): t is number => t !== undefined);
          const start = needed.length > 0 ? Math.min(...needed) : Date.parse(request?.at ?? e.at);
          toOverride.push(Date.parse(e.at) - start);
        }
        break;
      }
      case 'request.approved': {
        approvals += 1;
        const opened = requestOpened.get(str(e, 'request') ?? '');
        env(opened === undefined ? '-' : (str(opened, 'environment') ?? '-')).approvals += 1;
        if (opened !== undefined) toApproval.push(Date.parse(e.at) - Date.parse(opened.at));
        break;
      }
      default:
        break;
    }
  }

  const grantedAt = entries.filter((e) => e.type === 'override.granted');
  const budgets = (policy.bundle.overrides?.budgets ?? []).map((b) => {
    const windowMs = parseDuration(b.window);
    const used = grantedAt.filter((e) => strings(e.payload['environments']).includes(b.environment) && Date.parse(e.at) > options.now - windowMs && Date.parse(e.at) <= options.now).length;
    return { environment: b.environment, max: b.max, window: b.window, used, remaining: Math.max(0, b.max - used), spent: used >= b.max };
  });

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
