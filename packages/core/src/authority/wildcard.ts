/**
 * Scopes are explicit lists (DESIGN invariant 6, the reference procedure's
 * "explicit scope allowlist (no wildcards)"). `*` and `?` are never patterns
 * anywhere a scope is written: a policy, a hold, an override. Matching them
 * literally would be worse than refusing them: a hold on `shard-*` would
 * report success and stop nothing. So a scope entry holding one is refused,
 * and this is the one definition every such check uses.
 */
const WILDCARD = /[*?]/;

/** True when `text` holds `*` or `?`. */
export function hasWildcard(text: string): boolean {
  return WILDCARD.test(text);
}
