import type { PolicyBundle, ReleaseRules } from './schema.js';

/** How long a release stays open for signatures when the bundle does not say. */
export const DEFAULT_RELEASE_TTL = '24h';

/**
 * The release rules of a bundle (issue 13), the default when it declares
 * none: any human may propose; two independent humans, each signing with a
 * roster key, through a surface the bundle accepts approvals through; the
 * candidate brings golden cases, and they pass.
 *
 * The default surfaces are those the bundle accepts human signatures through
 * (the union of its risk classes', its actions' and its override signers'
 * surfaces), never every surface: a surface only used for proposing (a
 * copilot console, where agents and requesters sit) is not where the rules
 * are changed.
 */
export function releaseRulesOf(bundle: PolicyBundle): ReleaseRules {
  if (bundle.release !== undefined) return bundle.release;
  const humanRoles = [...new Set(bundle.principals.filter((p) => p.kind === 'human').flatMap((p) => p.roles))].sort();
  return {
    propose_roles: [],
    approval: {
      // no human role: a factor nobody holds, which `policy check` names
      quorum: [{ roles: humanRoles, count: 2 }],
      surfaces: approvalSurfaces(bundle),
      attestation: 'key',
      approval_ttl: DEFAULT_RELEASE_TTL,
      grant_ttl: '10m',
    },
    golden: { required: true, min_coverage_percent: 0 },
  };
}

/** Surfaces some approval or override signature of the bundle may arrive through, in the order the bundle declares surfaces. */
export function approvalSurfaces(bundle: PolicyBundle): string[] {
  const used = new Set<string>();
  for (const risk of bundle.risk_classes) if (risk.effect === 'require_approval') for (const s of risk.approval?.surfaces ?? []) used.add(s);
  for (const action of bundle.actions) for (const s of action.approval?.surfaces ?? []) used.add(s);
  for (const s of bundle.overrides?.surfaces ?? []) used.add(s);
  return bundle.surfaces.map((s) => s.id).filter((id) => used.has(id));
}
