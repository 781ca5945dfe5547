import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalisePolicy, policyBundleId } from './bundle-id.js';
import { loadPolicy } from './load.js';
import { PolicyBundle, type PolicyBundleInput } from './schema.js';

const POLICY = `version: 1
name: mini
environments: [dev, prod]
surfaces:
  - id: copilot-console
  - id: signed-cli
roles: [agent, operator, lead, owner]
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
    roles: [lead, operator]
risk_classes:
  - id: low
    effect: allow
  - id: high
    effect: require_approval
    approval:
      quorum:
        - roles: [lead, owner]
        - roles: [operator]
      surfaces: [signed-cli, copilot-console]
actions:
  - id: queue.inspect
    class: read
    risk: { dev: low, prod: low }
  - id: comms.send_status_update
    class: write
    risk: { dev: low, prod: high }
    params:
      channel: { allow: [statuspage, email-customers] }
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

/** The same bundle, written differently: comments, flow vs block style, key order, set order, explicit defaults. */
const REWRITTEN = `# a comment changes nothing
name: mini
version: 1
roles:
  - owner
  - lead
  - operator
  - agent
environments: [prod, dev]
principals:
  - id: lena
    roles: [operator, lead, lead]
    kind: human
  - {id: bot, kind: agent, roles: [agent], keys: []}
  - id: olivia
    kind: human
    reports_to: lena
    roles: [operator]
surfaces: [{ id: signed-cli }, { id: copilot-console }]
actions:
  - id: comms.send_status_update
    risk: { prod: high, dev: low }
    class: write
    params:
      channel: { allow: [email-customers, statuspage, statuspage], type: string, required: false }
    requires_prior: []
  - { id: queue.inspect, class: read, risk: { prod: low, dev: low }, rollback_required: false }
risk_classes:
  - id: high
    effect: require_approval
    approval:
      approval_ttl: 30m
      surfaces: [copilot-console, signed-cli]
      quorum:
        - roles: [operator]
          count: 1
        - roles: [owner, lead]
  - { id: low, effect: allow }
holds: { lift_roles: [lead], open_roles: [lead, operator], trip_gates: [] }
release: { golden: { required: true }, approval: { attestation: any, approval_ttl: 30m, surfaces: [signed-cli, signed-cli], quorum: [{ roles: [lead], count: 1 }] } }
`;

const idOf = (text: string): string => loadPolicy(text, 'p.yaml').bundleId;

describe('policyBundleId', () => {
  it('is sha256 over the canonical JSON of the normalised bundle', () => {
    const loaded = loadPolicy(POLICY, 'p.yaml');
    expect(loaded.bundleId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(policyBundleId(loaded.bundle)).toBe(loaded.bundleId);
  });

  it('does not change with comments, formatting, key order, set order, duplicates in sets or explicit defaults', () => {
    expect(idOf(REWRITTEN)).toBe(idOf(POLICY));
  });

  it('changes with any change of meaning', () => {
    const base = idOf(POLICY);
    const variants = [
      POLICY.replace('risk: { dev: low, prod: high }', 'risk: { dev: low, prod: low }'),
      // the roster has two people: a count of 2 over one factor is a meaning they can still meet
      POLICY.replace('        - roles: [lead, owner]\n        - roles: [operator]\n', '        - roles: [lead, owner, operator]\n          count: 2\n'),
      POLICY.replace('environments: [dev, prod]', 'environments: [dev, prod, staging]'),
      POLICY.replace('    reports_to: lena\n', ''),
      POLICY.replace('      surfaces: [signed-cli, copilot-console]', '      surfaces: [signed-cli]'),
      POLICY.replace('allow: [statuspage, email-customers]', 'allow: [statuspage]'),
      POLICY.replace('  lift_roles: [lead]', '  lift_roles: [lead, operator]'),
      POLICY.replace('name: mini', 'name: mini2'),
      POLICY.replace('    effect: allow', '    effect: allow\n    description: shown to approvers'),
    ];
    const ids = variants.map((text) => {
      expect(text).not.toBe(POLICY);
      return idOf(text);
    });
    for (const id of ids) expect(id).not.toBe(base);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('does not depend on the order of id-keyed lists or sets (property)', () => {
    const input = loadPolicy(POLICY, 'p.yaml').bundle as unknown as PolicyBundleInput;
    const id = policyBundleId(PolicyBundle.parse(input));
    const shuffle = <T>(items: readonly T[], seed: number): T[] => {
      const out = [...items];
      let s = seed;
      for (let i = out.length - 1; i > 0; i--) {
        s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
        const j = s % (i + 1);
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), (seed) => {
        const b = structuredClone(input);
        b.environments = shuffle(b.environments, seed);
        b.roles = shuffle(b.roles ?? [], seed + 1);
        b.principals = shuffle(b.principals, seed + 2).map((p, i) => ({ ...p, roles: shuffle(p.roles ?? [], seed + i) }));
        b.surfaces = shuffle(b.surfaces, seed + 3);
        b.actions = shuffle(b.actions, seed + 4);
        b.risk_classes = shuffle(b.risk_classes, seed + 5).map((r) =>
          r.approval === undefined ? r : { ...r, approval: { ...r.approval, quorum: shuffle(r.approval.quorum ?? [], seed + 6) } },
        );
        return policyBundleId(PolicyBundle.parse(b)) === id;
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the order of nothing that has meaning: normalised lists are sorted by code unit', () => {
    const normal = normalisePolicy(loadPolicy(POLICY, 'p.yaml').bundle) as Record<string, unknown>;
    expect(normal['environments']).toEqual(['dev', 'prod']);
    expect(normal['roles']).toEqual(['agent', 'lead', 'operator', 'owner']);
    expect((normal['actions'] as { id: string }[]).map((a) => a.id)).toEqual(['comms.send_status_update', 'queue.inspect']);
  });
});
