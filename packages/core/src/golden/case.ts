import { z } from 'zod';
import { Proposal } from '../decision/proposal.js';
import { DECISION_EFFECTS, DECISION_REASONS } from '../decision/reason.js';
import { ActionClass, Duration } from '../policy/schema.js';

/**
 * A golden case: given some state, when an agent proposes, expect these
 * decisions, one per step. Cases gate a bundle before it is activated
 * (DESIGN invariant 8), so every object is strict: a misspelled expectation
 * is an error, never an assertion that silently checks nothing.
 */

/** The clock of a case that names none. Fixed, so a case never depends on when it runs. */
export const GOLDEN_DEFAULT_NOW = '2026-01-01T00:00:00Z';

const Instant = z.iso.datetime({ offset: true });

export const GoldenExecution = z
  .strictObject({
    action: z.string().min(1),
    environment: z.string().min(1),
    target: z.string().min(1),
    /** When it succeeded, as an instant... */
    at: Instant.optional(),
    /** ...or as a duration before the case's `now`, e.g. `10m`. */
    ago: Duration.optional(),
  })
  .refine((e) => (e.at === undefined) !== (e.ago === undefined), 'give exactly one of `at` and `ago`');
export type GoldenExecution = z.infer<typeof GoldenExecution>;

export const GoldenHold = z.strictObject({
  id: z.string().min(1),
  trip_gate: z.string().min(1),
  scope: z
    .strictObject({
      environments: z.array(z.string()).optional(),
      classes: z.array(ActionClass).optional(),
      actions: z.array(z.string()).optional(),
      targets: z.array(z.string()).optional(),
    })
    .default({}),
});

export const GoldenGiven = z.strictObject({
  now: Instant.default(GOLDEN_DEFAULT_NOW),
  holds: z.array(GoldenHold).default([]),
  executions: z.array(GoldenExecution).default([]),
});
export type GoldenGiven = z.infer<typeof GoldenGiven>;

const Reason = z.enum(DECISION_REASONS);

/** Expected requirements, who must approve among them: only the keys written are compared (docs/golden-cases.md). */
export const GoldenRequirements = z.strictObject({
  /** Compared exactly: every factor as often as the decision has it, same count, same roles in any order. `[]`: no approval. */
  quorum: z.array(z.strictObject({ roles: z.array(z.string()), count: z.number().int() })).optional(),
  /** Compared as a set; the request's own surface is already removed from the decision's. */
  surfaces: z.array(z.string()).optional(),
  /** None of these may be an allowed approval surface. */
  surfaces_exclude: z.array(z.string()).optional(),
  attestation: z.enum(['key', 'any']).optional(),
  approval_expires_at: Instant.nullable().optional(),
  grant_ttl_ms: z.number().int().optional(),
  rollback_required: z.boolean().optional(),
  /** Actions of the satisfied prerequisites, compared as a set. */
  prerequisites: z.array(z.string()).optional(),
});
export type GoldenRequirements = z.infer<typeof GoldenRequirements>;

export const GoldenExpectation = z.strictObject({
  effect: z.enum(DECISION_EFFECTS),
  risk: z.string().nullable().optional(),
  action_class: ActionClass.nullable().optional(),
  /** The exact set of reason codes (order does not matter). */
  reasons: z.array(Reason).optional(),
  /** Reason codes that must be present among others. */
  reasons_include: z.array(Reason).optional(),
  /** The exact set of rule ids (order does not matter). */
  rule_ids: z.array(z.string()).optional(),
  rule_ids_include: z.array(z.string()).optional(),
  /** `null` asserts there are none (deny, held). */
  requirements: GoldenRequirements.nullable().optional(),
});
export type GoldenExpectation = z.infer<typeof GoldenExpectation>;

export const GoldenCase = z.strictObject({
  name: z.string().min(1).max(300),
  description: z.string().max(2_000).optional(),
  given: GoldenGiven.default({ now: GOLDEN_DEFAULT_NOW, holds: [], executions: [] }),
  when: z.strictObject({ proposal: Proposal }),
  /** One expectation per step, in step order. */
  expect: z.array(GoldenExpectation).min(1),
});
export type GoldenCase = z.infer<typeof GoldenCase>;
export type GoldenCaseInput = z.input<typeof GoldenCase>;
