import { CountersignClientError, guardTool, isCountersignClientError, type CountersignClient, type PendingApproval } from '@countersign/client';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { deriveStep, durationMs, MappingError, type ProxyConfig, type ToolMapping } from './mapping.js';

export const PROXY_NAME = 'countersign-mcp';
export const PROXY_VERSION = '0.1.0';

/** How often a call waiting for approvers tells the agent it still waits (MCP progress notifications). */
export const PROGRESS_EVERY_MS = 10_000;

/** A structured line for the operator's log (stderr): never a token, never a tool's arguments or result. */
export type ProxyLog = (line: Record<string, unknown>) => void;

export interface ProxyOptions {
  readonly config: ProxyConfig;
  /** The gateway, as the agent: its token may propose, wait, execute and report outcomes, nothing else. */
  readonly gateway: CountersignClient;
  /** A connected MCP client per upstream named in the config. */
  readonly upstreams: ReadonlyMap<string, Client>;
  readonly log?: ProxyLog;
  /** Overrides `PROGRESS_EVERY_MS` (tests). */
  readonly progressEveryMs?: number;
}

/** What a call waiting for approvers sends back to the agent while it waits. */
export type ProgressSink = (progress: number, message: string) => Promise<void>;

/** A tool error the agent's model can read: a code, a message, and what it concerns. */
function refusal(code: string, message: string, details: Record<string, unknown> = {}): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${code}: ${message}` }],
    structuredContent: { error: { code, message, ...details } },
  };
}

/** Whether an upstream call may have done something: a timeout or a lost connection cannot tell; an answered error did not run. */
function upstreamOutcome(err: unknown): 'failed' | 'ambiguous' {
  if (err instanceof McpError && err.code !== ErrorCode.RequestTimeout && err.code !== ErrorCode.ConnectionClosed) return 'failed';
  return 'ambiguous';
}

/**
 * The proxy itself, independent of how the agent reaches it: `tools/list`
 * shows the mapped upstream tools only, `tools/call` crosses to the upstream
 * only through `guardTool`, so only with an execution of exactly the derived
 * step recorded in the gateway's ledger.
 */
export class CountersignProxy {
  readonly #config: ProxyConfig;
  readonly #gateway: CountersignClient;
  readonly #upstreams: ReadonlyMap<string, Client>;
  readonly #log: ProxyLog;
  readonly #progressEveryMs: number;
  /** Outcome reports still in flight: the agent has its result, the gateway not yet the outcome. */
  readonly #reports = new Set<Promise<void>>();

  constructor(options: ProxyOptions) {
    this.#config = options.config;
    this.#gateway = options.gateway;
    this.#upstreams = options.upstreams;
    this.#log = options.log ?? (() => undefined);
    this.#progressEveryMs = options.progressEveryMs ?? PROGRESS_EVERY_MS;
    for (const [name, tool] of Object.entries(this.#config.tools)) {
      if (!this.#upstreams.has(tool.upstream)) throw new Error(`tool \`${name}\` names upstream \`${tool.upstream}\`, which is not connected`);
    }
  }

  /** Resolves once every outcome report in flight has been answered (or has failed and been logged). */
  async settle(): Promise<void> {
    while (this.#reports.size > 0) await Promise.all(this.#reports);
  }

  /** The mapped tools the upstreams offer, under the names the agent sees; every other tool is hidden. */
  async listTools(): Promise<Tool[]> {
    return (await this.inventory()).shown;
  }

  /**
   * What the upstreams offer against what the configuration maps: the tools
   * shown (renamed), the upstream tools hidden, and mapped names no upstream
   * offers (for `countersign mcp check`).
   */
  async inventory(): Promise<{ shown: Tool[]; hidden: { upstream: string; tool: string }[]; missing: string[] }> {
    const byUpstream = new Map<string, Map<string, Tool>>();
    for (const [name, client] of this.#upstreams) {
      const tools = new Map<string, Tool>();
      let cursor: string | undefined;
      // bounded: an upstream that pages forever is cut off after 100 pages
      for (let page = 0; page < 100; page++) {
        const listed = await client.listTools(cursor === undefined ? {} : { cursor });
        for (const tool of listed.tools) tools.set(tool.name, tool);
        cursor = listed.nextCursor;
        if (cursor === undefined) break;
      }
      byUpstream.set(name, tools);
    }
    const shown: Tool[] = [];
    const missing: string[] = [];
    const used = new Set<string>();
    for (const [name, mapping] of Object.entries(this.#config.tools)) {
      const upstreamName = mapping.tool ?? name;
      const upstream = byUpstream.get(mapping.upstream)?.get(upstreamName);
      if (upstream === undefined) {
        missing.push(name);
        continue;
      }
      used.add(`${mapping.upstream}\u0000${upstreamName}`);
      const note = `Runs through Countersign as \`${mapping.action}\`: it may wait for human approval, and is refused when the policy says no.`;
      shown.push({ ...upstream, name, description: upstream.description === undefined ? note : `${upstream.description}\n\n${note}` });
    }
    const hidden = [...byUpstream].flatMap(([upstream, tools]) => [...tools.keys()].filter((tool) => !used.has(`${upstream}\u0000${tool}`)).map((tool) => ({ upstream, tool })));
    return { shown, hidden, missing };
  }

  /**
   * One tool call. Unknown tools are a protocol error (as for any MCP
   * server); everything the policy or the mapping refuses is a tool error
   * with a code, and never reaches the upstream.
   */
  async callTool(name: string, args: Readonly<Record<string, unknown>>, progress?: ProgressSink): Promise<CallToolResult> {
    const mapping: ToolMapping | undefined = Object.hasOwn(this.#config.tools, name) ? this.#config.tools[name] : undefined;
    if (mapping === undefined) {
      this.#log({ msg: 'tool refused', tool: name, code: 'TOOL_NOT_MAPPED' });
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    let step;
    try {
      step = deriveStep(mapping, args);
    } catch (err) {
      if (!(err instanceof MappingError)) throw err;
      this.#log({ msg: 'tool refused', tool: name, code: err.code, argument: err.argument });
      return refusal(err.code, err.message, { argument: err.argument });
    }
    const upstream = this.#upstreams.get(mapping.upstream)!;
    let forwarded = false;
    let waiting: NodeJS.Timeout | null = null;
    let pending: PendingApproval | null = null;
    const tell = (n: number): void => {
      if (progress === undefined || pending === null) return;
      progress(n, `waiting for approval of request ${pending.request}: ${pending.link}`).catch(() => undefined);
    };
    try {
      const result = await guardTool(
        this.#gateway,
        {
          ...step,
          agent: this.#config.agent,
          on_behalf_of: this.#config.on_behalf_of,
          surface: this.#config.surface,
          ...(this.#config.incident === undefined ? {} : { incident: this.#config.incident }),
          ...(mapping.expected_consequence === undefined ? {} : { expected_consequence: mapping.expected_consequence }),
        },
        async () => {
          forwarded = true;
          return (await upstream.callTool({ name: mapping.tool ?? name, arguments: { ...args } }, undefined, {
            timeout: durationMs(this.#config.upstream_timeout),
          })) as CallToolResult;
        },
        {
          resume: true,
          waitTimeoutMs: durationMs(this.#config.wait),
          onPending: (p) => {
            pending = p;
            this.#log({ msg: 'waiting for approval', tool: name, request: p.request });
            let n = 0;
            tell(n);
            waiting = setInterval(() => tell(++n), this.#progressEveryMs);
          },
          judge: (r) => (r.isError === true ? 'failed' : 'succeeded'),
          classify: upstreamOutcome,
          describe: (err) => (err instanceof McpError ? `upstream error ${err.code}` : err instanceof Error ? err.name : typeof err),
          onReportError: (err) => this.#log({ msg: 'outcome not reported', tool: name, code: isCountersignClientError(err) ? err.code : 'UNKNOWN' }),
          // the agent's answer does not wait for the outcome's round trip; `settle` waits for it before exit
          background: (report) => {
            this.#reports.add(report);
            void report.finally(() => this.#reports.delete(report));
          },
        },
      );
      this.#log({ msg: 'tool called', tool: name, action: step.action, error: result.isError === true });
      return result;
    } catch (err) {
      if (forwarded) {
        this.#log({ msg: 'upstream failed', tool: name, outcome: upstreamOutcome(err) });
        return refusal('UPSTREAM_FAILED', err instanceof Error ? err.message : 'the upstream call failed', { outcome: upstreamOutcome(err) });
      }
      if (!(err instanceof CountersignClientError)) throw err;
      return this.#refused(name, err, pending);
    } finally {
      if (waiting !== null) clearInterval(waiting);
    }
  }

  #refused(tool: string, err: CountersignClientError, pending: PendingApproval | null): CallToolResult {
    const details = (err.details ?? {}) as Record<string, unknown>;
    this.#log({ msg: 'tool refused', tool, code: err.code, ...(typeof details['request'] === 'string' ? { request: details['request'] } : {}) });
    if (err.code === 'WAIT_TIMEOUT' && pending !== null) {
      return refusal('APPROVAL_PENDING', `request ${pending.request} still waits for approval (${pending.link}); call the tool again with the same arguments to keep waiting for it`, {
        request: pending.request,
        link: pending.link,
      });
    }
    if (err.code === 'NOT_GRANTED') {
      const reasons = Array.isArray(details['reasons']) ? details['reasons'] : [];
      const codes = [...reasons, ...(typeof details['refused'] === 'string' ? [details['refused']] : [])];
      return refusal('NOT_GRANTED', `${err.message}${codes.length === 0 ? '' : `: ${codes.join(', ')}`}`, details);
    }
    // the gateway said no with a code (GRANT_EXPIRED, BUNDLE_CHANGED, ...) or could not be reached: fail closed
    return refusal(err.code, err.message, details);
  }

  /** An MCP server speaking for this proxy: one per stdio session, one per stateless HTTP request. */
  server(): Server {
    const server = new Server({ name: PROXY_NAME, version: PROXY_VERSION }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await this.listTools() }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const token = request.params._meta?.progressToken;
      const sink: ProgressSink | undefined =
        token === undefined
          ? undefined
          : (progress, message) => extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, message } });
      return this.callTool(request.params.name, request.params.arguments ?? {}, sink);
    });
    return server;
  }
}
