import {
  formatPolicyIssue,
  type CountersignError,
  isCountersignError,
  policyJsonSchema,
  type PolicyBundle,
  type PolicyIssue,
} from '@countersign/core';
import type { Command } from 'commander';
import { GatewayError } from '../errors.js';
import { readPolicyFile } from '../policy-file.js';
import { EXIT, reportError } from './exit.js';
import { exitCodesHelp, USAGE_INPUT } from './help.js';
import { registerPolicyDiff } from './policy-diff.js';
import { registerPolicyRelease } from './policy-release.js';
import { registerPolicyTest } from './policy-test.js';

export function register(program: Command): void {
  const policy = program
    .command('policy')
    .description('check, test, diff and export policy bundles; release one: propose, status, approve, shadow-report')
    .addHelpText(
      'after',
      `
A policy bundle is one YAML file: environments, principals, surfaces, risk
classes, action contracts, override rules, holds, rollback and halt authority.
Its id is the SHA-256 of its canonical JSON, so reformatting never changes it.
Nobody changes the bundle in force alone: a candidate is proposed with its
golden cases (propose), its signers read the replay diff (status) and sign
with their own keys (approve); the signature completing the release quorum
activates it on every replica.
Each subcommand's --help says what its exit codes mean for it.
${exitCodesHelp({
  ok: 'success: the policy is valid, every golden case passed, nothing changes',
  negative: 'a negative answer: the policy is invalid, a golden case failed, a decision would change, a release is refused or not active yet',
  usage: USAGE_INPUT,
  environment: 'environment: the gateway or store is unreachable, a key is unusable',
})}

Examples:
  $ countersign policy check examples/payments/policy.yaml
  $ countersign policy schema > countersign.schema.json
  $ countersign policy test examples/payments/policy.yaml examples/payments/golden --coverage
  $ countersign policy diff examples/payments/policy.yaml candidate.yaml --db cs/ledger.db
  $ countersign policy propose candidate.yaml --golden examples/payments/golden
  $ countersign policy status RELEASE_ID
  $ countersign policy approve RELEASE_ID --key cs/keys/fatima-2025.key --policy cs/policy.yaml --candidate candidate.yaml
`,
    );

  policy
    .command('check')
    .description('validate a policy bundle and print its id')
    .argument('<policy>', 'path to the policy YAML file')
    .option('--json', 'print the result as JSON on stdout (issues included)')
    .addHelpText(
      'after',
      `
Checks the shape (unknown keys, types, wildcards), then the meaning:
undeclared roles, principals, environments, surfaces, risk classes and actions,
duplicate ids, shared keys, cycles in reports_to, durations over their limits,
approval classes without a quorum, agents holding approver roles, prerequisites
that could never run, target patterns that do not compile or may backtrack,
and quorums no one in the roster could ever fill: risk classes, actions,
override signers, and the release quorum (declared or the default: two humans
signing with roster keys). Every issue is reported, each as
file:line:col: [CODE] message.

Warnings do not fail the check: a release quorum that accepts console
sessions (release.approval.attestation: any) is printed as
warning: file:line:col: [RELEASE_GATEWAY_ATTESTATION] ...

Exit status: 0 when the policy is valid, 1 when it is not.
${exitCodesHelp({
  ok: 'the policy is valid; prints "ok <bundle id>" and a summary',
  negative: 'a negative answer: the policy is invalid or not a readable YAML mapping; issues on stderr',
  usage: 'usage or input: the file cannot be read, or bad flags',
})}

Examples:
  $ countersign policy check examples/payments/policy.yaml
  ok sha256:6c7d7d6b…
  payments: 3 environments, 8 principals (7 human, 1 agent, 0 service), ...
  $ countersign policy check --json policy.yaml | jq '.error.issues[].code'
`,
    )
    .action((file: string, options: { json?: boolean }) => {
      process.exitCode = check(file, options.json === true);
    });

  policy
    .command('schema')
    .description('print the JSON Schema of policy bundles')
    .addHelpText(
      'after',
      `
The schema is generated from the same definition that validates bundles.
Commit it and point editors at it from the first line of a policy:
  # yaml-language-server: $schema=../../countersign.schema.json
The schema checks shape only; run \`countersign policy check\` for references.
${exitCodesHelp({ ok: 'the schema is printed', usage: 'usage: bad flags' })}

Examples:
  $ countersign policy schema > countersign.schema.json
  $ countersign policy schema | jq '.properties | keys'
`,
    )
    .action(() => {
      process.stdout.write(`${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
    });

  registerPolicyTest(policy);
  registerPolicyDiff(policy);
  registerPolicyRelease(policy);
}


function check(file: string, json: boolean): number {
  try {
    const loaded = readPolicyFile(file);
    const summary = summarise(loaded.bundle);
    if (json) {
      process.stdout.write(`${JSON.stringify({ ok: true, file, bundle_id: loaded.bundleId, summary, warnings: loaded.warnings }, null, 2)}\n`);
    } else {
      // allowed but risky: said out loud, and the check still succeeds
      for (const warning of loaded.warnings) process.stderr.write(`warning: ${formatPolicyIssue(warning)}\n`);
      process.stdout.write(`ok ${loaded.bundleId}\n${loaded.bundle.name}: ${describe(summary)}\n`);
    }
    return EXIT.OK;
  } catch (err) {
    const policyError = isCountersignError(err) && (err.code === 'POLICY_INVALID' || err.code === 'POLICY_PARSE_ERROR');
    if (json) {
      const code = isCountersignError(err) || err instanceof GatewayError ? err.code : 'INTERNAL';
      const issues = policyError ? issuesOf(err) : [];
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      process.stdout.write(`${JSON.stringify({ ok: false, file, error: { code, message, issues } }, null, 2)}\n`);
      if (policyError) return EXIT.NEGATIVE;
      return err instanceof GatewayError ? EXIT.USAGE : EXIT.INTERNAL;
    }
    if (!policyError) return reportError(err);
    const issues = issuesOf(err);
    for (const issue of issues) process.stderr.write(`${formatPolicyIssue(issue)}\n`);
    const first = err.message.split('\n')[0] ?? err.message;
    process.stderr.write(`error[${err.code}]: ${first}\n`);
    // a policy that is not valid YAML is as much a "no" as one with an undeclared role
    return EXIT.NEGATIVE;
  }
}

function issuesOf(err: CountersignError): PolicyIssue[] {
  const issues = err.details?.['issues'];
  return Array.isArray(issues) ? (issues as PolicyIssue[]) : [];
}

interface Summary {
  environments: number;
  principals: { human: number; agent: number; service: number };
  surfaces: number;
  roles: number;
  risk_classes: number;
  actions: { read: number; write: number; destructive: number };
  overrides: boolean;
  override_budgets: number;
  trip_gates: number;
}

function summarise(bundle: PolicyBundle): Summary {
  const principals = { human: 0, agent: 0, service: 0 };
  for (const p of bundle.principals) principals[p.kind] += 1;
  const actions = { read: 0, write: 0, destructive: 0 };
  for (const a of bundle.actions) actions[a.class] += 1;
  return {
    environments: bundle.environments.length,
    principals,
    surfaces: bundle.surfaces.length,
    roles: bundle.roles.length,
    risk_classes: bundle.risk_classes.length,
    actions,
    overrides: bundle.overrides !== undefined,
    override_budgets: bundle.overrides?.budgets.length ?? 0,
    trip_gates: bundle.holds.trip_gates.length,
  };
}

function describe(s: Summary): string {
  const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
  const people = s.principals.human + s.principals.agent + s.principals.service;
  return [
    count(s.environments, 'environment'),
    `${count(people, 'principal')} (${s.principals.human} human, ${s.principals.agent} agent, ${s.principals.service} service)`,
    count(s.surfaces, 'surface'),
    count(s.roles, 'role'),
    count(s.risk_classes, 'risk class', 'risk classes'),
    `${count(s.actions.read + s.actions.write + s.actions.destructive, 'action')} (${s.actions.read} read, ${s.actions.write} write, ${s.actions.destructive} destructive)`,
    s.overrides ? `overrides with ${count(s.override_budgets, 'budget')}` : 'no overrides',
    count(s.trip_gates, 'trip gate'),
  ].join(', ');
}

