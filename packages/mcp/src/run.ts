import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CountersignClient } from '@countersign/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { parse as parseYaml } from 'yaml';
import { ProxyConfig, type Upstream } from './mapping.js';
import { CountersignProxy, PROXY_NAME, PROXY_VERSION, type ProxyLog } from './proxy.js';

/** A configuration or startup problem, with a stable code for `countersign mcp`'s error line and exit code. */
export class ProxyStartError extends Error {
  readonly code: 'CONFIG_INVALID' | 'TOKEN_MISSING' | 'UPSTREAM_UNREACHABLE' | 'USAGE';
  constructor(code: ProxyStartError['code'], message: string) {
    super(message);
    this.name = 'ProxyStartError';
    this.code = code;
  }
}

/** The configuration file, validated; every problem named with its path. */
export function loadProxyConfig(path: string): ProxyConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ProxyStartError('CONFIG_INVALID', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = ProxyConfig.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length === 0 ? '(top)' : i.path.join('.')}: ${i.message}`);
    throw new ProxyStartError('CONFIG_INVALID', `${path} is not a valid proxy configuration:\n${lines.join('\n')}`);
  }
  for (const [name, tool] of Object.entries(parsed.data.tools)) {
    if (!Object.hasOwn(parsed.data.upstreams, tool.upstream)) {
      throw new ProxyStartError('CONFIG_INVALID', `${path}: tool \`${name}\` names upstream \`${tool.upstream}\`, which \`upstreams\` does not declare`);
    }
  }
  return parsed.data;
}

/** Connect to one upstream MCP server as a client. */
export async function connectUpstream(name: string, upstream: Upstream): Promise<Client> {
  const client = new Client({ name: PROXY_NAME, version: PROXY_VERSION });
  const transport =
    'command' in upstream
      ? new StdioClientTransport({
          command: upstream.command,
          args: upstream.args,
          env: { ...getDefaultEnvironment(), ...upstream.env },
          ...(upstream.cwd === undefined ? {} : { cwd: upstream.cwd }),
          stderr: 'inherit',
        })
      : new StreamableHTTPClientTransport(new URL(upstream.url), { requestInit: { headers: upstream.headers } });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new ProxyStartError('UPSTREAM_UNREACHABLE', `upstream \`${name}\` did not answer: ${err instanceof Error ? err.message : String(err)}`);
  }
  return client;
}

export interface StartOptions {
  readonly config: ProxyConfig;
  /** The gateway URL; the config's `server` when absent. */
  readonly server?: string;
  /** The agent's bearer token for the gateway. */
  readonly token: string;
  readonly log?: ProxyLog;
  readonly progressEveryMs?: number;
}

export interface RunningProxy {
  readonly proxy: CountersignProxy;
  close(): Promise<void>;
}

/** Connect every upstream and build the proxy; `close` disconnects them. */
export async function startProxy(options: StartOptions): Promise<RunningProxy> {
  const server = options.server ?? options.config.server;
  if (server === undefined) throw new ProxyStartError('USAGE', 'no gateway: set `server` in the configuration, COUNTERSIGN_SERVER, or --server');
  if (options.token.trim() === '') throw new ProxyStartError('TOKEN_MISSING', 'no agent token: set COUNTERSIGN_TOKEN');
  const gateway = new CountersignClient({ server, token: options.token.trim() });
  const upstreams = new Map<string, Client>();
  try {
    for (const [name, upstream] of Object.entries(options.config.upstreams)) upstreams.set(name, await connectUpstream(name, upstream));
  } catch (err) {
    await Promise.all([...upstreams.values()].map((c) => c.close().catch(() => undefined)));
    throw err;
  }
  const proxy = new CountersignProxy({
    config: options.config,
    gateway,
    upstreams,
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.progressEveryMs === undefined ? {} : { progressEveryMs: options.progressEveryMs }),
  });
  return {
    proxy,
    async close() {
      // outcomes reported in the background reach the ledger before the proxy lets go
      await proxy.settle();
      await Promise.all([...upstreams.values()].map((c) => c.close().catch(() => undefined)));
    },
  };
}

/** Serve the agent over this process's stdin and stdout; resolves when the agent closes the session. */
export async function serveStdio(proxy: CountersignProxy): Promise<void> {
  const server = proxy.server();
  const closed = new Promise<void>((resolve) => (server.onclose = () => resolve()));
  // the SDK's stdio transport does not close at the end of its input: an agent
  // that closed its end of the pipe, or a SIGTERM, ends the session here, so the
  // caller settles what is in flight before the process exits
  const end = (): void => void server.close();
  process.stdin.once('end', end);
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
  try {
    await server.connect(new StdioServerTransport());
    await closed;
  } finally {
    process.stdin.off('end', end);
    process.off('SIGTERM', end);
    process.off('SIGINT', end);
  }
}

export interface HttpServeOptions {
  readonly host: string;
  readonly port: number;
  /** When set, every request must carry `Authorization: Bearer <token>`; required off loopback. */
  readonly token?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function answer(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/**
 * Serve the agent over Streamable HTTP at `/mcp`, stateless: each POST gets
 * its own MCP server, so nothing is kept between requests and any number of
 * proxies can stand behind one address. Whoever reaches the port acts as the
 * proxy's agent: off loopback a bearer token is required, compared in
 * constant time, and the Host header must name the address served.
 */
export async function serveHttp(proxy: CountersignProxy, options: HttpServeOptions): Promise<{ readonly url: string; readonly http: HttpServer; close(): Promise<void> }> {
  if (!LOOPBACK.has(options.host) && (options.token === undefined || options.token === '')) {
    throw new ProxyStartError('USAGE', `serving on ${options.host} needs a bearer token (COUNTERSIGN_MCP_HTTP_TOKEN): whoever reaches the port acts as the agent`);
  }
  const expected = options.token === undefined || options.token === '' ? null : sha256(options.token);
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/mcp') return answer(res, 404, -32601, 'not found: the MCP endpoint is /mcp');
      if (expected !== null) {
        const header = req.headers.authorization ?? '';
        const given = sha256(header.startsWith('Bearer ') ? header.slice(7) : '');
        if (!timingSafeEqual(given, expected)) return answer(res, 401, -32001, 'unauthorized: a bearer token is required');
      }
      if (req.method !== 'POST') return answer(res, 405, -32000, 'method not allowed: this endpoint is stateless, POST only');
      const server = proxy.server();
      const address = http.address() as AddressInfo;
      const transport = new StreamableHTTPServerTransport({
        // no sessionIdGenerator: stateless, nothing kept between requests
        enableDnsRebindingProtection: true,
        allowedHosts: [`${options.host}:${address.port}`, ...(LOOPBACK.has(options.host) ? [`127.0.0.1:${address.port}`, `localhost:${address.port}`, `[::1]:${address.port}`] : [])],
      });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) answer(res, 500, -32603, 'internal error');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/mcp`,
    http,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
