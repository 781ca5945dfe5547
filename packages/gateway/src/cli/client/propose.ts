import { parseProposal, type Proposal } from '@countersign/core';
import type { ProposalResult, StepResult } from '@countersign/client';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { GatewayError } from '../../errors.js';
import { readInputFile, readStdin } from '../../golden/files.js';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import type { Outcome } from './output.js';

/** A proposal file: JSON or YAML (JSON is YAML), validated here so a typo fails before it reaches the ledger. */
export async function readProposal(path: string): Promise<Proposal> {
  const source = path === '-' ? await readStdin('proposal') : await readInputFile(path, 'proposal');
  let raw: unknown;
  try {
    raw = parseYaml(source, { maxAliasCount: 100 }) as unknown;
  } catch {
    throw new GatewayError('USAGE', `proposal \`${path}\` is not valid JSON or YAML`, { path });
  }
  return parseProposal(raw);
}

function stepLines(step: StepResult, proposed: Proposal['steps'][number] | undefined): string {
  const head = proposed ? `${proposed.action}  ${proposed.environment}  ${proposed.target}` : step.step;
  const lines = [`step ${step.index}  ${head}`, `  decision  ${step.effect}${step.awaiting_rollback ? ' (awaiting a rollback artifact)' : ''}`];
  if (step.reasons.length > 0) lines.push(`  reasons   ${step.reasons.join(', ')}`);
  if (step.rule_ids.length > 0) lines.push(`  rules     ${step.rule_ids.join(', ')}`);
  lines.push(`  step id   ${step.step}`);
  if (step.digest !== null) lines.push(`  digest    ${step.digest}`);
  if (step.request !== null) lines.push(`  request   ${step.request}`);
  if (step.grant !== null) lines.push(`  grant     ${step.grant}`);
  return lines.join('\n');
}

/** Human form of a proposal's steps, shared with `status --proposal`. */
export function proposalText(result: ProposalResult, proposal?: Proposal): string {
  const blocks = result.steps.map((s) => stepLines(s, proposal?.steps[s.index]));
  return `proposal ${result.proposal}\n${blocks.join('\n')}\n`;
}

/** Every step granted outright: the only proposal a script may carry on with at once. */
export function proposalExit(result: ProposalResult): typeof EXIT.OK | typeof EXIT.NEGATIVE {
  return result.steps.length > 0 && result.steps.every((s) => s.effect === 'allow' && s.grant !== null) ? EXIT.OK : EXIT.NEGATIVE;
}

export function proposalNote(result: ProposalResult): string | undefined {
  const open = result.steps.filter((s) => s.effect === 'require_approval' && s.request !== null);
  if (open.length === 0) return undefined;
  return open.map((s) => `step ${s.index} waits for approval: countersign status ${s.request} --wait`).join('\n');
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('propose')
      .description('propose the steps of a plan to the gateway; each step is decided on its own')
      .argument('<file>', 'proposal (JSON or YAML: agent, on_behalf_of, surface, incident?, steps[]), or `-` for stdin'),
  )
    .addHelpText(
      'after',
      `
Prints each step's decision (allow, require_approval, deny, held), its reason
codes and rule ids, the request id of a step that needs approval, and the
grant (a compact JWS) of a step allowed outright. The surface recorded is the
token's, whatever the file says.

Exit status: 0 when every step is allowed and granted; 1 when any step needs
approval, waits for a rollback artifact, or is denied or held.
${EXIT_CODES_HELP}

Examples:
  countersign propose examples/payments/proposals/status-update.json
  COUNTERSIGN_TOKEN=$COUNTERSIGN_TOKEN_PAYMENTS_COPILOT_COPILOT_CONSOLE countersign propose examples/payments/proposals/status-update.json --json`,
    )
    .action(
      clientAction(async (file: string, opts: ConnectionFlags): Promise<Outcome> => {
        const proposal = await readProposal(file);
        const result = await connect(opts).propose(proposal);
        const note = proposalNote(result);
        return { data: result, text: proposalText(result, proposal), exit: proposalExit(result), ...(note ? { note } : {}) };
      }),
    );
}
