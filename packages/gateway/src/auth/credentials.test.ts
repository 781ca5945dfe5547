import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRoster } from '@countersign/core';
import { ApiError, buildApp, route } from '../server/app.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../store/pg-test-url.js';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { z } from 'zod';
import { PostgresCredentialStore, SqliteCredentialStore, type CredentialStore } from './credential-store.js';
import { authenticate, authorize, issueCredential, OPERATIONS, revokeCredential, TOKEN_PREFIX, VerifiedCredentials, type Identity, type Operation } from './credentials.js';
import { createGuard, identityOf, requireAuth } from './hook.js';

const tmp = mkdtempSync(join(tmpdir(), 'countersign-credentials-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const T0 = Date.parse('2026-05-15T09:00:00Z');
const DAY = 86_400_000;

const roster = buildRoster({
  principals: [
    { id: 'payments-copilot', kind: 'agent', roles: ['agent'], keys: [] },
    { id: 'olivia', kind: 'human', roles: ['oncall-operator'], keys: [] },
    { id: 'deployer', kind: 'service', roles: [], keys: [] },
  ],
});
const surfaces = new Set(['copilot-console', 'approver-console']);

const code = (promise: Promise<unknown>) => promise.then(
  () => 'resolved',
  (err: { code?: string }) => err.code,
);

/** The store with a count of full-row reads, to tell the cached path (status only) from the full one. */
function counting(store: CredentialStore): { store: CredentialStore; finds: () => number } {
  let finds = 0;
  const counted: CredentialStore = {
    kind: store.kind,
    insert: (c) => store.insert(c),
    find: (id) => {
      finds += 1;
      return store.find(id);
    },
    status: (id) => store.status(id),
    revoke: (id, at) => store.revoke(id, at),
    list: () => store.list(),
    close: () => store.close(),
  };
  return { store: counted, finds: () => finds };
}

interface Opened {
  readonly store: CredentialStore;
  /** Another connection to the same database, as `countersign token revoke` in another process would open. */
  readonly other: () => Promise<CredentialStore>;
  readonly dispose: () => Promise<void>;
}

function runCredentialContract(name: string, open: () => Promise<Opened>) {
  describe(`credentials on ${name}`, () => {
    it('issues `cst_<id>_<secret>` bound to one principal and one surface, and authenticates it', async () => {
      const { store, dispose } = await open();
      try {
        const { token, credential } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: T0 + 30 * DAY }, T0);
        expect(token).toMatch(/^cst_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
        expect(token.startsWith(`${TOKEN_PREFIX}${credential.id}_`)).toBe(true);
        const identity = await authenticate(store, `Bearer ${token}`, T0 + 1);
        expect(identity).toEqual({ credentialId: credential.id, principal: 'olivia', surface: 'approver-console' });
        // the scheme is case-insensitive (RFC 9110 §11.1)
        expect(await authenticate(store, `bearer ${token}`, T0 + 1)).toEqual(identity);
      } finally {
        await dispose();
      }
    });

    it('refuses missing, malformed, unknown, wrong-secret, revoked and expired tokens with their codes', async () => {
      const { store, dispose } = await open();
      try {
        const { token, credential } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: T0 + DAY }, T0);
        const secret = token.slice(`cst_${credential.id}_`.length);
        const otherSecret = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
        expect(await code(authenticate(store, undefined, T0))).toBe('TOKEN_MISSING');
        expect(await code(authenticate(store, '  ', T0))).toBe('TOKEN_MISSING');
        expect(await code(authenticate(store, token, T0))).toBe('TOKEN_MALFORMED');
        expect(await code(authenticate(store, `Basic ${token}`, T0))).toBe('TOKEN_MALFORMED');
        expect(await code(authenticate(store, 'Bearer cst_abc_def', T0))).toBe('TOKEN_MALFORMED');
        expect(await code(authenticate(store, `Bearer ${token}x`, T0))).toBe('TOKEN_MALFORMED');
        expect(await code(authenticate(store, `Bearer cst_aaaaaaaaaaaaaaaa_${secret}`, T0))).toBe('TOKEN_UNKNOWN');
        expect(await code(authenticate(store, `Bearer cst_${credential.id}_${otherSecret}`, T0))).toBe('TOKEN_UNKNOWN');
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + DAY - 1))).toBe('resolved');
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + DAY))).toBe('TOKEN_EXPIRED');

        const revoked = await revokeCredential(store, credential.id, T0 + 10);
        expect(revoked.revokedAt).toBe(T0 + 10);
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + 20))).toBe('TOKEN_REVOKED');
        // only the holder of the secret learns that the id was revoked
        expect(await code(authenticate(store, `Bearer cst_${credential.id}_${otherSecret}`, T0 + 20))).toBe('TOKEN_UNKNOWN');
        // revoking again keeps the first time
        expect((await revokeCredential(store, credential.id, T0 + 99)).revokedAt).toBe(T0 + 10);
        expect(await code(revokeCredential(store, 'zzzzzzzzzzzzzzzz', T0))).toBe('USAGE');
        expect(await code(revokeCredential(store, 'not-an-id', T0))).toBe('USAGE');
      } finally {
        await dispose();
      }
    });

    it('error messages never quote the token', async () => {
      const { store, dispose } = await open();
      try {
        const { token } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: T0 + 1 }, T0);
        for (const [header, now] of [[`Bearer ${token}`, T0 + 5], [`Bearer ${token}!`, T0], [`Bearer ${token.slice(0, -2)}zz`, T0]] as const) {
          const err = (await authenticate(store, header, now).catch((e: unknown) => e)) as Error & { details?: unknown };
          expect(err).toBeInstanceOf(Error);
          expect(`${err.message} ${JSON.stringify(err.details ?? {})}`).not.toContain(token.slice(21));
        }
      } finally {
        await dispose();
      }
    });

    it('lists credentials without secrets, never-expiring ones included, and refuses bad input', async () => {
      const { store, dispose } = await open();
      try {
        const a = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: null }, T0);
        const b = await issueCredential(store, { principal: 'payments-copilot', surface: 'copilot-console', expiresAt: T0 + DAY }, T0 + 1);
        const list = await store.list();
        expect(list).toEqual([a.credential, b.credential]);
        expect(JSON.stringify(list)).not.toContain(a.token.slice(21));
        expect(await code(authenticate(store, `Bearer ${a.token}`, T0 + 1000 * DAY))).toBe('resolved');
        expect(await code(issueCredential(store, { principal: 'Olivia', surface: 'approver-console', expiresAt: null }, T0))).toBe('USAGE');
        expect(await code(issueCredential(store, { principal: 'olivia', surface: 'x y', expiresAt: null }, T0))).toBe('USAGE');
        expect(await code(issueCredential(store, { principal: 'olivia', surface: 'signed-cli', expiresAt: T0 }, T0))).toBe('USAGE');
      } finally {
        await dispose();
      }
    });

    it('a credential that authenticated before is refused at once when another connection revokes it', async () => {
      const { store: base, other, dispose } = await open();
      try {
        const { store, finds } = counting(base);
        const verified = new VerifiedCredentials();
        const { token, credential } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: T0 + DAY }, T0);
        const identity = await authenticate(store, `Bearer ${token}`, T0 + 1, verified);
        expect([finds(), verified.size]).toEqual([1, 1]);
        // the second call takes the cached path: no full read, the same identity
        expect(await authenticate(store, `Bearer ${token}`, T0 + 2, verified)).toEqual(identity);
        expect(finds()).toBe(1);

        const elsewhere = await other();
        try {
          await revokeCredential(elsewhere, credential.id, T0 + 3);
        } finally {
          await elsewhere.close();
        }
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + 4, verified))).toBe('TOKEN_REVOKED');
        expect(verified.size).toBe(0);
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + 5, verified))).toBe('TOKEN_REVOKED');
      } finally {
        await dispose();
      }
    });

    it('a cached credential still expires, and a wrong secret for its id never uses the cache', async () => {
      const { store: base, dispose } = await open();
      try {
        const { store, finds } = counting(base);
        const verified = new VerifiedCredentials();
        const { token, credential } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: T0 + DAY }, T0);
        const secret = token.slice(`cst_${credential.id}_`.length);
        const otherSecret = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
        await authenticate(store, `Bearer ${token}`, T0, verified);
        expect(await code(authenticate(store, `Bearer cst_${credential.id}_${otherSecret}`, T0, verified))).toBe('TOKEN_UNKNOWN');
        // the wrong secret took the full path (a second find), and the holder keeps its cache entry
        expect([finds(), verified.size]).toEqual([2, 1]);
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + DAY - 1, verified))).toBe('resolved');
        expect(finds()).toBe(2);
        expect(await code(authenticate(store, `Bearer ${token}`, T0 + DAY, verified))).toBe('TOKEN_EXPIRED');
        expect(verified.size).toBe(0);
      } finally {
        await dispose();
      }
    });
  });
}

runCredentialContract('sqlite', async () => {
  const path = join(tmp, `c-${Math.random().toString(36).slice(2)}.db`);
  const store = SqliteCredentialStore.open(path);
  return { store, other: async () => SqliteCredentialStore.open(path), dispose: () => store.close() };
});

const pgUrl = await reachableTestPostgres();
describe.skipIf(pgUrl === null)('on the real postgres', () => {
  runCredentialContract('postgres', async () => {
    const schema = testSchemaName('cs_cred');
    const store = await PostgresCredentialStore.open(pgUrl!, { schema });
    return {
      store,
      other: () => PostgresCredentialStore.open(pgUrl!, { schema }),
      dispose: async () => {
        await store.close();
        await dropTestSchema(pgUrl!, schema);
      },
    };
  });
});

describe('the cache of verified credentials', () => {
  it('refuses a cached credential whose row is gone', async () => {
    const path = join(tmp, 'gone.db');
    const store = SqliteCredentialStore.open(path);
    try {
      const verified = new VerifiedCredentials();
      const { token, credential } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: null }, T0);
      await authenticate(store, `Bearer ${token}`, T0, verified);
      const db = new Database(path);
      db.prepare('DELETE FROM credentials WHERE id = ?').run(credential.id);
      db.close();
      expect(await code(authenticate(store, `Bearer ${token}`, T0, verified))).toBe('TOKEN_UNKNOWN');
      expect(verified.size).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('holds at most its capacity, dropping the oldest, which then takes the full path again', async () => {
    const { store, finds } = counting(SqliteCredentialStore.open(':memory:'));
    try {
      const verified = new VerifiedCredentials(2);
      const tokens = [];
      for (let i = 0; i < 3; i += 1) tokens.push((await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: null }, T0)).token);
      for (const token of tokens) await authenticate(store, `Bearer ${token}`, T0, verified);
      expect([finds(), verified.size]).toEqual([3, 2]);
      await authenticate(store, `Bearer ${tokens[2]}`, T0, verified);
      expect(finds()).toBe(3);
      await authenticate(store, `Bearer ${tokens[0]}`, T0, verified);
      expect([finds(), verified.size]).toEqual([4, 2]);
    } finally {
      await store.close();
    }
  });
});

describe('the credentials table', () => {
  it('shares the ledger file and keeps only a 32-byte hash of the secret', async () => {
    const path = join(tmp, 'shared.db');
    const ledger = SqliteLedgerStore.open(path);
    const store = SqliteCredentialStore.open(path);
    const { token, credential } = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: null }, T0);
    await store.close();
    await ledger.close();
    const db = new Database(path, { readonly: true });
    const row = db.prepare('SELECT * FROM credentials WHERE id = ?').get(credential.id) as Record<string, unknown>;
    db.close();
    expect(Object.keys(row).sort()).toEqual(['created_at', 'expires_at', 'id', 'principal', 'revoked_at', 'secret_sha256', 'surface']);
    expect((row['secret_sha256'] as Buffer).length).toBe(32);
    const secret = token.slice(`cst_${credential.id}_`.length);
    for (const value of Object.values(row)) {
      const text = Buffer.isBuffer(value) ? value.toString('latin1') + value.toString('base64url') : String(value);
      expect(text).not.toContain(secret);
    }
  });
});

describe('authorize', () => {
  const as = (principal: string, surface = 'copilot-console'): Identity => ({ credentialId: 'aaaaaaaaaaaaaaaa', principal, surface });
  const all = Object.keys(OPERATIONS) as Operation[];
  const agentOps = ['propose', 'status', 'wait', 'execute', 'report_outcome'];

  it('lets an agent propose, read status, wait, execute and report outcomes, and nothing else', () => {
    for (const op of all) {
      const attempt = () => authorize(as('payments-copilot'), op, roster, surfaces);
      if (agentOps.includes(op)) expect(attempt).not.toThrow();
      else expect(attempt, op).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    }
    expect(all.filter((op) => OPERATIONS[op].agent).sort()).toEqual([...agentOps].sort());
  });

  it('lets humans and services call every operation', () => {
    for (const op of all) {
      expect(() => authorize(as('olivia', 'approver-console'), op, roster, surfaces)).not.toThrow();
      expect(() => authorize(as('deployer'), op, roster, surfaces)).not.toThrow();
    }
  });

  it('fails closed on a principal or surface the active bundle does not declare', () => {
    expect(() => authorize(as('mallory'), 'status', roster, surfaces)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => authorize(as('olivia', 'webhook'), 'approve', roster, surfaces)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => authorize(as('olivia', 'webhook'), 'approve', roster)).not.toThrow();
    expect(() => authorize(as('olivia'), 'nonsense' as Operation, roster)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});

describe('the auth hook over HTTP', () => {
  it('maps token and right failures to 401 and 403 with codes, and hands routes the identity', async () => {
    const store = SqliteCredentialStore.open(':memory:');
    let now = T0;
    const clock = () => now;
    const forbidden: string[] = [];
    let recording = true;
    const guard = createGuard({
      credentials: store,
      clock,
      authority: () => ({ roster, surfaces }),
      onForbidden: (identity, operation) => {
        if (!recording) throw new ApiError('STORE_UNAVAILABLE', 'the refusal could not be recorded; try again');
        forbidden.push(`${identity.principal}:${operation}`);
      },
    });
    const Who = z.strictObject({ principal: z.string(), surface: z.string(), credential: z.string() });
    const app = buildApp({
      logLevel: 'silent',
      routes: [
        route({
          method: 'POST',
          path: '/v1/requests/:id/approvals',
          summary: 'approve',
          tag: 'test',
          response: Who,
          handler: async ({ request }) => {
            const identity = await guard(request, 'approve');
            return { principal: identity.principal, surface: identity.surface, credential: identity.credentialId };
          },
        }),
      ],
    });
    // the preHandler form: every route of this app authenticates, identity on the request
    const hooked = buildApp({
      logLevel: 'silent',
      routes: [
        route({
          method: 'GET',
          path: '/v1/whoami',
          summary: 'who',
          tag: 'test',
          response: Who,
          handler: async ({ request }) => {
            const identity = identityOf(request);
            return { principal: identity.principal, surface: identity.surface, credential: identity.credentialId };
          },
        }),
      ],
    });
    hooked.addHook('preHandler', requireAuth(store, clock));
    const agent = await issueCredential(store, { principal: 'payments-copilot', surface: 'copilot-console', expiresAt: T0 + DAY }, T0);
    const human = await issueCredential(store, { principal: 'olivia', surface: 'approver-console', expiresAt: T0 + DAY }, T0);
    const post = (token?: string) =>
      app.inject({ method: 'POST', url: '/v1/requests/r1/approvals', headers: token === undefined ? {} : { authorization: token } });

    const missing = await post();
    expect([missing.statusCode, missing.json().error.code]).toEqual([401, 'TOKEN_MISSING']);
    const malformed = await post('Bearer nope');
    expect([malformed.statusCode, malformed.json().error.code]).toEqual([401, 'TOKEN_MALFORMED']);
    const asAgent = await post(`Bearer ${agent.token}`);
    expect([asAgent.statusCode, asAgent.json().error.code]).toEqual([403, 'FORBIDDEN']);
    expect(forbidden).toEqual(['payments-copilot:approve']);
    // DESIGN invariant 7: a refusal that could not be recorded is not answered as a 403, nor allowed
    recording = false;
    const unrecorded = await post(`Bearer ${agent.token}`);
    expect([unrecorded.statusCode, unrecorded.json().error.code]).toEqual([503, 'STORE_UNAVAILABLE']);
    recording = true;
    const ok = await post(`Bearer ${human.token}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ principal: 'olivia', surface: 'approver-console', credential: human.credential.id });

    const who = await hooked.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${agent.token}` } });
    expect(who.json()).toEqual({ principal: 'payments-copilot', surface: 'copilot-console', credential: agent.credential.id });
    const nobody = await hooked.inject({ method: 'GET', url: '/v1/whoami' });
    expect([nobody.statusCode, nobody.json().error.code]).toEqual([401, 'TOKEN_MISSING']);

    now = T0 + DAY;
    const expired = await post(`Bearer ${human.token}`);
    expect([expired.statusCode, expired.json().error.code]).toEqual([401, 'TOKEN_EXPIRED']);
    await revokeCredential(store, human.credential.id, now);
    const revoked = await post(`Bearer ${human.token}`);
    expect([revoked.statusCode, revoked.json().error.code]).toEqual([401, 'TOKEN_REVOKED']);
    await app.close();
    await hooked.close();
    await store.close();
  });

  it('refuses a token the guard has seen once it is revoked through another connection, from the next request on', async () => {
    const path = join(tmp, 'guarded.db');
    const store = SqliteCredentialStore.open(path);
    const guard = createGuard({ credentials: store, clock: () => T0, authority: () => ({ roster, surfaces }) });
    const app = buildApp({
      logLevel: 'silent',
      routes: [
        route({
          method: 'GET',
          path: '/v1/status',
          summary: 'status',
          tag: 'test',
          response: z.strictObject({ principal: z.string() }),
          handler: async ({ request }) => ({ principal: (await guard(request, 'status')).principal }),
        }),
      ],
    });
    try {
      const agent = await issueCredential(store, { principal: 'payments-copilot', surface: 'copilot-console', expiresAt: null }, T0);
      const get = () => app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${agent.token}` } });
      for (let i = 0; i < 3; i += 1) expect((await get()).statusCode).toBe(200);
      // `countersign token revoke` in another process: its own connection to the file
      const elsewhere = SqliteCredentialStore.open(path);
      await revokeCredential(elsewhere, agent.credential.id, T0);
      await elsewhere.close();
      const refused = await get();
      expect([refused.statusCode, refused.json().error.code]).toEqual([401, 'TOKEN_REVOKED']);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
