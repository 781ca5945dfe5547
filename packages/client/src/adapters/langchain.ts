/**
 * @countersign/client/langchain: LangChain.js tools (`@langchain/core`)
 * behind the gateway.
 *
 * A refusal is thrown from the tool, LangChain's convention for a failed
 * tool: an agent's ToolNode (`createAgent` from `langchain`, LangGraph's
 * `ToolNode`) turns it into a ToolMessage with `status: "error"` whose
 * content is the error ("CountersignClientError: not run: NOT_GRANTED: ..."),
 * and the loop goes on; a direct `tool.invoke()` rejects with the
 * CountersignClientError.
 */
import type { CallbackManagerForToolRun } from '@langchain/core/callbacks/manager';
import { StructuredTool, type ToolRunnableConfig } from '@langchain/core/tools';
import type { ToolParams } from '@langchain/core/tools';
import { runGuarded, type ToolGuard } from './tool-guard.js';

export { isRefusal, type ProposalHeader, type ToolGuard, type ToolStep } from './tool-guard.js';

/**
 * StructuredTool's extension point, protected in its declaration: the
 * wrapper calls it as StructuredTool#call does, with the input already parsed
 * and validated against the schema, so the step and the tool see one value.
 */
interface Callable<Input, Output> {
  _call(arg: Input, runManager?: CallbackManagerForToolRun, parentConfig?: ToolRunnableConfig): Promise<Output> | AsyncGenerator<unknown, Output>;
}

class GuardedTool<SchemaT, SchemaOutputT, SchemaInputT, ToolOutputT> extends StructuredTool<SchemaT, SchemaOutputT, SchemaInputT, ToolOutputT> {
  name: string;
  description: string;
  schema: SchemaT;
  readonly #inner: Callable<SchemaOutputT, ToolOutputT>;
  readonly #guard: ToolGuard<SchemaOutputT, ToolOutputT>;

  constructor(inner: StructuredTool<SchemaT, SchemaOutputT, SchemaInputT, ToolOutputT>, guard: ToolGuard<SchemaOutputT, ToolOutputT>) {
    super(fieldsOf(inner));
    this.name = inner.name;
    this.description = inner.description;
    this.schema = inner.schema;
    this.returnDirect = inner.returnDirect;
    this.#inner = inner as unknown as Callable<SchemaOutputT, ToolOutputT>;
    this.#guard = guard;
  }

  protected override _call(arg: SchemaOutputT, runManager?: CallbackManagerForToolRun, parentConfig?: ToolRunnableConfig): Promise<ToolOutputT> {
    return runGuarded(this.#guard, arg, () => drained(this.#inner._call(arg, runManager, parentConfig), runManager));
  }
}

function fieldsOf(tool: StructuredTool<unknown, unknown, unknown, unknown>): ToolParams {
  return {
    verboseParsingErrors: tool.verboseParsingErrors,
    verbose: tool.verbose,
    ...(tool.responseFormat === undefined ? {} : { responseFormat: tool.responseFormat }),
    ...(tool.defaultConfig === undefined ? {} : { defaultConfig: tool.defaultConfig }),
    ...(tool.callbacks === undefined ? {} : { callbacks: tool.callbacks }),
    ...(tool.tags === undefined ? {} : { tags: tool.tags }),
    ...(tool.metadata === undefined ? {} : { metadata: tool.metadata }),
  };
}

/**
 * The same tool (name, description, schema, response format), run only inside
 * guardTool: proposed on the one-call path, approved and consumed when the
 * policy says so, its outcome reported. A tool that streams events is drained
 * inside the guard (the outcome is known only at its end); its events still
 * reach the callbacks.
 */
export function guardLangChainTool<SchemaT, SchemaOutputT, SchemaInputT, ToolOutputT>(
  tool: StructuredTool<SchemaT, SchemaOutputT, SchemaInputT, ToolOutputT>,
  guard: ToolGuard<SchemaOutputT, ToolOutputT>,
): StructuredTool<SchemaT, SchemaOutputT, SchemaInputT, ToolOutputT> {
  return new GuardedTool(tool, guard);
}

async function drained<Output>(called: Promise<Output> | AsyncGenerator<unknown, Output>, runManager: CallbackManagerForToolRun | undefined): Promise<Output> {
  // DynamicStructuredTool#_call is async: its promise may resolve to the generator itself
  const result: Output | AsyncGenerator<unknown, Output> = await called;
  if (!isAsyncGenerator(result)) return result;
  for (;;) {
    const next = await result.next();
    if (next.done === true) return next.value;
    await runManager?.handleToolEvent(next.value);
  }
}

function isAsyncGenerator<Output>(value: Output | AsyncGenerator<unknown, Output>): value is AsyncGenerator<unknown, Output> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value && typeof (value as { next?: unknown }).next === 'function';
}
