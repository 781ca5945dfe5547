import { type CanonicalValue } from '../canonical.js';
import { canonicalDigest } from '../digest.js';
import { evaluateApproval } from '../approval/independence.js';
import type { ApprovalAttestation, ApprovalStatement } from '../approval/statement.js';
import { normalisePolicy, policyBundleId } from '../policy/bundle-id.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { parseDuration } from '../policy/duration.js';
import { releaseRulesOf } from '../policy/release-rules.js';
import { PolicyBundle, type ReleaseRules } from '../policy/schema.js';
import { activationEffects, type ActivateBundleResult } from './bundle.js';
import type { CommandCode } from './codes.js';
import {
  assertActive,
  draftsFor,
  hasAnyRole,
  isoAt,
  refusal,
  reject,
  rosterOf,
  standingOf,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type Drafts,
} from './command.js';
import type { DiffSummaryData, GoldenFileData, GoldenSummaryData, RequirementsData } from './entries.js';
import type { AuthorityState, ReleaseRecord } from './state.js';

/**
 * Policy is a release surface (DESIGN invariant 8, issue 13). Nobody changes
 * the rules alone: a candidate bundle is proposed with its full text, its
 * golden result and its replay diff; signers independent of the proposer,
 * judged under the bundle in force (a candidate cannot vouch for itself),
 * sign a statement that binds candidate, previous bundle, golden digest and
 * diff digest; on quorum the candidate is activated in the same commit, with
 * every effect of a bundle change. Agents never propose or sign.
 *
 * A release reuses the approval machinery: its statement is an approval
 * statement whose `request` is the release id, whose `step_digest` is the
 * release digest and whose `bundle_id` is the bundle in force, so the signed
 * CLI signs it as it signs an approval and `evaluateApproval` judges it.
 */

export interface ProposeReleaseCommand {
  readonly kind: 'release_propose';
  readonly caller: Caller;
  /** The candidate, validated and compiled by the caller from its YAML text. */
  readonly candidate: CompiledPolicy;
  /** The candidate's golden sets as the gateway ran them; null when none were sent. */
  readonly golden: GoldenSummaryData | null;
  /** The case files `golden` was run from, by name: recorded whole, and matched against `release.golden.sets`. */
  readonly golden_files?: readonly GoldenFileData[];
  /** The candidate against the bundle in force and recorded traffic, as the gateway computed it. */
  readonly diff: DiffSummaryData;
}

export interface ProposeReleaseResult {
  readonly ok: true;
  readonly release: string;
  readonly candidate: string;
  readonly previous_bundle_id: string | null;
  readonly release_digest: string;
  readonly expires_at: string;
}

export interface ApproveReleaseCommand {
  readonly kind: 'release_approve';
  readonly caller: Caller;
  /** `request` is the release id, `step_digest` its release digest, `bundle_id` the bundle in force. */
  readonly statement: ApprovalStatement;
  /** A release is signed with a roster key (or attested by the gateway where the rules allow); never with a passkey. */
  readonly attestation: Extract<ApprovalAttestation, { readonly kind: 'key' | 'gateway' }>;
  /** Outcome of the gateway's signature check against the signer's roster key in the bundle in force. */
  readonly signature_verified: boolean;
}

export interface ApproveReleaseResult {
  readonly ok: true;
  readonly release: string;
  readonly decision: 'approve' | 'deny';
  readonly status: ReleaseRecord['status'];
  readonly quorum_met: boolean;
  readonly remaining: readonly { readonly factor: number; readonly roles: readonly string[]; readonly needed: number }[];
  /** What the activation did, when this signature completed the quorum. */
  readonly activated: ActivateBundleResult | null;
}

const RULE_RELEASE = 'release:quorum';
const RULE_PROPOSE = 'release:propose_roles';
const RULE_GOLDEN = 'release:golden';

/** The release rules of the bundle in force, the default when it declares none (policy/release-rules.ts). */
export function releaseRules(policy: CompiledPolicy): ReleaseRules {
  return releaseRulesOf(policy.bundle);
}

/** What release signers sign as `step_digest`: the candidate, what it replaces, and what the gateway found. */
export function releaseDigest(candidate: string, previous: string | null, golden: GoldenSummaryData | null, diff: DiffSummaryData): string {
  return canonicalDigest({ kind: 'countersign.release/v1', candidate, previous, golden: golden?.digest ?? null, diff: diff.digest });
}

export function proposeRelease(state: AuthorityState, policy: CompiledPolicy | null, command: ProposeReleaseCommand, ctx: CommandContext): CommandOutput<ProposeReleaseResult> {
  const compiled = assertActive(state, policy);
  const { caller, candidate } = command;
  const d = draftsFor(state, caller, ctx.now);
  const refuse = (code: CommandCode, message: string, rules: readonly string[] = [RULE_PROPOSE]): CommandOutput<ProposeReleaseResult> =>
    reject(d, caller, 'release_propose', code, message, candidate.bundleId, rules);
  const standing = standingOf(compiled, caller.principal);
  if (standing.kind === 'unknown') return refuse('UNKNOWN_PRINCIPAL', 'caller is not in the roster');
  if (standing.kind === 'agent') return refuse('AGENT_CANNOT_ACTIVATE', 'an agent cannot propose a bundle');
  const rules = releaseRules(compiled);
  if (rules.propose_roles.length > 0 && !hasAnyRole(standing.principal, rules.propose_roles)) return refuse('ROLE_NOT_ELIGIBLE', 'caller holds no role that may propose a bundle');
  if (candidate.bundleId === compiled.bundleId) return refuse('BUNDLE_ALREADY_ACTIVE', 'the candidate is the bundle in force');
  // the gate a bundle passes before it can be signed: its own golden sets (DESIGN invariant 8)
  const golden = command.golden;
  const files = command.golden_files ?? [];
  const gate = goldenGate(rules, golden, files);
  if (gate !== null) {
    // the refusal says which cases failed and under which digest, in the ledger and to the caller
    const details = golden === null ? null : { golden_digest: golden.digest, cases: golden.cases, failed: golden.failed, failures: [...golden.failures], coverage_percent: golden.coverage_percent };
    d.push('authority.rejected', { target: candidate.bundleId }, {
      operation: 'release_propose',
      code: gate.code,
      target_id: candidate.bundleId,
      credential: caller.credential,
      rule_ids: [RULE_GOLDEN],
      ...(golden === null ? {} : { golden }),
    });
    return { entries: d.list, result: { ...refusal(gate.code, gate.message), ...(details === null ? {} : { details }) } };
  }

  const release = ctx.ids.next('release');
  const expires = ctx.now + parseDuration(rules.approval.approval_ttl);
  const digest = releaseDigest(candidate.bundleId, compiled.bundleId, golden, command.diff);
  const requirements: RequirementsData = {
    quorum: rules.approval.quorum.map((f) => ({ roles: [...f.roles], count: f.count })),
    surfaces: [...rules.approval.surfaces],
    attestation: rules.approval.attestation,
    approval_expires_at: isoAt(expires),
    grant_ttl_ms: 0,
    rollback_required: false,
    prerequisites: [],
  };
  d.push('release.proposed', { release, bundle: candidate.bundleId }, {
    release,
    candidate: candidate.bundleId,
    name: candidate.bundle.name,
    previous_bundle_id: compiled.bundleId,
    bundle: normalisePolicy(candidate.bundle),
    golden,
    golden_files: files.map((f) => ({ name: f.name, text: f.text })),
    diff: command.diff,
    release_digest: digest,
    requirements,
    expires_at: isoAt(expires),
    credential: caller.credential,
    rule_ids: [RULE_PROPOSE, RULE_GOLDEN],
  });
  return { entries: d.list, result: { ok: true, release, candidate: candidate.bundleId, previous_bundle_id: compiled.bundleId, release_digest: digest, expires_at: isoAt(expires) } };
}

/**
 * Why the golden gate refuses a candidate, or null when it passes. Required
 * (the default): at least one case, every declared set among the files sent.
 * Always: no case fails, and the coverage the rules ask for is met.
 */
function goldenGate(rules: ReleaseRules, golden: GoldenSummaryData | null, files: readonly GoldenFileData[]): { code: CommandCode; message: string } | null {
  if (rules.golden.required && (golden === null || golden.cases === 0)) {
    return { code: 'RELEASE_GOLDEN_MISSING', message: 'the release rules require passing golden cases with the candidate, and none were sent' };
  }
  const missing = (rules.golden.sets ?? []).filter((set) => !files.some((f) => f.name === set));
  if (missing.length > 0) {
    return { code: 'RELEASE_GOLDEN_MISSING', message: `the release rules require the golden sets ${missing.map((m) => `\`${m}\``).join(', ')}, which were not sent` };
  }
  if (golden === null) return null;
  if (golden.failed > 0) {
    const named = golden.failures.map((f) => `\`${f}\``).join(', ');
    return { code: 'RELEASE_GOLDEN_FAILED', message: `${golden.failed} of ${golden.cases} golden cases fail under the candidate: ${named}${golden.failed > golden.failures.length ? ', ...' : ''}` };
  }
  if (golden.coverage_percent < rules.golden.min_coverage_percent) {
    return { code: 'RELEASE_GOLDEN_FAILED', message: `the golden cases exercise ${golden.coverage_percent}% of the contracts; the release rules require ${rules.golden.min_coverage_percent}%` };
  }
  return null;
}

function rejectSignature(d: Drafts, command: ApproveReleaseCommand, code: CommandCode, message: string): CommandOutput<ApproveReleaseResult> {
  const stmt = command.statement;
  let statementDigest: string | null;
  try {
    statementDigest = canonicalDigest(stmt);
  } catch {
    statementDigest = null;
  }
  d.push('release.rejected', { release: stmt.request }, {
    release: stmt.request,
    code,
    decision: stmt.decision,
    approver: command.caller.principal,
    surface: command.caller.surface,
    credential: command.caller.credential,
    attestation: command.attestation.kind,
    signature_verified: command.signature_verified,
    statement_digest: statementDigest,
    rule_ids: [RULE_RELEASE],
  });
  return { entries: d.list, result: refusal(code, message) };
}

export function approveRelease(state: AuthorityState, policy: CompiledPolicy | null, command: ApproveReleaseCommand, ctx: CommandContext): CommandOutput<ApproveReleaseResult> {
  const compiled = assertActive(state, policy);
  const { caller, statement } = command;
  const d = draftsFor(state, caller, ctx.now);
  if (standingOf(compiled, caller.principal).kind === 'agent') return rejectSignature(d, command, 'AGENT_CANNOT_APPROVE', 'an agent cannot sign a release');
  const release = state.releases.get(statement.request);
  if (!release) return rejectSignature(d, command, 'RELEASE_UNKNOWN', 'release is not known');

  // Judged as an approval, under the bundle in force, against the proposer.
  const roster = rosterOf(compiled);
  const proposer = release.proposer ?? '';
  const evaluation = evaluateApproval({
    requirement: release.requirements,
    request: {
      id: release.id,
      step_digest: release.release_digest,
      bundle_id: release.previous_bundle_id ?? '',
      status: release.status === 'open' ? 'open' : 'closed',
      expires_at: release.expires_at,
      agent: proposer,
      on_behalf_of: proposer,
      surface: release.surface ?? '',
      credential_ids: release.credentials,
    },
    roster,
    accepted: release.signatures.filter((s) => s.decision === 'approve').map((s) => ({ approver: s.approver, surface: s.surface, credential_id: s.credential })),
    active_bundle_id: compiled.bundleId,
    now: ctx.now,
    incoming: {
      statement,
      attestation: command.attestation.kind,
      signature_verified: command.signature_verified,
      credential: { id: caller.credential, principal: caller.principal, surface: caller.surface },
    },
  });
  if (!evaluation.ok) return rejectSignature(d, command, evaluation.code, `release signature was not accepted: ${evaluation.code.toLowerCase().replace(/_/g, ' ')}`);

  const signer = roster.get(caller.principal);
  d.push('release.signed', { release: release.id, bundle: release.candidate }, {
    release: release.id,
    candidate: release.candidate,
    release_digest: release.release_digest,
    decision: evaluation.decision,
    approver: caller.principal,
    roles: signer ? [...signer.roles].sort() : [],
    surface: caller.surface,
    credential: caller.credential,
    attestation: command.attestation.kind,
    key_id: command.attestation.kind === 'key' ? command.attestation.key_id : null,
    signature: command.attestation.signature,
    signature_verified: command.signature_verified,
    signed_at: statement.signed_at,
    reason: statement.reason,
    counted_for: [...evaluation.counted_for],
    rule_ids: [RULE_RELEASE],
  });
  const remaining = evaluation.remaining.map((r) => ({ factor: r.factor, roles: [...r.roles], needed: r.needed }));
  if (evaluation.decision === 'deny') {
    return { entries: d.list, result: { ok: true, release: release.id, decision: 'deny', status: 'denied', quorum_met: false, remaining, activated: null } };
  }
  if (!evaluation.quorum_met) {
    return { entries: d.list, result: { ok: true, release: release.id, decision: 'approve', status: 'open', quorum_met: false, remaining, activated: null } };
  }
  const candidate = storedPolicy(state, release.candidate);
  if (candidate === null) throw new Error(`release \`${release.id}\` names bundle \`${release.candidate}\` whose text is not in the ledger`);
  const activated = activationEffects(d, state, candidate, ctx, { credential: caller.credential, release: release.id, text: null });
  return { entries: d.list, result: { ok: true, release: release.id, decision: 'approve', status: 'activated', quorum_met: true, remaining: [], activated } };
}

const compiledTexts = new Map<string, CompiledPolicy>();

/**
 * The bundle `id` compiled from the text the ledger holds for it (the first
 * bundle's `bundle.activated`, or a `release.proposed`), or null when the
 * ledger has no text for it (ledgers written before issue 13). The text must
 * hash to its id: a replica never runs rules other than the ones named.
 */
export function storedPolicy(state: AuthorityState, id: string): CompiledPolicy | null {
  const cached = compiledTexts.get(id);
  if (cached !== undefined) return cached;
  const text: CanonicalValue | undefined = state.index.bundleTexts.get(id);
  if (text === undefined) return null;
  const parsed = PolicyBundle.safeParse(text);
  if (!parsed.success || policyBundleId(parsed.data) !== id) return null;
  const compiled = compilePolicy(parsed.data, id);
  compiledTexts.set(id, compiled);
  return compiled;
}
