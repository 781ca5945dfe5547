import {
  compilePolicy,
  CountersignError,
  decideProposal,
  EMPTY_DECISION_STATE,
  GoldenGiven,
  goldenState,
  loadPolicy,
  parseProposal,
  type DecisionState,
} from '@countersign/core';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { GatewayError } from '../errors.js';
import { readInputFile, readStdin } from '../golden/files.js';
import { EXIT } from './exit.js';
import { exitCodesHelp } from './help.js';

const StateFile = GoldenGiven.pick({ holds: true, executions: true });

/** `--now` as epoch ms; the wall clock when absent. */
export function parseNow(text: string | undefined): number {
  if (text === undefined) return Date.now();
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw new GatewayError('USAGE', `\`--now\` must be an ISO 8601 instant such as \`2026-05-15T09:16:00Z\`, got \`${text}\``);
  return ms;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CountersignError('PROPOSAL_INVALID', `${what} is not valid JSON`);
  }
}

async function readState(path: string | undefined, now: number): Promise<DecisionState> {
  if (path === undefined) return EMPTY_DECISION_STATE;
  let raw: unknown;
  try {
    raw = parseYaml(await readInputFile(path, 'state file'), { maxAliasCount: 100 }) as unknown;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('USAGE', `state file \`${path}\` is not valid YAML or JSON`);
  }
  const parsed = StateFile.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError('USAGE', `state file \`${path}\` field \`/${issue?.path.map(String).join('/') ?? ''}\` ${issue?.message ?? 'is invalid'}`);
  }
  return goldenState({ now: new Date(now).toISOString(), ...parsed.data }, now);
}

export function register(program: Command): void {
  program
    .command('decide')
    .description('decide each step of a proposal against a policy, offline: one JSON decision per step')
    .argument('<policy>', 'policy bundle (YAML)')
    .argument('<proposal>', 'proposal JSON file, or `-` to read it from stdin')
    .option('--now <iso>', 'decide at this instant instead of the current time, e.g. 2026-05-15T09:16:00Z')
    .option('--state <file>', 'YAML or JSON with `holds` and `executions`, as in a golden case `given`')
    .addHelpText(
      'after',
      `
Prints a JSON array of decisions, one per step, in step order. Each step is
decided on its own: a proposal of two steps gets two decisions.
${exitCodesHelp({
  ok: 'every step is allow',
  negative: 'at least one step is require_approval, deny or held; or the policy is invalid (its errors printed, as `policy check` does)',
  usage: 'usage or input: bad flags, an unreadable file, invalid policy syntax, an invalid proposal',
})}

Examples:
  countersign decide examples/payments/policy.yaml examples/payments/proposals/incident.json
  countersign decide examples/payments/policy.yaml examples/payments/proposals/incident.json --now 2026-05-15T09:16:00Z`,
    )
    .action(async (policyPath: string, proposalPath: string, opts: { now?: string; state?: string }) => {
      const now = parseNow(opts.now);
      const { bundle, bundleId } = loadPolicy(await readInputFile(policyPath, 'policy'), policyPath);
      const compiled = compilePolicy(bundle, bundleId);
      const text = proposalPath === '-' ? await readStdin('proposal') : await readInputFile(proposalPath, 'proposal');
      const proposal = parseProposal(parseJson(text, proposalPath === '-' ? 'proposal on stdin' : `proposal \`${proposalPath}\``));
      const state = await readState(opts.state, now);
      const decisions = decideProposal(compiled, proposal, state, now);
      process.stdout.write(`${JSON.stringify(decisions, null, 2)}\n`);
      process.exitCode = decisions.every((d) => d.effect === 'allow') ? EXIT.OK : EXIT.NEGATIVE;
    });
}
