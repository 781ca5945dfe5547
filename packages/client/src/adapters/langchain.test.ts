import { AIMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool } from '@langchain/core/tools';
import { createAgent } from 'langchain';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { allowing, denying, gatewayDouble, header, runAdapterContract, stepFor, type RestartInput } from './adapter.contract.js';
import { guardLangChainTool, isRefusal } from './langchain.js';

runAdapterContract('LangChain.js', {
  async run({ guard, restart, call }) {
    // the scripted model: call `restart_pool` with `call`, then answer
    const model = fakeModel()
      .respondWithTools([{ name: 'restart_pool', args: { ...call }, id: 'call-1' }])
      .respond(new AIMessage('done'));
    const restartPool = tool((input) => restart(input), {
      name: 'restart_pool',
      description: 'restart a worker pool',
      schema: z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) }),
    });
    const agent = createAgent({ model, tools: [guardLangChainTool(restartPool, guard)] });
    await agent.invoke({ messages: [{ role: 'user', content: 'restart the payments workers' }] });
    // what the model was given on its second turn: the tool message of its input
    const result = model.calls[1]?.messages.find((m) => ToolMessage.isInstance(m));
    return { seen: JSON.stringify({ content: result?.content, status: ToolMessage.isInstance(result) ? result.status : undefined }) };
  },
});

describe('guardLangChainTool', () => {
  const call: RestartInput = { pool: 'payments-worker', strategy: 'rolling' };
  const schema = z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) });

  it('drains a tool that streams events inside the guard: the outcome is reported after its end', async () => {
    const gw = gatewayDouble(allowing(call));
    const callsAtYield: number[] = [];
    const restartPool = tool(
      async function* ({ pool }) {
        callsAtYield.push(gw.calls.length);
        yield { progress: 'half' };
        callsAtYield.push(gw.calls.length);
        return `restarted ${pool}`;
      },
      { name: 'restart_pool', description: 'restart a worker pool', schema },
    );
    const guarded = guardLangChainTool(restartPool, { gateway: gw.client, header, step: stepFor });
    expect(await guarded.invoke(call)).toBe('restarted payments-worker');
    expect(callsAtYield).toEqual([1, 1]);
    expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'POST /v1/executions/exe-1/outcome']);
  });

  it('keeps name, description and schema, and rejects a direct invoke with the refusal', async () => {
    const gw = gatewayDouble(denying());
    let ran = false;
    const restartPool = tool(async () => String((ran = true)), { name: 'restart_pool', description: 'restart a worker pool', schema });
    const guarded = guardLangChainTool(restartPool, { gateway: gw.client, header, step: stepFor });
    expect([guarded.name, guarded.description, guarded.schema]).toEqual([restartPool.name, restartPool.description, restartPool.schema]);
    await expect(guarded.invoke(call)).rejects.toSatisfy(isRefusal);
    expect(ran).toBe(false);
  });
});
