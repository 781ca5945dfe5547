import { decideProposal, type DecisionState } from '../decision/decide.js';
import type { Decision } from '../decision/decision.js';
import { parseDuration } from '../policy/duration.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { GoldenCase, GoldenExpectation, GoldenGiven } from './case.js';

/** One way an actual decision differs from the case's expectation. `step` is null for the case as a whole. */
export interface GoldenDifference {
  readonly step: number | null;
  readonly action: string | null;
  readonly environment: string | null;
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
}

export interface GoldenResult {
  readonly name: string;
  readonly passed: boolean;
  readonly decisions: readonly Decision[];
  readonly differences: readonly GoldenDifference[];
}

/** The state a case's `given` describes, as decide() reads it. */
export function goldenState(given: GoldenGiven, now: number): DecisionState {
  const latest = new Map<string, number>();
  for (const e of given.executions) {
    const at = e.at !== undefined ? Date.parse(e.at) : now - parseDuration(e.ago ?? '0ms');
    // JSON keys cannot collide the way a separator could: `a|b` + `c` vs `a` + `b|c`
    const key = JSON.stringify([e.action, e.environment, e.target]);
    const prev = latest.get(key);
    if (prev === undefined || at > prev) latest.set(key, at);
  }
  return {
    holds: given.holds,
    lastSucceeded: (action, environment, target) => latest.get(JSON.stringify([action, environment, target])),
  };
}

function sameSet(a: readonly unknown[], b: readonly unknown[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

function sortedCopy<T>(items: readonly T[]): T[] {
  return [...items].sort();
}

function compareStep(index: number, expected: GoldenExpectation, actual: Decision): GoldenDifference[] {
  const out: GoldenDifference[] = [];
  const diff = (field: string, e: unknown, a: unknown): void => {
    out.push({ step: index, action: actual.action, environment: actual.environment, field, expected: e, actual: a });
  };
  if (expected.effect !== actual.effect) diff('effect', expected.effect, actual.effect);
  if (expected.risk !== undefined && expected.risk !== actual.risk) diff('risk', expected.risk, actual.risk);
  if (expected.action_class !== undefined && expected.action_class !== actual.action_class) diff('action_class', expected.action_class, actual.action_class);
  if (expected.reasons && !sameSet(expected.reasons, actual.reasons)) diff('reasons', sortedCopy(expected.reasons), sortedCopy(actual.reasons));
  for (const reason of expected.reasons_include ?? []) {
    if (!actual.reasons.includes(reason)) diff('reasons', `to include ${reason}`, actual.reasons);
  }
  if (expected.rule_ids && !sameSet(expected.rule_ids, actual.rule_ids)) diff('rule_ids', sortedCopy(expected.rule_ids), sortedCopy(actual.rule_ids));
  for (const ruleId of expected.rule_ids_include ?? []) {
    if (!actual.rule_ids.includes(ruleId)) diff('rule_ids', `to include ${ruleId}`, actual.rule_ids);
  }

  if (expected.requirements === undefined) return out;
  if (expected.requirements === null || actual.requirements === null) {
    if (expected.requirements !== actual.requirements) diff('requirements', expected.requirements, actual.requirements);
    return out;
  }
  const e = expected.requirements;
  const a = actual.requirements;
  if (e.quorum) {
    // Who must approve, compared exactly: the same factors, each as often, each
    // with the same count and the same roles (in any order). A set comparison
    // would let `[lead], [lead]` (two leads) pass for `[lead]` (one).
    const norm = (q: readonly { roles: readonly string[]; count: number }[]) => q.map((f) => `${f.count} of ${[...new Set(f.roles)].sort().join('|')}`).sort();
    const [expectedQuorum, actualQuorum] = [norm(e.quorum), norm(a.quorum)];
    if (expectedQuorum.join('\n') !== actualQuorum.join('\n')) diff('requirements.quorum', expectedQuorum, actualQuorum);
  }
  if (e.surfaces && !sameSet(e.surfaces, a.surfaces)) diff('requirements.surfaces', sortedCopy(e.surfaces), sortedCopy(a.surfaces));
  for (const surface of e.surfaces_exclude ?? []) {
    if (a.surfaces.includes(surface)) diff('requirements.surfaces', `to exclude ${surface}`, a.surfaces);
  }
  if (e.attestation !== undefined && e.attestation !== a.attestation) diff('requirements.attestation', e.attestation, a.attestation);
  if (e.approval_expires_at !== undefined) {
    const expectedAt = e.approval_expires_at === null ? null : Date.parse(e.approval_expires_at);
    const actualAt = a.approval_expires_at === null ? null : Date.parse(a.approval_expires_at);
    if (expectedAt !== actualAt) diff('requirements.approval_expires_at', e.approval_expires_at, a.approval_expires_at);
  }
  if (e.grant_ttl_ms !== undefined && e.grant_ttl_ms !== a.grant_ttl_ms) diff('requirements.grant_ttl_ms', e.grant_ttl_ms, a.grant_ttl_ms);
  if (e.rollback_required !== undefined && e.rollback_required !== a.rollback_required) diff('requirements.rollback_required', e.rollback_required, a.rollback_required);
  if (e.prerequisites) {
    const actualPrereqs = a.prerequisites.map((p) => p.action);
    if (!sameSet(e.prerequisites, actualPrereqs)) diff('requirements.prerequisites', sortedCopy(e.prerequisites), sortedCopy(actualPrereqs));
  }
  return out;
}

/** Compare expectations with decisions, one per step. Pure. */
export function compareDecisions(expected: readonly GoldenExpectation[], decisions: readonly Decision[]): GoldenDifference[] {
  const out: GoldenDifference[] = [];
  if (expected.length !== decisions.length) {
    out.push({ step: null, action: null, environment: null, field: 'decisions', expected: expected.length, actual: decisions.length });
  }
  const n = Math.min(expected.length, decisions.length);
  for (let i = 0; i < n; i++) out.push(...compareStep(i, expected[i]!, decisions[i]!));
  return out;
}

/** Run one case against a compiled policy. Pure: the case carries its own clock and state. */
export function runGoldenCase(compiled: CompiledPolicy, goldenCase: GoldenCase): GoldenResult {
  const now = Date.parse(goldenCase.given.now);
  const decisions = decideProposal(compiled, goldenCase.when.proposal, goldenState(goldenCase.given, now), now);
  const differences = compareDecisions(goldenCase.expect, decisions);
  return { name: goldenCase.name, passed: differences.length === 0, decisions, differences };
}

/** Plain ids print bare; anything else (`prod `, `Prod\u200b`) prints JSON-quoted so it is visible. */
function label(value: string | null): string {
  return value !== null && /^[a-z0-9][a-z0-9._-]*$/.test(value) ? value : show(value);
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? 'undefined';
}

/**
 * One readable line per difference:
 * `step 1 queue.clear_shard@prod: risk expected "critical", got "low"`.
 * Steps are numbered from 1 for people.
 */
export function formatDifference(d: GoldenDifference): string {
  if (d.step === null) return `${d.field}: expected ${show(d.expected)}, got ${show(d.actual)}`;
  const expected = typeof d.expected === 'string' && d.expected.startsWith('to ') ? d.expected : show(d.expected);
  return `step ${d.step + 1} ${label(d.action)}@${label(d.environment)}: ${d.field} expected ${expected}, got ${show(d.actual)}`;
}

export interface GoldenCoverage {
  /** Action contracts no decision cited. */
  readonly contracts: readonly string[];
  /** `action@environment` pairs of the bundle that no decision reached (with a risk resolved). */
  readonly environments: readonly string[];
  /** Rule ids of the bundle that no decision cited. */
  readonly rules: readonly string[];
}

/** What the bundle declares that no decision exercised: the blind spots of a golden set. */
export function goldenCoverage(compiled: CompiledPolicy, decisions: Iterable<Decision>): GoldenCoverage {
  const cited = new Set<string>();
  const reached = new Set<string>();
  for (const d of decisions) {
    for (const id of d.rule_ids) cited.add(id);
    if (d.risk !== null) reached.add(`${d.action}@${d.environment}`);
  }
  return {
    contracts: [...compiled.actions.values()].filter((a) => !cited.has(a.ruleId)).map((a) => a.id),
    environments: [...compiled.rules.values()].map((r) => `${r.action.id}@${r.environment}`).filter((key) => !reached.has(key)),
    rules: compiled.ruleIds.filter((id) => !cited.has(id)),
  };
}
