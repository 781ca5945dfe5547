import { ToolLoopAgent, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { allowing, gatewayDouble, header, runAdapterContract, stepFor, type RestartInput } from './adapter.contract.js';
import { guardAiTool } from './ai.js';

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };

/** The scripted model's two turns: call `restart_pool` with `call`, then answer. */
function turns(call: RestartInput): Awaited<ReturnType<MockLanguageModelV3['doGenerate']>>[] {
  return [
    {
      content: [{ type: 'tool-call', toolCallId: 'call-1', toolName: 'restart_pool', input: JSON.stringify(call) }],
      finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
      usage,
      warnings: [],
    },
    { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage, warnings: [] },
  ];
}

runAdapterContract('Vercel AI SDK', {
  async run({ guard, restart, call }) {
    const model = new MockLanguageModelV3({ doGenerate: turns(call) });
    const restartPool = tool({
      description: 'restart a worker pool',
      inputSchema: z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) }),
      execute: (input) => restart(input),
    });
    const agent = new ToolLoopAgent({ model, tools: { restart_pool: guardAiTool(restartPool, guard) } });
    await agent.generate({ prompt: 'restart the payments workers' });
    // what the model was given on its second turn: the tool message of the loop's prompt
    const toolMessage = model.doGenerateCalls[1]?.prompt.find((m) => m.role === 'tool');
    return { seen: JSON.stringify(toolMessage?.content) };
  },
});

describe('guardAiTool', () => {
  const call: RestartInput = { pool: 'payments-worker', strategy: 'rolling' };
  const inputSchema = z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) });

  it('drains a streaming execute inside the guard: the outcome is reported after its last result, which the model gets', async () => {
    const gw = gatewayDouble(allowing(call));
    const callsAtYield: number[] = [];
    const restartPool = tool({
      inputSchema,
      async *execute({ pool }) {
        callsAtYield.push(gw.calls.length);
        yield `restarting ${pool}`;
        callsAtYield.push(gw.calls.length);
        yield `restarted ${pool}`;
      },
    });
    const model = new MockLanguageModelV3({ doGenerate: turns(call) });
    const agent = new ToolLoopAgent({ model, tools: { restart_pool: guardAiTool(restartPool, { gateway: gw.client, header, step: stepFor }) } });
    await agent.generate({ prompt: 'restart the payments workers' });
    expect(callsAtYield).toEqual([1, 1]);
    expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'POST /v1/executions/exe-1/outcome']);
    expect(JSON.stringify(model.doGenerateCalls[1]?.prompt.find((m) => m.role === 'tool')?.content)).toContain('"value":"restarted payments-worker"');
  });

  it('refuses to wrap a tool without execute, which the caller would run outside any guard', () => {
    const gw = gatewayDouble(allowing(call));
    expect(() => guardAiTool(tool({ inputSchema, outputSchema: z.string() }), { gateway: gw.client, header, step: stepFor })).toThrow(
      expect.objectContaining({ code: 'USAGE' }),
    );
  });
});
