import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPasskey, startConsoleWorld, waitForText, type ConsoleWorld } from './helpers/console-world.js';
import { call, CLI, type GatewayProcess, type Json, ledgerEntries } from './helpers/gateway-process.js';

/**
 * The approver console in a real browser (issue 14): Debian's Chromium
 * driven by playwright-core, the real gateway process, and a real OpenID
 * Connect provider (`oidc-provider`, started here on loopback with its
 * development login form) where any user name signs in as that subject.
 * Build first (`npm run build`).
 */

/** `COUNTERSIGN_SCREENSHOTS=docs/console` refreshes the documentation's screenshots; never in CI. */
const SCREENSHOTS = process.env['COUNTERSIGN_SCREENSHOTS'];
if (SCREENSHOTS !== undefined && process.env['CI'] !== undefined) throw new Error('COUNTERSIGN_SCREENSHOTS writes into the repository: not in CI');

let world: ConsoleWorld;
let dir = '';
let gw: GatewayProcess;
let issuer = '';
let browserContext: BrowserContext;
/** Where the browser reaches the console: a host name, as WebAuthn needs one for its RP ID (an IP address is refused). */
let consoleUrl = '';

async function agentProposes(step: Record<string, unknown>): Promise<string> {
  const request = (await world.propose(step))['request'] as string | null;
  expect(request).not.toBeNull();
  return request!;
}

const signIn = (user: string): Promise<Page> => world.signIn(user);

beforeAll(async () => {
  world = await startConsoleWorld({
    name: 'console',
    subjects: ['priya', 'olivia'],
    // a risk class only the approver's own key satisfies: a passkey here, or the signed CLI
    policy: (doc) => {
      (doc['risk_classes'] as Json[]).push({
        id: 'keyed',
        description: 'one payments owner, signing with their own key',
        effect: 'require_approval',
        approval: { quorum: [{ roles: ['payments-owner'], count: 1 }], surfaces: ['approver-console'], attestation: 'key', approval_ttl: '15m', grant_ttl: '5m' },
      });
      (doc['actions'] as Json[]).push({ id: 'ledger.freeze', description: 'freeze the payments ledger', class: 'write', risk: { dev: 'low', staging: 'low', prod: 'keyed' } });
    },
  });
  ({ dir, gw, issuer, consoleUrl, browser: browserContext } = world);
}, 90_000);

afterAll(async () => {
  await world?.close();
}, 60_000);

describe('the approver console in Chromium', () => {
  it('signs in through the identity provider, shows the waiting request, and an approval by keyboard alone lets the waiting agent proceed', async () => {
    const requestId = await agentProposes({
      action: 'comms.send_status_update',
      environment: 'prod',
      target: 'customers',
      params: { channel: 'statuspage', message: 'payments degraded' },
      rationale: 'customers see failed payments',
      expected_consequence: 'customers read this message',
    });
    const page = await signIn('priya');
    await page.waitForSelector(`#yours tr[data-request="${requestId}"]`);
    expect(await page.textContent('#who')).toContain('priya · approver-console');
    if (SCREENSHOTS !== undefined) await page.screenshot({ path: join(SCREENSHOTS, 'inbox.png'), fullPage: true });

    // the session cookie: HttpOnly, Secure, SameSite=Strict, host-only
    const session = (await browserContext.cookies(consoleUrl)).find((c) => c.name === '__Host-countersign-session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    // and the page cannot read it
    expect(await page.evaluate<string>('document.cookie')).not.toContain('countersign-session');

    // a change without the CSRF token is refused, though the cookie rides along
    const forged = await page.evaluate(async (id) => {
      const res = await fetch(`/v1/requests/${id}/approvals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      return { status: res.status, body: await res.json() };
    }, requestId);
    expect(forged).toMatchObject({ status: 403, body: { error: { code: 'CSRF_FAILED' } } });

    // the agent waits on a long poll meanwhile
    const agentToken = await gw.token('payments-copilot', 'copilot-console');
    const waiting = call(gw.url, 'GET', `/v1/requests/${requestId}?wait=30s`, agentToken);

    // keyboard only: Tab to the request's link, Enter; Tab to Approve, Enter
    await page.keyboard.press('Tab');
    const onLink = `document.activeElement?.getAttribute('href') === ${JSON.stringify(`/console/requests/${requestId}`)}`;
    for (let i = 0; i < 40 && !(await page.evaluate<boolean>(onLink)); i++) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await page.waitForSelector('#verdict');
    expect(await page.textContent('#verdict')).toContain('You can approve');
    for (const field of ['comms.send_status_update', 'customers', 'prod', 'customers read this message', 'customers see failed payments', 'payments-copilot on behalf of olivia, from copilot-console']) {
      expect(await page.textContent('#details')).toContain(field);
    }
    expect(await page.textContent('#statement')).toContain(`"request": "${requestId}"`);
    if (SCREENSHOTS !== undefined) await page.screenshot({ path: join(SCREENSHOTS, 'request.png'), fullPage: true });
    for (let i = 0; i < 40 && (await page.evaluate<string>('document.activeElement?.id')) !== 'approve'; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement?.id')).toBe('approve');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#result.yes');
    expect(await page.textContent('#result')).toContain('approved');

    const answer = await waiting;
    expect(answer.body['status']).toBe('approved');
    expect(typeof answer.body['grant']).toBe('string');
    const approvals = (await call(gw.url, 'GET', `/v1/requests/${requestId}`, agentToken)).body['approvals'] as Json[];
    expect(approvals).toEqual([expect.objectContaining({ approver: 'priya', surface: 'approver-console', attestation: 'gateway' })]);

    const entries = await ledgerEntries(gw);
    expect(entries.find((e) => e.type === 'session.opened')?.payload).toMatchObject({ principal: 'priya', issuer, subject: 'priya' });
    // the sign-in entries sit in the chain like any other: the request's trace still reads
    expect((await call(gw.url, 'GET', `/v1/trace/${requestId}`, await gw.token('priya', 'approver-console'))).status).toBe(200);

    // signing out revokes the session everywhere
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in');
    expect((await browserContext.cookies(consoleUrl)).find((c) => c.name === '__Host-countersign-session')).toBeUndefined();
    expect((await ledgerEntries(gw)).some((e) => e.type === 'session.closed')).toBe(true);
    await page.close();
  }, 90_000);

  it('refuses an identity mapped to no one, and records the refusal', async () => {
    const page = await signIn('mallory');
    expect(await page.textContent('#code')).toBe('IDENTITY_UNMAPPED');
    expect((await browserContext.cookies(consoleUrl)).find((c) => c.name === '__Host-countersign-session')).toBeUndefined();
    expect((await ledgerEntries(gw)).find((e) => e.type === 'session.refused')?.payload).toMatchObject({ issuer, subject: 'mallory', code: 'IDENTITY_UNMAPPED' });
    await page.close();
  }, 60_000);

  it('shows the person a request is for that they cannot approve it, and the refusal with its code when they try', async () => {
    const requestId = await agentProposes({ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'resolved' } });
    const page = await signIn('olivia');
    await page.waitForSelector(`#others tr[data-request="${requestId}"]`);
    await page.goto(`${consoleUrl}/console/requests/${requestId}`);
    await page.waitForSelector('#verdict');
    expect(await page.textContent('#verdict')).toContain('SELF_APPROVAL');
    await page.click('#approve');
    await page.waitForSelector('#result.no');
    expect(await page.textContent('#result')).toContain('SELF_APPROVAL');
    const agentToken = await gw.token('payments-copilot', 'copilot-console');
    expect((await call(gw.url, 'GET', `/v1/requests/${requestId}`, agentToken)).body['status']).toBe('open');
    await page.click('#sign-out');
    await page.close();
  }, 60_000);

  it('registers a passkey through a virtual authenticator, approves a key-only request with it, and the signature verifies offline from an export', async () => {
    const page = await signIn('priya');
    await page.waitForSelector('#who a[href="/console/passkeys"]');
    // Chromium's virtual authenticator stands in for the device: user verification always succeeds
    const { cdp, authenticatorId } = await registerPasskey(browserContext, page);
    const stored = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    expect(stored).toHaveLength(1);
    const registered = (await ledgerEntries(gw)).filter((e) => e.type === 'passkey.registered');
    expect(registered).toHaveLength(1);
    const opened = (await ledgerEntries(gw)).filter((e) => e.type === 'session.opened' && e.payload['principal'] === 'priya').at(-1);
    // bound to the signed-in session: the registration names the session's credential, whose opening names the identity
    expect(registered[0]?.payload).toMatchObject({ principal: 'priya', origin: consoleUrl, rp_id: 'localhost', credential: opened?.subjects['credential'], identity: { issuer, subject: 'priya' } });
    // the identity rides in its own HttpOnly cookie, signed by the gateway
    expect((await browserContext.cookies(consoleUrl)).find((c) => c.name === '__Host-countersign-identity')).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(registered[0]?.actor).toBe('priya');

    // a passkey is registered from a console session only: from the signed CLI it is refused, and the refusal recorded
    const fromCli = await call(gw.url, 'POST', '/v1/passkeys/registration', await gw.token('priya', 'signed-cli'), {});
    expect([fromCli.status, fromCli.body['error']?.['code']]).toEqual([403, 'SURFACE_NOT_ALLOWED']);
    expect((await ledgerEntries(gw)).at(-1)).toMatchObject({ type: 'authority.rejected', payload: { operation: 'passkey_register', code: 'SURFACE_NOT_ALLOWED' } });

    // a step only priya's own key can approve; the agent waits for it
    const requestId = await agentProposes({ action: 'ledger.freeze', environment: 'prod', target: 'payments-ledger', params: {}, expected_consequence: 'no postings until unfrozen' });
    const agentToken = await gw.token('payments-copilot', 'copilot-console');
    const waiting = call(gw.url, 'GET', `/v1/requests/${requestId}?wait=30s`, agentToken);
    await page.goto(`${consoleUrl}/console/requests/${requestId}`);
    await page.waitForSelector('#approve-passkey');
    // a signed-in click is not the approver's key here
    expect(await page.getAttribute('#approve', 'disabled')).not.toBeNull();
    expect(await page.textContent('#details')).toContain('signed with a key');
    await page.click('#approve-passkey');
    await page.waitForSelector('#result.yes');
    expect(await page.textContent('#result')).toContain('with your passkey');

    const answer = await waiting;
    expect(answer.body['status']).toBe('approved');
    expect(typeof answer.body['grant']).toBe('string');
    const accepted = (await ledgerEntries(gw)).find((e) => e.type === 'approval.accepted' && e.payload['request'] === requestId);
    expect(accepted?.payload).toMatchObject({ approver: 'priya', attestation: 'passkey', signature_verified: true, passkey: { credential_id: registered[0]?.payload['credential_id'] } });

    // offline: the exported ledger alone checks the passkey signature against the registered key
    const exported = join(dir, 'passkey-export.jsonl');
    const db = join(dir, 'ledger.db');
    const exportRun = spawnSync(process.execPath, [CLI, 'ledger', 'export', '--db', db, '--out', exported], { encoding: 'utf8' });
    expect(exportRun.status, exportRun.stderr).toBe(0);
    const checked = spawnSync(process.execPath, [CLI, 'trace', requestId, '--file', exported, '--check'], { encoding: 'utf8' });
    expect(checked.status, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).toContain('attestation passkey');
    // and a signature over anything else does not verify: the statement's reason edited in the export
    const lines = readFileSync(exported, 'utf8').split('\n');
    const forged = lines.map((line) => (line.includes('"approval.accepted"') && line.includes(requestId) ? line.replace('"reason":"checked the step, the target and the consequence"', '"reason":"edited afterwards"') : line));
    expect(forged).not.toEqual(lines);
    const forgedPath = join(dir, 'passkey-forged.jsonl');
    writeFileSync(forgedPath, forged.join('\n'));
    const refused = spawnSync(process.execPath, [CLI, 'trace', requestId, '--file', forgedPath, '--check'], { encoding: 'utf8' });
    expect(refused.status).not.toBe(0);

    // revoked from the same page: the next request offers no passkey, and a signature by it would not count
    await page.goto(`${consoleUrl}/console/passkeys`);
    await page.waitForSelector('#passkeys');
    await page.click('#passkeys button');
    await waitForText(page, '#passkeys', 'revoked by priya');
    expect((await ledgerEntries(gw)).some((e) => e.type === 'passkey.revoked' && e.payload['revoked_by'] === 'priya')).toBe(true);
    await page.click('#sign-out');
    await page.close();
  }, 90_000);
});
