import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DEMO_TOKENS, GOVERNED_EXPECTED, INCIDENT, PERMISSIVE_EXPECTED, playGoverned, playPermissive } from '../demo/incident.js';
import { Sandbox } from '../demo/sandbox.js';
import { formatSideBySide, Timeline, type DemoReport, type RunReport } from '../demo/timeline.js';
import { GatewayError } from '../errors.js';
import { EXIT } from './exit.js';

interface DemoFlags {
  json?: boolean;
  keep?: string;
  permissive?: string;
  governed?: string;
}

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

/** The example policies, looked up from the installed package upwards: the repository's examples/ or a copy next to the package. */
function examplePolicy(name: string): string | null {
  let dir = dirname(CLI);
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'examples', name, 'policy.yaml');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

function policyPath(given: string | undefined, name: string): string {
  const path = given ?? examplePolicy(name);
  if (path === null) {
    throw new GatewayError('FILE_NOT_FOUND', `the example policy \`examples/${name}/policy.yaml\` is not next to this install: pass it with \`--${name === 'payments' ? 'governed' : 'permissive'} FILE\``);
  }
  if (!existsSync(path)) throw new GatewayError('FILE_NOT_FOUND', `no policy at \`${path}\``);
  return resolve(path);
}

/** Where the governed run's copy of its policy goes: every postmortem is judged against it. */
function governedCopy(dir: string): string {
  return join(dir, 'governed.policy.yaml');
}

async function runOnce(run: RunReport['run'], policy: string, dir: string, play: (s: Sandbox, t: Timeline) => Promise<void>): Promise<RunReport> {
  const sandbox = await Sandbox.start({ policyPath: policy, dir, name: run, cli: CLI, tokens: DEMO_TOKENS });
  const timeline = new Timeline();
  try {
    await play(sandbox, timeline);
  } finally {
    await sandbox.stop();
  }
  return {
    run,
    policy,
    bundle_name: sandbox.bundleName,
    bundle_id: sandbox.bundleId,
    ledger: sandbox.db,
    incident: INCIDENT,
    timeline: timeline.list,
    next: [
      `countersign trace ${INCIDENT} --db ${sandbox.db}`,
      `countersign postmortem --incident ${INCIDENT} --db ${sandbox.db} --policy ${governedCopy(dir)}`,
      `countersign ledger verify --db ${sandbox.db} --key-file ${sandbox.publicKeyFile} --origin ${sandbox.origin}`,
    ],
  };
}

/** Moments whose answer is not the one the run must show. */
function surprises(report: RunReport, expected: Readonly<Partial<Record<string, string>>>): string[] {
  const found: string[] = [];
  for (const [moment, code] of Object.entries(expected)) {
    const got = report.timeline.find((h) => h.moment === moment)?.code ?? 'nothing';
    if (got !== code) found.push(`${report.run} ${moment}: expected \`${code}\`, got \`${got}\``);
  }
  return found;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the reference incident twice against live local gateways over HTTP: permissive, then governed, side by side')
    .option('--json', 'print both timelines as JSON')
    .option('--keep <dir>', 'keep the ledgers, policies and keys of both runs in this directory (default: removed at exit)')
    .option('--permissive <file>', 'the permissive bundle (default: examples/permissive/policy.yaml)')
    .option('--governed <file>', 'the governed bundle (default: examples/payments/policy.yaml)')
    .addHelpText(
      'after',
      `
Each run starts its own \`countersign serve\` on a free loopback port with a
fresh SQLite ledger and gateway key, issues the tokens the script needs, and
plays the payments incident of 09:12-09:26 through the HTTP API with the
client SDK. The roster keys are throwaway keys generated for the run and
swapped into a copy of the policy; no fixture key is needed.

Under the permissive bundle the incident unfolds as in the report: both
steps granted to the console that asked, the shard cleared with no snapshot.
Under the payments bundle each failure is stopped with its code:
O1_IDENTITY_COLLISION for the same-console override, PREREQUISITE_MISSING
for the clear before a snapshot, HOLD_ACTIVE while the hold stands; the
restart waits for an independent key through signed-cli, and diagnostics
keep running during the hold.

Examples:
  countersign demo
  countersign demo --keep demo-ledgers
  countersign demo --json | jq '.runs[1].timeline[] | [.moment, .code]'

Exit codes: 0 both runs showed what they must, 1 a control did not hold,
2 bad flags, a missing policy, or a gateway that did not start.`,
    )
    .action(async (flags: DemoFlags) => {
      const permissive = policyPath(flags.permissive, 'permissive');
      const governed = policyPath(flags.governed, 'payments');
      let dir: string;
      if (flags.keep !== undefined) {
        dir = resolve(flags.keep);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        for (const run of ['permissive', 'governed']) {
          if (existsSync(join(dir, `${run}.db`))) throw new GatewayError('FILE_EXISTS', `\`${join(dir, `${run}.db`)}\` exists: keep each demo in a fresh directory`);
        }
      } else {
        dir = mkdtempSync(join(tmpdir(), 'countersign-demo-'));
      }
      try {
        const runs = [await runOnce('permissive', permissive, dir, playPermissive), await runOnce('governed', governed, dir, playGoverned)];
        const report: DemoReport = { incident: INCIDENT, runs, kept: flags.keep === undefined ? null : dir };
        const problems = [...surprises(runs[0]!, PERMISSIVE_EXPECTED), ...surprises(runs[1]!, GOVERNED_EXPECTED)];
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...report, problems }, null, 2)}\n`);
        } else {
          process.stdout.write(`The reference incident ${INCIDENT}, twice, through live gateways\n\n${formatSideBySide(report)}\n`);
          if (report.kept !== null) {
            process.stdout.write('Read the authority chain and the classification of each run:\n');
            for (const run of runs) for (const line of run.next) process.stdout.write(`  ${line}\n`);
          } else {
            process.stdout.write(
              `The ledgers were temporary; rerun with \`--keep DIR\` to read them with \`countersign trace ${INCIDENT} --db DIR/governed.db\` ` +
                `and \`countersign postmortem --incident ${INCIDENT} --db DIR/permissive.db --policy DIR/governed.policy.yaml\`.\n`,
            );
          }
        }
        if (problems.length > 0) {
          for (const p of problems) process.stderr.write(`error[DEMO_FAILED]: ${p}\n`);
          process.exitCode = EXIT.NEGATIVE;
        }
      } finally {
        if (flags.keep === undefined) rmSync(dir, { recursive: true, force: true });
      }
    });
}
