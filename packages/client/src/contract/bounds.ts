import { z } from 'zod';

/**
 * Bounded building blocks for request bodies. Everything here arrives from a
 * caller and is attacker-controlled: every string and list has a ceiling, so
 * nothing unbounded reaches the ledger. The workflow's own rules (scopes,
 * wildcards, digests, roles) are the core's to judge and record; these only
 * keep the shape sane.
 */
/**
 * The longest id a caller may name, in a body or a path. The gateway's router
 * bounds a path parameter by this one too, so the schema and the router never
 * disagree about an id.
 */
export const ID_MAX_LENGTH = 200;
export const Id = z.string().min(1).max(ID_MAX_LENGTH);
export const ShortText = z.string().max(2_000);
export const LongText = z.string().max(4_000);
export const Digest = z.string().max(100);
export const Names = z.array(z.string().min(1).max(300)).max(64);
export const Instant = z.string().max(40);
export const IdParams = z.strictObject({ id: Id });
/** A compact JWS longer than this is not one of ours: refused before any parsing. */
export const MAX_GRANT_TOKEN_LENGTH = 4_096;
