import { z } from 'zod';
import { ApprovalStatement, MAX_POLICY_BYTES } from '@countersign/core';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { IdParams } from './bounds.js';
import { StepResult } from './proposals.js';
import { Remaining, Requirements } from './requests.js';

/** A candidate's golden case files travel with it, at most this many. */
export const MAX_GOLDEN_FILES = 64;

/** The active bundle, summarized. */
export const PolicySummary = z.object({
  bundle_id: z.string(),
  name: z.string(),
  environments: z.array(z.string()),
  surfaces: z.array(z.string()),
  actions: z.array(z.object({ id: z.string(), class: z.string() })),
});
export type PolicySummary = z.output<typeof PolicySummary>;

/** What activating a bundle did: requests voided and re-decided, grants and leases revoked (a revoked grant's step is not decided again). */
export const BundleActivation = z.object({
  bundle_id: z.string(),
  previous_bundle_id: z.string().nullable(),
  voided_requests: z.array(z.string()),
  revoked_grants: z.array(z.string()),
  revoked_leases: z.array(z.string()),
  /** The steps decided again (the voided requests' and those awaiting a rollback); grants here go to their agents through `status`, so they are null. */
  redecided: z.array(StepResult),
});
export type BundleActivation = z.output<typeof BundleActivation>;

/** A governed policy release as the gateway shows it. */
export const Release = z.object({
  id: z.string(),
  candidate: z.string(),
  name: z.string(),
  previous_bundle_id: z.string().nullable(),
  status: z.enum(['open', 'activated', 'denied', 'expired', 'superseded']),
  golden: z.object({ cases: z.number().int(), failed: z.number().int(), failures: z.array(z.string()), coverage_percent: z.number().int(), digest: z.string() }).nullable(),
  /** `through_seq`: the last ledger entry the replay diff read; null for releases recorded before it was. */
  diff: z.object({ replayed: z.number().int(), changed: z.number().int(), static_changes: z.number().int(), digest: z.string(), through_seq: z.number().int().nullable() }),
  release_digest: z.string(),
  requirements: Requirements,
  proposer: z.string().nullable(),
  surface: z.string().nullable(),
  proposed_at: z.string(),
  expires_at: z.string(),
  signatures: z.array(z.object({ approver: z.string(), decision: z.enum(['approve', 'deny']), surface: z.string(), attestation: z.enum(['key', 'gateway', 'passkey']), signed_at: z.string() })),
  /** What a signer signs: an approval statement with these three fields, plus decision, approver, surface, reason and signed_at. */
  statement: z.object({ request: z.string(), step_digest: z.string(), bundle_id: z.string().nullable() }),
});
export type Release = z.output<typeof Release>;

export const ProposedRelease = Release.extend({ diff_report: z.string() });
export type ProposedRelease = z.output<typeof ProposedRelease>;

/** `diff_report`: the replay diff as `countersign policy diff` prints it, rebuilt from the ledger and checked against the recorded digest; null when it cannot be rebuilt. */
export const ReleaseWithReport = Release.extend({ diff_report: z.string().nullable() });
export type ReleaseWithReport = z.output<typeof ReleaseWithReport>;

export const ReleaseSigned = Release.extend({
  quorum_met: z.boolean(),
  remaining: Remaining,
  activated: BundleActivation.nullable(),
});
export type ReleaseSigned = z.output<typeof ReleaseSigned>;

export const ShadowRun = z.object({
  release: z.string(),
  candidate: z.string(),
  window: z.object({ from: z.string(), to: z.string().nullable() }),
  replay: z.record(z.string(), z.unknown()),
});
export type ShadowRun = z.output<typeof ShadowRun>;

export const ReleaseProposal = z.strictObject({
  policy: z.string().min(1).max(MAX_POLICY_BYTES),
  golden: z
    .array(z.strictObject({ name: z.string().min(1).max(300), text: z.string().min(1).max(MAX_POLICY_BYTES) }))
    .max(MAX_GOLDEN_FILES)
    .default([]),
});
export type ReleaseProposal = DeepReadonly<z.input<typeof ReleaseProposal>>;

/** A release is signed with the signer's roster key, or attested by the gateway for a console session. */
const ReleaseAttestation = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('key'), key_id: z.string().min(1).max(200), signature: z.string().min(1).max(200) }),
  z.strictObject({ kind: z.literal('gateway') }),
]);

export const ReleaseSignature = z.strictObject({ statement: ApprovalStatement, attestation: ReleaseAttestation });
export type ReleaseSignature = DeepReadonly<z.input<typeof ReleaseSignature>>;

export const POLICY_ENDPOINTS = {
  policy: endpoint({
    method: 'GET',
    path: '/v1/policy',
    summary: 'the active policy bundle',
    tag: 'policy',
    operation: 'policy_read',
    response: PolicySummary,
  }),
  /** Refused for anyone, and recorded (RELEASE_REQUIRED): bundles change by a governed release. */
  activateBundle: endpoint({
    method: 'POST',
    path: '/v1/bundles',
    summary:
      "refused, and recorded, for anyone: 409 RELEASE_REQUIRED for a human; 403 FORBIDDEN for an agent's token (its credential carries no such right), 403 AGENT_CANNOT_ACTIVATE for a service's; a bundle is activated only by a governed release, `POST /v1/releases` and its quorum's signatures",
    tag: 'policy',
    operation: 'bundle_activate',
    body: z.strictObject({ policy: z.string().min(1).max(MAX_POLICY_BYTES) }),
    response: BundleActivation,
    status: 201,
  }),
  /** Body `{ policy: <YAML text>, golden?: [{ name, text }] }`: a candidate for release, golden sets run and diff recorded. */
  proposeRelease: endpoint({
    method: 'POST',
    path: '/v1/releases',
    summary:
      'propose a candidate bundle (YAML text) with its golden case files: the gateway runs them and diffs the candidate against recorded traffic, records both with the full text, and opens the release for its quorum to sign; nothing changes until it does',
    tag: 'policy',
    operation: 'release_propose',
    body: ReleaseProposal,
    response: ProposedRelease,
    status: 201,
  }),
  release: endpoint({
    method: 'GET',
    path: '/v1/releases/{id}',
    summary:
      'a release as it stands: candidate, golden result, diff summary, what is required, who signed, the statement to sign, and `diff_report`, the replay diff listing every decision that would change, rebuilt from the ledger up to `diff.through_seq` and checked against the recorded digest (null when it cannot be rebuilt)',
    tag: 'policy',
    operation: 'policy_read',
    params: IdParams,
    response: ReleaseWithReport,
  }),
  /** The shadow run: every decision recorded while the release was open, decided again under the candidate. */
  releaseShadow: endpoint({
    method: 'GET',
    path: '/v1/releases/{id}/shadow',
    summary:
      'the shadow run of a release: every decision recorded while it was open, decided again under the bundle then in force and under the candidate, with the differences counted and listed; records nothing, changes nothing',
    tag: 'policy',
    operation: 'policy_read',
    params: IdParams,
    response: ShadowRun,
  }),
  /** Body `{ statement, attestation }`, as an approval: `request` is the release id, `step_digest` its release digest. */
  signRelease: endpoint({
    method: 'POST',
    path: '/v1/releases/{id}/signatures',
    summary:
      "sign a release: an approval statement whose `request` is the release id, `step_digest` its release digest and `bundle_id` the bundle in force, signed with the signer's roster key; on quorum the candidate is activated with every effect of a bundle change",
    tag: 'policy',
    operation: 'release_sign',
    params: IdParams,
    body: ReleaseSignature,
    response: ReleaseSigned,
  }),
};
