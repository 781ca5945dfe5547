import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { call, type GatewayProcess, ledgerEntries, signedApproval, startGatewayProcess } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';

/**
 * `countersign mcp` end to end (build first): the real gateway process, a
 * real upstream MCP server written with the SDK that records every call it
 * receives (test/fixtures/mcp/upstream.mjs), the proxy as its own process,
 * and a real MCP client; over stdio and over Streamable HTTP.
 */

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const UPSTREAM = join(ROOT, 'test', 'fixtures', 'mcp', 'upstream.mjs');

interface UpstreamCall {
  readonly upstream: string;
  readonly tool: string;
  readonly args: Record<string, unknown>;
}

const TOOLS = {
  inspect_shard: { upstream: 'queue', action: 'queue.inspect', environment: 'prod', target: 'payments-queue/{shard}', params: { depth: '{depth}' } },
  flaky_inspect: { upstream: 'queue', action: 'queue.inspect', environment: 'prod', target: 'payments-queue/{shard}' },
  clear_shard: { upstream: 'queue', action: 'queue.clear_shard', environment: 'prod', target: 'payments-queue/{shard}', expected_consequence: 'the shard is emptied' },
  post_status: { upstream: 'queue', action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: '{channel}', message: '{message}' } },
  // mapped, but no upstream offers it: not listed
  ghost: { upstream: 'queue', action: 'queue.inspect', environment: 'prod', target: 'nowhere' },
};

let dir = '';
let gw: GatewayProcess;
let token = '';
let log = '';

function upstreamCalls(): UpstreamCall[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as UpstreamCall);
}


/** Executions recorded for the proxy's agent: the one-call path's and the consumed grants. */
async function executions(): Promise<number> {
  return (await ledgerEntries(gw)).filter((e) => e.type === 'step.executed' || e.type === 'grant.consumed').length;
}

/** Entries past `from`, once one of them is an outcome (reported in the background): at most 10 s. */
async function addedWithOutcome(from: number): Promise<Awaited<ReturnType<typeof ledgerEntries>>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const added = (await ledgerEntries(gw)).slice(from);
    if (added.some((e) => e.type === 'execution.outcome') || Date.now() > deadline) return added;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function writeConfig(name: string, upstream: Record<string, unknown>, server = gw.url): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    stringifyYaml({
      server,
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      wait: '3s',
      upstream_timeout: '10s',
      upstreams: { queue: upstream },
      tools: TOOLS,
    }),
  );
  return path;
}

function text(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

function errorOf(result: CallToolResult): Record<string, unknown> {
  expect(result.isError, text(result)).toBe(true);
  return (result.structuredContent as { error: Record<string, unknown> }).error;
}

async function approveThroughGateway(requestId: string): Promise<void> {
  const view = await call(gw.url, 'GET', `/v1/requests/${requestId}`, token);
  expect(view.status).toBe(200);
  const approved = await call(gw.url, 'POST', `/v1/requests/${requestId}/approvals`, await gw.token('sam', 'signed-cli'), signedApproval(view.body as never, 'sam', 'signed-cli'));
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
}

/** Every call the upstream saw was covered by exactly one recorded execution. */
async function expectCallsMatchExecutions(): Promise<void> {
  expect(upstreamCalls().length).toBe(await executions());
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('build first: npm run build');
  dir = mkdtempSync(join(tmpdir(), 'countersign-mcp-'));
  log = join(dir, 'upstream.jsonl');
  gw = await startGatewayProcess({ policy: writeTestPolicy(dir), dir });
  token = await gw.token('payments-copilot', 'copilot-console');
}, 60_000);

afterAll(async () => {
  expect(await gw?.stop()).toBe(0);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The behaviours both transports must show, given a connected agent-side client. */
function proxyBehaviour(label: string, connect: () => Promise<Client>, disconnect: () => Promise<void>, more: () => void = () => undefined): void {
  describe(`countersign mcp over ${label}`, () => {
    let agent: Client;
    beforeAll(async () => {
      agent = await connect();
    }, 60_000);
    afterAll(async () => {
      await disconnect();
    }, 60_000);

    it('lists the mapped tools the upstream offers, under their names, and hides every other', async () => {
      const { tools } = await agent.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['clear_shard', 'flaky_inspect', 'inspect_shard', 'post_status']);
      expect(tools.find((t) => t.name === 'inspect_shard')?.description).toContain('queue.inspect');
    });

    it('refuses an unmapped tool as unknown, and the upstream never hears of it', async () => {
      const before = upstreamCalls().length;
      await expect(agent.callTool({ name: 'drop_database', arguments: { name: 'payments' } })).rejects.toThrow(/Unknown tool/);
      expect(upstreamCalls().length).toBe(before);
    });

    it('forwards an allowed read at once, decided and executed in one gateway call, and records its outcome', async () => {
      const before = await ledgerEntries(gw);
      const result = (await agent.callTool({ name: 'inspect_shard', arguments: { shard: 'shard-7', depth: 2 } })) as CallToolResult;
      expect(result.isError ?? false).toBe(false);
      expect(text(result)).toBe('shard shard-7: 1200 messages');
      expect(upstreamCalls().at(-1)).toEqual({ upstream: label, tool: 'inspect_shard', args: { shard: 'shard-7', depth: 2 } });
      // the outcome is reported after the agent has its answer, off its path
      const added = await addedWithOutcome(before.length);
      const executed = added.find((e) => e.type === 'step.executed');
      expect(executed?.payload).toMatchObject({ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7' });
      expect(added.some((e) => e.type === 'grant.issued')).toBe(false);
      expect(added.find((e) => e.type === 'execution.outcome')?.payload).toMatchObject({ outcome: 'succeeded' });
      await expectCallsMatchExecutions();
    });

    it('refuses an argument the mapping does not carry into the step, before proposing anything', async () => {
      const before = [upstreamCalls().length, (await ledgerEntries(gw)).length];
      const result = (await agent.callTool({ name: 'inspect_shard', arguments: { shard: 'shard-7', force: true } })) as CallToolResult;
      expect(errorOf(result)).toMatchObject({ code: 'ARGUMENT_NOT_MAPPED', argument: 'force' });
      expect([upstreamCalls().length, (await ledgerEntries(gw)).length]).toEqual(before);
    });

    it('records a tool that reports its own error as a failed execution', async () => {
      const before = await ledgerEntries(gw);
      const result = (await agent.callTool({ name: 'flaky_inspect', arguments: { shard: 'shard-3' } })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(text(result)).toBe('shard unavailable');
      const added = await addedWithOutcome(before.length);
      expect(added.find((e) => e.type === 'execution.outcome')?.payload).toMatchObject({ outcome: 'failed' });
      await expectCallsMatchExecutions();
    });

    it('never forwards a denied step: the tool error carries the reason codes', async () => {
      const before = upstreamCalls().length;
      const result = (await agent.callTool({ name: 'clear_shard', arguments: { shard: 'shard-9' } })) as CallToolResult;
      const error = errorOf(result);
      expect(error['code']).toBe('NOT_GRANTED');
      expect(error['reasons']).toContain('PREREQUISITE_MISSING');
      expect(upstreamCalls().length).toBe(before);
    });

    it('waits for approval with progress naming the request and its console link, then completes the call', async () => {
      const progress: Progress[] = [];
      const pending = agent.callTool({ name: 'post_status', arguments: { channel: 'statuspage', message: `degraded (${label})` } }, undefined, {
        onprogress: (p) => progress.push(p),
        timeout: 30_000,
      });
      // bounded: the first notification comes as soon as the request is open
      for (let i = 0; i < 200 && progress.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      const requestId = /request (request-[0-9a-f]+)/.exec(progress[0]?.message ?? '')?.[1];
      expect(requestId, JSON.stringify(progress)).toBeDefined();
      expect(progress[0]?.message).toContain(`${gw.url}/console/requests/${requestId}`);
      expect(upstreamCalls().some((c) => c.tool === 'post_status' && c.args['message'] === `degraded (${label})`)).toBe(false);
      await approveThroughGateway(requestId!);
      const result = (await pending) as CallToolResult;
      expect(text(result)).toBe('posted to statuspage');
      expect(upstreamCalls().at(-1)).toEqual({ upstream: label, tool: 'post_status', args: { channel: 'statuspage', message: `degraded (${label})` } });
      await expectCallsMatchExecutions();
    }, 30_000);

    it('after a wait runs out, the same call finds the same request; a changed argument gets no part of its approval', async () => {
      const message = `resolved (${label})`;
      const first = errorOf((await agent.callTool({ name: 'post_status', arguments: { channel: 'statuspage', message } }, undefined, { timeout: 30_000 })) as CallToolResult);
      expect(first['code']).toBe('APPROVAL_PENDING');
      const requestId = first['request'] as string;
      await approveThroughGateway(requestId);

      const opened = async (): Promise<number> => (await ledgerEntries(gw)).filter((e) => e.type === 'request.opened').length;
      const openedBefore = await opened();
      const before = upstreamCalls().length;
      // the approved request is for `message`; one character more is another step, and waits on its own
      const changed = errorOf((await agent.callTool({ name: 'post_status', arguments: { channel: 'statuspage', message: `${message}!` } }, undefined, { timeout: 30_000 })) as CallToolResult);
      expect(changed['code']).toBe('APPROVAL_PENDING');
      expect(changed['request']).not.toBe(requestId);
      expect(upstreamCalls().length).toBe(before);
      expect(await opened()).toBe(openedBefore + 1);

      // the same call again: no new request, the approved one's grant consumed, the upstream called once
      const again = (await agent.callTool({ name: 'post_status', arguments: { channel: 'statuspage', message } }, undefined, { timeout: 30_000 })) as CallToolResult;
      expect(text(again)).toBe('posted to statuspage');
      expect(await opened()).toBe(openedBefore + 1);
      expect(upstreamCalls().slice(before)).toEqual([{ upstream: label, tool: 'post_status', args: { channel: 'statuspage', message } }]);
      const consumed = (await ledgerEntries(gw)).filter((e) => e.type === 'grant.consumed').at(-1);
      const request = await call(gw.url, 'GET', `/v1/requests/${requestId}`, token);
      expect(consumed?.payload['step']).toBe(request.body['step']);
      await expectCallsMatchExecutions();
    }, 30_000);

    more();
  });
}

describe('stdio', () => {
  let transport: StdioClientTransport;
  proxyBehaviour(
    'stdio',
    async () => {
      const config = writeConfig('stdio.yaml', { command: process.execPath, args: [UPSTREAM], env: { UPSTREAM_LOG: log, UPSTREAM_LABEL: 'stdio' } });
      transport = new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'mcp', '--config', config],
        env: { ...getDefaultEnvironment(), COUNTERSIGN_TOKEN: token },
        stderr: 'ignore',
      });
      const client = new Client({ name: 'test-agent', version: '1.0.0' });
      await client.connect(transport);
      return client;
    },
    async () => {
      await transport?.close();
    },
  );
});

/** Start a process and resolve with the first JSON line on `stream` that has `key`. */
function startAndRead(args: string[], env: NodeJS.ProcessEnv, stream: 'stdout' | 'stderr', key: string): Promise<{ child: ChildProcess; line: Record<string, string> }> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`no ${key} within 20 s:\n${output}`)), 20_000);
    child[stream]!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.startsWith('{')) continue;
        const parsed = JSON.parse(line) as Record<string, string>;
        if (parsed[key] !== undefined) {
          clearTimeout(timer);
          resolve({ child, line: parsed });
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${key}:\n${output}`)));
  });
}

describe('outcomes reported in the background', () => {
  let slow: Server | undefined;
  afterAll(() => new Promise<void>((resolve) => (slow === undefined ? resolve() : slow.close(() => resolve()))));

  it('reach the ledger before the proxy exits, though the agent closed the session right after its answer', async () => {
    // in front of the gateway: every outcome report is held until the test lets it through, everything else passes at once
    let reportHeld = false;
    let releaseReports: () => void = () => undefined;
    const reportsReleased = new Promise<void>((resolve) => (releaseReports = resolve));
    slow = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const forward = async (): Promise<void> => {
          if (req.url?.endsWith('/outcome') === true) {
            reportHeld = true;
            await reportsReleased;
          }
          const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => ['authorization', 'content-type', 'accept'].includes(k))) as Record<string, string>;
          const answer = await fetch(`${gw.url}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }) });
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await answer.arrayBuffer()));
        };
        forward().catch(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => slow!.listen(0, '127.0.0.1', () => resolve()));
    const { port } = slow.address() as { port: number };
    const config = writeConfig('slow.yaml', { command: process.execPath, args: [UPSTREAM], env: { UPSTREAM_LOG: log, UPSTREAM_LABEL: 'slow' } }, `http://127.0.0.1:${port}`);
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--config', config], env: { ...getDefaultEnvironment(), COUNTERSIGN_TOKEN: token }, stderr: 'ignore' });
    const agent = new Client({ name: 'test-agent', version: '1.0.0' });
    await agent.connect(transport);
    const before = (await ledgerEntries(gw)).length;
    try {
      // the answer does not wait for the report, which is held until released below: an answer that
      // waited for it would never come, and the call would fail with its timeout (not a race on this machine's speed)
      const result = (await agent.callTool({ name: 'inspect_shard', arguments: { shard: 'shard-5', depth: 1 } }, undefined, { timeout: 15_000 })) as CallToolResult;
      expect(text(result)).toBe('shard shard-5: 1200 messages');
      const exited = new Promise<number | null>((resolve) => (transport as unknown as { _process?: ChildProcess })._process?.once('exit', (code) => resolve(code)));
      // the end of its input (or the SDK's SIGTERM 2 s later) ends it once the report was answered
      const closed = transport.close();
      // the report, sent right after the answer (bounded), is held a while longer after the session closed
      for (let i = 0; i < 100 && !reportHeld; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 500));
      releaseReports();
      await closed;
      expect(await exited).toBe(0);
    } finally {
      releaseReports();
    }
    const added = (await ledgerEntries(gw)).slice(before);
    expect(added.find((e) => e.type === 'execution.outcome')?.payload).toMatchObject({ outcome: 'succeeded' });
  }, 30_000);
});

describe('Streamable HTTP', () => {
  const children: ChildProcess[] = [];
  let transport: StreamableHTTPClientTransport;
  let proxyUrl = '';
  const HTTP_TOKEN = 'agent-side-secret-0123456789';
  proxyBehaviour(
    'http',
    async () => {
      const upstream = await startAndRead([UPSTREAM, '--http', '0'], { UPSTREAM_LOG: log, UPSTREAM_LABEL: 'http' }, 'stdout', 'url');
      children.push(upstream.child);
      const config = writeConfig('http.yaml', { url: upstream.line['url'] });
      const proxy = await startAndRead([CLI, 'mcp', '--config', config, '--http', '0'], { COUNTERSIGN_TOKEN: token, COUNTERSIGN_MCP_HTTP_TOKEN: HTTP_TOKEN }, 'stderr', 'url');
      children.push(proxy.child);
      proxyUrl = proxy.line['url']!;
      transport = new StreamableHTTPClientTransport(new URL(proxyUrl), { requestInit: { headers: { authorization: `Bearer ${HTTP_TOKEN}` } } });
      const client = new Client({ name: 'test-agent', version: '1.0.0' });
      await client.connect(transport);
      return client;
    },
    async () => {
      await transport?.close();
      // the proxy first: it holds connections to the upstream
      for (const child of children.reverse()) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
    () => {
      it('turns away an agent without the bearer token, before any MCP message is read', async () => {
        const res = await fetch(proxyUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer wrong' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
        });
        expect(res.status).toBe(401);
      });
    },
  );
});

describe('countersign mcp, the command', () => {
  it('documents itself, prints its configuration schema, and refuses an invalid configuration with exit 2', async () => {
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'mcp', ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toContain('COUNTERSIGN_TOKEN');
    const schema = await run(['schema']);
    expect(schema.code).toBe(0);
    expect(JSON.parse(schema.stdout)).toMatchObject({ title: 'Countersign MCP proxy configuration' });
    // the committed schema editors read is the one the command prints
    expect(schema.stdout).toBe(readFileSync(join(ROOT, 'countersign-mcp.schema.json'), 'utf8'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringifyYaml({ agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', upstreams: { q: { url: 'http://127.0.0.1:1/mcp' } }, tools: { t: { upstream: 'nope', action: 'a', environment: 'prod', target: '{a}{b}' } } }));
    const invalid = await run(['--config', bad], { COUNTERSIGN_TOKEN: token });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('error[CONFIG_INVALID]');
    expect(invalid.stderr).toContain('tools.t.target');
    // the example configuration maps every tool its stand-in server offers but one, which stays hidden
    const example = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'mcp', 'check', '--config', 'examples/agents/countersign-mcp.yaml'], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '' } });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.once('exit', (code) => resolve({ code, stdout }));
    });
    expect(example.code, example.stdout).toBe(0);
    expect(example.stdout.split('\n').filter((l) => l.startsWith('mapped')).length).toBe(5);
    expect(example.stdout).toContain('hidden   payments/drop_table');
    // a mapped tool no upstream offers fails the check
    const ghost = await run(['check', '--config', writeConfig('check.yaml', { command: process.execPath, args: [UPSTREAM] })]);
    expect(ghost.code).toBe(2);
    expect(ghost.stdout).toContain('MISSING  ghost');
    expect(ghost.stdout).toContain('hidden   queue/drop_database');
    const noToken = await run(['--config', writeConfig('no-token.yaml', { url: 'http://127.0.0.1:1/mcp' })]);
    expect(noToken.code).toBe(3);
    expect(noToken.stderr).toContain('error[TOKEN_MISSING]');
  }, 30_000);
});
