import { haltCovers } from '../state/command.js';
import type { AuthorityEntry } from '../state/parse.js';

/** An activation or a halt, with the grants it revoked by its own entry. */
export interface ImplicitRevocation {
  readonly seq: number;
  /** The halt's id; null for a bundle activation. */
  readonly halt: string | null;
  readonly grants: readonly string[];
}

/**
 * Each `bundle.activated` and `halt.issued` of `entries`, with the grants it
 * revoked by itself (ADR 006 decision 4): every grant then live, or those in
 * the halt's scope. Live as the reducer has it: issued, and not yet
 * consumed, revoked, or refused as expired. `entries` are the ones the
 * gateway applied, in ledger order (an entry that creates a record again
 * left out: state/creation.ts). A ledger written before decision 4 also
 * holds a `grant.revoked` for each after the entry; the grants are named
 * here all the same, as the reducer ends them there.
 */
export function implicitRevocations(entries: Iterable<AuthorityEntry>): ImplicitRevocation[] {
  const live = new Map<string, { readonly environment: string; readonly incident: string | null }>();
  const found: ImplicitRevocation[] = [];
  for (const e of entries) {
    switch (e.type) {
      case 'grant.issued':
        live.set(e.payload.jti, { environment: e.payload.environment, incident: e.payload.incident });
        break;
      case 'grant.consumed':
      case 'grant.revoked':
        live.delete(e.payload.jti);
        break;
      case 'grant.rejected':
        if (e.payload.code === 'GRANT_EXPIRED') live.delete(e.payload.jti);
        break;
      case 'bundle.activated':
      case 'halt.issued': {
        const scope = e.type === 'halt.issued' ? { scope: e.payload.scope } : null;
        const grants = [...live].filter(([, g]) => scope === null || haltCovers(scope, g.environment, g.incident)).map(([jti]) => jti);
        for (const jti of grants) live.delete(jti);
        found.push({ seq: e.seq, halt: e.type === 'halt.issued' ? e.payload.halt : null, grants });
        break;
      }
      default:
        break;
    }
  }
  return found;
}
