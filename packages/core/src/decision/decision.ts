import type { ActionClass } from '../policy/schema.js';
import type { DecisionEffect, DecisionReason } from './reason.js';

/** A prerequisite that was satisfied when the step was decided, and until when it stays satisfied. */
export interface SatisfiedPrerequisite {
  readonly action: string;
  readonly within: string;
  readonly satisfied_at: string;
  /** A grant for the step must not outlive this: after it the prerequisite has lapsed. */
  readonly expires_at: string;
}

/** What is still needed before a grant; present on `allow` and `require_approval`, null otherwise. */
export interface DecisionRequirements {
  /** Factors are ANDed: `count` distinct independent approvers holding any of `roles`, per factor. */
  readonly quorum: readonly { readonly roles: readonly string[]; readonly count: number }[];
  /** Surfaces approvals may arrive through; the request's own surface is already removed. */
  readonly surfaces: readonly string[];
  readonly attestation: 'key' | 'any';
  /** ISO 8601; null when no approval is needed. */
  readonly approval_expires_at: string | null;
  readonly grant_ttl_ms: number;
  /** When true the grant is withheld until a rollback artifact for this step is registered. */
  readonly rollback_required: boolean;
  readonly prerequisites: readonly SatisfiedPrerequisite[];
}

/**
 * One step's decision. Decisions are data: a deny is a value with reason
 * codes, never an exception (STYLE "Decisions are data").
 */
export interface Decision {
  readonly step_index: number;
  /** Null only when the step could not be canonicalised, which is always a deny. */
  readonly step_digest: string | null;
  readonly bundle_id: string;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly effect: DecisionEffect;
  readonly action_class: ActionClass | null;
  readonly risk: string | null;
  /** Stable ids of the rules consulted on the path that decided, in evaluation order. */
  readonly rule_ids: readonly string[];
  readonly reasons: readonly DecisionReason[];
  readonly requirements: DecisionRequirements | null;
}
