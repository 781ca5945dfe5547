import type { z } from 'zod';
import { ENDPOINTS, type Release } from '@countersign/client/contract';
import { decodeEntry, formatPolicyDiff, MAX_POLICY_BYTES, shadowReport, storedPolicy, type LedgerEntry, type ReleaseRecord } from '@countersign/core';
import type { AttestationInput } from '../../service/gateway.js';
import { checkCandidate, releaseDiffReport, rememberReleaseDiff } from '../../service/release-check.js';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { stepOutcomeView } from '../views.js';

export type ReleaseBody = z.input<typeof Release>;

/**
 * Governed policy release (issue 13, DESIGN invariant 8): propose a candidate
 * with its golden sets, read a release, sign it. Nobody changes the rules
 * alone; `POST /v1/bundles` is refused (RELEASE_REQUIRED).
 */

/** A candidate and its golden files travel as text inside JSON: escaping can double them. */
export const RELEASE_BODY_LIMIT_BYTES = 4 * MAX_POLICY_BYTES + 4_096;
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
    route(ENDPOINTS.proposeRelease, {
      bodyLimit: RELEASE_BODY_LIMIT_BYTES,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const active = activePolicy(ctx);
        if (active === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
        // validated in full before anything is recorded: POLICY_PARSE_ERROR, POLICY_INVALID, GOLDEN_CASE_INVALID
        const checked = await checkCandidate(ctx.store, active.compiled, body.policy, body.golden);
        const result = await run(ctx, () => ctx.gateway.proposeRelease(caller, { candidate: checked.candidate, golden: checked.golden, goldenFiles: body.golden, diff: checked.diff }));
        // the diff its signers will read, already built: kept, so their reads do not replay the ledger again
        rememberReleaseDiff(ctx.store, result.release, checked.fullDiff);
        return { ...releaseView(releaseOf(ctx, result.release)), diff_report: formatPolicyDiff(checked.fullDiff) };
      },
    }),
    route(ENDPOINTS.release, {
      handler: async ({ params }) => {
        const release = releaseOf(ctx, params.id);
        // signers read the per-decision diff, not only its counts: the same one its digest binds
        const diff = await releaseDiffReport(ctx.store, ctx.reader.state, release);
        return { ...releaseView(release), diff_report: diff === null ? null : formatPolicyDiff(diff) };
      },
    }),
    route(ENDPOINTS.releaseShadow, {
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
    route(ENDPOINTS.signRelease, {
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
