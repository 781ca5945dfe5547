import type { Command } from 'commander';
import { register as decide } from './decide.js';
import { register as keys } from './keys.js';
import { register as ledger } from './ledger.js';
import { register as policy } from './policy.js';
import { register as serve } from './serve.js';

/**
 * Every command lives in its own file under cli/ and exports `register(program)`.
 * This is the one place that wires them up; order here is the order in --help.
 */
export function registerCommands(program: Command): void {
  for (const register of [serve, policy, decide, ledger, keys]) register(program);
}
