import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { call, type GatewayProcess, type Json, ledgerEntries, startGatewayProcess } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';

/**
 * Token administration over the API (issue 16): the policy's
 * `credentials.admin_roles` (here `sre`: sam) issue, list and revoke tokens,
 * never one that would sign approvals as someone else;
 * everything recorded, every refusal too; through the HTTP API and through
 * `countersign token --server`. The real gateway process; build first.
 */

const CLI = join(import.meta.dirname, '..', 'packages', 'gateway', 'dist', 'cli.js');
let dir = '';
let gw: GatewayProcess;


function cli(args: string[], token: string): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, 'token', ...args, '--server', gw.url], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', COUNTERSIGN_TOKEN: token } });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-token-admin-'));
  const path = writeTestPolicy(dir);
  const policy = parseYaml(readFileSync(path, 'utf8')) as Record<string, Json>;
  policy['credentials'] = { admin_roles: ['sre'] };
  writeFileSync(path, stringifyYaml(policy));
  gw = await startGatewayProcess({ policy: path, dir });
}, 60_000);

afterAll(async () => {
  expect(await gw?.stop()).toBe(0);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('token administration over the API', () => {
  it('an administrator issues a working token, lists it without its secret, and revokes it everywhere; each recorded with who did it', async () => {
    const sam = await gw.token('sam', 'signed-cli');
    const issued = await call(gw.url, 'POST', '/v1/tokens', sam, { principal: 'olivia', surface: 'copilot-console', expires_in: '12h' });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const token = issued.body['token'] as string;
    expect(token).toMatch(/^cst_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    // the secret is base64url and may itself hold `_`: it is everything after `cst_<id>_`
    const secret = token.slice('cst_'.length + 16 + 1);
    expect(Date.parse(issued.body['expires_at']) - Date.parse(issued.body['created_at'])).toBe(12 * 3_600_000);
    expect((await call(gw.url, 'GET', '/v1/requests', token)).status).toBe(200);

    const listed = await call(gw.url, 'GET', '/v1/tokens?principal=olivia', sam);
    expect(listed.body['tokens'].map((t: { id: string }) => t.id)).toContain(issued.body['id']);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const revoked = await call(gw.url, 'POST', `/v1/tokens/${issued.body['id']}/revoke`, sam, {});
    expect(revoked.status).toBe(200);
    expect(revoked.body['revoked_at']).not.toBeNull();
    const after = await call(gw.url, 'GET', '/v1/requests', token);
    expect([after.status, after.body['error']['code']]).toEqual([401, 'TOKEN_REVOKED']);

    const recorded = await ledgerEntries(gw);
    expect(recorded.find((e) => e.type === 'credential.issued' && e.payload['credential'] === issued.body['id'])).toMatchObject({ actor: 'sam', payload: { principal: 'olivia', surface: 'copilot-console', by: 'sam' } });
    expect(recorded.find((e) => e.type === 'credential.revoked' && e.payload['credential'] === issued.body['id'])).toMatchObject({ actor: 'sam' });
    // the secret is nowhere in the ledger
    expect(JSON.stringify(recorded)).not.toContain(secret);
  });

  it('refuses, and records, a non-administrator, a token for oneself, an undeclared principal or surface, and any agent', async () => {
    const sam = await gw.token('sam', 'signed-cli');
    const cases: [string, unknown, number, string][] = [
      [await gw.token('leo', 'signed-cli'), { principal: 'olivia', surface: 'approver-console' }, 403, 'NOT_TOKEN_ADMIN'],
      [sam, { principal: 'sam', surface: 'approver-console' }, 403, 'TOKEN_SELF_ISSUE'],
      // a gateway-attested approval from this token would be olivia's: the administrator could sign as her
      [sam, { principal: 'olivia', surface: 'approver-console' }, 403, 'TOKEN_SIGNING_SURFACE'],
      [sam, { principal: 'nobody', surface: 'approver-console' }, 422, 'TOKEN_PRINCIPAL_UNKNOWN'],
      [sam, { principal: 'olivia', surface: 'back-door' }, 422, 'TOKEN_SURFACE_UNKNOWN'],
      [await gw.token('payments-copilot', 'copilot-console'), { principal: 'olivia', surface: 'approver-console' }, 403, 'FORBIDDEN'],
    ];
    for (const [token, body, status, code] of cases) {
      const before = (await ledgerEntries(gw)).length;
      const res = await call(gw.url, 'POST', '/v1/tokens', token, body);
      expect([res.status, res.body['error']?.['code']], code).toEqual([status, code]);
      const added = (await ledgerEntries(gw)).slice(before);
      expect(added.find((e) => e.type === 'authority.rejected')?.payload, code).toMatchObject({ operation: 'token_admin', code });
      expect(added.some((e) => e.type === 'credential.issued'), code).toBe(false);
    }
    expect((await call(gw.url, 'GET', '/v1/tokens', await gw.token('leo', 'signed-cli'))).status).toBe(403);
    expect((await call(gw.url, 'POST', '/v1/tokens/abcdefghijklmnop/revoke', sam, {})).body['error']['code']).toBe('CREDENTIAL_UNKNOWN');
  });

  it('countersign token issue, list and revoke --server: no database, and the gateway’s refusals with their exit codes', async () => {
    const sam = await gw.token('sam', 'signed-cli');
    const issued = cli(['issue', '--principal', 'fatima', '--surface', 'copilot-console', '--expires', '2h', '--json'], sam);
    expect(issued.status, issued.stderr).toBe(0);
    const { token, id } = JSON.parse(issued.stdout) as { token: string; id: string };
    expect((await call(gw.url, 'GET', '/v1/requests', token)).status).toBe(200);
    const list = cli(['list', '--json'], sam);
    expect(list.status).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((t) => t.id)).toContain(id);
    expect(cli(['revoke', id], sam).status).toBe(0);
    expect((await call(gw.url, 'GET', '/v1/requests', token)).status).toBe(401);

    const refused = cli(['issue', '--principal', 'olivia', '--surface', 'signed-cli'], await gw.token('leo', 'signed-cli'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('error[NOT_TOKEN_ADMIN]');
    // on the database, without --policy: checked against the bundle in force in the ledger
    const direct = spawnSync(process.execPath, [CLI, 'token', 'issue', '--principal', 'nobody', '--surface', 'approver-console', '--db', join(dir, 'ledger.db')], { encoding: 'utf8' });
    expect(direct.status).toBe(2);
    expect(direct.stderr).toContain('not declared in the bundle in force');
    const both = spawnSync(process.execPath, [CLI, 'token', 'list', '--server', gw.url, '--db', join(dir, 'x.db')], { encoding: 'utf8' });
    expect(both.status).toBe(2);
  }, 60_000);
});
