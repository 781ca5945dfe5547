import { z } from 'zod';
import { DURATION_PATTERN } from './duration.js';

/**
 * The policy bundle: one YAML document. This zod schema is the single source of
 * truth for its shape; `countersign policy schema` exports it as JSON Schema.
 *
 * Shape rules are here; cross-reference rules (undeclared roles, principals,
 * environments, surfaces, `reports_to` cycles, durations over limits) are in
 * `validate.ts`, because they need the whole document.
 *
 * Every object is strict: an unknown key is an error, never silently ignored.
 */

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const ACTION_ID_PATTERN = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$/;
const GATE_ID_PATTERN = /^[A-Z][A-Z0-9_-]{0,31}$/;
const REASON_CODE_PATTERN = /^[A-Z][A-Z0-9_]{1,63}$/;
/** Raw 32-byte Ed25519 public key, base64url without padding, with an algorithm prefix. */
const ED25519_KEY_PATTERN = /^ed25519:[A-Za-z0-9_-]{43}$/;

/** Ids are lower-case slugs; a `*` or `?` can never pass, so no scope can hold a wildcard. */
export const Id = z.string().regex(ID_PATTERN, 'must be a lower-case id (a-z, 0-9, `.`, `_`, `-`), no wildcards');
export const ActionId = z.string().regex(ACTION_ID_PATTERN, 'must be a dotted action id such as `queue.clear_shard`, no wildcards');
export const GateId = z.string().regex(GATE_ID_PATTERN, 'must be an upper-case gate id such as `K1`');
export const ReasonCode = z.string().regex(REASON_CODE_PATTERN, 'must be an upper-case reason code such as `CUSTOMER_IMPACT`');
export const Duration = z.string().regex(DURATION_PATTERN, 'must be a duration such as `30m`, `4h` or `7d`');
/** A golden case file as sent with a candidate: its base name. */
export const GoldenSetName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a case file name such as `incident.yaml`');
export const PublicKey = z.string().regex(ED25519_KEY_PATTERN, 'must be `ed25519:` followed by 43 base64url characters');

const description = z.string().max(2_000).optional();

export const ActionClass = z.enum(['read', 'write', 'destructive']);
export type ActionClass = z.infer<typeof ActionClass>;

export const PrincipalKind = z.enum(['human', 'agent', 'service']);
export type PrincipalKind = z.infer<typeof PrincipalKind>;

export const Attestation = z.enum(['key', 'gateway']);
export type Attestation = z.infer<typeof Attestation>;

export const PrincipalKey = z.strictObject({
  id: Id,
  public_key: PublicKey,
});

export const Principal = z.strictObject({
  id: Id,
  kind: PrincipalKind.describe('`agent` principals may propose and execute grants, never approve, sign overrides or open and lift holds'),
  display_name: z.string().max(200).optional(),
  roles: z.array(Id).default([]).describe('roles declared in the top-level `roles` list'),
  reports_to: Id.optional().describe('the principal this one reports to; approvers must not report to the requester, even transitively'),
  keys: z.array(PrincipalKey).default([]).describe('Ed25519 public keys used to sign approvals and overrides'),
});
export type Principal = z.infer<typeof Principal>;

export const Surface = z.strictObject({
  id: Id,
  description,
});

/** One factor of a quorum: `count` distinct approvers holding any of `roles`. Factors are ANDed. */
export const QuorumFactor = z.strictObject({
  roles: z.array(Id).min(1).describe('an approver holding any of these roles counts toward this factor'),
  count: z.number().int().min(1).max(16).default(1).describe('distinct approvers needed for this factor'),
});
export type QuorumFactor = z.infer<typeof QuorumFactor>;

/** How much independent authority a step of this risk needs. An empty quorum means no approval. */
export const ApprovalRequirement = z.strictObject({
  quorum: z.array(QuorumFactor).default([]).describe('factors, all of which must be met (AND)'),
  /** Surfaces approvals may arrive through. Never the request's own surface, whatever this says. */
  surfaces: z.array(Id).default([]),
  /** `key`: only statements signed with a roster key count. `any`: gateway-attested console approvals count too. */
  attestation: z.enum(['key', 'any']).default('any').describe('`key`: only statements signed with a roster key count; `any`: gateway-attested console approvals count too'),
  approval_ttl: Duration.default('30m').describe('how long an approval stays valid; at most 24h'),
  grant_ttl: Duration.default('10m').describe('how long a grant may wait to be executed; at most 24h'),
});
export type ApprovalRequirement = z.infer<typeof ApprovalRequirement>;

export const RiskClass = z.strictObject({
  id: Id,
  description,
  /** `deny` makes every step of this risk a deny, whatever approvals arrive. */
  effect: z.enum(['allow', 'require_approval', 'deny']).describe('`deny` refuses every step of this risk whatever approvals arrive'),
  approval: ApprovalRequirement.optional().describe('required when effect is `require_approval`'),
});
export type RiskClass = z.infer<typeof RiskClass>;

/** A step that must have succeeded on the same target within a window before this one runs. */
export const RequiresPrior = z.strictObject({
  action: ActionId.describe('an action that must have succeeded on the same target'),
  within: Duration.describe('how recently; at most 7d'),
});

/** Constraint on one parameter. Parameters arrive from the agent: attacker-controlled. */
export const ParamRule = z.strictObject({
  type: z.enum(['string', 'integer', 'boolean']).default('string'),
  required: z.boolean().default(false),
  /** Closed list of allowed values (e.g. a channel allowlist). No wildcards. */
  allow: z.array(z.union([z.string().regex(/^[^*?]*$/, 'wildcards are not allowed in an allowlist'), z.number().int(), z.boolean()])).optional(),
  max_length: z.number().int().min(1).max(65_536).optional(),
});
export type ParamRule = z.infer<typeof ParamRule>;

/** Tighter per-action override rules. */
export const ActionOverride = z.strictObject({
  eligible: z.boolean().default(true),
  max_duration: Duration.optional().describe('at most the policy maximum for the action\'s class'),
});

export const ActionContract = z.strictObject({
  id: ActionId,
  description,
  class: ActionClass,
  /** Risk class per environment. An environment absent here is not allowed for this action. */
  risk: z.record(Id, Id).describe('risk class per environment; an environment absent here is denied for this action'),
  /** Optional regular expression a target must match in full. */
  target_pattern: z.string().max(500).optional().describe('regular expression a target must match in full'),
  params: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), ParamRule).optional(),
  /** When true, parameters not listed in `params` are refused. Defaults to true when `params` is given. */
  closed_params: z.boolean().optional(),
  requires_prior: z.array(RequiresPrior).default([]).describe('steps that must have run on the same target shortly before, e.g. a snapshot before a clear'),
  rollback_required: z.boolean().default(false).describe('a ready rollback artifact must be registered before a grant'),
  /** Tighter approval rule than the risk class: replaces its requirement for this action in every environment. */
  approval: ApprovalRequirement.optional(),
  override: ActionOverride.optional(),
  /** Free-text consequence shown to approvers. */
  consequence: z.string().max(2_000).optional(),
});
export type ActionContract = z.infer<typeof ActionContract>;

export const OverrideBudget = z.strictObject({
  environment: Id,
  max: z.number().int().min(0),
  window: Duration,
  /** Roles of the extra signer demanded once the budget is spent. */
  extra_signer_roles: z.array(Id).min(1),
});

export const OverrideRules = z.strictObject({
  signer_a_roles: z.array(Id).min(1).describe('roles eligible as the first override signer'),
  signer_b_roles: z.array(Id).min(1).describe('roles eligible as the second, independent override signer'),
  /** Surfaces override signatures may arrive through; never the request's. */
  surfaces: z.array(Id).default([]),
  reason_codes: z.array(ReasonCode).min(1),
  /** Maximum lease length by action class; 4 h when not given. */
  max_duration: z
    .strictObject({
      default: Duration.default('4h'),
      read: Duration.optional(),
      write: Duration.optional(),
      destructive: Duration.optional(),
    })
    .default({ default: '4h' })
    .describe('maximum lease length by action class: 4h unless set, never over 24h, a class never over `default`'),
  /** Incident classes in which overrides may be requested at all; empty means any. */
  incident_classes: z.array(Id).default([]),
  budgets: z.array(OverrideBudget).default([]).describe('overrides per environment and window; once spent, an extra signer is required'),
});
export type OverrideRules = z.infer<typeof OverrideRules>;

export const TripGate = z.strictObject({
  id: GateId,
  description: z.string().min(1).max(2_000),
});

export const HoldRules = z.strictObject({
  trip_gates: z.array(TripGate).default([]),
  open_roles: z.array(Id).default([]),
  lift_roles: z.array(Id).default([]),
});

/** Who may act without a new quorum because stopping or reversing is the safe direction. */
export const Authority = z.strictObject({
  roles: z.array(Id).default([]),
  environments: z.array(Id).default([]),
});

/**
 * What a webhook may subscribe to (issue 16): `approval.requested` when a
 * request opens, every other state change an operator acts on, named after
 * the ledger entry that records it, and `budget.near_exhaustion` when an
 * `override.granted` entry leaves a budget with one override or none.
 */
export const NOTIFICATION_EVENTS = [
  'approval.requested',
  'request.approved',
  'request.denied',
  'request.expired',
  'grant.consumed',
  'step.executed',
  'execution.outcome',
  'hold.opened',
  'hold.evidence_added',
  'hold.lifted',
  'override.requested',
  'override.granted',
  'override.denied',
  'lease.clock_breach',
  'halt.issued',
  'halt.lifted',
  'release.proposed',
  'bundle.activated',
  // derived, not an entry type: a grant that leaves an override budget with one override or none
  'budget.near_exhaustion',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export const Webhook = z.strictObject({
  id: Id,
  url: z.string().url().max(2_000),
  /** Name of the environment variable holding the HMAC secret; the secret itself never sits in a bundle. */
  secret_env: z.string().regex(/^[A-Z][A-Z0-9_]{0,127}$/),
  risks: z.array(Id).default([]),
  events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).optional().describe('what this webhook wants; absent: `approval.requested` only'),
  environments: z.array(Id).optional().describe('environments this webhook wants; absent: every one'),
});

/**
 * A Slack channel told of requests that wait for approval (issue 16): a Block
 * Kit message with the request's context and a link to its console page,
 * updated when the request is decided. With `signing_secret_env`, and where a
 * request accepts approvals through the `slack` surface with gateway
 * attestation, the message also carries Approve and Deny buttons; a Slack
 * user acts as the roster human the policy's `identities` map them to
 * (issuer `https://slack.com`, subject the Slack user id).
 */
export const SlackDestination = z.strictObject({
  id: Id,
  channel: z.string().regex(/^[A-Z0-9]{2,32}$/, 'a Slack channel id such as `C0123456789`'),
  /** Environment variables holding the bot token and the signing secret: secrets never sit in a bundle. */
  token_env: z.string().regex(/^[A-Z][A-Z0-9_]{0,127}$/),
  signing_secret_env: z.string().regex(/^[A-Z][A-Z0-9_]{0,127}$/).optional().describe('enables Approve and Deny buttons: the secret that signs Slack interaction requests'),
  risks: z.array(Id).optional(),
  environments: z.array(Id).optional(),
});

/**
 * Who may change the rules (DESIGN invariant 8, issue 13): activating a bundle
 * is a governed release. A candidate is proposed with its full text and its
 * golden sets; the gateway records their result and the replay diff; the
 * quorum below, judged under the bundle in force and independent of the
 * proposer as for approvals, signs a statement binding candidate, previous
 * bundle, golden result and diff; on quorum the candidate is activated.
 * Absent: two independent humans, each signing with a roster key.
 */
export const ReleaseRules = z.strictObject({
  propose_roles: z.array(Id).default([]).describe('roles that may propose a candidate bundle; empty: any human of the roster (agents never)'),
  // SECURITY: a release is signed with keys unless the section says otherwise. The
  // approval default (`any`) would let two console clicks replace every rule.
  approval: ApprovalRequirement.extend({
    attestation: z
      .enum(['key', 'any'])
      .default('key')
      .describe('`key` (the default): only release statements signed with a roster key count; `any`: console sessions count too, which `policy check` warns about'),
  }).describe('the quorum that activates a candidate, the surfaces its signatures may arrive through, and their attestation'),
  golden: z
    .strictObject({
      required: z.boolean().default(true).describe('a candidate without passing golden cases cannot be proposed (the default); false: cases are optional, but must pass when sent'),
      // a whole percentage: the bundle id is a digest of canonical JSON, which has no fractions
      min_coverage_percent: z.number().int().min(0).max(100).default(0).describe('share of the candidate\'s action contracts its golden cases must exercise, in percent'),
      sets: z
        .array(GoldenSetName)
        .min(1)
        .optional()
        .describe('golden case files (by file name, e.g. `incident.yaml`) every candidate must bring, each passing; absent: any files'),
    })
    .default({ required: true, min_coverage_percent: 0 }),
});
export type ReleaseRules = z.infer<typeof ReleaseRules>;

/**
 * Who signs in to the approver console (issue 14): an identity the
 * organisation's OpenID Connect provider vouches for, mapped to one human of
 * the roster. A person is matched by issuer and subject, or by issuer and an
 * email the provider marks verified; `groups`, when given, must all be in the
 * ID token's `groups` claim. An identity no entry matches signs in as no one.
 */
export const IdentityMapping = z
  .strictObject({
    issuer: z.string().url().max(2_000).describe('the identity provider, exactly as its ID tokens name it (`iss`)'),
    subject: z.string().min(1).max(255).optional().describe("the provider's stable id for the person (`sub`)"),
    email: z.string().email().max(320).optional().describe('an email the provider marks verified (`email`, `email_verified: true`)'),
    groups: z.array(z.string().min(1).max(255)).optional().describe('groups the ID token must all carry (`groups` claim)'),
    principal: Id.describe('the human of the roster this identity signs in as'),
  })
  .refine((m) => (m.subject === undefined) !== (m.email === undefined), 'give exactly one of `subject` or `email`');
export type IdentityMapping = z.infer<typeof IdentityMapping>;

export const TRACE_FIELDS = [
  'bundle_id',
  'actor',
  'surface',
  'rule_ids',
  'approver_ids',
  'override_event',
  'environment',
  'outcome',
  'reason_codes',
  'step_digest',
] as const;

export const PolicyBundle = z.strictObject({
  version: z.literal(1),
  name: Id,
  description,
  /** The closed list of environments. `Prod` and `prod ` are not `prod`. */
  environments: z.array(Id).min(1).describe('the closed list of environments; `Prod` and `prod ` are not `prod`'),
  surfaces: z.array(Surface).min(1).describe('where calls come from; approvals must arrive through a surface other than the request\'s'),
  roles: z.array(Id).default([]).describe('every role used anywhere in the policy'),
  principals: z.array(Principal).min(1).describe('humans, agents and services, with roles, reporting lines and keys'),
  risk_classes: z.array(RiskClass).min(1).describe('how much independent authority each level of risk needs'),
  actions: z.array(ActionContract).min(1).describe('one contract per action id; an action not listed is denied'),
  overrides: OverrideRules.optional().describe('dual-signed, time-boxed exceptions; absent means no overrides'),
  holds: HoldRules.default({ trip_gates: [], open_roles: [], lift_roles: [] }).describe('kill-switch trip gates and who may open and lift holds'),
  rollback: Authority.default({ roles: [], environments: [] }).describe('who may run a registered rollback without a new quorum, and where'),
  halt: Authority.default({ roles: [], environments: [] }).describe('who may suspend every grant and lease in scope with one key, and where'),
  trace: z
    .strictObject({ required_fields: z.array(z.enum(TRACE_FIELDS)).default([...TRACE_FIELDS]) })
    .default({ required_fields: [...TRACE_FIELDS] }),
  notifications: z.strictObject({ webhooks: z.array(Webhook).default([]), slack: z.array(SlackDestination).optional() }).optional(),
  release: ReleaseRules.optional().describe('who may propose a new bundle and the quorum that activates it; absent: two independent humans signing with their keys'),
  credentials: z
    .strictObject({ admin_roles: z.array(Id).min(1).describe('roles whose holders issue, list and revoke tokens over the API, never for themselves') })
    .optional()
    .describe('who administers tokens over the API; absent: tokens are issued only with access to the database (`countersign token issue --db`)'),
  identities: z.array(IdentityMapping).optional().describe('identity-provider accounts mapped to roster humans, for the approver console; absent: nobody signs in through an identity provider'),
});
/** A bundle as written (defaults not yet applied). */
export type PolicyBundleInput = z.input<typeof PolicyBundle>;
/** A bundle after validation, defaults applied: the normalised form its id is computed over. */
export type PolicyBundle = z.infer<typeof PolicyBundle>;

/** JSON Schema (draft 2020-12) of the bundle as written, for editors and CI. */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(PolicyBundle, { io: 'input', target: 'draft-2020-12' }),
    $id: 'https://countersign.dev/schema/policy-bundle-v1.json',
    title: 'Countersign policy bundle',
  };
}
