import { AIMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { tool } from '@langchain/core/tools';
import { createAgent } from 'langchain';
import { z } from 'zod';
import { runAdapterContract } from './adapter.contract.js';
import { guardLangChainTool } from './langchain.js';

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
