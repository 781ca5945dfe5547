import { parseGrantClaims, parseStep, type GrantClaims } from '@countersign/core';
import type { ExecutionOutcome, PresentedStep } from '@countersign/client';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { GatewayError } from '../../errors.js';
import { readInputFile, readStdin } from '../../golden/files.js';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { fields, type Outcome } from './output.js';

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const OUTCOMES: readonly ExecutionOutcome[] = ['succeeded', 'failed', 'ambiguous'];

/** The grant itself, a file holding it, or `-` for stdin. */
async function readGrant(source: string): Promise<string> {
  if (COMPACT_JWS.test(source)) return source;
  const content = (source === '-' ? await readStdin('grant') : await readInputFile(source, 'grant file')).trim();
  if (!COMPACT_JWS.test(content)) throw new GatewayError('USAGE', `${source === '-' ? 'stdin' : `\`${source}\``} does not hold a grant (a compact JWS)`);
  return content;
}

/**
 * The claims as the grant states them, for the operator to read. Not a
 * verification: the gateway verifies the signature and re-checks every claim
 * when it consumes the grant, and only a consumed grant may run.
 */
function statedClaims(grant: string): GrantClaims | null {
  try {
    const payload = grant.split('.')[1] ?? '';
    return parseGrantClaims(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    return null;
  }
}

async function readStep(path: string): Promise<PresentedStep> {
  let raw: unknown;
  try {
    raw = parseYaml(await readInputFile(path, 'step'), { maxAliasCount: 100 }) as unknown;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('USAGE', `step \`${path}\` is not valid JSON or YAML`, { path });
  }
  const { action, environment, target, params } = parseStep(raw);
  return { action, environment, target, params };
}

function claimsText(claims: GrantClaims): string {
  return fields([
    ['grant', claims.jti],
    ['step digest', claims.step_digest],
    ['environment', claims.environment],
    ['target', claims.target],
    ['bundle', claims.bundle_id],
    ['request', claims.request_id],
    ['lease', claims.lease_id ?? null],
    ['issued', new Date(claims.iat * 1_000).toISOString()],
    ['expires', new Date(claims.exp * 1_000).toISOString()],
  ]);
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('execute')
      .description('consume a grant at the gateway, once: run the step only if this succeeds')
      .argument('<grant>', 'the grant (compact JWS), a file holding it, or `-` for stdin')
      .option('--step <file>', 'the step as you will run it (JSON or YAML: action, environment, target, params); the gateway compares it with what was granted'),
  )
    .addHelpText(
      'after',
      `
The gateway re-checks the grant now (signature, expiry, holds, halts, bundle,
prerequisites) and marks it used atomically; a grant is consumed at most once.
Prints the execution id (report the outcome with \`countersign outcome\`) and
the grant's claims.

Exit status: 0 only when the grant was consumed: run the step then, and only
then. 1 when the gateway refused it (GRANT_USED, STEP_ALREADY_EXECUTED,
GRANT_EXPIRED, GRANT_REVOKED, HOLD_ACTIVE, HALT_ACTIVE, BUNDLE_CHANGED,
DIGEST_MISMATCH, PREREQUISITE_MISSING, STEP_UNKNOWN on stderr).
${EXIT_CODES_HELP}

Examples:
  countersign status REQUEST_ID --wait --grant | countersign execute -
  countersign execute "$GRANT" --json && ./restart-pool.sh`,
    )
    .action(
      clientAction(async (source: string, opts: ConnectionFlags & { step?: string }): Promise<Outcome> => {
        const grant = await readGrant(source);
        const step = opts.step === undefined ? undefined : await readStep(opts.step);
        const result = await connect(opts).execute(grant, step);
        const claims = statedClaims(grant);
        return {
          data: { ...result, claims },
          text: `consumed: execution ${result.execution}\n${claims ? claimsText(claims) : ''}`,
          exit: EXIT.OK,
          note: `report the outcome: countersign outcome ${result.execution} succeeded|failed|ambiguous`,
        };
      }),
    );

  connectionOptions(
    program
      .command('outcome')
      .description('report how an execution ended: succeeded, failed or ambiguous')
      .argument('<execution>', 'execution id, as `execute` prints it')
      .argument('<outcome>', OUTCOMES.join(' | '))
      .option('--detail <text>', 'what happened, recorded with the outcome'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the outcome was recorded; 1 when the gateway refused it
(EXECUTION_UNKNOWN, OUTCOME_ALREADY_REPORTED, NOT_EXECUTOR).
${EXIT_CODES_HELP}

Examples:
  countersign outcome EXECUTION_ID succeeded
  countersign outcome execution-4hq2 failed --detail 'pool did not come back'`,
    )
    .action(
      clientAction(async (execution: string, outcome: string, opts: ConnectionFlags & { detail?: string }): Promise<Outcome> => {
        if (!(OUTCOMES as readonly string[]).includes(outcome)) {
          throw new GatewayError('USAGE', `outcome must be ${OUTCOMES.map((o) => `\`${o}\``).join(', ')}; got \`${outcome}\``);
        }
        const result = await connect(opts).reportOutcome(execution, outcome as ExecutionOutcome, opts.detail);
        return { data: result, text: `recorded: execution ${result.execution} ${result.outcome}\n`, exit: EXIT.OK };
      }),
    );
}
