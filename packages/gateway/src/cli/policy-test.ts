import type { Command } from 'commander';

/** `countersign policy test`: attached to the `policy` command group by cli/policy.ts. */
export function registerPolicyTest(policy: Command): void {
  void policy;
}
