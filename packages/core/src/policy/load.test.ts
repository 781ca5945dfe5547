import { describe, expect, it } from 'vitest';
import { CountersignError } from '../errors.js';
import { formatPolicyIssue, loadPolicy, MAX_POLICY_BYTES, type PolicyIssue } from './load.js';

// Line numbers matter in these tests: the policy starts on line 1.
const POLICY = `version: 1
name: mini
environments: [dev, prod]
surfaces:
  - id: copilot-console
  - id: signed-cli
roles: [agent, operator, lead]
principals:
  - id: bot
    kind: agent
    roles: [agent]
  - id: olivia
    kind: human
    roles: [operator]
    reports_to: lena
  - id: lena
    kind: human
    roles: [lead]
risk_classes:
  - id: low
    effect: allow
  - id: high
    effect: require_approval
    approval:
      quorum:
        - roles: [lead]
      surfaces: [signed-cli]
actions:
  - id: queue.inspect
    class: read
    risk: { dev: low, prod: low }
  - id: queue.clear_shard
    class: destructive
    risk: { dev: low, prod: high }
holds:
  open_roles: [operator, lead]
  lift_roles: [lead]
release:
  approval:
    quorum:
      - roles: [lead]
    surfaces: [signed-cli]
    attestation: any
`;

function issuesOf(text: string, file = 'policy.yaml'): { code: string; issues: PolicyIssue[]; message: string } {
  try {
    loadPolicy(text, file);
  } catch (err) {
    if (!(err instanceof CountersignError)) throw err;
    return { code: err.code, issues: err.details?.['issues'] as PolicyIssue[], message: err.message };
  }
  throw new Error('expected the policy to be refused');
}

function edit(from: string, to: string): string {
  expect(POLICY).toContain(from);
  return POLICY.replace(from, to);
}

describe('loadPolicy', () => {
  it('returns the bundle with defaults applied, its id and the source', () => {
    const loaded = loadPolicy(POLICY, 'policy.yaml');
    expect(loaded.bundle.name).toBe('mini');
    expect(loaded.bundle.risk_classes[1]?.approval?.approval_ttl).toBe('30m');
    expect(loaded.bundle.halt).toEqual({ roles: [], environments: [] });
    expect(loaded.bundleId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(loaded.source.file).toBe('policy.yaml');
    expect(loaded.source.locate(['actions', 1, 'class'])).toEqual({ line: 33, column: 12 });
    // allowed but risky: a release quorum that accepts console sessions is a warning, placed in the source
    expect(loaded.warnings).toEqual([
      expect.objectContaining({ line: 43, column: 18, path: '/release/approval/attestation', code: 'RELEASE_GATEWAY_ATTESTATION', value: 'any' }),
    ]);
    // without it, release signatures are by key, and nobody eligible has one
    expect(issuesOf(edit('    attestation: any\n', '')).issues.map((i) => `${i.code} ${i.path}`)).toEqual(['APPROVER_KEY_MISSING /release/approval/quorum/0']);
  });

  it('places an unknown key at the key, with a suggestion', () => {
    const { code, issues } = issuesOf(edit('    reports_to: lena\n', '    reports_to: lena\n    rolez: [lead]\n'));
    expect(code).toBe('POLICY_INVALID');
    expect(issues).toEqual([
      {
        file: 'policy.yaml',
        line: 16,
        column: 5,
        path: '/principals/1/rolez',
        code: 'UNKNOWN_KEY',
        message: 'unknown key `rolez` (did you mean `roles`?)',
        value: 'rolez',
      },
    ]);
  });

  it('places a misspelt environment in a risk map at the key', () => {
    const { issues } = issuesOf(edit('risk: { dev: low, prod: high }', 'risk: { dev: low, Prod: high }'));
    expect(issues.map((i) => [i.line, i.column, i.code, i.path, i.message])).toEqual([
      [34, 23, 'UNKNOWN_ENVIRONMENT', '/actions/1/risk/Prod', 'environment `Prod` is not declared in `environments` (did you mean `prod`?)'],
    ]);
  });

  it('catches a trailing space in an environment', () => {
    const { issues } = issuesOf(edit('risk: { dev: low, prod: high }', 'risk: { dev: low, "prod ": high }'));
    expect(issues[0]).toMatchObject({ code: 'UNKNOWN_ENVIRONMENT', line: 34, column: 23, value: 'prod ' });
  });

  it('says wildcard when a scope holds one', () => {
    const { issues } = issuesOf(edit('  lift_roles: [lead]', '  lift_roles: ["lead*"]'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ code: 'WILDCARD', line: 37, column: 16, path: '/holds/lift_roles/0' });
    expect(issues[0]?.message).toContain('wildcard');
    expect(issuesOf(edit('risk: { dev: low, prod: low }', 'risk: { "*": low }')).issues[0]).toMatchObject({ code: 'WILDCARD', line: 31, column: 13 });
  });

  it('places semantic issues at the offending value', () => {
    const { issues } = issuesOf(edit('  open_roles: [operator, lead]', '  open_roles: [operator, leed]'));
    expect(issues).toEqual([
      {
        file: 'policy.yaml',
        line: 36,
        column: 26,
        path: '/holds/open_roles/1',
        code: 'UNKNOWN_ROLE',
        message: 'role `leed` is not declared in `roles` (did you mean `lead`?)',
        value: 'leed',
      },
    ]);
  });

  it('names a reports_to cycle at the first member', () => {
    const { issues } = issuesOf(edit('    roles: [lead]\nrisk', '    roles: [lead]\n    reports_to: olivia\nrisk'));
    expect(issues.map((i) => [i.line, i.column, i.code, i.message])).toEqual([
      [15, 17, 'REPORTS_TO_CYCLE', '`reports_to` forms a cycle: `olivia` -> `lena` -> `olivia`'],
    ]);
  });

  it('reports shape and meaning together when the shape problems are stray keys', () => {
    const text = edit('  open_roles: [operator, lead]', '  open_roles: [operator, leed]\n  opne_roles: [lead]').replace(
      'risk: { dev: low, prod: high }',
      'risk: { dev: low, Prod: high }',
    );
    const { issues, message } = issuesOf(text);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.code}`)).toEqual(['34:23 UNKNOWN_ENVIRONMENT', '36:26 UNKNOWN_ROLE', '37:3 UNKNOWN_KEY']);
    expect(message).toBe(
      [
        'policy `policy.yaml` is invalid: 3 issues',
        '  policy.yaml:34:23: [UNKNOWN_ENVIRONMENT] environment `Prod` is not declared in `environments` (did you mean `prod`?)',
        '  policy.yaml:36:26: [UNKNOWN_ROLE] role `leed` is not declared in `roles` (did you mean `lead`?)',
        '  policy.yaml:37:3: [UNKNOWN_KEY] unknown key `opne_roles` (did you mean `open_roles`?)',
      ].join('\n'),
    );
  });

  it('reports an unknown key and a reports_to cycle together', () => {
    const text = edit('    roles: [lead]\nrisk', '    roles: [lead]\n    reports_to: olivia\n    rolez: [lead]\nrisk');
    expect(issuesOf(text).issues.map((i) => `${i.line}:${i.column} ${i.code}`)).toEqual(['15:17 REPORTS_TO_CYCLE', '20:5 UNKNOWN_KEY']);
  });

  it('reports a cycle beside a bad value, which is dropped so its default stands in', () => {
    const text = edit('    roles: [lead]\nrisk', '    roles: [lead]\n    reports_to: olivia\nrisk').replace('      surfaces: [signed-cli]\n', '      surfaces: [signed-cli]\n      grant_ttl: 5 minutes\n');
    expect(issuesOf(text).issues.map((i) => `${i.line}:${i.column} ${i.code}`)).toEqual(['15:17 REPORTS_TO_CYCLE', '29:18 INVALID_VALUE']);
  });

  it('keeps back what dropping a bad value could cause: a quorum left without people is not reported', () => {
    // lena's role is dropped with the bad one beside it, which would leave `high` with no lead
    const text = edit('    roles: [lead]\nrisk', '    roles: [lead, Lead]\n    reports_to: olivia\nrisk');
    const { issues } = issuesOf(text);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.code}`)).toEqual(['15:17 REPORTS_TO_CYCLE', '18:19 INVALID_VALUE']);
  });

  it('adds nothing when a required key is missing: the rules would run on a guess', () => {
    const text = edit('    roles: [lead]\nrisk', '    roles: [lead]\n    reports_to: olivia\nrisk').replace('    class: destructive\n', '');
    expect(issuesOf(text).issues.map((i) => i.code)).toEqual(['MISSING']);
  });

  it('reports every shape issue, missing keys at their parent', () => {
    const text = edit('    class: read\n', '').replace('version: 1', 'version: 2').replace('      quorum:\n        - roles: [lead]\n', '      quorum: lead\n');
    const { issues } = issuesOf(text);
    expect(issues.map((i) => `${i.line}:${i.column} ${i.code} ${i.path}`)).toEqual([
      '1:10 INVALID_VALUE /version',
      '25:15 INVALID_TYPE /risk_classes/1/approval/quorum',
      '28:5 MISSING /actions/0/class',
    ]);
    expect(issues[1]?.message).toBe('expected array, got string');
    expect(issues[2]?.message).toBe('missing required key `class`');
    expect(formatPolicyIssue(issues[0]!)).toBe('policy.yaml:1:10: [INVALID_VALUE] invalid input: expected 1 (value `2`)');
  });

  it('refuses duplicate keys as a parse error at the second key', () => {
    const { code, issues } = issuesOf(edit('name: mini\n', 'name: mini\nname: other\n'));
    expect(code).toBe('POLICY_PARSE_ERROR');
    expect(issues.map((i) => `${i.line}:${i.column} ${i.code}`)).toEqual(['3:1 DUPLICATE_KEY']);
  });

  it('refuses malformed YAML with a position', () => {
    const { code, issues } = issuesOf('version: 1\nenvironments: [dev, prod\n');
    expect(code).toBe('POLICY_PARSE_ERROR');
    expect(issues[0]?.code).toBe('YAML_SYNTAX');
    expect(issues[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('refuses anything but one mapping', () => {
    expect(issuesOf('').issues[0]).toMatchObject({ code: 'NOT_A_MAPPING', line: 1, column: 1 });
    expect(issuesOf('# only a comment\n').issues[0]?.code).toBe('NOT_A_MAPPING');
    expect(issuesOf('- version: 1\n').issues[0]?.code).toBe('NOT_A_MAPPING');
    expect(issuesOf('just text').issues[0]?.code).toBe('NOT_A_MAPPING');
    expect(issuesOf('a: 1\n---\nb: 2\n').issues[0]?.message).toBe('a policy is one YAML document, this file holds several');
    expect(issuesOf('version: !custom 1\n').issues[0]?.code).toBe('YAML_SYNTAX');
  });

  it('refuses an alias bomb before it expands', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
    ].join('\n');
    const { code, issues } = issuesOf(bomb);
    expect(code).toBe('POLICY_PARSE_ERROR');
    expect(issues[0]?.code).toBe('ALIAS_LIMIT');
  });

  it('accepts a few aliases, which stay the same bundle as written out', () => {
    const aliased = edit('  open_roles: [operator, lead]\n  lift_roles: [lead]', '  open_roles: &both [operator, lead]\n  lift_roles: [lead]').replace(
      'roles: [agent, operator, lead]',
      'roles: [agent, operator, lead]\nx-unused: 1',
    );
    expect(issuesOf(aliased).issues.map((i) => i.code)).toEqual(['UNKNOWN_KEY']);
    const reused = POLICY.replace('    roles: [lead]\nrisk', '    roles: &leads [lead]\nrisk').replace('        - roles: [lead]', '        - roles: *leads');
    expect(loadPolicy(reused, 'p.yaml').bundleId).toBe(loadPolicy(POLICY, 'p.yaml').bundleId);
  });

  it('refuses a policy over the size limit without parsing it', () => {
    const huge = `${POLICY}# ${'x'.repeat(MAX_POLICY_BYTES)}\n`;
    const { code, issues } = issuesOf(huge);
    expect(code).toBe('POLICY_PARSE_ERROR');
    expect(issues.map((i) => i.code)).toEqual(['TOO_LARGE']);
    // multi-byte characters count as bytes, not characters
    const wide = `${POLICY}# ${'é'.repeat(MAX_POLICY_BYTES / 2)}\n`;
    expect(wide.length).toBeLessThan(MAX_POLICY_BYTES);
    expect(issuesOf(wide).issues[0]?.code).toBe('TOO_LARGE');
  });

  it('keeps values on one line and short in messages', () => {
    const { issues } = issuesOf(edit('name: mini', `name: "bad\\nname${'x'.repeat(200)}"`));
    const value = issues[0]?.value ?? '';
    expect(value).not.toContain('\n');
    expect(value.length).toBeLessThanOrEqual(80);
  });

  it('caps the number of issues listed', () => {
    const many = edit('roles: [agent, operator, lead]', `roles: [agent, operator, lead, ${Array.from({ length: 300 }, (_, i) => `Bad${i}`).join(', ')}]`);
    const { issues, message } = issuesOf(many);
    expect(issues).toHaveLength(100);
    expect(message.split('\n')[0]).toBe('policy `policy.yaml` is invalid: 300 issues, the first 100 shown');
  });
});
