/**
 * A LangChain.js agent whose `restart_pool` tool runs only with the
 * gateway's say-so (examples/payments/policy.yaml: `workers.restart_pool`,
 * high risk in prod, so it waits for approvers).
 *
 *   npm install langchain @langchain/openai
 *   COUNTERSIGN_TOKEN=cst_... OPENAI_API_KEY=... npx tsx examples/agents/langchain.ts
 */
import { tool } from '@langchain/core/tools';
import { createAgent } from 'langchain';
import { z } from 'zod';
import { CountersignClient } from '@countersign/client';
import { guardLangChainTool } from '@countersign/client/langchain';
import { restartWorkers } from './workers.js';

const gateway = new CountersignClient({ server: process.env['COUNTERSIGN_SERVER'] ?? 'http://127.0.0.1:8080', token: process.env['COUNTERSIGN_TOKEN'] ?? '' });

const restartPool = guardLangChainTool(
  tool(({ pool, strategy }) => restartWorkers(pool, strategy), {
    name: 'restart_pool',
    description: 'restart a worker pool of the payments service',
    schema: z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) }),
  }),
  {
    gateway,
    header: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console' },
    step: ({ pool, strategy }) => ({
      action: 'workers.restart_pool',
      environment: 'prod',
      target: pool,
      params: { strategy },
      expected_consequence: 'in-flight jobs on the pool are retried',
    }),
    onPending: ({ link }) => console.error(`waiting for approval: ${link}`),
    waitTimeoutMs: 10 * 60_000,
  },
);

const agent = createAgent({
  model: 'openai:gpt-4.1',
  systemPrompt: 'You operate the payments workers. Restart a pool only when asked.',
  tools: [restartPool],
});

// a refusal reaches the model as a ToolMessage with status "error"; the loop goes on
const result = await agent.invoke({ messages: [{ role: 'user', content: 'The payments-worker pool is stuck; restart it, rolling.' }] });
console.log(result.messages.at(-1)?.content);
