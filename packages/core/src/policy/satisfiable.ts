import { assignQuorum, type QuorumFactorSpec } from '../approval/quorum.js';
import type { PrincipalKind } from './schema.js';

/**
 * Could anyone in the roster ever meet a requirement? A quorum that nobody
 * can fill does not fail open, it fails shut for ever: every step of that risk
 * waits until someone reaches for an override, which is how the override path
 * becomes the production path. So `policy check` refuses such a bundle before
 * it is in force, naming the requirement.
 *
 * Only what the policy itself says is judged: who is a human, who holds which
 * role, who has a key. Who requests (and so who is not independent of the
 * request) is unknown until a step is proposed; the surfaces a person can use
 * are not in the policy at all (a credential binds a principal to a surface,
 * and credentials live in the gateway's store), so only an empty surface list,
 * which allows nobody, is a policy fact.
 */

/** Who must approve, whatever it gates: a risk class, an action, override signers, a release. */
export interface ApproverRequirement {
  /** Factors, ANDed; one person counts for one factor (approval/quorum.ts). */
  readonly quorum: readonly QuorumFactorSpec[];
  /** Surfaces approvals may arrive through; an empty list allows none. */
  readonly surfaces: readonly string[];
  /** `key`: only statements signed with a roster key count. */
  readonly attestation: 'key' | 'any';
}

/** A principal as the policy declares it: enough to know whether they could ever approve. */
export interface RosterCandidate {
  readonly id: string;
  readonly kind: PrincipalKind;
  readonly roles: readonly string[];
  readonly keys: readonly unknown[];
}

export type UnsatisfiableCode = 'NO_APPROVAL_SURFACE' | 'QUORUM_UNREACHABLE' | 'APPROVER_KEY_MISSING';

export interface Unsatisfiable {
  readonly code: UnsatisfiableCode;
  /** Index of the factor that can never be filled; null when the requirement as a whole cannot be met. */
  readonly factor: number | null;
  /** Lower-case, names the roles but not the requirement: the caller says what it gates. */
  readonly message: string;
}

/**
 * Every reason no set of people in `principals` could ever meet `requirement`;
 * empty when some set could. Only humans count (agents and services never
 * approve, invariant 1). With `attestation: key`, only humans with a key.
 *
 * A factor is judged alone first, so the message names the factor and its
 * numbers. When every factor could be filled alone, the factors are judged
 * together: one person fills one seat, so `[lead]` and `[lead|owner]` with one
 * lead and no owner cannot both be met. That is the same b-matching approvals
 * are counted with (`assignQuorum`), over everyone eligible.
 */
export function unsatisfiable(requirement: ApproverRequirement, principals: readonly RosterCandidate[]): Unsatisfiable[] {
  const problems: Unsatisfiable[] = [];
  if (requirement.surfaces.length === 0) {
    problems.push({ code: 'NO_APPROVAL_SURFACE', factor: null, message: 'no surface is allowed, so no approval can ever arrive' });
  }
  const keyed = requirement.attestation === 'key';
  const humans = principals.filter((p) => p.kind === 'human');
  const signers = keyed ? humans.filter((p) => p.keys.length > 0) : humans;
  const holds = (p: RosterCandidate, factor: QuorumFactorSpec): boolean => factor.roles.some((r) => p.roles.includes(r));

  let alone = true;
  requirement.quorum.forEach((factor, i) => {
    const eligible = humans.filter((p) => holds(p, factor)).length;
    const usable = signers.filter((p) => holds(p, factor)).length;
    const needed = `${people(factor.count)} holding ${roleList(factor.roles)}`;
    if (eligible < factor.count) {
      alone = false;
      problems.push({ code: 'QUORUM_UNREACHABLE', factor: i, message: `${needed} ${factor.count === 1 ? 'is' : 'are'} needed, and the roster has ${eligible === 0 ? 'none' : eligible}` });
    } else if (usable < factor.count) {
      alone = false;
      const have = usable === 0 ? `none of the ${eligible} who ${eligible === 1 ? 'holds' : 'hold'} it has a key` : `only ${usable} of the ${eligible} who hold it ${usable === 1 ? 'has' : 'have'} a key`;
      problems.push({ code: 'APPROVER_KEY_MISSING', factor: i, message: `${needed} and signing with a roster key ${factor.count === 1 ? 'is' : 'are'} needed, and ${have}` });
    }
  });
  if (!alone || requirement.quorum.length < 2) return problems;

  // seated by position, not id: a duplicated id (reported by validation) must not hide a person
  const seat = (list: readonly RosterCandidate[]): boolean => {
    const hasRole = (at: string, role: string): boolean => list[Number(at)]?.roles.includes(role) ?? false;
    return assignQuorum(requirement.quorum, list.map((_p, i) => String(i)), hasRole).met;
  };
  const total = requirement.quorum.reduce((sum, f) => sum + f.count, 0);
  if (!seat(humans)) {
    problems.push({
      code: 'QUORUM_UNREACHABLE',
      factor: null,
      message: `the factors together need ${people(total)}, one person counting for one factor, and the roster cannot seat them`,
    });
  } else if (keyed && !seat(signers)) {
    problems.push({
      code: 'APPROVER_KEY_MISSING',
      factor: null,
      message: `the factors together need ${people(total)} signing with a roster key, one person counting for one factor, and those with a key cannot fill them`,
    });
  }
  return problems;
}

function people(n: number): string {
  return n === 1 ? '1 person' : `${n} people`;
}

function roleList(roles: readonly string[]): string {
  const quoted = roles.map((r) => `\`${r}\``);
  return quoted.length <= 1 ? (quoted[0] ?? 'no role') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1) ?? ''}`;
}
