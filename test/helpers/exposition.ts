import type { LedgerEntry } from '../../packages/core/src/ledger/entry.js';

/**
 * Test helpers shared by the in-process and end-to-end metrics tests: a
 * parser of the Prometheus text exposition format (version 0.0.4) and the
 * counts a scrape must show, computed from ledger entries alone.
 */

/** Samples keyed `name{label="value",...}` with labels sorted by name. */
export type Samples = Map<string, number>;

export function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: [string, string][] = [];
    const body = match[2] ?? '';
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (let m = pair.exec(body); m !== null; m = pair.exec(body)) {
      labels.push([m[1]!, m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')]);
    }
    samples.set(sampleKey(match[1]!, Object.fromEntries(labels)), Number(match[3]));
  }
  return samples;
}

export function sampleKey(name: string, labels: Readonly<Record<string, string>> = {}): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}

/** Every sample of metric `name` (any labels), as key -> value, zero values dropped. */
export function samplesOf(samples: Samples, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of samples) {
    if ((key === name || key.startsWith(`${name}{`)) && value !== 0) out.set(key, value);
  }
  return out;
}

const REJECTIONS = new Set(['approval.rejected', 'grant.rejected', 'hold.rejected', 'lease.rejected', 'lease.clock_breach', 'authority.rejected']);

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function str(value: unknown): string {
  return typeof value === 'string' && value.length > 0 ? value : 'none';
}

/** What the counters and gauges must read, derived from the ledger with no help from the gateway. */
export interface LedgerCounts {
  readonly decisions: Map<string, number>;
  readonly rejections: Map<string, number>;
  readonly overrides: Map<string, number>;
  readonly gateFailures: Map<string, number>;
  readonly executions: Map<string, number>;
  readonly outcomes: Map<string, number>;
  readonly approvals: number;
  readonly approvalSeconds: number;
  readonly pending: number;
  readonly holds: number;
  readonly size: number;
}

export function countLedger(entries: readonly LedgerEntry[]): LedgerCounts {
  const decisions = new Map<string, number>();
  const rejections = new Map<string, number>();
  const overrides = new Map<string, number>();
  const gateFailures = new Map<string, number>();
  const executions = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const opened = new Map<string, number>();
  const open = new Set<string>();
  const holds = new Set<string>();
  let approvals = 0;
  let approvalSeconds = 0;
  for (const e of entries) {
    const p = e.payload;
    switch (e.type) {
      case 'step.decided':
        bump(decisions, sampleKey('countersign_decisions_total', { effect: str(p['effect']), risk: str(p['risk']) }));
        break;
      case 'request.opened':
        opened.set(p['request'] as string, Date.parse(e.at));
        open.add(p['request'] as string);
        break;
      case 'request.approved':
        approvals += 1;
        approvalSeconds += (Date.parse(e.at) - (opened.get(p['request'] as string) ?? Number.NaN)) / 1_000;
        open.delete(p['request'] as string);
        break;
      case 'request.denied':
      case 'request.expired':
      case 'request.voided':
        open.delete(p['request'] as string);
        break;
      case 'hold.opened':
        holds.add(p['hold'] as string);
        break;
      case 'hold.lifted':
        holds.delete(p['hold'] as string);
        break;
      case 'override.granted':
        bump(overrides, sampleKey('countersign_overrides_total', { outcome: 'granted' }));
        break;
      case 'override.denied':
        bump(overrides, sampleKey('countersign_overrides_total', { outcome: 'denied' }));
        for (const code of p['codes'] as string[]) bump(gateFailures, sampleKey('countersign_override_gate_failures_total', { code }));
        break;
      case 'grant.consumed':
        bump(executions, sampleKey('countersign_executions_total', { via: 'grant' }));
        break;
      case 'lease.used':
        bump(executions, sampleKey('countersign_executions_total', { via: 'lease' }));
        break;
      case 'rollback.executed':
        bump(executions, sampleKey('countersign_executions_total', { via: 'rollback' }));
        break;
      case 'execution.outcome':
        bump(outcomes, sampleKey('countersign_execution_outcomes_total', { outcome: str(p['outcome']) }));
        break;
      default:
        if (REJECTIONS.has(e.type)) bump(rejections, sampleKey('countersign_rejections_total', { type: e.type, code: str(p['code']) }));
    }
  }
  return { decisions, rejections, overrides, gateFailures, executions, outcomes, approvals, approvalSeconds, pending: open.size, holds: holds.size, size: entries.length };
}
