/**
 * A Vercel AI SDK agent whose `restart_pool` tool runs only with the
 * gateway's say-so (examples/payments/policy.yaml: `workers.restart_pool`,
 * high risk in prod, so it waits for approvers).
 *
 *   COUNTERSIGN_TOKEN=cst_... AI_GATEWAY_API_KEY=... npx tsx examples/agents/vercel-ai.ts
 */
import { ToolLoopAgent, stepCountIs, tool } from 'ai';
import { z } from 'zod';
import { CountersignClient } from '@countersign/client';
import { guardAiTool } from '@countersign/client/ai';
import { restartWorkers } from './workers.js';

const gateway = new CountersignClient({ server: process.env['COUNTERSIGN_SERVER'] ?? 'http://127.0.0.1:8080', token: process.env['COUNTERSIGN_TOKEN'] ?? '' });

const restartPool = guardAiTool(
  tool({
    description: 'restart a worker pool of the payments service',
    inputSchema: z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) }),
    execute: ({ pool, strategy }) => restartWorkers(pool, strategy),
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

const agent = new ToolLoopAgent({
  model: 'openai/gpt-4.1',
  instructions: 'You operate the payments workers. Restart a pool only when asked.',
  tools: { restart_pool: restartPool },
  stopWhen: stepCountIs(5),
});

const result = await agent.generate({ prompt: 'The payments-worker pool is stuck; restart it, rolling.' });
// a refusal is a `tool-error` part: the model read it, and so can you
for (const part of result.steps.flatMap((s) => s.content)) {
  if (part.type === 'tool-error') console.error(`not run: ${String(part.error)}`);
}
console.log(result.text);
