import type { CountersignClient } from '../client.js';
import { CountersignClientError } from '../errors.js';
import { guardTool, type GuardedStep, type GuardOptions } from '../guard.js';

/** Who proposes: the proposal's header, the same for every call of one wrapped tool. */
export interface ProposalHeader {
  readonly agent: string;
  readonly on_behalf_of: string;
  /** The gateway records the token's surface whatever this says. */
  readonly surface: string;
  readonly incident?: string;
}

/** What one call of the tool does, in the policy's terms. */
export type ToolStep = Pick<GuardedStep, 'action' | 'environment' | 'target' | 'params' | 'rationale' | 'expected_consequence'>;

/**
 * How a framework tool is put behind the gateway: the agent's client, the
 * proposal header, and the step each call performs, as a function of the
 * input the framework validated for the tool. Every input the tool acts on
 * should reach the step: an approval covers exactly the step's digest, so an
 * argument left out of it is one the approvers never saw.
 */
export interface ToolGuard<Input, Output> extends GuardOptions<Output> {
  readonly gateway: CountersignClient;
  readonly header: ProposalHeader;
  readonly step: (input: Input) => ToolStep;
}

const refusals = new WeakSet<CountersignClientError>();

/** Whether `err` is a refusal from a guarded tool (it did not run), rather than an error the tool threw. */
export function isRefusal(err: unknown): err is CountersignClientError {
  return err instanceof CountersignClientError && refusals.has(err);
}

/**
 * Run `run` for `input` only with an execution recorded for its step
 * (guardTool). A refusal (the tool did not start: NOT_GRANTED, WAIT_TIMEOUT,
 * DIGEST_MISMATCH, a gateway code, UNREACHABLE) is thrown as a
 * CountersignClientError whose message a model can act on; an error the tool
 * itself threw passes through unchanged.
 */
export async function runGuarded<Input, Output>(guard: ToolGuard<Input, Output>, input: Input, run: () => Promise<Output>): Promise<Output> {
  const { gateway, header, step, ...options } = guard;
  // INVARIANT: the step is computed from the very input `run` closes over, so what is approved is what runs
  const guarded: GuardedStep = { ...step(input), ...header };
  let started = false;
  try {
    return await guardTool(
      gateway,
      guarded,
      () => {
        started = true;
        return run();
      },
      options,
    );
  } catch (err) {
    if (started || !(err instanceof CountersignClientError)) throw err;
    throw refusal(err);
  }
}

/**
 * The refusal as the model reads it: frameworks hand a thrown error's message
 * to the model, and the code and reasons are what it can act on (wait, ask a
 * human, propose something else). Same code, status and details as the cause.
 */
function refusal(err: CountersignClientError): CountersignClientError {
  const reasons = err.details?.['reasons'];
  const request = err.details?.['request'];
  const parts = [`not run: ${err.code}: ${err.message}`];
  if (Array.isArray(reasons) && reasons.length > 0) parts.push(`reasons: ${reasons.join(', ')}`);
  if (typeof request === 'string' && !err.message.includes(`\`${request}\``)) parts.push(`request \`${request}\``);
  const refused = new CountersignClientError(err.code, parts.join('; '), {
    status: err.status,
    ...(err.details === undefined ? {} : { details: { ...err.details } }),
    cause: err,
  });
  refusals.add(refused);
  return refused;
}
