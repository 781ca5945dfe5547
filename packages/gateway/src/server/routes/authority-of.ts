import { activePolicy, type ServerContext } from '../context.js';

/**
 * Whether `principal` is a human of the bundle in force holding one of
 * `roles`: what the hold, halt, rollback and override listings say the
 * caller may do. Only a hint for the console: each command judges again, in
 * ledger order, and records its refusal.
 */
export function holdsRole(ctx: ServerContext, principal: string, roles: readonly string[]): boolean {
  const who = activePolicy(ctx)?.roster.get(principal);
  return who !== undefined && who.kind === 'human' && roles.some((r) => who.roles.has(r));
}
