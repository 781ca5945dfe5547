import { writeFile } from 'node:fs/promises';
import { compilePolicy, formatDifference, goldenCoverage, loadPolicy, runGoldenCase, type Decision } from '@countersign/core';
import type { Command } from 'commander';
import { GatewayError } from '../errors.js';
import { parseCaseFile, type LocatedCase } from '../golden/cases.js';
import { collectCaseFiles, readInputFile } from '../golden/files.js';
import { junitXml, type JunitCase } from '../golden/junit.js';
import { EXIT } from './exit.js';
import { exitCodesHelp } from './help.js';

interface TestOptions {
  junit?: string;
  coverage?: boolean;
}

function list(items: readonly string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

/** `countersign policy test`: attached to the `policy` command group by cli/policy.ts. */
export function registerPolicyTest(policy: Command): void {
  policy
    .command('test')
    .description('run golden cases against a policy bundle: the gate a bundle passes before activation')
    .argument('<policy>', 'policy bundle (YAML)')
    .argument('<cases...>', 'case files (YAML) or directories searched recursively for *.yaml and *.yml')
    .option('--junit <file>', 'also write a JUnit XML report to this file')
    .option('--coverage', 'list contracts, action@environment pairs and rule ids that no case exercised')
    .addHelpText(
      'after',
      `
Prints one line per failing case with the differences, then a closing line
\`N passed, N failed\`.
${exitCodesHelp({
  ok: 'every case passed',
  negative: 'a negative answer: a case failed, or the policy is invalid',
  usage: 'usage or input: bad flags, an unreadable or malformed case file, no cases found, --junit cannot be written',
})}

Examples:
  countersign policy test examples/payments/policy.yaml examples/payments/golden --coverage
  countersign policy test cs/policy.yaml examples/payments/golden --junit golden.xml`,
    )
    .action(async (policyPath: string, casePaths: string[], opts: TestOptions) => {
      const { bundle, bundleId } = loadPolicy(await readInputFile(policyPath, 'policy'), policyPath);
      const compiled = compilePolicy(bundle, bundleId);

      const cases: LocatedCase[] = [];
      for (const file of await collectCaseFiles(casePaths)) cases.push(...parseCaseFile(await readInputFile(file, 'case file'), file));
      if (cases.length === 0) throw new GatewayError('USAGE', `no golden cases found in ${casePaths.map((p) => `\`${p}\``).join(', ')}`);

      const decisions: Decision[] = [];
      const report: JunitCase[] = [];
      let failed = 0;
      for (const located of cases) {
        const started = process.hrtime.bigint();
        const result = runGoldenCase(compiled, located.case);
        const timeMs = Number(process.hrtime.bigint() - started) / 1e6;
        decisions.push(...result.decisions);
        const failures = result.differences.map(formatDifference);
        if (!result.passed) {
          failed++;
          process.stdout.write(`FAIL ${located.file}:${located.line} ${JSON.stringify(located.case.name)}: ${failures.join('; ')}\n`);
        }
        report.push({ name: located.case.name, classname: `${compiled.bundle.name}.golden`, file: located.file, line: located.line, failures, timeMs });
      }

      if (opts.coverage) {
        const coverage = goldenCoverage(compiled, decisions);
        process.stdout.write(
          [
            `coverage: ${compiled.actions.size - coverage.contracts.length} of ${compiled.actions.size} contracts, ${compiled.ruleIds.length - coverage.rules.length} of ${compiled.ruleIds.length} rules exercised`,
            `  contracts not exercised: ${list(coverage.contracts)}`,
            `  action@environment not exercised: ${list(coverage.environments)}`,
            `  rules not exercised: ${list(coverage.rules)}`,
          ].join('\n') + '\n',
        );
      }
      if (opts.junit !== undefined) {
        try {
          await writeFile(opts.junit, junitXml(`${compiled.bundle.name} golden cases (${bundleId})`, report));
        } catch {
          throw new GatewayError('USAGE', `JUnit report \`${opts.junit}\` cannot be written`, { path: opts.junit });
        }
      }
      process.stdout.write(`${cases.length - failed} passed, ${failed} failed\n`);
      process.exitCode = failed === 0 ? EXIT.OK : EXIT.NEGATIVE;
    });
}
