import type { Command } from 'commander';
import { registerClientCommands as client } from './client/register.js';
import { register as decide } from './decide.js';
import { register as demo } from './demo.js';
import { register as init } from './init.js';
import { register as keys } from './keys.js';
import { register as ledger } from './ledger.js';
import { register as mcp } from './mcp.js';
import { register as policy } from './policy.js';
import { register as postmortem } from './postmortem.js';
import { register as report } from './report.js';
import { register as serve } from './serve.js';
import { register as token } from './token.js';
import { register as trace } from './trace.js';

/**
 * Every command lives in its own file under cli/ and exports `register(program)`.
 * This is the one place that wires them up; order here is the order in --help.
 */
export function registerCommands(program: Command): void {
  for (const register of [init, serve, policy, decide, client, mcp, ledger, keys, token, trace, postmortem, report, demo]) register(program);
}
