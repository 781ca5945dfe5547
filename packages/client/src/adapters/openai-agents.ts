/**
 * @countersign/client/openai-agents: function tools of the OpenAI Agents SDK
 * (`@openai/agents`) behind the gateway.
 *
 * A refusal is thrown from the tool's `execute`, the SDK's convention for a
 * failed tool: the tool's `errorFunction` turns it into the output the model
 * reads (by default "An error occurred while running the tool. ... Error:
 * CountersignClientError: not run: NOT_GRANTED: ..."), and the run goes on.
 * Tools with an `outputSchema` and no `errorFunction` rethrow, as the SDK
 * does for them, and the run fails with the CountersignClientError.
 */
import { tool, type FunctionTool, type ToolExecuteArgument, type ToolInputParameters, type ToolOptions, type UnknownContext } from '@openai/agents';
import { runGuarded, type ToolGuard } from './tool-guard.js';

export { isRefusal, type ProposalHeader, type ToolGuard, type ToolStep } from './tool-guard.js';

/**
 * `tool(options)`, with `execute` run only inside guardTool: proposed on the
 * one-call path, approved and consumed when the policy says so, its outcome
 * reported. It takes the options rather than a built tool because a
 * FunctionTool exposes only `invoke` over the raw JSON text: the step must be
 * computed from the input the SDK parsed and validated, the very value
 * `execute` gets.
 */
export function guardOpenAiTool<TParameters extends ToolInputParameters = undefined, Context = UnknownContext, Result = unknown>(
  options: ToolOptions<TParameters, Context>,
  guard: ToolGuard<ToolExecuteArgument<TParameters>, Result>,
): FunctionTool<Context, TParameters, Result> {
  // `Result` is what `execute` returns: ToolOptions types it `unknown`, the guard's `judge` names it
  const execute = options.execute as (input: ToolExecuteArgument<TParameters>, ...rest: unknown[]) => Promise<Result> | Result;
  const guarded = (input: ToolExecuteArgument<TParameters>, ...rest: unknown[]): Promise<Result> => runGuarded(guard, input, async () => execute(input, ...rest));
  // the same options but for `execute`: ToolOptions is a union (strict or not) that a spread does not re-narrow
  return tool({ ...options, execute: guarded } as ToolOptions<TParameters, Context>) as FunctionTool<Context, TParameters, Result>;
}
