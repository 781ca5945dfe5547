import type { Command } from 'commander';
import { register as approve } from './approve.js';
import { register as execute } from './execute.js';
import { register as halt } from './halt.js';
import { register as hold } from './hold.js';
import { register as override } from './override.js';
import { register as propose } from './propose.js';
import { register as requests } from './requests.js';
import { register as rollback } from './rollback.js';
import { register as status } from './status.js';

/** The commands that talk to a running gateway over HTTP, in the order of the workflow. */
export function registerClientCommands(program: Command): void {
  for (const register of [propose, requests, status, approve, execute, hold, override, rollback, halt]) register(program);
}
