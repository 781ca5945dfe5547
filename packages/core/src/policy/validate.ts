import { formatDuration, parseDuration } from './duration.js';
import { unsatisfiable, type ApproverRequirement, type UnsatisfiableCode } from './satisfiable.js';
import { releaseRulesOf } from './release-rules.js';
import type { ApprovalRequirement, PolicyBundle } from './schema.js';

/**
 * Semantic validation of a bundle whose shape already passed the zod schema:
 * the rules that need the whole document (references, cycles, limits).
 * Pure: returns every issue found, never throws, never stops at the first.
 */

/** Stable codes: they appear in CLI output and `--json`. Wording is not API. */
export type PolicyIssueCode =
  // reading the file
  | 'TOO_LARGE'
  | 'YAML_SYNTAX'
  | 'DUPLICATE_KEY'
  | 'ALIAS_LIMIT'
  | 'NOT_A_MAPPING'
  // shape (zod)
  | 'UNKNOWN_KEY'
  | 'INVALID_TYPE'
  | 'INVALID_VALUE'
  | 'MISSING'
  | 'WILDCARD'
  // meaning
  | 'UNKNOWN_ROLE'
  | 'UNKNOWN_PRINCIPAL'
  | 'UNKNOWN_ENVIRONMENT'
  | 'UNKNOWN_SURFACE'
  | 'UNKNOWN_RISK_CLASS'
  | 'UNKNOWN_ACTION'
  | 'PRIOR_UNAVAILABLE'
  | 'DUPLICATE_ID'
  | 'SHARED_KEY'
  | 'REPORTS_TO_CYCLE'
  | 'DURATION_EXCEEDED'
  | 'EMPTY_QUORUM'
  | 'AGENT_HOLDS_AUTHORITY'
  | 'BAD_PATTERN'
  // warnings (policyWarnings): the bundle loads, but says something risky
  | 'RELEASE_GATEWAY_ATTESTATION'
  // who could ever approve (satisfiable.ts): NO_APPROVAL_SURFACE, QUORUM_UNREACHABLE, APPROVER_KEY_MISSING
  | UnsatisfiableCode;

export type PolicyPath = readonly (string | number)[];

/** An issue before it is placed in the source: `path` is where in the document it sits. */
export interface PolicyIssueDraft {
  readonly path: PolicyPath;
  readonly code: PolicyIssueCode;
  readonly message: string;
  /**
   * Set when the issue is about a mapping key rather than its value (unknown
   * keys, risk map environments), so the position points at the key.
   */
  readonly atKey?: boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Absolute ceiling of an override lease, whatever the policy says: a lease is not a new normal. */
export const OVERRIDE_CEILING_MS = DAY;
/** Approvals and grants are for the facts of the moment; a day-old approval is not about today. */
export const TTL_CEILING_MS = DAY;
/** A prerequisite older than a week says nothing about the target's state now. */
export const PRIOR_WINDOW_CEILING_MS = 7 * DAY;

/** Every semantic issue of a shape-valid bundle, in document order of discovery. */
export function validatePolicy(bundle: PolicyBundle): PolicyIssueDraft[] {
  const issues: PolicyIssueDraft[] = [];
  const add = (path: PolicyPath, code: PolicyIssueCode, message: string, atKey = false): void => {
    issues.push(atKey ? { path, code, message, atKey } : { path, code, message });
  };

  const environments = declared(bundle.environments, ['environments'], 'environment', add);
  const roles = declared(bundle.roles, ['roles'], 'role', add);
  const surfaces = declaredIds(bundle.surfaces, ['surfaces'], 'surface', add);
  const principals = declaredIds(bundle.principals, ['principals'], 'principal', add);
  const riskClasses = declaredIds(bundle.risk_classes, ['risk_classes'], 'risk class', add);
  const actions = declaredIds(bundle.actions, ['actions'], 'action', add);
  declaredIds(bundle.holds.trip_gates, ['holds', 'trip_gates'], 'trip gate', add);
  declaredIds(bundle.notifications?.webhooks ?? [], ['notifications', 'webhooks'], 'webhook', add);

  const role = (path: PolicyPath, value: string): void => {
    if (!roles.has(value)) add(path, 'UNKNOWN_ROLE', `role \`${value}\` is not declared in \`roles\`${didYouMean(value, roles)}`);
  };
  const roleList = (path: PolicyPath, values: readonly string[]): void => values.forEach((v, i) => role([...path, i], v));
  const environment = (path: PolicyPath, value: string, atKey = false): void => {
    if (!environments.has(value)) {
      add(path, 'UNKNOWN_ENVIRONMENT', `environment \`${value}\` is not declared in \`environments\`${didYouMean(value, environments)}`, atKey);
    }
  };
  const surfaceList = (path: PolicyPath, values: readonly string[]): void =>
    values.forEach((v, i) => {
      if (!surfaces.has(v)) add([...path, i], 'UNKNOWN_SURFACE', `surface \`${v}\` is not declared in \`surfaces\`${didYouMean(v, surfaces)}`);
    });

  // Principals: roles, reporting lines, keys.
  const keyIds = new Map<string, string>();
  const publicKeys = new Map<string, string>();
  bundle.principals.forEach((principal, i) => {
    roleList(['principals', i, 'roles'], principal.roles);
    if (principal.reports_to !== undefined && !principals.has(principal.reports_to)) {
      add(
        ['principals', i, 'reports_to'],
        'UNKNOWN_PRINCIPAL',
        `principal \`${principal.reports_to}\` is not declared in \`principals\`${didYouMean(principal.reports_to, principals)}`,
      );
    }
    principal.keys.forEach((key, k) => {
      // key ids name the signing key in statements, so they are unique across the roster
      const keyOwner = keyIds.get(key.id);
      if (keyOwner !== undefined) {
        add(['principals', i, 'keys', k, 'id'], 'DUPLICATE_ID', `key id \`${key.id}\` is already used by principal \`${keyOwner}\``);
      } else {
        keyIds.set(key.id, principal.id);
      }
      // INVARIANT: two principals sharing a key are one authority, so two keys would be one key
      const holder = publicKeys.get(key.public_key);
      if (holder !== undefined) {
        add(
          ['principals', i, 'keys', k, 'public_key'],
          'SHARED_KEY',
          holder === principal.id
            ? `public key is listed twice for principal \`${holder}\``
            : `public key is also held by principal \`${holder}\`: two principals sharing a key are one authority`,
        );
      } else {
        publicKeys.set(key.public_key, principal.id);
      }
    });
  });
  reportsToCycles(bundle, add);

  // Risk classes and their approval requirements.
  bundle.risk_classes.forEach((risk, i) => {
    if (risk.effect === 'require_approval' && (risk.approval === undefined || risk.approval.quorum.length === 0)) {
      add(
        risk.approval === undefined ? ['risk_classes', i, 'effect'] : ['risk_classes', i, 'approval', 'quorum'],
        'EMPTY_QUORUM',
        `risk class \`${risk.id}\` requires approval but names no quorum: nobody could ever approve it`,
      );
    }
    if (risk.approval !== undefined) approval(['risk_classes', i, 'approval'], risk.approval);
    if (risk.effect === 'require_approval' && risk.approval !== undefined && risk.approval.quorum.length > 0) {
      reachable(['risk_classes', i, 'approval'], `risk class \`${risk.id}\` can never be approved`, risk.approval);
    }
  });

  if (bundle.credentials !== undefined) roleList(['credentials', 'admin_roles'], bundle.credentials.admin_roles);

  // A console sign-in is a human's: an agent or a service never signs in, and an identity maps to one person.
  const mapped = new Set<string>();
  (bundle.identities ?? []).forEach((identity, i) => {
    const who = bundle.principals.find((p) => p.id === identity.principal);
    if (who === undefined) add(['identities', i, 'principal'], 'UNKNOWN_PRINCIPAL', `principal \`${identity.principal}\` is not declared`);
    else if (who.kind !== 'human') add(['identities', i, 'principal'], 'AGENT_HOLDS_AUTHORITY', `\`${identity.principal}\` is ${who.kind === 'agent' ? 'an agent' : 'a service'}: only humans sign in to the console`);
    // emails match case-insensitively at sign-in: so do duplicates here
    const key = `${identity.issuer}\u0000${identity.subject ?? ''}\u0000${(identity.email ?? '').toLowerCase()}`;
    if (mapped.has(key)) add(['identities', i], 'DUPLICATE_ID', 'this identity is mapped twice: it would sign in as whichever entry comes first');
    mapped.add(key);
  });

  // A release quorum no one could ever fill would freeze the rules for good (issue 13),
  // and so would the default one: two humans with keys, through an approval surface.
  if (bundle.release !== undefined) {
    roleList(['release', 'propose_roles'], bundle.release.propose_roles);
    approval(['release', 'approval'], bundle.release.approval);
    if (bundle.release.approval.quorum.length === 0) {
      add(['release', 'approval', 'quorum'], 'EMPTY_QUORUM', 'the release quorum is empty: nobody could ever sign a release, so the rules could never change');
    } else {
      reachable(['release', 'approval'], 'no release can ever be activated', bundle.release.approval);
    }
  } else {
    const defaults = releaseRulesOf(bundle).approval;
    const problems = unsatisfiable(defaults, bundle.principals);
    for (const p of problems) {
      // no section to point at: the roster, or the surfaces, are what make the default unreachable
      add([p.code === 'NO_APPROVAL_SURFACE' ? 'surfaces' : 'principals'], p.code, `no release can ever be activated under the default release rules (two humans signing with roster keys, through a surface approvals arrive through): ${p.message}; declare \`release\` or change the roster`);
    }
  }

  // Override lease limits, needed by the per-action checks below.
  const overrides = bundle.overrides;
  const leaseDefault = overrides === undefined ? 4 * HOUR : parseDuration(overrides.max_duration.default);
  const classLease = (cls: 'read' | 'write' | 'destructive'): number => {
    const text = overrides?.max_duration[cls];
    return text === undefined ? leaseDefault : Math.min(parseDuration(text), leaseDefault);
  };

  bundle.actions.forEach((action, i) => {
    const at = ['actions', i] as const;
    for (const [env, riskId] of Object.entries(action.risk)) {
      environment([...at, 'risk', env], env, true);
      if (!riskClasses.has(riskId)) {
        add([...at, 'risk', env], 'UNKNOWN_RISK_CLASS', `risk class \`${riskId}\` is not declared in \`risk_classes\`${didYouMean(riskId, riskClasses)}`);
      }
    }
    if (action.target_pattern !== undefined) {
      const problem = patternProblem(action.target_pattern);
      if (problem !== undefined) add([...at, 'target_pattern'], 'BAD_PATTERN', problem);
    }
    action.requires_prior.forEach((prior, p) => {
      const required = bundle.actions.find((other) => other.id === prior.action);
      if (required === undefined) {
        add([...at, 'requires_prior', p, 'action'], 'UNKNOWN_ACTION', `action \`${prior.action}\` is not declared in \`actions\`${didYouMean(prior.action, actions)}`);
      } else if (required.id === action.id) {
        add([...at, 'requires_prior', p, 'action'], 'PRIOR_UNAVAILABLE', `action \`${action.id}\` requires itself first, so it could never run`);
      } else {
        // the prior runs on the same target, hence in the same environment: it must be allowed there
        const missing = Object.keys(action.risk).filter((env) => required.risk[env] === undefined);
        if (missing.length > 0) {
          add(
            [...at, 'requires_prior', p, 'action'],
            'PRIOR_UNAVAILABLE',
            `action \`${prior.action}\` has no risk in ${missing.map((e) => `\`${e}\``).join(', ')}, so \`${action.id}\` could never run there`,
          );
        }
      }
      ceiling([...at, 'requires_prior', p, 'within'], prior.within, PRIOR_WINDOW_CEILING_MS, 'a prerequisite window');
    });
    if (action.approval !== undefined) {
      if (action.approval.quorum.length === 0) {
        add([...at, 'approval', 'quorum'], 'EMPTY_QUORUM', `action \`${action.id}\` replaces its approval rule with an empty quorum: nobody could ever approve it`);
      }
      approval([...at, 'approval'], action.approval);
      // a per-action approval replaces the class's in every environment it does not deny
      if (action.approval.quorum.length > 0) reachable([...at, 'approval'], `action \`${action.id}\` can never be approved`, action.approval);
    }
    const leaseText = action.override?.max_duration;
    if (leaseText !== undefined) {
      const limit = classLease(action.class);
      if (parseDuration(leaseText) > limit) {
        add(
          [...at, 'override', 'max_duration'],
          'DURATION_EXCEEDED',
          `override lease for \`${action.id}\` exceeds the ${action.class} maximum of ${formatDuration(limit)}`,
        );
      }
    }
  });

  if (overrides !== undefined) {
    const o = ['overrides'] as const;
    roleList([...o, 'signer_a_roles'], overrides.signer_a_roles);
    roleList([...o, 'signer_b_roles'], overrides.signer_b_roles);
    surfaceList([...o, 'surfaces'], overrides.surfaces);
    duplicates(overrides.reason_codes, [...o, 'reason_codes'], 'reason code', add);
    ceiling([...o, 'max_duration', 'default'], overrides.max_duration.default, OVERRIDE_CEILING_MS, 'an override lease');
    for (const cls of ['read', 'write', 'destructive'] as const) {
      const text = overrides.max_duration[cls];
      if (text !== undefined && parseDuration(text) > leaseDefault) {
        add([...o, 'max_duration', cls], 'DURATION_EXCEEDED', `${cls} override lease exceeds the policy's own default of ${formatDuration(leaseDefault)}`);
      }
    }
    const budgetEnvs = new Set<string>();
    overrides.budgets.forEach((budget, b) => {
      environment([...o, 'budgets', b, 'environment'], budget.environment);
      if (budgetEnvs.has(budget.environment)) {
        add([...o, 'budgets', b, 'environment'], 'DUPLICATE_ID', `environment \`${budget.environment}\` already has an override budget`);
      }
      budgetEnvs.add(budget.environment);
      roleList([...o, 'budgets', b, 'extra_signer_roles'], budget.extra_signer_roles);
    });
    overrideSigners(overrides);
  }

  roleList(['holds', 'open_roles'], bundle.holds.open_roles);
  roleList(['holds', 'lift_roles'], bundle.holds.lift_roles);
  for (const key of ['rollback', 'halt'] as const) {
    roleList([key, 'roles'], bundle[key].roles);
    bundle[key].environments.forEach((env, e) => environment([key, 'environments', e], env));
  }
  bundle.notifications?.webhooks.forEach((hook, w) =>
    hook.risks.forEach((riskId, r) => {
      if (!riskClasses.has(riskId)) {
        add(['notifications', 'webhooks', w, 'risks', r], 'UNKNOWN_RISK_CLASS', `risk class \`${riskId}\` is not declared in \`risk_classes\`${didYouMean(riskId, riskClasses)}`);
      }
    }),
  );

  agentAuthority(bundle, add);
  return issues;

  function approval(path: PolicyPath, requirement: ApprovalRequirement): void {
    requirement.quorum.forEach((factor, f) => roleList([...path, 'quorum', f, 'roles'], factor.roles));
    surfaceList([...path, 'surfaces'], requirement.surfaces);
    ceiling([...path, 'approval_ttl'], requirement.approval_ttl, TTL_CEILING_MS, 'an approval');
    ceiling([...path, 'grant_ttl'], requirement.grant_ttl, TTL_CEILING_MS, 'a grant');
  }

  /**
   * A requirement nobody in the roster could ever meet fails shut for ever,
   * and every step it gates waits for an override. Requirements naming an
   * undeclared role are left out: UNKNOWN_ROLE already says why.
   */
  function reachable(path: PolicyPath, what: string, requirement: ApproverRequirement, at: (factor: number | null) => PolicyPath = (f) => [...path, 'quorum', ...(f === null ? [] : [f])]): boolean {
    if (requirement.quorum.some((f) => f.roles.some((r) => !roles.has(r)))) return true;
    const problems = unsatisfiable(requirement, bundle.principals);
    for (const p of problems) add(p.code === 'NO_APPROVAL_SURFACE' ? [...path, 'surfaces'] : at(p.factor), p.code, `${what}: ${p.message}`);
    return problems.length === 0;
  }

  /** Override signatures are always made with a roster key (override/evidence.ts), by distinct people. */
  function overrideSigners(rules: NonNullable<PolicyBundle['overrides']>): void {
    const o = ['overrides'] as const;
    const seats = [
      { roles: rules.signer_a_roles, count: 1 },
      { roles: rules.signer_b_roles, count: 1 },
    ];
    const seatPath = (f: number | null): PolicyPath => (f === 0 ? [...o, 'signer_a_roles'] : f === 1 ? [...o, 'signer_b_roles'] : [...o]);
    const signers = { quorum: seats, surfaces: rules.surfaces, attestation: 'key' } as const;
    if (!reachable(o, 'no override can ever be signed', signers, seatPath)) return;
    // once a budget is spent, a third person signs too: distinct from signers a and b
    rules.budgets.forEach((budget, b) => {
      const at = [...o, 'budgets', b] as const;
      reachable(at, `once the override budget for \`${budget.environment}\` is spent, no override can be signed`, { ...signers, quorum: [...seats, { roles: budget.extra_signer_roles, count: 1 }] }, (f) =>
        f === 2 ? [...at, 'extra_signer_roles'] : [...at],
      );
    });
  }

  function ceiling(path: PolicyPath, text: string, limit: number, what: string): void {
    if (parseDuration(text) > limit) add(path, 'DURATION_EXCEEDED', `${what} may last at most ${formatDuration(limit)}`);
  }
}

/**
 * What a valid bundle says that is allowed but risky: `policy check` prints
 * these as warnings and still succeeds, and the bundle loads. An explicit
 * `release.approval.attestation: any` is one: two console sessions, with no
 * key anywhere, could then replace every rule. It stays possible (a team that
 * signs in through its identity provider may choose it), and is said out loud.
 */
export function policyWarnings(bundle: PolicyBundle): PolicyIssueDraft[] {
  const warnings: PolicyIssueDraft[] = [];
  if (bundle.release?.approval.attestation === 'any') {
    warnings.push({
      path: ['release', 'approval', 'attestation'],
      code: 'RELEASE_GATEWAY_ATTESTATION',
      message: 'the release quorum accepts gateway-attested console approvals: two console sessions, with no roster key, could replace every rule; use `key`',
    });
  }
  return warnings;
}

type Add = (path: PolicyPath, code: PolicyIssueCode, message: string, atKey?: boolean) => void;

function declared(values: readonly string[], path: PolicyPath, what: string, add: Add): Set<string> {
  duplicates(values, path, what, add);
  return new Set(values);
}

function declaredIds(items: readonly { id: string }[], path: PolicyPath, what: string, add: Add): Set<string> {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id)) add([...path, i, 'id'], 'DUPLICATE_ID', `${what} \`${item.id}\` is declared more than once`);
    seen.add(item.id);
  });
  return seen;
}

function duplicates(values: readonly string[], path: PolicyPath, what: string, add: Add): void {
  const seen = new Set<string>();
  values.forEach((value, i) => {
    if (seen.has(value)) add([...path, i], 'DUPLICATE_ID', `${what} \`${value}\` is declared more than once`);
    seen.add(value);
  });
}

/**
 * Independence rests on reporting lines (an approver must not report to the
 * requester, even transitively), so a cycle would make every member report to
 * every other and the check meaningless. Each cycle is reported once, at the
 * `reports_to` of its first member in document order.
 */
function reportsToCycles(bundle: PolicyBundle, add: Add): void {
  const index = new Map(bundle.principals.map((p, i) => [p.id, i] as const));
  const done = new Set<string>();
  for (const start of bundle.principals) {
    const chain: string[] = [];
    const onChain = new Map<string, number>();
    let current: string | undefined = start.id;
    while (current !== undefined && !done.has(current) && !onChain.has(current)) {
      onChain.set(current, chain.length);
      chain.push(current);
      const i = index.get(current);
      current = i === undefined ? undefined : bundle.principals[i]?.reports_to;
    }
    if (current !== undefined && onChain.has(current)) {
      const cycle = chain.slice(onChain.get(current));
      const first = cycle.reduce((a, b) => ((index.get(a) ?? 0) <= (index.get(b) ?? 0) ? a : b));
      const from = cycle.indexOf(first);
      const named = [...cycle.slice(from), ...cycle.slice(0, from), first];
      add(
        ['principals', index.get(first) ?? 0, 'reports_to'],
        'REPORTS_TO_CYCLE',
        cycle.length === 1 ? `principal \`${first}\` reports to itself` : `\`reports_to\` forms a cycle: ${named.map((id) => `\`${id}\``).join(' -> ')}`,
      );
    }
    for (const id of chain) done.add(id);
  }
}

/**
 * Invariant 1, proposal is not authority: an agent may hold no role that
 * approves, signs an override, opens or lifts a hold, or rolls back without a
 * quorum. Reported at each role of each agent that collides.
 */
function agentAuthority(bundle: PolicyBundle, add: Add): void {
  const uses = new Map<string, string>();
  const note = (roles: readonly string[], use: string): void => {
    for (const r of roles) if (!uses.has(r)) uses.set(r, use);
  };
  for (const risk of bundle.risk_classes) for (const f of risk.approval?.quorum ?? []) note(f.roles, `a quorum of risk class \`${risk.id}\``);
  for (const action of bundle.actions) for (const f of action.approval?.quorum ?? []) note(f.roles, `the quorum of action \`${action.id}\``);
  if (bundle.overrides !== undefined) {
    note(bundle.overrides.signer_a_roles, 'override signer A');
    note(bundle.overrides.signer_b_roles, 'override signer B');
    for (const budget of bundle.overrides.budgets) note(budget.extra_signer_roles, 'override budget extra signer');
  }
  if (bundle.release !== undefined) {
    for (const f of bundle.release.approval.quorum) note(f.roles, 'the release quorum');
    note(bundle.release.propose_roles, 'proposing releases');
  }
  note(bundle.holds.open_roles, 'opening holds');
  note(bundle.holds.lift_roles, 'lifting holds');
  note(bundle.rollback.roles, 'rollback authority');
  bundle.principals.forEach((principal, i) => {
    if (principal.kind !== 'agent') return;
    principal.roles.forEach((r, j) => {
      const use = uses.get(r);
      if (use !== undefined) {
        add(
          ['principals', i, 'roles', j],
          'AGENT_HOLDS_AUTHORITY',
          `agent \`${principal.id}\` holds role \`${r}\`, used for ${use}: an agent may propose, never authorise`,
        );
      }
    });
  });
}

/** Why a target pattern is unusable, or undefined when it compiles and is safe to run on agent input. */
function patternProblem(pattern: string): string | undefined {
  try {
    // `u` is the stricter grammar: what compiles here compiles without it too
    new RegExp(pattern, 'u');
  } catch (err) {
    return `target pattern does not compile: ${err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : 'invalid'}`;
  }
  // Targets come from the agent: a nested quantifier such as `(a+)+` can backtrack
  // exponentially on crafted input, a denial of service on every decision.
  if (/\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]/.test(pattern)) {
    return 'target pattern nests quantifiers, which can backtrack catastrophically on agent input';
  }
  return undefined;
}

/** ` (did you mean \`prod\`?)` when a declared id is one edit, a case or a trim away. */
export function didYouMean(value: string, known: Iterable<string>): string {
  const folded = value.trim().toLowerCase();
  for (const candidate of known) {
    if (candidate === folded || editDistanceAtMostOne(candidate, value)) return ` (did you mean \`${candidate}\`?)`;
  }
  return '';
}

/** One insertion, deletion, substitution or swap of neighbours (Damerau): the usual typing slips. */
function editDistanceAtMostOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  if (a.length === b.length) {
    const diff = [...a].flatMap((ch, i) => (ch === b[i] ? [] : [i]));
    if (diff.length === 2 && diff[1] === (diff[0] ?? 0) + 1) {
      const [i = 0] = diff;
      return a[i] === b[i + 1] && a[i + 1] === b[i];
    }
  }
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length > b.length) i++;
    else if (b.length > a.length) j++;
    else {
      i++;
      j++;
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1;
}
