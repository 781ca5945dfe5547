import type { Command } from 'commander';
import { registerPolicyTest } from './policy-test.js';

export function register(program: Command): void {
  const policy = program.command('policy').description('check, test and export policy bundles');
  registerPolicyTest(policy);
}
