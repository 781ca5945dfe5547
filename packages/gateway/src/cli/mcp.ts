import type { Command } from 'commander';

/**
 * `countersign mcp`: the MCP proxy of @countersign/mcp, under the one
 * command line. Its options, help and exit codes are the proxy's own
 * (`countersign mcp --help`); the package, and the MCP SDK with it, loads
 * only when this command runs.
 */
export function register(program: Command): void {
  program
    .command('mcp')
    .description('serve upstream MCP servers to an agent: every tool call crosses only with a consumed grant (see `countersign mcp --help`)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      const { runMcpCli } = await import('@countersign/mcp');
      // the proxy ends the process itself when it is done (an upstream child or socket may hold it open)
      await runMcpCli('countersign mcp', args, (code) => process.exit(code));
    });
}
