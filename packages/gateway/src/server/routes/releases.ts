import { z } from 'zod';
import { ApprovalStatement, decodeEntry, formatPolicyDiff, MAX_POLICY_BYTES, shadowReport, storedPolicy, type LedgerEntry, type ReleaseRecord } from '@countersign/core';
import type { AttestationInput } from '../../service/gateway.js';
import { checkCandidate, releaseDiffReport } from '../../service/release-check.js';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { StepResultBody, stepOutcomeView } from '../views.js';
import { IdParams } from './bounds.js';

/**
 * Governed policy release (issue 13, DESIGN invariant 8): propose a candidate
 * with its golden sets, read a release, sign it. Nobody changes the rules
 * alone; `POST /v1/bundles` is refused (RELEASE_REQUIRED).
 */

/** A candidate and its golden files travel as text inside JSON: escaping can double them. */
export const RELEASE_BODY_LIMIT_BYTES = 4 * MAX_POLICY_BYTES + 4_096;
const MAX_GOLDEN_FILES = 64;

const ProposeBody = z.strictObject({
  policy: z.string().min(1).max(MAX_POLICY_BYTES),
  golden: z
    .array(z.strictObject({ name: z.string().min(1).max(300), text: z.string().min(1).max(MAX_POLICY_BYTES) }))
    .max(MAX_GOLDEN_FILES)
    .default([]),
});

const Requirements = z.object({
  quorum: z.array(z.object({ roles: z.array(z.string()), count: z.number().int() })),
  surfaces: z.array(z.string()),
  attestation: z.enum(['key', 'any']),
});

export const ReleaseBody = z.object({
  id: z.string(),
  candidate: z.string(),
  name: z.string(),
  previous_bundle_id: z.string().nullable(),
  status: z.enum(['open', 'activated', 'denied', 'expired', 'superseded']),
  golden: z.object({ cases: z.number().int(), failed: z.number().int(), failures: z.array(z.string()), coverage_percent: z.number().int(), digest: z.string() }).nullable(),
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
export type ReleaseBody = z.infer<typeof ReleaseBody>;

const Attestation = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('key'), key_id: z.string().min(1).max(200), signature: z.string().min(1).max(200) }),
  z.strictObject({ kind: z.literal('gateway') }),
]);

export function releaseView(record: ReleaseRecord): ReleaseBody {
  return {
    id: record.id,
    candidate: record.candidate,
    name: record.name,
    previous_bundle_id: record.previous_bundle_id,
    status: record.status,
    golden: record.golden === null ? null : { ...record.golden, failures: [...record.golden.failures] },
    diff: { replayed: record.diff.replayed, changed: record.diff.changed, static_changes: record.diff.static_changes, digest: record.diff.digest, through_seq: record.diff.through_seq ?? null },
    release_digest: record.release_digest,
    requirements: {
      quorum: record.requirements.quorum.map((f) => ({ roles: [...f.roles], count: f.count })),
      surfaces: [...record.requirements.surfaces],
      attestation: record.requirements.attestation,
    },
    proposer: record.proposer,
    surface: record.surface,
    proposed_at: record.proposed_at,
    expires_at: record.expires_at,
    signatures: record.signatures.map((s) => ({ approver: s.approver, decision: s.decision, surface: s.surface, attestation: s.attestation, signed_at: s.signed_at })),
    statement: { request: record.id, step_digest: record.release_digest, bundle_id: record.previous_bundle_id },
  };
}

function releaseOf(ctx: ServerContext, id: string): ReleaseRecord {
  const record = ctx.reader.state.releases.get(id);
  if (!record) throw new ApiError('RELEASE_UNKNOWN', `no release \`${id}\``);
  return record;
}

export function releaseRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route({
      method: 'POST',
      path: '/v1/releases',
      summary:
        'propose a candidate bundle (YAML text) with its golden case files: the gateway runs them and diffs the candidate against recorded traffic, records both with the full text, and opens the release for its quorum to sign; nothing changes until it does',
      tag: 'policy',
      operation: 'release_propose',
      bodyLimit: RELEASE_BODY_LIMIT_BYTES,
      body: ProposeBody,
      response: ReleaseBody.extend({ diff_report: z.string() }),
      status: 201,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const active = activePolicy(ctx);
        if (active === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
        // validated in full before anything is recorded: POLICY_PARSE_ERROR, POLICY_INVALID, GOLDEN_CASE_INVALID
        const checked = await checkCandidate(ctx.store, active.compiled, body.policy, body.golden);
        const result = await run(ctx, () => ctx.gateway.proposeRelease(caller, { candidate: checked.candidate, golden: checked.golden, goldenFiles: body.golden, diff: checked.diff }));
        return { ...releaseView(releaseOf(ctx, result.release)), diff_report: formatPolicyDiff(checked.fullDiff) };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/releases/:id',
      summary:
        'a release as it stands: candidate, golden result, diff summary, what is required, who signed, the statement to sign, and `diff_report`, the replay diff listing every decision that would change, rebuilt from the ledger up to `diff.through_seq` and checked against the recorded digest (null when it cannot be rebuilt)',
      tag: 'policy',
      operation: 'policy_read',
      params: IdParams,
      response: ReleaseBody.extend({ diff_report: z.string().nullable() }),
      handler: async ({ params }) => {
        const release = releaseOf(ctx, params.id);
        // signers read the per-decision diff, not only its counts: the same one its digest binds
        const diff = await releaseDiffReport(ctx.store, ctx.reader.state, release);
        return { ...releaseView(release), diff_report: diff === null ? null : formatPolicyDiff(diff) };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/releases/:id/shadow',
      summary:
        'the shadow run of a release: every decision recorded while it was open, decided again under the bundle then in force and under the candidate, with the differences counted and listed; records nothing, changes nothing',
      tag: 'policy',
      operation: 'policy_read',
      params: IdParams,
      response: z.object({
        release: z.string(),
        candidate: z.string(),
        window: z.object({ from: z.string(), to: z.string().nullable() }),
        replay: z.record(z.string(), z.unknown()),
      }),
      handler: async ({ params }) => {
        const release = releaseOf(ctx, params.id);
        const state = ctx.reader.state;
        const previous = release.previous_bundle_id === null ? null : storedPolicy(state, release.previous_bundle_id);
        const candidate = storedPolicy(state, release.candidate);
        if (previous === null || candidate === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the ledger holds no text for a bundle of this release');
        const entries: LedgerEntry[] = [];
        for await (const sealed of ctx.store.read(0)) entries.push(decodeEntry(sealed.bytes));
        const report = shadowReport(entries, release, previous, candidate);
        return { ...report, replay: report.replay as unknown as Record<string, unknown> };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/releases/:id/signatures',
      summary:
        'sign a release: an approval statement whose `request` is the release id, `step_digest` its release digest and `bundle_id` the bundle in force, signed with the signer\'s roster key; on quorum the candidate is activated with every effect of a bundle change',
      tag: 'policy',
      operation: 'release_sign',
      params: IdParams,
      body: z.strictObject({ statement: ApprovalStatement, attestation: Attestation }),
      response: ReleaseBody.extend({
        quorum_met: z.boolean(),
        remaining: z.array(z.object({ factor: z.number().int(), roles: z.array(z.string()), needed: z.number().int() })),
        activated: z
          .object({
            bundle_id: z.string(),
            previous_bundle_id: z.string().nullable(),
            voided_requests: z.array(z.string()),
            revoked_grants: z.array(z.string()),
            revoked_leases: z.array(z.string()),
            redecided: z.array(StepResultBody),
          })
          .nullable(),
      }),
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        if (body.statement.request !== params.id) {
          throw new ApiError('PATH_MISMATCH', `the statement is for release \`${body.statement.request}\`, not \`${params.id}\``);
        }
        const attestation: AttestationInput = body.attestation.kind === 'key' ? body.attestation : { kind: 'gateway' };
        const result = await run(ctx, () => ctx.gateway.signRelease(caller, { statement: body.statement, attestation }));
        const activated = result.activated;
        if (activated !== null) ctx.requestsOpened(activated.redecided.flatMap((s) => (s.request === null ? [] : [s.request])));
        return {
          ...releaseView(releaseOf(ctx, result.release)),
          quorum_met: result.quorum_met,
          remaining: result.remaining.map((r) => ({ factor: r.factor, roles: [...r.roles], needed: r.needed })),
          activated:
            activated === null
              ? null
              : {
                  bundle_id: activated.bundle_id,
                  previous_bundle_id: activated.previous_bundle_id,
                  voided_requests: [...activated.voided_requests],
                  revoked_grants: [...activated.revoked_grants],
                  revoked_leases: [...activated.revoked_leases],
                  // the signer is not the proposer of these steps: their grants go to their agents through status
                  redecided: activated.redecided.map((s) => stepOutcomeView(s, result.tokens, false)),
                },
        };
      },
    }),
  ];
}
