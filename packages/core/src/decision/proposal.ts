import { z } from 'zod';
import type { CanonicalValue } from '../canonical.js';
import { CountersignError } from '../errors.js';

/**
 * What an agent asks for. Every field is attacker-controlled: sizes are
 * bounded here, and values are kept byte for byte. Environments and actions
 * are deliberately NOT pattern-checked: `Prod` or `prod ` must reach decide()
 * and be recorded as a denial with its reason code, not vanish as bad input.
 * Nothing is trimmed or case-folded anywhere.
 */

export const PROPOSAL_LIMITS = {
  steps: 64,
  idLength: 128,
  targetLength: 512,
  textLength: 4_000,
  params: 64,
  paramDepth: 8,
  paramNodes: 1_000,
  paramStringLength: 16_384,
} as const;

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
// eslint-disable-next-line no-control-regex -- the ASCII range is the point
const ASCII = /^[\x00-\x7f]*$/;

const Name = z.string().min(1).max(PROPOSAL_LIMITS.idLength).regex(NO_CONTROL, 'must not contain control characters');
const Text = z.string().max(PROPOSAL_LIMITS.textLength);
const ParamName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'must be a parameter name of at most 64 letters, digits, `_`, `.` or `-`');

/**
 * Why a parameter value cannot be hashed canonically or is too big, or null.
 * Floats are refused because RFC 8785 number formatting is where two
 * implementations disagree; non-ASCII keys for the same reason on key order.
 */
function paramValueProblem(value: unknown): string | null {
  let nodes = 0;
  const visit = (v: unknown, depth: number): string | null => {
    if (++nodes > PROPOSAL_LIMITS.paramNodes) return `has more than ${PROPOSAL_LIMITS.paramNodes} values`;
    if (depth > PROPOSAL_LIMITS.paramDepth) return `nests deeper than ${PROPOSAL_LIMITS.paramDepth} levels`;
    if (v === null || typeof v === 'boolean') return null;
    if (typeof v === 'string') return v.length > PROPOSAL_LIMITS.paramStringLength ? `has a string longer than ${PROPOSAL_LIMITS.paramStringLength}` : null;
    if (typeof v === 'number') return Number.isSafeInteger(v) ? null : 'has a number that is not a safe integer';
    if (Array.isArray(v)) {
      for (const item of v) {
        const problem = visit(item, depth + 1);
        if (problem) return problem;
      }
      return null;
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [key, item] of Object.entries(v)) {
        if (!ASCII.test(key) || key.length > PROPOSAL_LIMITS.idLength) return 'has a key that is not short ASCII';
        const problem = visit(item, depth + 1);
        if (problem) return problem;
      }
      return null;
    }
    return 'is not a JSON value';
  };
  return visit(value, 0);
}

export const ParamValue = z.custom<CanonicalValue>().superRefine((value, ctx) => {
  const problem = paramValueProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const Params = z
  .record(ParamName, ParamValue)
  .default({})
  .refine((p) => Object.keys(p).length <= PROPOSAL_LIMITS.params, `at most ${PROPOSAL_LIMITS.params} parameters`);

export const ProposalStep = z.strictObject({
  action: Name,
  environment: Name,
  target: z.string().min(1).max(PROPOSAL_LIMITS.targetLength).regex(NO_CONTROL, 'must not contain control characters'),
  params: Params,
  rationale: Text.optional(),
  expected_consequence: Text.optional(),
});
export type ProposalStep = z.infer<typeof ProposalStep>;

export const Proposal = z.strictObject({
  agent: Name,
  on_behalf_of: Name,
  surface: Name,
  incident: Name.optional(),
  steps: z.array(ProposalStep).min(1).max(PROPOSAL_LIMITS.steps),
});
export type Proposal = z.infer<typeof Proposal>;
export type ProposalInput = z.input<typeof Proposal>;

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: `/${issue.path.map(String).join('/')}`, message: issue.message }));
}

/** Validate an untrusted proposal. Throws PROPOSAL_INVALID naming the first offending field. */
export function parseProposal(input: unknown): Proposal {
  const result = Proposal.safeParse(input);
  if (result.success) return result.data;
  const issues = issuesOf(result.error);
  const first = issues[0] ?? { path: '/', message: 'invalid' };
  throw new CountersignError('PROPOSAL_INVALID', `proposal field \`${first.path}\` ${first.message}`, { issues });
}

/** Validate one untrusted step. Throws PROPOSAL_INVALID naming the first offending field. */
export function parseStep(input: unknown): ProposalStep {
  const result = ProposalStep.safeParse(input);
  if (result.success) return result.data;
  const issues = issuesOf(result.error);
  const first = issues[0] ?? { path: '/', message: 'invalid' };
  throw new CountersignError('PROPOSAL_INVALID', `step field \`${first.path}\` ${first.message}`, { issues });
}
