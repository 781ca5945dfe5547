/* eslint-disable @typescript-eslint/no-explicit-any -- tests mutate policy inputs freely to build broken variants */
import { describe, expect, it } from 'vitest';
import { PolicyBundle, type PolicyBundleInput } from './schema.js';
import { didYouMean, policyWarnings, validatePolicy, type PolicyIssueCode } from './validate.js';

const KEY_A = `ed25519:${'A'.repeat(43)}`;
const KEY_B = `ed25519:${'B'.repeat(43)}`;
const KEY_C = `ed25519:${'C'.repeat(43)}`;

function base(): PolicyBundleInput {
  return {
    version: 1,
    name: 'mini',
    environments: ['dev', 'prod'],
    surfaces: [{ id: 'copilot-console' }, { id: 'signed-cli' }],
    roles: ['agent', 'operator', 'lead', 'owner'],
    principals: [
      { id: 'bot', kind: 'agent', roles: ['agent'] },
      { id: 'olivia', kind: 'human', roles: ['operator'], reports_to: 'lena', keys: [{ id: 'olivia-1', public_key: KEY_A }] },
      { id: 'lena', kind: 'human', roles: ['lead'], reports_to: 'priya', keys: [{ id: 'lena-1', public_key: KEY_B }] },
      { id: 'priya', kind: 'human', roles: ['owner'], keys: [{ id: 'priya-1', public_key: KEY_C }] },
    ],
    risk_classes: [
      { id: 'low', effect: 'allow' },
      {
        id: 'high',
        effect: 'require_approval',
        approval: { quorum: [{ roles: ['lead', 'owner'] }], surfaces: ['signed-cli'], approval_ttl: '15m', grant_ttl: '5m' },
      },
    ],
    actions: [
      { id: 'queue.snapshot_shard', class: 'write', risk: { dev: 'low', prod: 'low' } },
      {
        id: 'queue.clear_shard',
        class: 'destructive',
        risk: { dev: 'low', prod: 'high' },
        target_pattern: '^[a-z]+/shard-[0-9]+$',
        requires_prior: [{ action: 'queue.snapshot_shard', within: '30m' }],
        override: { max_duration: '30m' },
      },
    ],
    overrides: {
      signer_a_roles: ['lead'],
      signer_b_roles: ['owner'],
      surfaces: ['signed-cli'],
      reason_codes: ['CUSTOMER_IMPACT'],
      max_duration: { default: '4h', destructive: '1h' },
      budgets: [{ environment: 'prod', max: 2, window: '7d', extra_signer_roles: ['operator'] }],
    },
    holds: { trip_gates: [{ id: 'K1', description: 'evidence at risk' }], open_roles: ['operator', 'lead'], lift_roles: ['lead'] },
    rollback: { roles: ['operator'], environments: ['prod'] },
    halt: { roles: ['operator', 'lead'], environments: ['dev', 'prod'] },
  };
}

/** Issues of the base policy after `change`, as `CODE /json/pointer` strings. */
function issues(change: (p: any) => void): string[] {
  const input = structuredClone(base()) as any;
  change(input);
  return validatePolicy(PolicyBundle.parse(input)).map((i) => `${i.code} /${i.path.join('/')}`);
}

function only(change: (p: any) => void): { code: PolicyIssueCode; message: string } {
  const input = structuredClone(base()) as any;
  change(input);
  const found = validatePolicy(PolicyBundle.parse(input));
  expect(found).toHaveLength(1);
  return { code: found[0]!.code, message: found[0]!.message };
}

describe('validatePolicy', () => {
  it('accepts a consistent policy', () => {
    expect(validatePolicy(PolicyBundle.parse(base()))).toEqual([]);
  });

  it('reports a role that is not declared, wherever roles are listed', () => {
    expect(
      issues((p) => {
        p.principals[1].roles = ['operatr'];
        p.risk_classes[1].approval.quorum[0].roles = ['lead', 'ghost'];
        p.overrides.signer_a_roles = ['ghost'];
        p.overrides.signer_b_roles = ['ghost'];
        p.overrides.budgets[0].extra_signer_roles = ['ghost'];
        p.holds.open_roles = ['ghost'];
        p.holds.lift_roles = ['ghost'];
        p.rollback.roles = ['ghost'];
        p.halt.roles = ['ghost'];
        p.actions[1].approval = { quorum: [{ roles: ['ghost'] }] };
      }),
    ).toEqual([
      'UNKNOWN_ROLE /principals/1/roles/0',
      'UNKNOWN_ROLE /risk_classes/1/approval/quorum/0/roles/1',
      'UNKNOWN_ROLE /actions/1/approval/quorum/0/roles/0',
      'UNKNOWN_ROLE /overrides/signer_a_roles/0',
      'UNKNOWN_ROLE /overrides/signer_b_roles/0',
      'UNKNOWN_ROLE /overrides/budgets/0/extra_signer_roles/0',
      'UNKNOWN_ROLE /holds/open_roles/0',
      'UNKNOWN_ROLE /holds/lift_roles/0',
      'UNKNOWN_ROLE /rollback/roles/0',
      'UNKNOWN_ROLE /halt/roles/0',
    ]);
  });

  it('suggests the declared id a misspelling is closest to', () => {
    expect(only((p) => (p.holds.open_roles = ['operatr', 'lead'])).message).toBe('role `operatr` is not declared in `roles` (did you mean `operator`?)');
    expect(didYouMean('Prod', ['dev', 'prod'])).toBe(' (did you mean `prod`?)');
    expect(didYouMean('prod ', ['dev', 'prod'])).toBe(' (did you mean `prod`?)');
    expect(didYouMean('production', ['dev', 'prod'])).toBe('');
    expect(didYouMean('opne_roles', ['open_roles', 'lift_roles'])).toBe(' (did you mean `open_roles`?)');
    expect(didYouMean('rpod', ['dev', 'prod'])).toBe(' (did you mean `prod`?)');
    expect(didYouMean('dpro', ['dev', 'prod'])).toBe('');
  });

  it('reports undeclared principals, environments, surfaces, risk classes and actions', () => {
    expect(
      issues((p) => {
        p.principals[1].reports_to = 'nobody';
        p.actions[0].risk = { dev: 'low', qa: 'low', prod: 'medium' };
        p.actions[1].requires_prior[0].action = 'queue.snapshot';
        p.overrides.budgets[0].environment = 'production';
        p.overrides.surfaces = ['phone'];
        p.risk_classes[1].approval.surfaces = ['signed-cli', 'slack'];
        p.rollback.environments = ['staging'];
        p.halt.environments = ['dev', 'qa'];
      }),
    ).toEqual([
      'UNKNOWN_PRINCIPAL /principals/1/reports_to',
      'UNKNOWN_SURFACE /risk_classes/1/approval/surfaces/1',
      'UNKNOWN_ENVIRONMENT /actions/0/risk/qa',
      'UNKNOWN_RISK_CLASS /actions/0/risk/prod',
      'UNKNOWN_ACTION /actions/1/requires_prior/0/action',
      'UNKNOWN_SURFACE /overrides/surfaces/0',
      'UNKNOWN_ENVIRONMENT /overrides/budgets/0/environment',
      'UNKNOWN_ENVIRONMENT /rollback/environments/0',
      'UNKNOWN_ENVIRONMENT /halt/environments/1',
    ]);
  });

  it('marks an unknown environment in a risk map as an issue about the key', () => {
    const input = structuredClone(base()) as any;
    input.actions[0].risk = { dev: 'low', qa: 'low' };
    const [issue] = validatePolicy(PolicyBundle.parse(input));
    expect(issue).toMatchObject({ code: 'UNKNOWN_ENVIRONMENT', atKey: true, path: ['actions', 0, 'risk', 'qa'] });
  });

  it('refuses a prerequisite that could never have run before the step', () => {
    expect(only((p) => (p.actions[0].risk = { dev: 'low' }))).toEqual({
      code: 'PRIOR_UNAVAILABLE',
      message: 'action `queue.snapshot_shard` has no risk in `prod`, so `queue.clear_shard` could never run there',
    });
    expect(issues((p) => (p.actions[1].requires_prior[0].action = 'queue.clear_shard'))).toEqual(['PRIOR_UNAVAILABLE /actions/1/requires_prior/0/action']);
  });

  it('reports every duplicate id', () => {
    expect(
      issues((p) => {
        p.environments = ['dev', 'prod', 'dev'];
        p.roles.push('lead');
        p.surfaces.push({ id: 'signed-cli' });
        p.principals.push({ id: 'olivia', kind: 'human' });
        p.risk_classes.push({ id: 'low', effect: 'deny' });
        p.actions.push({ id: 'queue.clear_shard', class: 'read', risk: {} });
        p.holds.trip_gates.push({ id: 'K1', description: 'again' });
        p.overrides.reason_codes.push('CUSTOMER_IMPACT');
        p.overrides.budgets.push({ environment: 'prod', max: 1, window: '1d', extra_signer_roles: ['operator'] });
        p.principals[3].keys.push({ id: 'lena-1', public_key: `ed25519:${'D'.repeat(43)}` });
      }),
    ).toEqual([
      'DUPLICATE_ID /environments/2',
      'DUPLICATE_ID /roles/4',
      'DUPLICATE_ID /surfaces/2/id',
      'DUPLICATE_ID /principals/4/id',
      'DUPLICATE_ID /risk_classes/2/id',
      'DUPLICATE_ID /actions/2/id',
      'DUPLICATE_ID /holds/trip_gates/1/id',
      'DUPLICATE_ID /principals/3/keys/1/id',
      'DUPLICATE_ID /overrides/reason_codes/1',
      'DUPLICATE_ID /overrides/budgets/1/environment',
    ]);
  });

  it('refuses one public key held by two principals: they would be one authority', () => {
    const found = only((p) => (p.principals[3].keys[0].public_key = KEY_B));
    expect(found.code).toBe('SHARED_KEY');
    expect(found.message).toContain('`lena`');
  });

  it('names a reports_to cycle, once, starting from its first member', () => {
    const found = only((p) => (p.principals[3].reports_to = 'olivia'));
    expect(found).toEqual({ code: 'REPORTS_TO_CYCLE', message: '`reports_to` forms a cycle: `olivia` -> `lena` -> `priya` -> `olivia`' });
    expect(issues((p) => (p.principals[3].reports_to = 'olivia'))).toEqual(['REPORTS_TO_CYCLE /principals/1/reports_to']);
  });

  it('refuses a principal reporting to itself', () => {
    expect(only((p) => (p.principals[3].reports_to = 'priya'))).toEqual({ code: 'REPORTS_TO_CYCLE', message: 'principal `priya` reports to itself' });
  });

  it('does not take a chain into a cycle for the cycle itself', () => {
    // olivia -> lena -> priya <-> lena: olivia is outside the cycle
    expect(issues((p) => (p.principals[3].reports_to = 'lena'))).toEqual(['REPORTS_TO_CYCLE /principals/2/reports_to']);
  });

  it('enforces duration ceilings', () => {
    expect(
      issues((p) => {
        p.risk_classes[1].approval.approval_ttl = '25h';
        p.risk_classes[1].approval.grant_ttl = '2d';
        p.actions[1].requires_prior[0].within = '8d';
        p.overrides.max_duration = { default: '25h' };
      }),
    ).toEqual([
      'DURATION_EXCEEDED /risk_classes/1/approval/approval_ttl',
      'DURATION_EXCEEDED /risk_classes/1/approval/grant_ttl',
      'DURATION_EXCEEDED /actions/1/requires_prior/0/within',
      'DURATION_EXCEEDED /overrides/max_duration/default',
    ]);
    expect(issues((p) => (p.actions[1].requires_prior[0].within = '7d'))).toEqual([]);
    expect(issues((p) => (p.overrides.max_duration = { default: '24h' }))).toEqual([]);
  });

  it('keeps per-class and per-action override leases within the policy default and the class maximum', () => {
    expect(issues((p) => (p.overrides.max_duration = { default: '2h', write: '3h' }))).toEqual(['DURATION_EXCEEDED /overrides/max_duration/write']);
    // destructive is 1h in the base policy: an action may be tighter, never looser
    expect(only((p) => (p.actions[1].override.max_duration = '90m'))).toEqual({
      code: 'DURATION_EXCEEDED',
      message: 'override lease for `queue.clear_shard` exceeds the destructive maximum of 1h',
    });
    expect(issues((p) => (p.actions[1].override.max_duration = '1h'))).toEqual([]);
    // without an overrides section the 4h default still bounds an action's lease
    expect(
      issues((p) => {
        delete p.overrides;
        p.actions[1].override.max_duration = '5h';
      }),
    ).toEqual(['DURATION_EXCEEDED /actions/1/override/max_duration']);
  });

  it('refuses an approval class nobody could ever approve', () => {
    expect(issues((p) => (p.risk_classes[1].approval.quorum = []))).toEqual(['EMPTY_QUORUM /risk_classes/1/approval/quorum']);
    expect(issues((p) => delete p.risk_classes[1].approval)).toEqual(['EMPTY_QUORUM /risk_classes/1/effect']);
    expect(issues((p) => (p.actions[1].approval = { quorum: [] }))).toEqual(['EMPTY_QUORUM /actions/1/approval/quorum']);
    expect(issues((p) => (p.risk_classes[0].approval = { quorum: [] }))).toEqual([]);
  });

  describe('refuses a requirement no one in the roster could ever meet, naming it', () => {
    it('a risk class: a count above the people holding its roles, keys nobody eligible has, no surface', () => {
      expect(only((p) => (p.risk_classes[1].approval.quorum = [{ roles: ['lead', 'owner'], count: 3 }]))).toEqual({
        code: 'QUORUM_UNREACHABLE',
        message: 'risk class `high` can never be approved: 3 people holding `lead` or `owner` are needed, and the roster has 2',
      });
      expect(issues((p) => (p.risk_classes[1].approval.quorum = [{ roles: ['lead', 'owner'], count: 3 }]))).toEqual(['QUORUM_UNREACHABLE /risk_classes/1/approval/quorum/0']);
      expect(
        issues((p) => {
          p.risk_classes[1].approval.attestation = 'key';
          p.principals[2].keys = [];
          p.principals[3].keys = [];
        }),
      ).toEqual([
        'APPROVER_KEY_MISSING /risk_classes/1/approval/quorum/0',
        // the default release rules: two humans with keys, and only olivia has one left
        'APPROVER_KEY_MISSING /principals',
        'APPROVER_KEY_MISSING /overrides/signer_a_roles',
        'APPROVER_KEY_MISSING /overrides/signer_b_roles',
      ]);
      expect(issues((p) => (p.risk_classes[1].approval.surfaces = []))).toEqual(['NO_APPROVAL_SURFACE /risk_classes/1/approval/surfaces']);
      // together: `lead` and `lead|owner`, one lead and one owner, fine; two leads needed, not
      expect(issues((p) => (p.risk_classes[1].approval.quorum = [{ roles: ['lead'] }, { roles: ['lead', 'owner'] }]))).toEqual([]);
      expect(issues((p) => (p.risk_classes[1].approval.quorum = [{ roles: ['lead'] }, { roles: ['lead'] }]))).toEqual(['QUORUM_UNREACHABLE /risk_classes/1/approval/quorum']);
    });

    it('only humans approve: an agent holding the role does not count', () => {
      const found = issues((p) => {
        p.roles.push('sre');
        p.principals[0].roles = ['agent', 'sre'];
        p.risk_classes[1].approval.quorum = [{ roles: ['sre'] }];
      });
      expect(found).toEqual(['QUORUM_UNREACHABLE /risk_classes/1/approval/quorum/0', 'AGENT_HOLDS_AUTHORITY /principals/0/roles/1']);
    });

    it('an action whose own approval replaces its class', () => {
      expect(issues((p) => (p.actions[1].approval = { quorum: [{ roles: ['operator'], count: 2 }], surfaces: ['signed-cli'] }))).toEqual([
        'QUORUM_UNREACHABLE /actions/1/approval/quorum/0',
      ]);
    });

    it('override signers, always by key, two people; and the extra signer a spent budget demands', () => {
      expect(only((p) => (p.overrides.signer_b_roles = ['lead']))).toEqual({
        code: 'QUORUM_UNREACHABLE',
        message: 'no override can ever be signed: the factors together need 2 people, one person counting for one factor, and the roster cannot seat them',
      });
      expect(issues((p) => (p.overrides.signer_b_roles = ['lead']))).toEqual(['QUORUM_UNREACHABLE /overrides']);
      expect(issues((p) => (p.principals[3].keys = []))).toEqual(['APPROVER_KEY_MISSING /overrides/signer_b_roles']);
      expect(issues((p) => (p.overrides.surfaces = []))).toEqual(['NO_APPROVAL_SURFACE /overrides/surfaces']);
      // the extra signer must be a third person: priya is signer B already
      expect(only((p) => (p.overrides.budgets[0].extra_signer_roles = ['owner']))).toEqual({
        code: 'QUORUM_UNREACHABLE',
        message:
          'once the override budget for `prod` is spent, no override can be signed: the factors together need 3 people, one person counting for one factor, and the roster cannot seat them',
      });
    });

    it('a declared release quorum: omitted or empty, unreachable, without a key', () => {
      const release = (approval: Record<string, unknown>) => (p: any) => (p.release = { approval: { surfaces: ['signed-cli'], ...approval } });
      // omitted and empty alike: every signature would be ROLE_NOT_ELIGIBLE, and the rules frozen
      expect(issues(release({}))).toEqual(['EMPTY_QUORUM /release/approval/quorum']);
      expect(issues(release({ quorum: [] }))).toEqual(['EMPTY_QUORUM /release/approval/quorum']);
      expect(only(release({ quorum: [{ roles: ['lead'], count: 2 }] }))).toEqual({
        code: 'QUORUM_UNREACHABLE',
        message: 'no release can ever be activated: 2 people holding `lead` are needed, and the roster has 1',
      });
      // an omitted attestation is `key` for a release, whatever it is for approvals
      expect(issues((p) => (release({ quorum: [{ roles: ['lead'] }] })(p), (p.principals[2].keys = [])))).toEqual([
        'APPROVER_KEY_MISSING /release/approval/quorum/0',
        'APPROVER_KEY_MISSING /overrides/signer_a_roles',
      ]);
      expect(issues(release({ quorum: [{ roles: ['lead'] }], surfaces: [] }))).toEqual(['NO_APPROVAL_SURFACE /release/approval/surfaces']);
    });

    it('the default release rules, when the bundle declares none: two humans with keys, through a surface approvals arrive through', () => {
      const keyless = (p: any): void => {
        for (const principal of p.principals) principal.keys = [];
        delete p.overrides;
      };
      expect(only(keyless)).toEqual({
        code: 'APPROVER_KEY_MISSING',
        message:
          'no release can ever be activated under the default release rules (two humans signing with roster keys, through a surface approvals arrive through): 2 people holding `lead`, `operator` or `owner` and signing with a roster key are needed, and none of the 3 who hold it has a key; declare `release` or change the roster',
      });
      expect(issues((p) => (keyless(p), (p.principals[1].keys = [{ id: 'olivia-1', public_key: KEY_A }])))).toEqual(['APPROVER_KEY_MISSING /principals']);
      // nothing is ever approved or signed: no surface to sign a release through either
      expect(
        issues((p) => {
          p.risk_classes[1].effect = 'deny';
          delete p.overrides;
        }),
      ).toEqual(['NO_APPROVAL_SURFACE /surfaces']);
      // a declared section replaces the default, and is what is judged
      expect(issues((p) => (keyless(p), (p.release = { approval: { quorum: [{ roles: ['lead'] }], surfaces: ['signed-cli'], attestation: 'any' } })))).toEqual([]);
    });

    it('says nothing more where an undeclared role already explains it, nor about classes that need no approval', () => {
      expect(issues((p) => (p.risk_classes[1].approval.quorum = [{ roles: ['leed'], count: 2 }]))).toEqual(['UNKNOWN_ROLE /risk_classes/1/approval/quorum/0/roles/0']);
      expect(issues((p) => (p.risk_classes[0].approval = { quorum: [{ roles: ['lead'], count: 9 }] }))).toEqual([]);
    });
  });

  it('refuses an agent holding a role that carries authority (proposal is not authority)', () => {
    expect(issues((p) => (p.principals[0].roles = ['agent', 'lead']))).toEqual(['AGENT_HOLDS_AUTHORITY /principals/0/roles/1']);
    expect(issues((p) => (p.principals[0].roles = ['owner']))).toEqual(['AGENT_HOLDS_AUTHORITY /principals/0/roles/0']);
    expect(issues((p) => (p.principals[0].roles = ['operator']))).toEqual(['AGENT_HOLDS_AUTHORITY /principals/0/roles/0']);
    // the same role on a human is fine, and so is an agent-only role
    expect(issues((p) => (p.principals[1].roles = ['operator', 'lead']))).toEqual([]);
    expect(only((p) => (p.principals[0].roles = ['lead'])).message).toBe(
      'agent `bot` holds role `lead`, used for a quorum of risk class `high`: an agent may propose, never authorise',
    );
  });

  it('refuses an agent holding a release role: signing or proposing a release is authority', () => {
    const withRelease = (p: any): void => {
      p.roles.push('release-manager');
      p.release = { propose_roles: ['release-manager'], approval: { quorum: [{ roles: ['lead'] }, { roles: ['owner'] }], surfaces: ['signed-cli'] } };
    };
    expect(issues((p) => (withRelease(p), p.roles.push('auditor'), (p.release.approval.quorum[1].roles = ['owner', 'auditor']), (p.principals[0].roles = ['agent', 'auditor'])))).toEqual([
      'AGENT_HOLDS_AUTHORITY /principals/0/roles/1',
    ]);
    expect(only((p) => (withRelease(p), (p.principals[0].roles = ['release-manager']))).message).toBe(
      'agent `bot` holds role `release-manager`, used for proposing releases: an agent may propose, never authorise',
    );
  });

  it('warns, without failing, about a release quorum that accepts console sessions', () => {
    const release = (attestation?: string) => {
      const input = structuredClone(base()) as any;
      input.release = { approval: { quorum: [{ roles: ['lead'] }], surfaces: ['signed-cli'], ...(attestation === undefined ? {} : { attestation }) } };
      return PolicyBundle.parse(input);
    };
    expect(release().release?.approval.attestation).toBe('key');
    expect(policyWarnings(release())).toEqual([]);
    expect(validatePolicy(release('any'))).toEqual([]);
    expect(policyWarnings(release('any')).map((w) => `${w.code} /${w.path.join('/')}`)).toEqual(['RELEASE_GATEWAY_ATTESTATION /release/approval/attestation']);
  });

  it('refuses a target pattern that does not compile or can backtrack catastrophically', () => {
    expect(only((p) => (p.actions[1].target_pattern = '^[a-z+$')).code).toBe('BAD_PATTERN');
    expect(only((p) => (p.actions[1].target_pattern = '^(a+)+$')).message).toContain('backtrack');
    expect(only((p) => (p.actions[1].target_pattern = '^(\\w*)*$')).code).toBe('BAD_PATTERN');
    expect(issues((p) => (p.actions[1].target_pattern = '^[a-z0-9-]+/shard-[0-9]{1,4}$'))).toEqual([]);
    expect(issues((p) => (p.actions[1].target_pattern = '^(prod|staging)-[a-z]+$'))).toEqual([]);
  });

  it('reports every problem in one pass', () => {
    expect(
      issues((p) => {
        p.principals[1].roles = ['operator', 'ghost'];
        p.principals[3].reports_to = 'olivia';
        p.actions[1].target_pattern = '(';
      }),
    ).toHaveLength(3);
  });
});
