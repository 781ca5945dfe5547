import type { HaltScopeData } from '@countersign/core';
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { fields, ids, type Outcome } from './output.js';

/** `env:prod`, `incident:INC-7` or `all`; nothing else, so a typo never halts less than meant without saying so. */
export function parseHaltScope(scope: string): HaltScopeData {
  if (scope === 'all') return { kind: 'all' };
  const [kind, value] = [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1)];
  if (scope.includes(':') && value !== '') {
    if (kind === 'env') return { kind: 'environment', environment: value };
    if (kind === 'incident') return { kind: 'incident', incident: value };
  }
  throw new GatewayError('USAGE', `\`--scope\` must be \`env:NAME\`, \`incident:ID\` or \`all\`; got \`${scope}\``);
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('halt')
      .description('suspend every grant and override lease in a scope at once (halt authority, one key)')
      .requiredOption('--scope <scope>', '`env:NAME`, `incident:ID` or `all`')
      .requiredOption('--reason <text>', 'why, recorded with the halt'),
  )
    .addHelpText(
      'after',
      `
Stopping is the safe direction: one principal holding a halt role (halt.roles
in the policy) suspends everything in scope; no quorum is needed.

Exit status: 0 when the halt is in force; 1 when refused (ROLE_NOT_ELIGIBLE,
AGENT_CANNOT_HALT, ENVIRONMENT_NOT_ALLOWED, ...).
${EXIT_CODES_HELP}

Examples:
  countersign halt --scope env:prod --reason 'queue clear under way without snapshot'
  countersign halt --scope incident:INC-7 --reason 'rollback unverified' --json`,
    )
    .action(
      clientAction(async (opts: ConnectionFlags & { scope: string; reason: string }): Promise<Outcome> => {
        const scope = parseHaltScope(opts.scope);
        const answer = await connect(opts).halt({ scope, reason: opts.reason });
        return {
          data: answer,
          text: `halted ${opts.scope}: halt ${answer.halt}\n${fields([
            ['revoked grants', ids(answer.revoked_grants)],
            ['revoked leases', ids(answer.revoked_leases)],
          ])}`,
          exit: EXIT.OK,
        };
      }),
    );
}
