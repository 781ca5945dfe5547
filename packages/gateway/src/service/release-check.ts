import {
  canonicalDigest,
  compilePolicy,
  decodeEntry,
  formatDifference,
  goldenCoverage,
  loadPolicy,
  policyDiff,
  runGoldenCase,
  type CompiledPolicy,
  type DiffSummaryData,
  type GoldenSummaryData,
  type LedgerEntry,
  type LedgerStore,
  type LoadedPolicy,
  type PolicyDiff,
  storedPolicy,
  type AuthorityState,
  type ReleaseRecord,
} from '@countersign/core';
import { parseCaseFile } from '../golden/cases.js';

/** One golden case file sent with a candidate: its name (for messages) and its YAML text. */
export interface GoldenFile {
  readonly name: string;
  readonly text: string;
}

export interface CandidateCheck {
  readonly candidate: LoadedPolicy;
  readonly compiled: CompiledPolicy;
  /** Null when no golden files were sent. */
  readonly golden: GoldenSummaryData | null;
  readonly diff: DiffSummaryData;
  /** The whole diff, as `countersign policy diff --json` prints it: what signers read. */
  readonly fullDiff: PolicyDiff;
}

const MAX_FAILURES_RECORDED = 20;

/**
 * What the gateway finds about a candidate bundle before it is proposed
 * (issue 13): its text validated, its golden sets run, and the diff against
 * the bundle in force, both static and replayed over every step the ledger
 * recorded. Reads the ledger; decides nothing: the release command records
 * the summaries and refuses a candidate whose golden sets fail.
 *
 * The text and the cases arrive from a person's client: attacker-controlled,
 * validated by the same loaders `policy check` and `policy test` use.
 */
export async function checkCandidate(store: LedgerStore, active: CompiledPolicy, policyText: string, goldenFiles: readonly GoldenFile[]): Promise<CandidateCheck> {
  const candidate = loadPolicy(policyText, 'candidate');
  const compiled = compilePolicy(candidate.bundle, candidate.bundleId);
  const golden = goldenFiles.length === 0 ? null : runGolden(compiled, goldenFiles);
  const entries: LedgerEntry[] = [];
  for await (const sealed of store.read(0)) entries.push(decodeEntry(sealed.bytes));
  const fullDiff = policyDiff(active, compiled, { entries });
  const diff: DiffSummaryData = {
    replayed: fullDiff.replay?.counts.decisions ?? 0,
    changed: fullDiff.replay?.counts.changed ?? 0,
    static_changes: fullDiff.static.changes.length,
    digest: fullDiff.digest,
    // the ledger the diff was replayed over: signers are shown the same diff, rebuilt from it (releaseDiffReport)
    through_seq: entries.at(-1)?.seq ?? 0,
  };
  return { candidate, compiled, golden, diff, fullDiff };
}

/**
 * Replay diffs of releases, by store and release id, once built or checked.
 * A release's diff never changes (the entries up to `through_seq` and both
 * bundle texts are fixed), and rebuilding it replays every decision recorded
 * on the thread that serves HTTP: 1 s with 20,000 decisions on the bench's
 * machine, for each signer's read. The newest few are kept.
 */
const reports = new WeakMap<LedgerStore, Map<string, PolicyDiff>>();
const REPORTS_KEPT = 16;

/** Keep `diff` as the report of `releaseId`: the route that proposed it has just built it. */
export function rememberReleaseDiff(store: LedgerStore, releaseId: string, diff: PolicyDiff): void {
  const kept = reports.get(store) ?? new Map<string, PolicyDiff>();
  reports.set(store, kept);
  kept.delete(releaseId);
  kept.set(releaseId, diff);
  for (const oldest of kept.keys()) {
    if (kept.size <= REPORTS_KEPT) break;
    kept.delete(oldest);
  }
}

/**
 * The replay diff a release recorded, rebuilt from what the ledger holds: the
 * texts of both bundles and the entries up to `through_seq`. Null when it
 * cannot be rebuilt (a release recorded before `through_seq` was, a bundle
 * whose text the ledger lacks) or when the rebuilt diff does not hash to the
 * digest recorded and signed: signers are never shown a diff other than the
 * one they sign. Rebuilt once a process (`reports`).
 */
export async function releaseDiffReport(store: LedgerStore, state: AuthorityState, release: ReleaseRecord): Promise<PolicyDiff | null> {
  const known = reports.get(store)?.get(release.id);
  if (known !== undefined && known.digest === release.diff.digest) return known;
  const through = release.diff.through_seq;
  if (through === undefined || release.previous_bundle_id === null) return null;
  const previous = storedPolicy(state, release.previous_bundle_id);
  const candidate = storedPolicy(state, release.candidate);
  if (previous === null || candidate === null) return null;
  const entries: LedgerEntry[] = [];
  for await (const sealed of store.read(0)) {
    const entry = decodeEntry(sealed.bytes);
    if (entry.seq > through) break;
    entries.push(entry);
  }
  const diff = policyDiff(previous, candidate, { entries });
  if (diff.digest !== release.diff.digest) return null;
  rememberReleaseDiff(store, release.id, diff);
  return diff;
}

function runGolden(compiled: CompiledPolicy, files: readonly GoldenFile[]): GoldenSummaryData {
  const results = files.flatMap((file) => parseCaseFile(file.text, file.name)).map((located) => runGoldenCase(compiled, located.case));
  const failed = results.filter((r) => !r.passed);
  const coverage = goldenCoverage(compiled, results.flatMap((r) => r.decisions));
  const contracts = compiled.actions.size;
  const coverage_percent = contracts === 0 ? 100 : Math.floor((100 * (contracts - coverage.contracts.length)) / contracts);
  const outcome = results.map((r) => ({ name: r.name, passed: r.passed, differences: r.differences.map(formatDifference) }));
  // the digest signers sign binds the case texts too (recorded whole in `release.proposed`): a case cannot be swapped afterwards
  const texts = files.map((f) => ({ name: f.name, digest: canonicalDigest({ text: f.text }) }));
  return {
    cases: results.length,
    failed: failed.length,
    failures: failed.slice(0, MAX_FAILURES_RECORDED).map((r) => r.name),
    coverage_percent,
    digest: canonicalDigest({ kind: 'countersign.golden/v2', bundle_id: compiled.bundleId, coverage_percent, outcome, files: texts }),
  };
}
