import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { call, freePort, type GatewayProcess, type Json, startGatewayProcess } from './gateway-process.js';
import { writeTestPolicy } from './http-suite.js';

/**
 * What the console's browser tests share (issue 14): a real OpenID Connect
 * provider (`oidc-provider`, its development login form: any user name signs
 * in as that subject), the real gateway process serving the console at
 * `http://localhost:PORT` (WebAuthn refuses an IP address as its RP ID), and
 * Debian's Chromium driven by playwright-core with a fresh profile.
 */
const CHROMIUM = '/usr/bin/chromium';
const CLIENT_SECRET = 'console-test-client-secret';

export interface ConsoleWorld {
  readonly dir: string;
  readonly gw: GatewayProcess;
  readonly issuer: string;
  /** Where the browser reaches the console. */
  readonly consoleUrl: string;
  readonly browser: BrowserContext;
  /** Sign in through the provider's login form as `user`, on a fresh page, with no session left from anyone else. */
  signIn(user: string): Promise<Page>;
  /** The copilot proposes one step on behalf of olivia; its answer for that step. */
  propose(step: Record<string, unknown>): Promise<Json>;
  close(): Promise<void>;
}

/**
 * Start the provider, the gateway (the test policy with `subjects` mapped to
 * the principals of the same name, edited by `policy`) and the browser.
 */
export async function startConsoleWorld(options: { readonly subjects: readonly string[]; readonly policy?: (doc: Record<string, Json>) => void; readonly name: string }): Promise<ConsoleWorld> {
  const dir = mkdtempSync(join(tmpdir(), `countersign-${options.name}-`));
  const [gwPort, idpPort] = await Promise.all([freePort(), freePort()]);
  const issuer = `http://127.0.0.1:${idpPort}`;
  const consoleUrl = `http://localhost:${gwPort}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'countersign', client_secret: CLIENT_SECRET, redirect_uris: [`${consoleUrl}/console/callback`], response_types: ['code'], grant_types: ['authorization_code'] }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true }) }),
    cookies: { keys: [`countersign-${options.name}-cookie-key`] },
    features: { devInteractions: { enabled: true } },
  });
  const idp: Server = provider.listen(idpPort, '127.0.0.1');

  const policyPath = writeTestPolicy(dir);
  const doc = parseYaml(readFileSync(policyPath, 'utf8')) as Record<string, Json>;
  options.policy?.(doc);
  doc['identities'] = options.subjects.map((subject) => ({ issuer, subject, principal: subject }));
  writeFileSync(policyPath, stringifyYaml(doc));
  const gw = await startGatewayProcess({
    policy: policyPath,
    dir,
    args: ['--port', String(gwPort), '--public-url', consoleUrl, '--oidc-issuer', issuer, '--oidc-client-id', 'countersign'],
    env: { COUNTERSIGN_OIDC_CLIENT_SECRET: CLIENT_SECRET },
  });
  const browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  return {
    dir,
    gw,
    issuer,
    consoleUrl,
    browser,
    async signIn(user) {
      await browser.clearCookies();
      const page = await browser.newPage();
      await page.goto(`${consoleUrl}/console`);
      await page.click('#sign-in');
      await page.waitForURL(/\/interaction\//);
      await page.fill('input[name=login]', user);
      await page.fill('input[name=password]', 'anything');
      await page.click('button[type=submit]');
      // the development provider asks for consent once per client and user
      await page.waitForURL((url) => url.pathname.startsWith('/console') || url.pathname.includes('/interaction/'));
      if (new URL(page.url()).pathname.includes('/interaction/')) await page.click('button[type=submit]');
      await page.waitForURL((url) => url.pathname.startsWith('/console'));
      return page;
    },
    async propose(step) {
      const token = await gw.token('payments-copilot', 'copilot-console');
      const proposed = await call(gw.url, 'POST', '/v1/proposals', token, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [step] });
      expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
      return proposed.body['steps'][0];
    },
    async close() {
      await browser.close();
      await new Promise((resolve) => idp.close(resolve));
      expect(await gw.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** This person's own device: a virtual authenticator on their page (Chromium's CDP WebAuthn domain), and a passkey registered with it from their session. */
export async function registerPasskey(browser: BrowserContext, page: Page): Promise<{ readonly authenticatorId: string; readonly cdp: Awaited<ReturnType<BrowserContext['newCDPSession']>> }> {
  const cdp = await browser.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.click('#who a[href="/console/passkeys"]');
  await page.waitForSelector('#register-passkey');
  await page.click('#register-passkey');
  await page.waitForSelector('#passkey-result.yes');
  return { authenticatorId, cdp };
}

/** Wait until `selector`'s text contains `text`: a result box keeps its class from the previous answer. */
export async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  // a function, not a string: the console's CSP forbids eval; the tests' own types have no DOM
  type Doc = { querySelector(selector: string): { textContent: string | null } | null };
  await page.waitForFunction(([sel, want]) => (globalThis as unknown as { document: Doc }).document.querySelector(sel)?.textContent?.includes(want) ?? false, [selector, text] as const);
}
