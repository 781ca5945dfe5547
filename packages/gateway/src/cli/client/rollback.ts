import type { CanonicalValue } from '@countersign/core';
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { fields, type Outcome } from './output.js';

interface RegisterFlags extends ConnectionFlags {
  readonly for: string;
  readonly action: string;
  readonly target: string;
  readonly params?: string;
}

function parseParams(json: string | undefined): Record<string, CanonicalValue> | undefined {
  if (json === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new GatewayError('USAGE', '`--params` must be a JSON object such as `{"release":"v41"}`');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new GatewayError('USAGE', '`--params` must be a JSON object such as `{"release":"v41"}`');
  // JSON.parse yields JSON values only; the gateway checks their bounds
  return value as Record<string, CanonicalValue>;
}

export function register(program: Command): void {
  const rollback = program
    .command('rollback')
    .description('register a rollback artifact for a step, or run one (rollback authority, no new quorum)')
    .addHelpText(
      'after',
      `
A step whose contract requires a rollback is not granted until an artifact is
registered for it; registering one may release the step's grant, which is
then printed. Running an artifact revokes the live override leases of its
scope.

Examples:
  countersign rollback register --for step-2 --action workers.rollback_pool --target payments-worker --params '{"release":"v41"}'
  countersign rollback run artifact-1
${EXIT_CODES_HELP}`,
    );

  connectionOptions(
    rollback
      .command('register')
      .description('register the rollback of a step: its own action, target and parameters, with its own digest')
      .requiredOption('--for <step>', 'step id the rollback reverses (as `propose` prints it)')
      .requiredOption('--action <id>', 'rollback action id, e.g. workers.rollback_pool')
      .requiredOption('--target <target>', 'target of the rollback')
      .option('--params <json>', 'parameters of the rollback as a JSON object'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the artifact is registered; 1 when refused (STEP_UNKNOWN, ROLLBACK_INVALID, ...).
${EXIT_CODES_HELP}

Examples:
  countersign rollback register --for step-2 --action workers.rollback_pool --target payments-worker --params '{"release":"v41"}'
  countersign rollback register --for step-2 --action workers.rollback_pool --target payments-worker --json | jq -r .artifact`,
    )
    .action(
      clientAction(async (opts: RegisterFlags): Promise<Outcome> => {
        const params = parseParams(opts.params);
        const answer = await connect(opts).registerRollback({ step: opts.for, action: opts.action, target: opts.target, ...(params ? { params } : {}) });
        return {
          data: answer,
          text: `registered rollback ${answer.artifact} for step ${opts.for}\n${fields([['digest', answer.digest], ['step grant', answer.grant]])}`,
          exit: EXIT.OK,
        };
      }),
    );

  connectionOptions(rollback.command('run').description('run a registered rollback artifact').argument('<artifact>', 'artifact id'))
    .addHelpText(
      'after',
      `
Exit status: 0 when the rollback was started; 1 when refused (ARTIFACT_UNKNOWN, ROLLBACK_NOT_READY, ROLE_NOT_ELIGIBLE, ...).
${EXIT_CODES_HELP}

Examples:
  countersign rollback run artifact-1
  countersign rollback run artifact-1 --json | jq -r .execution`,
    )
    .action(
      clientAction(async (artifact: string, opts: ConnectionFlags): Promise<Outcome> => {
        const answer = await connect(opts).rollback(artifact);
        return {
          data: answer,
          text: `started rollback ${artifact}\n${fields([['execution', answer.execution], ['revoked leases', answer.revoked_leases]])}`,
          exit: EXIT.OK,
        };
      }),
    );
}
