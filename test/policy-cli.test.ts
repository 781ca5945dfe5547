/**
 * End to end: the built `countersign policy` commands on real files, the
 * example policy against its schema and its key fixtures. Needs `npm run build`
 * first (`npm test` does it).
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy, PolicyBundle } from '@countersign/core';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'packages/gateway/dist/cli.js');
const EXAMPLE = 'examples/payments/policy.yaml';
const FIXTURES = 'test/fixtures/policies';

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `file:line:col` of the first occurrence of `needle` in a fixture, found in the text itself. */
function where(file: string, needle: string, offset = 0): string {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const at = text.indexOf(needle);
  expect(at, `${needle} in ${file}`).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, at + offset).split('\n');
  return `${file}:${before.length}:${(before[before.length - 1]?.length ?? 0) + 1}`;
}

function lineColumn(text: string, needle: string): string {
  const at = text.indexOf(needle);
  expect(at, needle).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${(before[before.length - 1]?.length ?? 0) + 1}`;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before these tests`);
});

describe('countersign policy check', () => {
  it('accepts the example policy and prints its id and a summary', () => {
    const { status, stdout, stderr } = run('policy', 'check', EXAMPLE);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const [first, second] = stdout.trimEnd().split('\n');
    const id = loadPolicy(readFileSync(join(ROOT, EXAMPLE), 'utf8'), EXAMPLE).bundleId;
    expect(first).toBe(`ok ${id}`);
    expect(second).toBe(
      'payments: 3 environments, 8 principals (7 human, 1 agent, 0 service), 4 surfaces, 6 roles, 4 risk classes, 9 actions (4 read, 4 write, 1 destructive), overrides with 1 budget, 4 trip gates',
    );
  });

  it.each([
    ['unknown-key.yaml', 'rollback_requried', 0, 'UNKNOWN_KEY', 'unknown key `rollback_requried` (did you mean `rollback_required`?)'],
    ['undeclared-role.yaml', 'oncall-operater', 0, 'UNKNOWN_ROLE', 'role `oncall-operater` is not declared in `roles` (did you mean `oncall-operator`?)'],
    ['reports-to-cycle.yaml', 'reports_to: lena', 12, 'REPORTS_TO_CYCLE', '`reports_to` forms a cycle: `olivia` -> `lena` -> `priya` -> `olivia`'],
    ['wildcard.yaml', '"*"', 0, 'WILDCARD', 'wildcard in `*`: scopes are explicit lists, name each id'],
    ['prod-capitalised.yaml', 'Prod: critical', 0, 'UNKNOWN_ENVIRONMENT', 'environment `Prod` is not declared in `environments` (did you mean `prod`?)'],
  ])('refuses %s at the offending line and column', (fixture, needle, offset, code, message) => {
    const file = `${FIXTURES}/${fixture}`;
    const { status, stdout, stderr } = run('policy', 'check', file);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`${where(file, needle, offset)}: [${code}] ${message}`);
    expect(lines[lines.length - 1]).toBe(`error[POLICY_INVALID]: policy \`${file}\` is invalid: 1 issue`);
  });

  it('prints every issue of a policy with several', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-policy-'));
    const file = join(dir, 'many.yaml');
    const text = readFileSync(join(ROOT, EXAMPLE), 'utf8')
      .replace('lift_roles: [incident-lead, payments-owner]', 'lift_roles: [incident-lead, payments-owner, cfo]')
      .replace('    within: 30m', '    within: 8d')
      .replace('    reports_to: priya\n', '    reports_to: lena\n');
    writeFileSync(file, text);
    const { status, stderr } = run('policy', 'check', file);
    expect(status).toBe(1);
    const codes = stderr.trimEnd().split('\n').map((line) => /\[([A-Z_]+)\]/.exec(line)?.[1]);
    expect(codes).toEqual(['REPORTS_TO_CYCLE', 'DURATION_EXCEEDED', 'UNKNOWN_ROLE', 'POLICY_INVALID']);
  });

  it('names a risk class or override rule nobody in the roster could ever satisfy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-policy-'));
    const file = join(dir, 'unreachable.yaml');
    // three incident leads for a critical step, in a roster of two; and the leads' keys gone, so nobody can sign by key
    const text = readFileSync(join(ROOT, EXAMPLE), 'utf8')
      .replace('        - roles: [incident-lead]\n          count: 1\n', '        - roles: [incident-lead]\n          count: 3\n')
      .replace(/ {4}keys:\n {6}- id: (lena|leo)-2025\n {8}public_key: \S+\n/g, '');
    writeFileSync(file, text);
    const { status, stderr } = run('policy', 'check', file);
    expect(status).toBe(1);
    const lines = stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      // at the factor: the mapping that starts with its `roles`
      `${file}:${lineColumn(text, 'roles: [incident-lead]\n          count: 3')}: [QUORUM_UNREACHABLE] risk class \`critical\` can never be approved: 3 people holding \`incident-lead\` are needed, and the roster has 2`,
      expect.stringMatching(/: \[APPROVER_KEY_MISSING\] no override can ever be signed: 1 person holding `incident-lead` and signing with a roster key is needed, and none of the 2 who hold it has a key$/),
      `error[POLICY_INVALID]: policy \`${file}\` is invalid: 2 issues`,
    ]);
  });

  it('names a release nobody could ever complete: the default rules with a keyless roster, a declared quorum left empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-policy-'));
    const keyless = join(dir, 'keyless.yaml');
    // no keys anywhere and no `release` section: the default release (two humans with keys) can never be signed
    const text = readFileSync(join(ROOT, EXAMPLE), 'utf8')
      .replace(/ {4}keys:\n {6}- id: \w+-2025\n {8}public_key: \S+\n/g, '')
      .replace(/\n# Overrides are leases[\s\S]*?\n# Kill switch/, '\n# Kill switch')
      .replace(/attestation: key/g, 'attestation: any');
    writeFileSync(keyless, text);
    const refused = run('policy', 'check', keyless);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/: \[APPROVER_KEY_MISSING\] no release can ever be activated under the default release rules \(two humans signing with roster keys, .*\): 2 people holding .* and signing with a roster key are needed, and none of the 7 who hold it has a key; declare `release` or change the roster$/),
      `error[POLICY_INVALID]: policy \`${keyless}\` is invalid: 1 issue`,
    ]);

    // a declared release with its quorum left out: every signature would be ROLE_NOT_ELIGIBLE
    const empty = join(dir, 'empty-release.yaml');
    writeFileSync(empty, `${readFileSync(join(ROOT, EXAMPLE), 'utf8')}\nrelease:\n  approval:\n    surfaces: [signed-cli]\n`);
    const emptied = run('policy', 'check', empty);
    expect(emptied.status).toBe(1);
    expect(emptied.stderr).toContain('[EMPTY_QUORUM] the release quorum is empty');

    // an agent holding a release role
    const agentRole = join(dir, 'agent-release.yaml');
    writeFileSync(agentRole, `${readFileSync(join(ROOT, EXAMPLE), 'utf8')}\nrelease:\n  approval:\n    quorum:\n      - roles: [payments-owner, agent]\n        count: 2\n    surfaces: [signed-cli]\n`);
    expect(run('policy', 'check', agentRole).stderr).toContain('[AGENT_HOLDS_AUTHORITY] agent `payments-copilot` holds role `agent`, used for the release quorum');
  });

  it('warns, and still succeeds, when a release quorum accepts console sessions (attestation any)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-policy-'));
    const file = join(dir, 'console-release.yaml');
    const release = '\nrelease:\n  approval:\n    quorum:\n      - roles: [payments-owner, finance-delegate, sre]\n        count: 2\n    surfaces: [approver-console]\n';
    writeFileSync(file, `${readFileSync(join(ROOT, EXAMPLE), 'utf8')}${release}    attestation: any\n`);
    const warned = run('policy', 'check', file);
    expect(warned.status).toBe(0);
    expect(warned.stdout).toMatch(/^ok sha256:/);
    expect(warned.stderr).toMatch(/^warning: .*console-release\.yaml:\d+:\d+: \[RELEASE_GATEWAY_ATTESTATION\] the release quorum accepts gateway-attested console approvals/);
    expect(JSON.parse(run('policy', 'check', '--json', file).stdout).warnings.map((w: { code: string }) => w.code)).toEqual(['RELEASE_GATEWAY_ATTESTATION']);
    // left out, it is keys: no warning
    writeFileSync(file, `${readFileSync(join(ROOT, EXAMPLE), 'utf8')}${release}`);
    expect(run('policy', 'check', file)).toMatchObject({ status: 0, stderr: '' });
  });

  it('reports meaning despite shape where it safely can: an unknown key and a reports_to cycle together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-policy-'));
    const file = join(dir, 'both.yaml');
    const text = readFileSync(join(ROOT, EXAMPLE), 'utf8')
      .replace('    reports_to: priya\n', '    reports_to: olivia\n')
      .replace('  open_roles: [', '  open_roels: [incident-lead]\n  open_roles: [');
    writeFileSync(file, text);
    const { status, stderr } = run('policy', 'check', file);
    expect(status).toBe(1);
    const codes = stderr.trimEnd().split('\n').map((line) => /\[([A-Z_]+)\]/.exec(line)?.[1]);
    expect(codes).toEqual(['REPORTS_TO_CYCLE', 'UNKNOWN_KEY', 'POLICY_INVALID']);
  });

  it('treats a file that is not YAML as invalid (exit 1) with a position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-policy-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'version: 1\nname: a\nname: b\n');
    const { status, stderr } = run('policy', 'check', file);
    expect(status).toBe(1);
    expect(stderr).toContain(`${file}:3:1: [DUPLICATE_KEY]`);
    expect(stderr).toContain('error[POLICY_PARSE_ERROR]');
  });

  it('exits 2 with FILE_NOT_FOUND when the file cannot be read', () => {
    const { status, stdout, stderr } = run('policy', 'check', 'no/such/policy.yaml');
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe('error[FILE_NOT_FOUND]: cannot read policy `no/such/policy.yaml`: no such file\n');
    expect(run('policy', 'check', 'examples').stderr).toContain('error[FILE_NOT_FOUND]');
  });

  it('gives machine-readable output with --json', () => {
    const good = run('policy', 'check', '--json', EXAMPLE);
    expect(good.status).toBe(0);
    const ok = JSON.parse(good.stdout) as { ok: boolean; bundle_id: string; summary: { actions: Record<string, number> } };
    expect(ok.ok).toBe(true);
    expect(ok.bundle_id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ok.summary.actions).toEqual({ read: 4, write: 4, destructive: 1 });

    const file = `${FIXTURES}/prod-capitalised.yaml`;
    const bad = run('policy', 'check', '--json', file);
    expect(bad.status).toBe(1);
    const refused = JSON.parse(bad.stdout) as { ok: boolean; error: { code: string; issues: Record<string, unknown>[] } };
    expect(refused.ok).toBe(false);
    expect(refused.error.code).toBe('POLICY_INVALID');
    const [line, column] = where(file, 'Prod: critical').split(':').slice(1).map(Number);
    expect(refused.error.issues).toEqual([
      {
        file,
        line,
        column,
        path: expect.stringMatching(/^\/actions\/\d+\/risk\/Prod$/),
        code: 'UNKNOWN_ENVIRONMENT',
        message: 'environment `Prod` is not declared in `environments` (did you mean `prod`?)',
        value: 'Prod',
      },
    ]);

    const missing = run('policy', 'check', '--json', 'nope.yaml');
    expect(missing.status).toBe(2);
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toBe('FILE_NOT_FOUND');
  });

  it('documents itself', () => {
    const { status, stdout } = run('policy', 'check', '--help');
    expect(status).toBe(0);
    expect(stdout).toContain('Exit status:');
    expect(stdout).toContain('countersign policy check examples/payments/policy.yaml');
  });
});

describe('countersign policy schema', () => {
  const schemaOf = (): JsonSchema => JSON.parse(run('policy', 'schema').stdout) as JsonSchema;

  it('prints a JSON Schema that closes every object', () => {
    const schema = schemaOf();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const open: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      else if (node !== null && typeof node === 'object') {
        const n = node as JsonSchema;
        if (n.type === 'object' && n.properties !== undefined && n.additionalProperties !== false) open.push(at);
        for (const [k, v] of Object.entries(n)) if (k !== 'default') walk(v, `${at}/${k}`);
      }
    };
    walk(schema, '');
    expect(open).toEqual([]);
  });

  it('is the committed countersign.schema.json', () => {
    expect(run('policy', 'schema').stdout).toBe(readFileSync(join(ROOT, 'countersign.schema.json'), 'utf8'));
  });

  it('accepts the example policy and refuses an unknown key, a wildcard and a misspelt environment', () => {
    const schema = schemaOf();
    const example = parse(readFileSync(join(ROOT, EXAMPLE), 'utf8')) as unknown;
    expect(check(schema, example)).toEqual([]);
    for (const [fixture, expected] of [
      ['unknown-key.yaml', /additional property `rollback_requried`/],
      ['wildcard.yaml', /\/overrides\/signer_b_roles\/1: does not match/],
      ['prod-capitalised.yaml', /property name `Prod`/],
    ] as const) {
      const errors = check(schema, parse(readFileSync(join(ROOT, FIXTURES, fixture), 'utf8')));
      expect(errors.join('\n')).toMatch(expected);
    }
  });
});

describe('the example policy', () => {
  const text = readFileSync(join(ROOT, EXAMPLE), 'utf8');

  it('points editors at the committed schema on its first line', () => {
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../../countersign.schema.json');
  });

  it('passes the zod schema as parsed YAML', () => {
    expect(PolicyBundle.safeParse(parse(text)).success).toBe(true);
  });

  it('holds public keys whose private halves are the fixtures under test/fixtures/keys', () => {
    const { bundle } = loadPolicy(text, EXAMPLE);
    const humans = bundle.principals.filter((p) => p.kind === 'human');
    expect(humans.length).toBeGreaterThanOrEqual(7);
    for (const principal of humans) {
      const [key] = principal.keys;
      expect(key, principal.id).toBeDefined();
      const pem = readFileSync(join(ROOT, 'test/fixtures/keys', `${principal.id}.key`), 'utf8');
      const jwk = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
      expect(`ed25519:${jwk.x}`, principal.id).toBe(key?.public_key);
    }
  });

  it('models the incident: the two bundled steps are separate contracts with different risks in prod', () => {
    const { bundle } = loadPolicy(text, EXAMPLE);
    const action = (id: string) => bundle.actions.find((a) => a.id === id);
    expect(action('workers.restart_pool')).toMatchObject({ class: 'write', rollback_required: true, risk: { prod: 'high' } });
    expect(action('queue.clear_shard')).toMatchObject({
      class: 'destructive',
      risk: { prod: 'critical' },
      requires_prior: [{ action: 'queue.snapshot_shard', within: '30m' }],
      override: { eligible: false },
    });
    for (const id of ['queue.inspect', 'metrics.query', 'deploy.status', 'runbook.fetch']) {
      expect(action(id)).toMatchObject({ class: 'read', risk: { dev: 'low', staging: 'low', prod: 'low' } });
    }
    expect(action('comms.send_status_update')?.params?.['channel']?.allow).toEqual(['statuspage', 'email-customers']);
    // the finance delegate, signer B, is outside the operators' reporting chain
    expect(bundle.principals.find((p) => p.id === 'fatima')?.reports_to).toBeUndefined();
  });
});

// A JSON Schema checker for the keywords `policy schema` emits; enough to show
// the published schema accepts what `policy check` accepts (ajv is not a dependency).
interface JsonSchema {
  $schema?: string;
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

function check(schema: JsonSchema, value: unknown, at = ''): string[] {
  const errors: string[] = [];
  const type = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  const fits =
    schema.type === undefined ||
    schema.type === type ||
    (schema.type === 'integer' && Number.isInteger(value)) ||
    (schema.type === 'number' && typeof value === 'number');
  if (!fits) return [`${at}: expected ${schema.type}, got ${type}`];
  if (schema.const !== undefined && value !== schema.const) errors.push(`${at}: expected ${String(schema.const)}`);
  if (schema.enum !== undefined && !schema.enum.includes(value)) errors.push(`${at}: not one of the enum`);
  if (schema.anyOf !== undefined && !schema.anyOf.some((s) => check(s, value, at).length === 0)) errors.push(`${at}: matches no alternative`);
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: too short`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${at}: too long`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above maximum`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: too few items`);
    if (schema.items !== undefined) value.forEach((v, i) => errors.push(...check(schema.items as JsonSchema, v, `${at}/${i}`)));
  }
  if (type === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) errors.push(`${at}: missing \`${key}\``);
    for (const [key, v] of Object.entries(object)) {
      if (schema.propertyNames !== undefined && check(schema.propertyNames, key).length > 0) errors.push(`${at}: property name \`${key}\` is not allowed`);
      const sub = schema.properties?.[key];
      if (sub !== undefined) errors.push(...check(sub, v, `${at}/${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: additional property \`${key}\``);
      else if (typeof schema.additionalProperties === 'object') errors.push(...check(schema.additionalProperties, v, `${at}/${key}`));
    }
  }
  return errors;
}
