import { Command, CommanderError, Option } from 'commander';
import { proxyConfigJsonSchema } from './mapping.js';
import { PROXY_VERSION, type ProxyLog } from './proxy.js';
import { loadProxyConfig, ProxyStartError, serveHttp, serveStdio, startProxy } from './run.js';

export const EXIT = { OK: 0, USAGE: 2, ENVIRONMENT: 3, INTERNAL: 70 } as const;

const HELP = `
Serves the agent the upstream MCP servers' mapped tools. Every call becomes
one step proposed to the Countersign gateway with the agent's token: allowed
steps run at once, steps that need approval wait for it (with MCP progress
notifications naming the request), denied or held steps never reach the
upstream. Tools the configuration does not map are hidden and refused.

Examples:
  # over stdio, as an MCP client (Claude Desktop, an agent framework) starts it
  COUNTERSIGN_TOKEN=cst_... countersign mcp --config countersign-mcp.yaml

  # over Streamable HTTP on loopback, at http://127.0.0.1:8090/mcp
  COUNTERSIGN_TOKEN=cst_... countersign mcp --config countersign-mcp.yaml --http 8090

  # check a configuration and print its JSON Schema for editors
  countersign mcp check --config countersign-mcp.yaml
  countersign mcp schema > countersign-mcp.schema.json

Environment:
  COUNTERSIGN_TOKEN           the agent's gateway token (required; never logged)
  COUNTERSIGN_SERVER          the gateway URL (else the configuration's \`server\`)
  COUNTERSIGN_MCP_HTTP_TOKEN  bearer token the agent must send with --http
                              (required when --host is not loopback)

Exit codes:
  0  the agent closed the session (stdio) or the server was stopped
  2  usage: bad flags or an invalid configuration
  3  environment: no token, the gateway or an upstream unreachable
  70 internal error (a bug)
Logs are JSON lines on stderr: never a token, an argument or a tool result.`;

function stderrLog(): ProxyLog {
  return (line) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
}

function fail(err: unknown): number {
  if (err instanceof ProxyStartError) {
    process.stderr.write(`error[${err.code}]: ${err.message}\n`);
    return err.code === 'CONFIG_INVALID' || err.code === 'USAGE' ? EXIT.USAGE : EXIT.ENVIRONMENT;
  }
  process.stderr.write(`error[INTERNAL]: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.INTERNAL;
}

function parsePort(text: string): { host?: string; port: number } {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || !(port >= 0 && port <= 65_535)) throw new ProxyStartError('USAGE', `--http takes [host:]port, not \`${text}\``);
  return { ...(match[1] === undefined ? {} : { host: match[1].replace(/^\[|\]$/g, '') }), port };
}

/** The `mcp` command tree; `name` is `mcp` under `countersign`, `countersign-mcp` alone. */
export function mcpProgram(name: string, exit: (code: number) => void): Command {
  const program = new Command(name)
    .description('an MCP proxy in front of upstream MCP servers: every tool call crosses only with a consumed grant')
    .version(PROXY_VERSION)
    .option('--config <file>', 'the proxy configuration (YAML; `schema` prints its JSON Schema); required')
    .addOption(new Option('--server <url>', 'the gateway URL').env('COUNTERSIGN_SERVER'))
    .option('--http <[host:]port>', 'serve Streamable HTTP at /mcp instead of stdio (host defaults to 127.0.0.1)')
    .addHelpText('after', HELP)
    // `check --config` is check's own: options before a subcommand are the server's
    .enablePositionalOptions()
    .exitOverride()
    .action(async (opts: { config?: string; server?: string; http?: string }) => {
      const log = stderrLog();
      try {
        if (opts.config === undefined) throw new ProxyStartError('USAGE', 'which configuration? pass --config <file> (see --help)');
        const config = loadProxyConfig(opts.config);
        const token = process.env['COUNTERSIGN_TOKEN'] ?? '';
        const running = await startProxy({ config, token, log, ...(opts.server === undefined ? {} : { server: opts.server }) });
        if (opts.http === undefined) {
          log({ msg: 'serving over stdio', tools: Object.keys(config.tools).length });
          await serveStdio(running.proxy);
          await running.close();
          exit(EXIT.OK);
          return;
        }
        const { host, port } = parsePort(opts.http);
        const httpToken = process.env['COUNTERSIGN_MCP_HTTP_TOKEN'];
        const served = await serveHttp(running.proxy, { host: host ?? '127.0.0.1', port, ...(httpToken === undefined ? {} : { token: httpToken }) });
        log({ msg: 'serving over Streamable HTTP', url: served.url, tools: Object.keys(config.tools).length });
        const stop = (): void => {
          void served.close().then(() => running.close()).then(() => exit(EXIT.OK));
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      } catch (err) {
        exit(fail(err));
      }
    });
  program
    .command('schema')
    .description("print the configuration's JSON Schema (draft 2020-12), for editor completion")
    .action(() => {
      process.stdout.write(`${JSON.stringify(proxyConfigJsonSchema(), null, 2)}\n`);
      exit(EXIT.OK);
    });
  program
    .command('check')
    .description('validate a configuration, connect to its upstreams and list which of their tools are mapped and which stay hidden')
    .requiredOption('--config <file>', 'the proxy configuration')
    .action(async (opts: { config: string }) => {
      try {
        const config = loadProxyConfig(opts.config);
        const running = await startProxy({ config, token: 'unused-by-check', server: config.server ?? 'http://127.0.0.1:8080' });
        try {
          const { shown, hidden, missing } = await running.proxy.inventory();
          for (const tool of shown) process.stdout.write(`mapped   ${tool.name} → ${config.tools[tool.name]!.action}\n`);
          for (const name of missing) process.stdout.write(`MISSING  ${name}: upstream \`${config.tools[name]!.upstream}\` offers no tool \`${config.tools[name]!.tool ?? name}\`\n`);
          for (const { upstream, tool } of hidden) process.stdout.write(`hidden   ${upstream}/${tool}: not mapped, the agent never sees it\n`);
          exit(missing.length === 0 ? EXIT.OK : EXIT.USAGE);
        } finally {
          await running.close();
        }
      } catch (err) {
        exit(fail(err));
      }
    });
  return program;
}

/** Run the command line; resolves with nothing, ending the process through `exit`. */
export async function runMcpCli(name: string, argv: readonly string[], exit: (code: number) => void = (code) => process.exit(code)): Promise<void> {
  const program = mcpProgram(name, exit);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
      return;
    }
    exit(fail(err));
  }
}
