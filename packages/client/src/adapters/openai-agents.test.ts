import { Agent, Runner, Usage, type Model, type ModelRequest, type ModelResponse, type StreamEvent } from '@openai/agents';
import { z } from 'zod';
import { runAdapterContract, type RestartInput } from './adapter.contract.js';
import { guardOpenAiTool } from './openai-agents.js';

/**
 * The SDK ships no scripted model, so this implements its public `Model`
 * interface: each `getResponse` answers with the next scripted response and
 * keeps the request, which is what the model was shown.
 */
class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = [];
  constructor(private readonly script: ModelResponse[]) {}

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const next = this.script.shift();
    if (next === undefined) throw new Error('the script has no more turns');
    return next;
  }

  // eslint-disable-next-line require-yield -- the runs here do not stream
  async *getStreamedResponse(): AsyncIterable<StreamEvent> {
    throw new Error('the scripted model does not stream');
  }
}

/** The scripted model's two turns: call `restart_pool` with `call`, then answer. */
function turns(call: RestartInput): ModelResponse[] {
  return [
    { usage: new Usage(), output: [{ type: 'function_call', id: 'fc-1', callId: 'call-1', name: 'restart_pool', arguments: JSON.stringify(call), status: 'completed' }] },
    { usage: new Usage(), output: [{ type: 'message', id: 'msg-1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'done' }] }] },
  ];
}

runAdapterContract('OpenAI Agents SDK', {
  async run({ guard, restart, call }) {
    const model = new ScriptedModel(turns(call));
    const restartPool = guardOpenAiTool(
      {
        name: 'restart_pool',
        description: 'restart a worker pool',
        parameters: z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) }),
        execute: (input) => restart(input),
      },
      guard,
    );
    const agent = new Agent({ name: 'payments-copilot', instructions: 'restart pools when asked', model, tools: [restartPool] });
    // no tracing: nothing leaves the machine
    await new Runner({ tracingDisabled: true }).run(agent, 'restart the payments workers');
    const input = model.requests[1]?.input;
    const result = Array.isArray(input) ? input.find((item) => item.type === 'function_call_result') : undefined;
    return { seen: JSON.stringify(result) };
  },
});
