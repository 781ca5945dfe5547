import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// End to end: the built CLI (`npm run build` first), the shipped example policy and golden set.
const CLI = join(import.meta.dirname, '..', 'packages', 'gateway', 'dist', 'cli.js');
const ROOT = join(import.meta.dirname, '..');
const POLICY = join(ROOT, 'examples', 'payments', 'policy.yaml');
const GOLDEN = join(ROOT, 'examples', 'payments', 'golden');

const tmp = mkdtempSync(join(tmpdir(), 'countersign-golden-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function countersign(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

describe('countersign policy test', () => {
  it('passes the shipped golden set against the example policy', () => {
    const r = countersign('policy', 'test', POLICY, GOLDEN);
    expect(r.stderr).toBe('');
    expect(lastLine(r.stdout)).toMatch(/^\d+ passed, 0 failed$/);
    expect(Number(lastLine(r.stdout).split(' ')[0])).toBeGreaterThanOrEqual(20);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.code).toBe(0);
  });

  it('fails a deliberately broken copy of the policy with a readable difference', () => {
    // restart's prod risk lowered from high to low: the incident's first step would run unapproved
    const original = readFileSync(POLICY, 'utf8');
    const broken = original.replace('risk: { dev: low, staging: medium, prod: high }', 'risk: { dev: low, staging: medium, prod: low }');
    expect(broken).not.toBe(original);
    const brokenPath = join(tmp, 'broken-policy.yaml');
    writeFileSync(brokenPath, broken);

    const r = countersign('policy', 'test', brokenPath, GOLDEN);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    const failures = lines.filter((l) => l.startsWith('FAIL '));
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.join('\n')).toContain(
      '"restart in prod needs an independent key through another surface": step 1 workers.restart_pool@prod: effect expected "require_approval", got "allow"; step 1 workers.restart_pool@prod: risk expected "high", got "low"',
    );
    expect(failures.join('\n')).toMatch(/FAIL .*approval\.yaml:\d+ /);
    expect(lastLine(r.stdout)).toMatch(new RegExp(`^\\d+ passed, ${failures.length} failed$`));
  });

  it('writes JUnit XML with one testcase per case and the differences as failures', () => {
    const original = readFileSync(POLICY, 'utf8');
    const brokenPath = join(tmp, 'broken-clear.yaml');
    writeFileSync(brokenPath, original.replace('within: 30m', 'within: 60m'));
    const junit = join(tmp, 'report.xml');
    const r = countersign('policy', 'test', brokenPath, join(GOLDEN, 'prerequisites.yaml'), '--junit', junit);
    expect(r.code).toBe(1);
    // a 60-minute window lets the 40-minute-old snapshot through, and changes the cited rule id
    expect(lastLine(r.stdout)).toMatch(/^\d+ passed, 3 failed$/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    expect(xml).toMatch(/<testsuites name="payments golden cases \(sha256:[0-9a-f]{64}\)" tests="\d+" failures="3"/);
    expect(xml.match(/<testcase /g)).toHaveLength(Number(/^(\d+) passed/.exec(lastLine(r.stdout))?.[1]) + 3);
    expect(xml).toContain('<testcase name="queue clear is denied with a snapshot 40 minutes earlier"');
    expect(xml).toContain('<failure message="step 1 queue.clear_shard@prod: effect expected &quot;deny&quot;, got &quot;require_approval&quot;"');
  });

  it('lists what no case exercised with --coverage', () => {
    const r = countersign('policy', 'test', POLICY, join(GOLDEN, 'comms.yaml'), '--coverage');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^coverage: 1 of \d+ contracts, \d+ of \d+ rules exercised$/m);
    expect(r.stdout).toMatch(/^ {2}contracts not exercised: .*queue\.clear_shard/m);
    expect(r.stdout).toMatch(/^ {2}rules not exercised: .*prior:queue\.snapshot_shard<=30m/m);
    expect(r.stdout).toMatch(/^ {2}action@environment not exercised: .*workers\.restart_pool@prod/m);
    expect(lastLine(r.stdout)).toMatch(/^\d+ passed, 0 failed$/);
  });

  it('rejects a malformed case file with file, line and column, exit 2', () => {
    const bad = join(tmp, 'bad-case.yaml');
    writeFileSync(bad, ['- name: typo in expectations', '  when:', '    proposal: { agent: payments-copilot, on_behalf_of: olivia, surface: copilot-console, steps: [{ action: queue.inspect, environment: prod, target: x }] }', '  expect:', '    - { effect: allow, reason: [ALLOWED] }', ''].join('\n'));
    const r = countersign('policy', 'test', POLICY, bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error[GOLDEN_CASE_INVALID]');
    expect(r.stderr).toMatch(/bad-case\.yaml:5:7: .*reason/);
  });

  it('refuses to pass when no cases are found, and reports an invalid policy as exit 1', () => {
    const empty = mkdtempSync(join(tmp, 'empty-'));
    expect(countersign('policy', 'test', POLICY, empty).code).toBe(2);
    const invalid = join(tmp, 'invalid-policy.yaml');
    writeFileSync(invalid, readFileSync(POLICY, 'utf8').replace('environments: [dev, staging, prod]', 'environments: [dev, staging, prod]\nbogus_key: true'));
    const r = countersign('policy', 'test', invalid, GOLDEN);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bogus_key');
  });
});
