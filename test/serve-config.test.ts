import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { openCredentialStore } from '../packages/gateway/src/auth/credential-store.js';
import { issueCredential } from '../packages/gateway/src/auth/credentials.js';
import { freePort } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';
import { startWebhookReceiver } from './helpers/webhook-receiver.js';

/**
 * `countersign serve --config` (issue 16): flags over COUNTERSIGN_* variables
 * over the file over defaults; TLS from files, reloaded on SIGHUP without
 * dropping an open connection; a token in front of /metrics. The real CLI,
 * spawned; build first.
 */

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const TLS = join(ROOT, 'test', 'fixtures', 'tls');

let dir = '';
let policy = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-serve-config-'));
  policy = writeTestPolicy(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


interface Served {
  readonly child: ChildProcess;
  readonly address: string;
  readonly output: () => string;
  stop(): Promise<number | null>;
}

/** `serve` with these arguments and environment; resolves once it logs where it listens. */
function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 20 s:\n${output}`)), 20_000);
    const look = (chunk: Buffer): void => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('"countersign gateway listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve({
        child,
        address: (JSON.parse(line) as { address: string }).address,
        output: () => output,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output}`));
    });
  });
}

describe('serve --config', () => {
  it('takes a value from the flag, else its COUNTERSIGN_* variable, else the file, else the default', async () => {
    const [fromFile, fromEnv, fromFlag] = await Promise.all([freePort(), freePort(), freePort()]);
    const config = join(dir, 'countersign.yaml');
    writeFileSync(
      config,
      stringifyYaml({
        $schema: '../countersign-serve.schema.json',
        listen: { host: '127.0.0.1', port: fromFile },
        policy: 'policy.yaml',
        store: { sqlite: 'precedence.db' },
        key: { file: 'precedence.key', init: true },
        log_level: 'info',
      }),
    );
    const file = await serve(['--config', config]);
    expect(file.address).toBe(`http://127.0.0.1:${fromFile}`);
    // the human line on stderr says where to go (stderr and stdout are separate pipes: it may arrive after the JSON line)
    const human = `countersign gateway listening on http://127.0.0.1:${fromFile} (console: http://127.0.0.1:${fromFile}/console)`;
    for (let i = 0; i < 50 && !file.output().includes(human); i++) await new Promise((r) => setTimeout(r, 100));
    expect(file.output()).toContain(human);
    expect(await file.stop()).toBe(0);
    const env = await serve(['--config', config], { COUNTERSIGN_PORT: String(fromEnv) });
    expect(env.address).toBe(`http://127.0.0.1:${fromEnv}`);
    expect(await env.stop()).toBe(0);
    const flag = await serve(['--config', config, '--port', String(fromFlag)], { COUNTERSIGN_PORT: String(fromEnv) });
    expect(flag.address).toBe(`http://127.0.0.1:${fromFlag}`);
    expect(await flag.stop()).toBe(0);
  }, 60_000);

  it('delivers to notification destinations the file declares beside the policy’s, recorded, and refuses an id both declare', async () => {
    const receiver = await startWebhookReceiver('config-webhook-secret');
    try {
      const base = receiver.base;
      const db = join(dir, 'notify.db');
      const config = join(dir, 'notify.yaml');
      writeFileSync(
        config,
        stringifyYaml({
          listen: { port: 0 },
          policy: 'policy.yaml',
          store: { sqlite: 'notify.db' },
          key: { file: 'notify.key', init: true },
          notifications: { webhooks: [{ id: 'ops-pager', url: `${base}/pager`, secret_env: 'PAGER_SECRET', events: ['approval.requested'] }] },
        }),
      );
      const served = await serve(['--config', config], { PAGER_SECRET: 'config-webhook-secret' });
      try {
        const credentials = await openCredentialStore({ sqlite: db });
        const { token } = await issueCredential(credentials, { principal: 'payments-copilot', surface: 'copilot-console', expiresAt: null }, Date.now());
        await credentials.close();
        const proposed = await fetch(`${served.address}/v1/proposals`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: {} }] }),
        });
        expect(proposed.status).toBe(201);
        const deadline = Date.now() + 10_000;
        while (receiver.received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(receiver.received.map((r) => ({ path: r.path, event: r.body['event'], signed: r.signed }))).toEqual([{ path: '/pager', event: 'approval.requested', signed: true }]);
      } finally {
        expect(await served.stop()).toBe(0);
      }
      // the delivery is in the ledger like any other
      const ledger = new Database(db, { readonly: true });
      const delivered = ledger.prepare(`SELECT COUNT(*) AS n FROM ledger_entries WHERE CAST(bytes AS TEXT) LIKE '%"type":"notification.delivered"%' AND CAST(bytes AS TEXT) LIKE '%"webhook":"ops-pager"%'`).get() as { n: number };
      ledger.close();
      expect(delivered.n).toBe(1);

      // the same id in the policy and the file: refused at start, exit 2
      const clashing = join(dir, 'clash-policy.yaml');
      const doc = parseYaml(readFileSync(policy, 'utf8')) as Record<string, unknown>;
      doc['notifications'] = { webhooks: [{ id: 'ops-pager', url: `${base}/policy`, secret_env: 'PAGER_SECRET' }] };
      writeFileSync(clashing, stringifyYaml(doc));
      const run = spawnSync(process.execPath, [CLI, 'serve', '--config', config, '--policy', clashing, '--db', join(dir, 'clash.db')], { cwd: dir, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('webhook `ops-pager` declared by both the policy and the configuration');
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('refuses a file that breaks its schema, naming every problem, with exit 2', () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, stringifyYaml({ listen: { port: 'eighty' }, store: { sqlite: 'x.db' }, tls: { cert: 'a.pem' }, password: 'hunter2' }));
    const run = spawnSync(process.execPath, [CLI, 'serve', '--config', config], { cwd: dir, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('error[USAGE]');
    for (const path of ['listen.port', 'tls.key', '(top)']) expect(run.stderr).toContain(path);
  });

  it('prints the committed JSON Schema', () => {
    const run = spawnSync(process.execPath, [CLI, 'serve', '--print-config-schema'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(readFileSync(join(ROOT, 'countersign-serve.schema.json'), 'utf8'));
  });
});

/** The fingerprint of the certificate a fresh TLS connection is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.end();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

function getOverTls(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('serve with TLS', () => {
  it('serves HTTPS, swaps the certificate on SIGHUP for new connections while an open one completes, and guards /metrics with its token', async () => {
    const cert = join(dir, 'tls.pem');
    const key = join(dir, 'tls.key');
    copyFileSync(join(TLS, 'a.pem'), cert);
    copyFileSync(join(TLS, 'a.key'), key);
    const fingerprint = (name: string) => new X509Certificate(readFileSync(join(TLS, `${name}.pem`))).fingerprint256;
    const port = await freePort();
    const db = join(dir, 'tls.db');
    const served = await serve(['--policy', policy, '--db', db, '--key', join(dir, 'tls-gateway.key'), '--init-key', '--port', String(port), '--tls-cert', cert, '--tls-key', key], {
      COUNTERSIGN_METRICS_TOKEN: 'scraper-secret-0123456789',
    });
    try {
      expect(served.address).toBe(`https://127.0.0.1:${port}`);
      expect(await servedFingerprint(port)).toBe(fingerprint('a'));
      expect((await getOverTls(port, '/healthz')).status).toBe(200);

      // a long poll held open across the reload
      const credentials = await openCredentialStore({ sqlite: db });
      const token = (await issueCredential(credentials, { principal: 'payments-copilot', surface: 'copilot-console', expiresAt: Date.now() + 600_000 }, Date.now())).token;
      await credentials.close();
      const proposal = await fetchJsonOverTls(port, token);
      const held = getOverTls(port, `/v1/requests/${proposal}?wait=3s`, { authorization: `Bearer ${token}` });

      copyFileSync(join(TLS, 'b.pem'), cert);
      copyFileSync(join(TLS, 'b.key'), key);
      served.child.kill('SIGHUP');
      let now = '';
      // bounded: the reload is one signal away
      for (let i = 0; i < 100 && now !== fingerprint('b'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        now = await servedFingerprint(port);
      }
      expect(now).toBe(fingerprint('b'));
      // the log line comes through the child's pipe, the new certificate through a socket: the pipe may be behind
      for (let i = 0; i < 100 && !served.output().includes('tls certificate reloaded'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(served.output()).toContain('tls certificate reloaded');
      const answer = await held;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ id: proposal, status: 'open' });

      // a broken file on the next reload: the certificate in use stays
      writeFileSync(key, 'not a key');
      served.child.kill('SIGHUP');
      for (let i = 0; i < 100 && !served.output().includes('tls reload failed'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(served.output()).toContain('tls reload failed');
      expect(await servedFingerprint(port)).toBe(fingerprint('b'));

      expect((await getOverTls(port, '/metrics')).status).toBe(401);
      expect((await getOverTls(port, '/metrics', { authorization: 'Bearer wrong' })).status).toBe(401);
      const metrics = await getOverTls(port, '/metrics', { authorization: 'Bearer scraper-secret-0123456789' });
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('countersign_');
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 60_000);
});

/** Propose a step that needs approval, over TLS; resolves with its request id. */
function fetchJsonOverTls(port: number, token: string): Promise<string> {
  const body = JSON.stringify({
    agent: 'payments-copilot',
    on_behalf_of: 'olivia',
    surface: 'copilot-console',
    steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'tls' } }],
  });
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/v1/proposals', method: 'POST', rejectUnauthorized: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => {
          const request = (JSON.parse(text) as { steps?: { request?: string }[] }).steps?.[0]?.request;
          if (typeof request === 'string') resolve(request);
          else reject(new Error(`no request: ${res.statusCode} ${text}`));
        });
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}
