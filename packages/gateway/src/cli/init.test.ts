import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPolicyFile } from '../policy-file.js';
import { findExamplePolicy, tokenPlan, tokenVariable } from './init.js';

describe('tokenPlan', () => {
  it('gives each payments principal a token on the surface they work from', () => {
    const { bundle } = readPolicyFile(findExamplePolicy());
    const plan = tokenPlan(bundle).map((e) => `${e.principal}@${e.surface}`);
    expect(plan).toEqual([
      'payments-copilot@copilot-console',
      'olivia@copilot-console',
      'omar@copilot-console',
      ...['lena', 'leo', 'priya', 'fatima', 'sam'].flatMap((p) => [`${p}@approver-console`, `${p}@signed-cli`]),
    ]);
    // INVARIANT: no agent token on a surface approvals may arrive through
    const approval = new Set(bundle.risk_classes.flatMap((c) => c.approval?.surfaces ?? []));
    const agents = new Set(bundle.principals.filter((p) => p.kind === 'agent').map((p) => p.id));
    expect(tokenPlan(bundle).filter((e) => agents.has(e.principal) && approval.has(e.surface))).toEqual([]);
  });

  it('names variables as shells accept them', () => {
    expect(tokenVariable({ principal: 'payments-copilot', surface: 'copilot-console' })).toBe('COUNTERSIGN_TOKEN_PAYMENTS_COPILOT_COPILOT_CONSOLE');
    expect(tokenVariable({ principal: 'a.b_c', surface: 'x' })).toBe('COUNTERSIGN_TOKEN_A_B_C_X');
  });
});

describe('findExamplePolicy', () => {
  it('finds the nearest examples/payments/policy.yaml above a directory, and says so when there is none', () => {
    const root = mkdtempSync(join(tmpdir(), 'countersign-find-'));
    try {
      mkdirSync(join(root, 'examples', 'payments'), { recursive: true });
      writeFileSync(join(root, 'examples', 'payments', 'policy.yaml'), 'x');
      mkdirSync(join(root, 'a', 'b'), { recursive: true });
      expect(findExamplePolicy(join(root, 'a', 'b'))).toBe(join(root, 'examples', 'payments', 'policy.yaml'));
      rmSync(join(root, 'examples'), { recursive: true });
      expect(() => findExamplePolicy(join(root, 'a', 'b'))).toThrow(/cannot find the example policy/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
