import { stepDigest, type CanonicalValue } from '@countersign/core';
import { decodeJwt } from 'jose';
import type { CountersignClient, ExecutionOutcome, PresentedStep, StepResult } from './client.js';
import { CountersignClientError } from './errors.js';
import { verifyGrant, type GrantPublicKey } from './grant.js';

/** The one step a guarded tool performs, and who proposes it. */
export interface GuardedStep {
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly params?: { readonly [key: string]: CanonicalValue };
  readonly rationale?: string;
  readonly expected_consequence?: string;
  /** The proposal's header; the gateway records the token's surface whatever `surface` says. */
  readonly agent: string;
  readonly on_behalf_of: string;
  readonly surface: string;
  readonly incident?: string;
}

export interface GuardOptions {
  /** How long to wait for approvers before giving up (the tool then does not run). Default 5 min. */
  readonly waitTimeoutMs?: number;
  /** The gateway's public key: when given, the grant's signature is verified offline before consumption. */
  readonly publicKey?: GrantPublicKey;
  /** Epoch ms for the offline grant check. */
  readonly now?: () => number;
  /** Outcome to report when the tool throws: `failed` unless this says `ambiguous` (e.g. a timeout mid-call). */
  readonly classify?: (error: unknown) => Extract<ExecutionOutcome, 'failed' | 'ambiguous'>;
  /** Text recorded with the outcome. Default: the error's name only, since tool errors may carry secrets. */
  readonly describe?: (error: unknown) => string;
  /** Reporting the outcome failed after the tool ran; the tool's own result or error still stands. */
  readonly onReportError?: (error: unknown) => void;
}

function notGranted(message: string, details: Record<string, unknown>): CountersignClientError {
  return new CountersignClientError('NOT_GRANTED', message, { details });
}

/**
 * Put one agent tool behind the gateway: propose the step, wait for its
 * approval if it needs one, consume the grant, run the tool, report the
 * outcome. Fails closed: unless a grant for exactly this step was consumed,
 * `fn` never runs and the call throws (NOT_GRANTED, WAIT_TIMEOUT, a grant or
 * server code, or UNREACHABLE).
 */
export async function guardTool<T>(client: CountersignClient, step: GuardedStep, fn: () => Promise<T> | T, options: GuardOptions = {}): Promise<T> {
  const params = step.params ?? {};
  const presented: PresentedStep = { action: step.action, environment: step.environment, target: step.target, params };
  const proposal = await client.propose({
    agent: step.agent,
    on_behalf_of: step.on_behalf_of,
    surface: step.surface,
    ...(step.incident === undefined ? {} : { incident: step.incident }),
    steps: [
      {
        ...presented,
        ...(step.rationale === undefined ? {} : { rationale: step.rationale }),
        ...(step.expected_consequence === undefined ? {} : { expected_consequence: step.expected_consequence }),
      },
    ],
  });
  const decided: StepResult | undefined = proposal.steps?.[0];
  if (decided === undefined) throw new CountersignClientError('BAD_RESPONSE', 'the gateway answered the proposal without its step');

  let grant: string | null = null;
  if (decided.effect === 'allow' && !decided.awaiting_rollback) {
    grant = decided.grant;
  } else if (decided.effect === 'require_approval' && decided.request !== null) {
    const view = await client.waitForRequest(decided.request, { timeoutMs: options.waitTimeoutMs ?? 5 * 60_000 });
    if (view.status !== 'approved') {
      throw notGranted(`request \`${decided.request}\` ended \`${view.status}\``, { request: decided.request, status: view.status });
    }
    grant = view.grant;
  }
  if (typeof grant !== 'string' || grant === '') {
    throw notGranted(`step \`${step.action}\` was not granted (\`${decided.effect}\`)`, {
      effect: decided.effect,
      reasons: decided.reasons,
      awaiting_rollback: decided.awaiting_rollback,
    });
  }

  // The grant must be for exactly the step this tool is about to run: recompute its digest here
  // rather than trusting the digest the gateway echoed back (DESIGN.md invariant 3).
  let bundleId: unknown;
  try {
    bundleId = decodeJwt(grant)['bundle_id'];
  } catch {
    throw new CountersignClientError('GRANT_INVALID', 'the grant is not a compact JWS');
  }
  if (typeof bundleId !== 'string') throw new CountersignClientError('GRANT_INVALID', 'the grant names no bundle');
  const expect = { stepDigest: stepDigest(presented as Parameters<typeof stepDigest>[0], bundleId), environment: step.environment, target: step.target };
  if (options.publicKey !== undefined) {
    await verifyGrant(grant, { publicKey: options.publicKey, expect, now: (options.now ?? Date.now)() });
  } else {
    const claims = decodeJwt(grant);
    if (claims['step_digest'] !== expect.stepDigest || claims['environment'] !== expect.environment || claims['target'] !== expect.target) {
      throw new CountersignClientError('DIGEST_MISMATCH', 'the grant is for another step');
    }
  }

  const { execution } = await client.execute(grant, presented);

  const report = async (outcome: ExecutionOutcome, detail?: string): Promise<void> => {
    try {
      await client.reportOutcome(execution, outcome, detail);
    } catch (err) {
      options.onReportError?.(err);
    }
  };
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    const outcome = options.classify?.(err) ?? 'failed';
    const detail = options.describe?.(err) ?? (err instanceof Error ? err.name : typeof err);
    await report(outcome, detail);
    throw err;
  }
  await report('succeeded');
  return result;
}
