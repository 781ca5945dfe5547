// A stand-in for the payments team's own MCP server: the tools a copilot
// uses in the reference incident. It only says what it would do. Run it
// behind `countersign mcp --config examples/agents/countersign-mcp.yaml`.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'payments-tools', version: '1.0.0' });
const said = (text) => ({ content: [{ type: 'text', text }] });

server.registerTool('inspect_shard', { description: 'count and sample the messages of a payments queue shard', inputSchema: { shard: z.string() } }, ({ shard }) =>
  said(`payments-queue/${shard}: 1,204 messages, oldest 41 min`),
);
server.registerTool('snapshot_shard', { description: 'copy a shard to the evidence store', inputSchema: { shard: z.string() } }, ({ shard }) =>
  said(`snapshot of payments-queue/${shard} written to evidence/${shard}.jsonl`),
);
server.registerTool('clear_shard', { description: 'discard every message of a shard', inputSchema: { shard: z.string() } }, ({ shard }) =>
  said(`payments-queue/${shard} cleared`),
);
server.registerTool('restart_pool', { description: 'restart the payment workers', inputSchema: { strategy: z.enum(['rolling', 'all-at-once']) } }, ({ strategy }) =>
  said(`payments-worker restarted (${strategy})`),
);
server.registerTool('post_status', { description: 'publish a customer status update', inputSchema: { channel: z.string(), message: z.string() } }, ({ channel }) =>
  said(`status update published on ${channel}`),
);
server.registerTool('drop_table', { description: 'not mapped in the example configuration: the agent never sees it', inputSchema: { table: z.string() } }, ({ table }) =>
  said(`dropped ${table}`),
);

await server.connect(new StdioServerTransport());
