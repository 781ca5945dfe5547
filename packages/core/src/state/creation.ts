import type { AuthorityEntry } from './parse.js';

/**
 * What the reducer creates once. Each entry type below creates one record
 * under a fresh id, and the reducer applies it only if that id is new: the
 * same id again, at a later seq, changes nothing (reduce.ts, the `has(id)`
 * guards). The gateway never writes such an entry, since every id it
 * creates is fresh (`ctx.ids`); a ledger that holds one was written by hand
 * or by a defect.
 *
 * The analyses (trace, its contract check, the postmortem, the override
 * report) skip the same entries, and `trace --check` and the postmortem
 * report each one. Three more entry types start an execution too
 * (`grant.consumed`, `lease.used`, `rollback.executed`): their id counts as
 * created, but they are never skipped, because the reducer still applies
 * the rest of them (the grant consumed, the lease used).
 *
 * Only entries that parse are seen: if the first creation does not match its
 * type, the analyses report it as malformed and read a later copy as the
 * first, where the reducer (which does not validate) kept the malformed one.
 */
export type CreatedKind = 'release' | 'passkey' | 'proposal' | 'request' | 'grant' | 'execution' | 'hold' | 'override' | 'lease' | 'artifact' | 'halt';

export interface Created {
  readonly kind: CreatedKind;
  readonly id: string;
}

/** The record `e` creates once, and whose copy the reducer ignores whole; null for an entry of another type. */
export function createdBy(e: AuthorityEntry): Created | null {
  switch (e.type) {
    case 'release.proposed':
      return { kind: 'release', id: e.payload.release };
    case 'passkey.registered':
      return { kind: 'passkey', id: e.payload.credential_id };
    case 'proposal.received':
      return { kind: 'proposal', id: e.payload.proposal };
    case 'request.opened':
      return { kind: 'request', id: e.payload.request };
    case 'grant.issued':
      return { kind: 'grant', id: e.payload.jti };
    case 'step.executed':
      return { kind: 'execution', id: e.payload.execution };
    case 'hold.opened':
      return { kind: 'hold', id: e.payload.hold };
    case 'override.requested':
      return { kind: 'override', id: e.payload.override };
    case 'override.granted':
      return { kind: 'lease', id: e.payload.lease };
    case 'rollback.registered':
      return { kind: 'artifact', id: e.payload.artifact };
    case 'halt.issued':
      return { kind: 'halt', id: e.payload.halt };
    default:
      return null;
  }
}

/** The execution an entry starts beside what else it records: created once, but the entry is never ignored whole. */
function startedBeside(e: AuthorityEntry): string | null {
  return e.type === 'grant.consumed' || e.type === 'lease.used' || e.type === 'rollback.executed' ? e.payload.execution : null;
}

/** An entry that creates a record under an id an earlier entry created. */
export interface Recreation extends Created {
  /** The seq of the entry that created it first: the one the reducer kept. */
  readonly first: number;
}

/** The entries of `entries` the reducer ignores as re-creations, by seq. */
export function recreations(entries: Iterable<AuthorityEntry>): ReadonlyMap<number, Recreation> {
  const firsts = new Map<string, number>();
  const out = new Map<number, Recreation>();
  for (const e of entries) {
    const started = startedBeside(e);
    // kinds keep their own ids: a grant and a lease may share one
    if (started !== null && !firsts.has(`execution ${started}`)) firsts.set(`execution ${started}`, e.seq);
    const created = createdBy(e);
    if (created === null) continue;
    const key = `${created.kind} ${created.id}`;
    const first = firsts.get(key);
    if (first === undefined) firsts.set(key, e.seq);
    else out.set(e.seq, { ...created, first });
  }
  return out;
}

/** The entries as the reducer applied them, and those it ignored as re-creations. */
export function withoutRecreations<E extends AuthorityEntry>(entries: readonly E[]): { readonly applied: E[]; readonly recreated: ReadonlyMap<number, Recreation> } {
  const recreated = recreations(entries);
  return { applied: entries.filter((e) => !recreated.has(e.seq)), recreated };
}

/** What the analyses say of a re-creation: "creates grant `grant-7` again, which #41 created". */
export function recreationText(r: Recreation): string {
  return `creates ${r.kind} \`${r.id}\` again, which #${r.first} created`;
}
