import { z } from 'zod';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Id, IdParams } from './bounds.js';

export const TokenIssue = z.strictObject({
  principal: Id,
  surface: Id,
  expires_in: z.string().max(16).optional().describe('a duration such as `12h` or `30d` (default 30d, at most 365d)'),
});
export type TokenIssue = DeepReadonly<z.input<typeof TokenIssue>>;

/** A token as administration shows it: never its secret. */
export const TokenRecord = z.object({
  id: z.string(),
  principal: z.string(),
  surface: z.string(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type TokenRecord = z.output<typeof TokenRecord>;

/** The secret `token` is in this answer once and recorded nowhere. */
export const TokenIssued = TokenRecord.extend({ token: z.string() });
export type TokenIssued = z.output<typeof TokenIssued>;

export const TokenList = z.object({ tokens: z.array(TokenRecord) });
export type TokenList = z.output<typeof TokenList>;

export const TOKEN_ENDPOINTS = {
  /** Token administration (policy `credentials.admin_roles`): body `{ principal, surface, expires_in? }`; the secret is in the answer once. */
  issueToken: endpoint({
    method: 'POST',
    path: '/v1/tokens',
    summary: 'issue a token for a principal on a surface (token administrators only, never for themselves); the secret is answered once and recorded nowhere',
    tag: 'tokens',
    operation: 'token_admin',
    body: TokenIssue,
    response: TokenIssued,
    status: 201,
  }),
  listTokens: endpoint({
    method: 'GET',
    path: '/v1/tokens',
    summary: 'the tokens issued, oldest first, without their secrets (token administrators only)',
    tag: 'tokens',
    operation: 'token_admin',
    query: z.strictObject({ principal: Id.optional() }),
    response: TokenList,
  }),
  revokeToken: endpoint({
    method: 'POST',
    path: '/v1/tokens/{id}/revoke',
    summary: 'revoke a token at once, on every replica (token administrators only)',
    tag: 'tokens',
    operation: 'token_admin',
    params: IdParams,
    response: TokenRecord,
  }),
};
