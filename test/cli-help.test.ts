import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerCommands } from '../packages/gateway/src/cli/commands.js';

// README: "`--help` is part of every feature". Every command a user can reach
// ends its help with runnable examples and the exit codes it can return, so a
// command registered without them fails here rather than in a user's script.

/** `countersign mcp` hands its arguments to @countersign/mcp, whose help is its own. */
const DELEGATED = new Set(['countersign mcp']);

function build(): Command {
  // as cli.ts builds it, without parsing anything
  const program = new Command('countersign').exitOverride();
  registerCommands(program);
  return program;
}

function walk(command: Command, path: string, into: [string, Command][]): [string, Command][] {
  for (const sub of command.commands) {
    const name = `${path} ${sub.name()}`;
    if (DELEGATED.has(name)) continue;
    into.push([name, sub]);
    walk(sub, name, into);
  }
  return into;
}

/**
 * Commands whose help lives in files other changes of issue 16 own right now;
 * each entry goes when its file gains both sections (the last test fails
 * until it does, so this list cannot go stale).
 */
const PENDING = new Map<string, string>([]);

/** What `--help` prints: commander's text plus every addHelpText 'before' and 'after'. */
function fullHelp(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s), getOutHelpWidth: () => 100 });
  command.outputHelp();
  return text;
}

/** What is missing from a command's help; empty when it has both sections and an example of itself. */
function missing(name: string, help: string): string[] {
  const gaps: string[] = [];
  if (!/^Examples:$/m.test(help)) gaps.push('an `Examples:` section');
  if (!/^Exit codes:/m.test(help)) gaps.push('an `Exit codes:` section');
  // an example runs this command (`$ ` and VAR=value prefixes allowed), not only another one
  const invocation = new RegExp(`^\\s+(\\$ )?(\\S+=\\S+\\s+)*${name}(\\s|$)`);
  const examples = help.slice(Math.max(0, help.indexOf('Examples:'))).split('\n');
  if (!examples.some((line) => invocation.test(line))) gaps.push(`an example running \`${name}\``);
  return gaps;
}

const commands = walk(build(), 'countersign', []);
const checked = commands.filter(([name]) => !PENDING.has(name));

describe('countersign --help', () => {
  it('reaches every registered command', () => {
    const names = commands.map(([name]) => name);
    // a few from each family, so an empty walk cannot pass
    for (const name of ['countersign init', 'countersign ledger verify', 'countersign policy propose', 'countersign approve', 'countersign hold lift']) {
      expect(names).toContain(name);
    }
    expect(names).not.toContain('countersign mcp');
  });

  it.each(checked)('%s ends with Examples and Exit codes', (name, command) => {
    expect(missing(name, fullHelp(command)), `${name} --help lacks these`).toEqual([]);
  });

  it.each([...PENDING])('%s is still pending (%s)', (name) => {
    const command = commands.find(([n]) => n === name)?.[1];
    expect(command, `${name} is no longer registered: remove it from PENDING`).toBeDefined();
    expect(missing(name, fullHelp(command!)), `${name} --help is complete now: remove it from PENDING`).not.toEqual([]);
  });
});
