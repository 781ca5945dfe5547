#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { EXIT, reportError } from './cli/exit.js';
import { registerCommands } from './cli/commands.js';

const program = new Command('countersign')
  .description('Runtime authority gateway for actions AI agents propose against production')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerCommands(program);

// `countersign ledger export | head`: a reader that closed early is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
    throw err;
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end through here with exit code 0
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    process.exitCode = reportError(err);
  }
}
