import { stepDigest, type CanonicalValue } from '@countersign/core';
import { decodeJwt } from 'jose';
import type { CountersignClient } from './client.js';
import type { ExecutionOutcome, PresentedStep, ProposalResult, StepResult } from './contract/index.js';
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

/** A step waiting for approvers: which request, and its page in the approver console. */
export interface PendingApproval {
  readonly request: string;
  readonly link: string;
}

export interface GuardOptions<T = unknown> {
  /** How long to wait for approvers before giving up (the tool then does not run). Default 5 min. */
  readonly waitTimeoutMs?: number;
  /** The gateway's public key: when given, an approved grant's signature is verified offline before consumption. */
  readonly publicKey?: GrantPublicKey;
  /** Epoch ms for the offline grant check. */
  readonly now?: () => number;
  /**
   * Join the agent's open request for exactly this step (or its approved one
   * not yet executed) instead of opening another: a retried call waits for
   * the approval already asked for. Default true.
   */
  readonly resume?: boolean;
  /** Called once when the step waits for approvers, e.g. to tell the user what the agent waits for. */
  readonly onPending?: (pending: PendingApproval) => void;
  /** Judge a result the tool returned: `failed` for a tool that reports its own failure in its result. Default `succeeded`. */
  readonly judge?: (result: T) => Extract<ExecutionOutcome, 'succeeded' | 'failed'>;
  /** Outcome to report when the tool throws: `failed` unless this says `ambiguous` (e.g. a timeout mid-call). */
  readonly classify?: (error: unknown) => Extract<ExecutionOutcome, 'failed' | 'ambiguous'>;
  /** Text recorded with the outcome. Default: the error's name only, since tool errors may carry secrets. */
  readonly describe?: (error: unknown) => string;
  /** Reporting the outcome failed after the tool ran; the tool's own result or error still stands. */
  readonly onReportError?: (error: unknown) => void;
  /**
   * Report the outcome off the caller's path: the tool's result (or error)
   * comes back at once, and the report's promise is handed here, to be
   * awaited before the process exits. It never rejects: a failed report goes
   * to `onReportError`. Without it the report is awaited first.
   */
  readonly background?: (report: Promise<void>) => void;
}

function notGranted(message: string, details: Record<string, unknown>): CountersignClientError {
  return new CountersignClientError('NOT_GRANTED', message, { details });
}

/**
 * Put one agent tool behind the gateway: propose the step on the one-call
 * path (an allowed step is decided and its execution recorded in one call);
 * if it needs approval, wait for it and consume the grant; run the tool;
 * report the outcome. Fails closed: unless an execution of exactly this step
 * was recorded, `fn` never runs and the call throws (NOT_GRANTED,
 * WAIT_TIMEOUT, DIGEST_MISMATCH, a grant or server code, or UNREACHABLE).
 */
export async function guardTool<T>(client: CountersignClient, step: GuardedStep, fn: () => Promise<T> | T, options: GuardOptions<T> = {}): Promise<T> {
  const params = step.params ?? {};
  const presented: PresentedStep = { action: step.action, environment: step.environment, target: step.target, params };
  const proposal = await client.proposeAndExecute(
    {
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
    },
    { resume: options.resume ?? true },
  );
  const decided: StepResult | undefined = proposal.steps?.[0];
  if (decided === undefined) throw new CountersignClientError('BAD_RESPONSE', 'the gateway answered the proposal without its step');

  const execution = await executionFor(client, presented, proposal, decided, options);

  const report = async (outcome: ExecutionOutcome, detail?: string): Promise<void> => {
    const reported = client
      .reportOutcome(execution, outcome, detail)
      .then(() => undefined, (err: unknown) => options.onReportError?.(err))
      // a throwing onReportError must not turn a report in the background into an unhandled rejection
      .catch(() => undefined);
    if (options.background === undefined) await reported;
    else options.background(reported);
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
  await report(options.judge?.(result) ?? 'succeeded');
  return result;
}

/** The execution recorded for exactly `presented`: at once when allowed, after approval and consumption otherwise. */
async function executionFor<T>(client: CountersignClient, presented: PresentedStep, proposal: ProposalResult, decided: StepResult, options: GuardOptions<T>): Promise<string> {
  const execution = decided['execution'];
  if (decided.effect === 'allow' && typeof execution === 'string' && execution !== '') {
    // recorded already: make sure it records this very step before anything runs
    const bundleId = proposal['bundle_id'];
    if (typeof bundleId !== 'string' || decided.digest !== stepDigest(presented as Parameters<typeof stepDigest>[0], bundleId)) {
      await client.reportOutcome(execution, 'failed', 'not run: the recorded step is not the one presented').catch((err: unknown) => options.onReportError?.(err));
      throw new CountersignClientError('DIGEST_MISMATCH', 'the gateway recorded another step than the one presented');
    }
    return execution;
  }
  let grant: string | null = null;
  if (decided.effect === 'require_approval' && decided.request !== null) {
    options.onPending?.({ request: decided.request, link: client.requestPage(decided.request) });
    const view = await client.waitForRequest(decided.request, { timeoutMs: options.waitTimeoutMs ?? 5 * 60_000 });
    if (view.status !== 'approved') {
      throw notGranted(`request \`${decided.request}\` ended \`${view.status}\``, { request: decided.request, status: view.status });
    }
    grant = view.grant;
  }
  if (typeof grant !== 'string' || grant === '') {
    throw notGranted(`step \`${presented.action}\` was not granted (\`${decided.effect}\`)`, {
      effect: decided.effect,
      reasons: decided.reasons,
      awaiting_rollback: decided.awaiting_rollback,
      ...(decided.request === null ? {} : { request: decided.request }),
      ...(typeof decided['refused'] === 'string' ? { refused: decided['refused'] } : {}),
    });
  }
  await checkGrant(grant, presented, options);
  return (await client.execute(grant, presented)).execution;
}

/**
 * The grant must be for exactly the step this tool is about to run: its
 * digest is recomputed here rather than trusted from the gateway's echo
 * (DESIGN.md invariant 3), and with a public key its signature is checked.
 */
async function checkGrant<T>(grant: string, presented: PresentedStep, options: GuardOptions<T>): Promise<void> {
  let bundleId: unknown;
  try {
    bundleId = decodeJwt(grant)['bundle_id'];
  } catch {
    throw new CountersignClientError('GRANT_INVALID', 'the grant is not a compact JWS');
  }
  if (typeof bundleId !== 'string') throw new CountersignClientError('GRANT_INVALID', 'the grant names no bundle');
  const expect = { stepDigest: stepDigest(presented as Parameters<typeof stepDigest>[0], bundleId), environment: presented.environment, target: presented.target };
  if (options.publicKey !== undefined) {
    await verifyGrant(grant, { publicKey: options.publicKey, expect, now: (options.now ?? Date.now)() });
    return;
  }
  const claims = decodeJwt(grant);
  if (claims['step_digest'] !== expect.stepDigest || claims['environment'] !== expect.environment || claims['target'] !== expect.target) {
    throw new CountersignClientError('DIGEST_MISMATCH', 'the grant is for another step');
  }
}
