/**
 * An OpenAI Agents SDK agent whose `restart_pool` tool runs only with the
 * gateway's say-so (examples/payments/policy.yaml: `workers.restart_pool`,
 * high risk in prod, so it waits for approvers).
 *
 *   COUNTERSIGN_TOKEN=cst_... OPENAI_API_KEY=... npx tsx examples/agents/openai-agents.ts
 */
import { Agent, run } from '@openai/agents';
import { z } from 'zod';
import { CountersignClient } from '@countersign/client';
import { guardOpenAiTool } from '@countersign/client/openai-agents';
import { restartWorkers } from './workers.js';

const gateway = new CountersignClient({ server: process.env['COUNTERSIGN_SERVER'] ?? 'http://127.0.0.1:8080', token: process.env['COUNTERSIGN_TOKEN'] ?? '' });

// what you would pass to `tool()`, and how each call maps to a step
const restartPool = guardOpenAiTool(
  {
    name: 'restart_pool',
    description: 'restart a worker pool of the payments service',
    parameters: z.object({ pool: z.string(), strategy: z.enum(['rolling', 'immediate']) }),
    execute: ({ pool, strategy }) => restartWorkers(pool, strategy),
  },
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

const agent = new Agent({
  name: 'payments-copilot',
  instructions: 'You operate the payments workers. Restart a pool only when asked.',
  model: 'gpt-4.1',
  tools: [restartPool],
});

// a refusal reaches the model as the tool's output (its errorFunction); the run goes on
const result = await run(agent, 'The payments-worker pool is stuck; restart it, rolling.');
console.log(result.finalOutput);
