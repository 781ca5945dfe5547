import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPasskey as registerWith, startConsoleWorld, waitForText, type ConsoleWorld } from './helpers/console-world.js';
import { call, CLI, EVIDENCE, type GatewayProcess, type Json, ledgerEntries } from './helpers/gateway-process.js';

/**
 * The console's other authorities in a real browser (issue 14 part 6):
 * holds, halts, rollbacks and override signing with passkeys, each by a
 * person signed in through a real OpenID Connect provider, against the real
 * gateway process, as test/console-browser.test.ts sets them up. Each signer
 * has their own Chromium virtual authenticator. Build first (`npm run build`).
 */

const RESTART = { action: 'workers.restart_pool', environment: 'prod', params: { strategy: 'rolling' }, rationale: 'workers stuck', expected_consequence: 'in-flight jobs are retried' };

let world: ConsoleWorld;
let gw: GatewayProcess;
let consoleUrl = '';
let dir = '';
let browserContext: BrowserContext;

const propose = (step: Record<string, unknown>): Promise<Json> => world.propose(step);

/** Sign in as `user`; the console's authority link is there once signed in. */
async function signIn(user: string): Promise<Page> {
  const page = await world.signIn(user);
  await page.waitForSelector('#who a[href="/console/authority"]');
  return page;
}

async function registerPasskey(page: Page): Promise<void> {
  await registerWith(browserContext, page);
}

async function openAuthority(page: Page): Promise<void> {
  await page.click('#who a[href="/console/authority"]');
  await page.waitForSelector('#open-hold');
}

beforeAll(async () => {
  // lena: incident lead (holds, halts, rollbacks, signer A); fatima: finance delegate (signer B, none of the rest)
  world = await startConsoleWorld({ name: 'console-actions', subjects: ['lena', 'fatima', 'priya'] });
  ({ gw, consoleUrl, dir, browser: browserContext } = world);
}, 90_000);

afterAll(async () => {
  await world?.close();
}, 60_000);

describe('the console’s holds, halts, rollbacks and overrides in Chromium', () => {
  it('opens a hold that holds a step, extends it with evidence, shows another person’s refused lift with its code and meaning, lifts it; issues and lifts a halt', async () => {
    const lena = await signIn('lena');
    await openAuthority(lena);
    expect(await lena.textContent('#hold-rights')).toContain('lift holds yes');
    await lena.selectOption('#hold-gate', 'K2');
    await lena.fill('#hold-environments', 'prod');
    await lena.fill('#hold-targets', 'ledger-worker');
    await lena.fill('#hold-evidence', EVIDENCE);
    await lena.fill('#hold-reason', 'ledger workers flapping');
    await lena.click('#open-hold button[type=submit]');
    await lena.waitForSelector('#hold-result.yes');
    const hold = (await lena.getAttribute('#holds tr[data-hold]', 'data-hold'))!;
    expect(hold).toBeTruthy();
    // the hold stops the matching step at decision, with its code
    const held = await propose({ ...RESTART, target: 'ledger-worker' });
    expect([held.effect, held.reasons]).toEqual(['held', expect.arrayContaining(['HOLD_ACTIVE'])]);

    // extended: more evidence
    const more = `sha256:${'a'.repeat(64)}`;
    await lena.fill(`#evidence-${hold}`, more);
    await lena.click(`#add-evidence-${hold}`);
    await waitForText(lena, '#hold-result', `Evidence added to ${hold}`);
    expect(await lena.textContent(`#holds tr[data-hold="${hold}"]`)).toContain(more);
    await lena.click('#sign-out');
    await lena.close();

    // fatima holds no lift role: the console lets her try, and shows the refusal's code and meaning
    const fatima = await signIn('fatima');
    await openAuthority(fatima);
    expect(await fatima.textContent('#hold-rights')).toContain('lift holds no');
    await fatima.click(`#lift-${hold}`);
    await fatima.waitForSelector('#hold-result.no');
    expect(await fatima.textContent('#hold-result')).toContain('ROLE_NOT_ELIGIBLE (the policy does not give any of your roles this authority)');
    await fatima.click('#sign-out');
    await fatima.close();

    const again = await signIn('lena');
    await openAuthority(again);
    await again.click(`#lift-${hold}`);
    await waitForText(again, '#hold-result', `Hold ${hold} lifted`);
    expect(await again.textContent('#hold-result')).toContain(`Hold ${hold} lifted`);
    expect((await propose({ ...RESTART, target: 'ledger-worker' })).effect).toBe('require_approval');

    // a halt over dev, issued and lifted
    await again.selectOption('#halt-scope', 'environment:dev');
    await again.fill('#halt-reason', 'dev deploys misbehaving');
    await again.click('#issue-halt button[type=submit]');
    await again.waitForSelector('#halt-result.yes');
    const halt = (await again.getAttribute('#halts tr[data-halt]', 'data-halt'))!;
    await again.click(`#lift-${halt}`);
    await waitForText(again, '#halt-result', `Halt ${halt} lifted`);
    expect(await again.textContent('#halts')).toBe('None.');

    const entries = await ledgerEntries(gw);
    const mine = (type: string) => entries.filter((e) => e.type === type && e.actor === 'lena');
    expect(mine('hold.opened').map((e) => e.payload)).toEqual([expect.objectContaining({ hold, trip_gate: 'K2', evidence_hash: EVIDENCE, scope: expect.objectContaining({ environments: ['prod'], targets: ['ledger-worker'] }) })]);
    expect(mine('hold.evidence_added').map((e) => e.payload['evidence_hash'])).toEqual([more]);
    expect(mine('hold.lifted')).toHaveLength(1);
    expect(entries.filter((e) => e.type === 'hold.rejected').map((e) => [e.actor, e.payload['code']])).toEqual([['fatima', 'ROLE_NOT_ELIGIBLE']]);
    expect(mine('halt.issued').map((e) => e.payload['scope'])).toEqual([{ kind: 'environment', environment: 'dev' }]);
    expect(mine('halt.lifted')).toHaveLength(1);
    await again.click('#sign-out');
    await again.close();
  }, 120_000);

  it('signer A and signer B each sign the override body with their own passkey in their own session, the lease runs the step, the signatures verify offline, and the rollback runs from the console', async () => {
    // the incident: the restart held under K1, its rollback registered, an override asked from the copilot console
    const opened = await call(gw.url, 'POST', '/v1/holds', await gw.token('sam', 'signed-cli'), { trip_gate: 'K1', scope: { environments: ['prod'], targets: ['payments-worker'] }, evidence_hash: EVIDENCE });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    const step = await propose({ ...RESTART, target: 'payments-worker' });
    expect(step.effect).toBe('held');
    const registered = await call(gw.url, 'POST', '/v1/rollbacks', await gw.token('olivia', 'approver-console'), { step: step.step, action: 'workers.rollback_pool', target: 'payments-worker' });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    const artifact = registered.body['artifact'] as string;
    const now = Date.now();
    const asked = await call(gw.url, 'POST', '/v1/overrides', await gw.token('olivia', 'copilot-console'), {
      hold: opened.body['hold'],
      step_digests: [step.digest],
      trip_gate_ack: 'K1',
      valid_from: new Date(now).toISOString(),
      valid_to: new Date(now + 3_600_000).toISOString(),
      scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] },
      reason_code: 'APPROVER_UNAVAILABLE',
      reason_text: 'second approver unreachable; backlog growing',
      rollback_artifact: artifact,
    });
    expect(asked.status, JSON.stringify(asked.body)).toBe(201);
    const override = asked.body['id'] as string;
    const bodyHash = asked.body['body_hash'] as string;

    // signer A: lena, on her device
    const lena = await signIn('lena');
    await registerPasskey(lena);
    await openAuthority(lena);
    await lena.click(`#overrides a[href="/console/overrides/${override}"]`);
    await lena.waitForSelector('#override-body');
    expect(await lena.textContent('#body-hash')).toBe(bodyHash);
    expect(await lena.getAttribute('#hash-check', 'class')).toContain('yes');
    expect(await lena.textContent('#override-body')).toContain('"reason_text": "second approver unreachable; backlog growing"');
    expect(await lena.inputValue('#seat')).toBe('a');
    await lena.click('#sign-passkey');
    await lena.waitForSelector('#override-result.yes');
    const signatureA = await lena.inputValue('#my-signature');
    expect(JSON.parse(signatureA)).toMatchObject({ kind: 'passkey', role: 'a', signer: 'lena', surface: 'approver-console', body_hash: bodyHash });
    await lena.click('#sign-out');
    await lena.close();

    const fatima = await signIn('fatima');
    await registerPasskey(fatima);
    await fatima.goto(`${consoleUrl}/console/overrides/${override}`);
    await fatima.waitForSelector('#override-body');
    expect(await fatima.inputValue('#seat')).toBe('b');
    // signer B: fatima, on her own device; lena's signature handed over as text
    await fatima.click('#sign-passkey');
    await fatima.waitForSelector('#override-result.yes');
    await fatima.fill('#other-signatures', signatureA);
    await fatima.click('#submit-override');
    await waitForText(fatima, '#override-result', 'Granted: lease');
    const granted = (await fatima.textContent('#override-result'))!;
    const lease = /lease (lease-[^,]+),/.exec(granted)?.[1];
    expect(lease, granted).toBeTruthy();
    await fatima.click('#sign-out');
    await fatima.close();

    // the lease runs exactly that step, once
    const agent = await gw.token('payments-copilot', 'copilot-console');
    const used = await call(gw.url, 'POST', `/v1/leases/${lease}/executions`, agent, { step: step.step });
    expect(used.status, JSON.stringify(used.body)).toBe(201);
    const outcome = await call(gw.url, 'POST', `/v1/executions/${used.body['execution']}/outcome`, agent, { outcome: 'succeeded' });
    expect(outcome.status, JSON.stringify(outcome.body)).toBe(200);
    const entries = await ledgerEntries(gw);
    const grantedEntry = entries.find((e) => e.type === 'override.granted' && e.payload['override'] === override);
    expect(grantedEntry?.payload['signers']).toEqual([
      expect.objectContaining({ role: 'b', principal: 'fatima', surface: 'approver-console', signature_verified: true, passkey: expect.objectContaining({ credential_id: expect.any(String) }) }),
      expect.objectContaining({ role: 'a', principal: 'lena', surface: 'approver-console', signature_verified: true, passkey: expect.objectContaining({ credential_id: expect.any(String) }) }),
    ]);

    // offline: the export alone verifies both passkey signatures
    const exported = join(dir, 'override-export.jsonl');
    const exportRun = spawnSync(process.execPath, [CLI, 'ledger', 'export', '--db', join(dir, 'ledger.db'), '--out', exported], { encoding: 'utf8' });
    expect(exportRun.status, exportRun.stderr).toBe(0);
    const checked = spawnSync(process.execPath, [CLI, 'trace', override, '--file', exported, '--check'], { encoding: 'utf8' });
    expect(checked.status, checked.stdout + checked.stderr).toBe(0);
    // and a signature moved to another seat afterwards does not
    const lines = readFileSync(exported, 'utf8').split('\n');
    const forged = lines.map((line) => (line.includes('"override.granted"') ? line.replace('"role":"a"', '"role":"extra"') : line));
    expect(forged).not.toEqual(lines);
    writeFileSync(join(dir, 'override-forged.jsonl'), forged.join('\n'));
    const refused = spawnSync(process.execPath, [CLI, 'trace', override, '--file', join(dir, 'override-forged.jsonl'), '--check'], { encoding: 'utf8' });
    expect(refused.status).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('the passkey signature of lena (signer extra) does not verify');

    // the rollback, run from the console by the incident lead
    const runner = await signIn('lena');
    await openAuthority(runner);
    await runner.click(`#run-${artifact}`);
    await runner.waitForSelector('#rollback-result.yes');
    expect(await runner.textContent('#rollback-result')).toContain(`Rollback ${artifact} runs as execution`);
    const ran = (await ledgerEntries(gw)).find((e) => e.type === 'rollback.executed' && e.payload['artifact'] === artifact);
    expect(ran?.actor).toBe('lena');
    await runner.click('#sign-out');
    await runner.close();
  }, 180_000);
});
