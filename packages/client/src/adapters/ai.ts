/**
 * @countersign/client/ai: tools of the Vercel AI SDK (`ai`) behind the gateway.
 *
 * A refusal is thrown from `execute`, the AI SDK's convention for a failed
 * tool: `generateText` and `streamText` record a `tool-error` part (its
 * `error` is the CountersignClientError, with `code`) and send its message
 * to the model as the tool's error result, so the agent loop goes on and the
 * model reads why nothing ran.
 */
import type { Tool, ToolExecutionOptions } from 'ai';
import { CountersignClientError } from '../errors.js';
import { runGuarded, type ToolGuard } from './tool-guard.js';

export { isRefusal, type ProposalHeader, type ToolGuard, type ToolStep } from './tool-guard.js';

/**
 * The same tool, whose `execute` runs only inside guardTool: proposed on the
 * one-call path, approved and consumed when the policy says so, its outcome
 * reported. A tool whose `execute` streams preliminary results is drained
 * inside the guard (the outcome is known only at its end): the model gets the
 * final result.
 */
export function guardAiTool<Input, Output>(tool: Tool<Input, Output>, guard: ToolGuard<Input, Output>): Tool<Input, Output> {
  const execute = tool.execute;
  if (execute === undefined) {
    // a tool without execute is run by the caller, outside any guard: nothing to wrap, so refuse to pretend
    throw new CountersignClientError('USAGE', 'the tool has no `execute` to guard');
  }
  const guarded = (input: Input, options: ToolExecutionOptions): Promise<Output> => runGuarded(guard, input, () => finalResult(execute(input, options)));
  // the same tool but for `execute`: Tool is a union over tool kinds that a spread does not re-narrow
  return { ...tool, execute: guarded } as Tool<Input, Output>;
}

async function finalResult<Output>(result: AsyncIterable<Output> | PromiseLike<Output> | Output): Promise<Output> {
  if (!isAsyncIterable(result)) return await result;
  let last: { value: Output } | undefined;
  for await (const value of result) last = { value };
  if (last === undefined) throw new CountersignClientError('USAGE', 'the tool streamed no result');
  return last.value;
}

function isAsyncIterable<T>(value: unknown): value is AsyncIterable<T> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
