/** One factor of a quorum: `count` distinct approvers each holding at least one of `roles`. Factors are ANDed. */
export interface QuorumFactorSpec {
  readonly roles: readonly string[];
  readonly count: number;
}

/** Which factor one approver counts for. One approver, one factor. */
export interface QuorumSeat {
  readonly approver: string;
  readonly factor: number;
}

export interface QuorumShortfall {
  readonly factor: number;
  readonly roles: readonly string[];
  readonly needed: number;
}

export interface QuorumState {
  /** Every factor has its count. */
  readonly met: boolean;
  /** A largest valid assignment of approvers to factors. */
  readonly seats: readonly QuorumSeat[];
  /** Factors still short, with how many more approvers each needs under `seats`. */
  readonly remaining: readonly QuorumShortfall[];
}

/**
 * Assign approvers to factors so that each approver fills at most one seat and
 * only seats of factors whose roles they hold: a bipartite b-matching, solved
 * exactly with augmenting paths (Kuhn's algorithm with factor capacities).
 * Greedy alone is wrong: with factors [lead] and [lead|owner], a lead-and-owner
 * who arrived first would take the lead seat and block a plain lead who could
 * only ever fill that seat; an augmenting path moves the first approver over.
 * Approvers are tried in the order given and factors in index order, so the
 * same input always yields the same seats. Duplicates in `approvers` count once.
 * Counts are at most 16 per factor (schema), so the search stays tiny.
 */
export function assignQuorum(
  factors: readonly QuorumFactorSpec[],
  approvers: readonly string[],
  hasRole: (principal: string, role: string) => boolean,
): QuorumState {
  const capacity = factors.map((f) => (Number.isSafeInteger(f.count) && f.count > 0 ? f.count : 0));
  const seated: string[][] = factors.map(() => []);
  const seatOf = new Map<string, number>();
  const eligible = new Map<string, number[]>();

  const eligibleFactors = (approver: string): number[] => {
    let list = eligible.get(approver);
    if (!list) {
      list = [];
      factors.forEach((f, i) => {
        if (f.roles.some((role) => hasRole(approver, role))) list?.push(i);
      });
      eligible.set(approver, list);
    }
    return list;
  };

  const augment = (approver: string, visited: Set<number>): boolean => {
    for (const f of eligibleFactors(approver)) {
      if (visited.has(f)) continue;
      visited.add(f);
      const here = seated[f] as string[];
      if (here.length < (capacity[f] as number)) {
        here.push(approver);
        seatOf.set(approver, f);
        return true;
      }
      for (let k = 0; k < here.length; k += 1) {
        const other = here[k] as string;
        if (augment(other, visited)) {
          here[k] = approver;
          seatOf.set(approver, f);
          return true;
        }
      }
    }
    return false;
  };

  for (const approver of approvers) {
    if (seatOf.has(approver)) continue;
    augment(approver, new Set());
  }

  const seats: QuorumSeat[] = [];
  for (const approver of approvers) {
    const factor = seatOf.get(approver);
    if (factor !== undefined && !seats.some((s) => s.approver === approver)) seats.push({ approver, factor });
  }
  const remaining: QuorumShortfall[] = [];
  factors.forEach((f, i) => {
    const needed = (capacity[i] as number) - (seated[i] as string[]).length;
    if (needed > 0 || capacity[i] === 0) remaining.push({ factor: i, roles: f.roles, needed: Math.max(needed, 1) });
  });
  return { met: remaining.length === 0, seats, remaining };
}
