import type { AuthorityEntry } from './parse.js';

/**
 * What the reducer creates once. Each entry type below creates one record
 * under a fresh id, and the reducer applies it only if that id is new: the
 * same id again, at a later seq, changes nothing (reduce.ts, "created
 * once"). The gateway never writes such an entry; a ledger that holds one
 * was written by hand or by a defect.
 *
 * The analyses (trace, its contract check, the postmortem, the override
 * report) read the ledger as the reducer applied it, so they skip the same
 * entries, and `trace --check` reports each one. An entry that starts an
 * execution is not listed: it also consumes a grant or uses a lease, which
 * the reducer does apply, and the check reports a step that ran twice on
 * its own.
 */
export type CreatedKind = 'release' | 'passkey' | 'proposal' | 'request' | 'grant' | 'hold' | 'override' | 'lease' | 'artifact' | 'halt';

export interface Created {
  readonly kind: CreatedKind;
  readonly id: string;
}

/** The record `e` creates once, or null for an entry of another type. */
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
    const created = createdBy(e);
    if (created === null) continue;
    // kinds keep their own ids: a grant and a lease may share one
    const key = `${created.kind} ${created.id}`;
    const first = firsts.get(key);
    if (first === undefined) firsts.set(key, e.seq);
    else out.set(e.seq, { ...created, first });
  }
  return out;
}
