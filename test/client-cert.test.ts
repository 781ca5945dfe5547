import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { CLI, ROOT, startGatewayProcess, type ExportedEntry, type GatewayProcess, type Json } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';

/**
 * Client certificates for executor surfaces (issue 16, part 4), end to end:
 * the real CLI serves HTTPS from a configuration file that names a client CA
 * and the surfaces that need a certificate; the CA and the client
 * certificates are made here with the openssl CLI. A token of such a surface
 * counts only with a certificate that chains to the CA and names its
 * principal; each refusal is answered with its code and recorded as
 * `authority.rejected`; SIGHUP re-reads the CA. Build first.
 */

const TLS = join(ROOT, 'test', 'fixtures', 'tls');
const SURFACE = 'copilot-console';
const AGENT = 'payments-copilot';

let dir = '';
let policy = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-client-cert-'));
  policy = writeTestPolicy(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA: `<name>.pem` and its key. */
function makeCa(name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
}

/** A client certificate `<name>.pem` with `<name>.key`, issued by `ca` (or self-signed when `ca` is null). */
function makeClient(name: string, subject: string, ca: string | null, san?: string): { cert: Buffer; key: Buffer } {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `extendedKeyUsage=clientAuth\n${san === undefined ? '' : `subjectAltName=${san}\n`}`);
  if (ca === null) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject]);
  } else {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', String(Date.now()), '-days', '2', '-out', `${name}.pem`, '-extfile', ext]);
  }
  return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) };
}

interface Reply {
  readonly status: number;
  readonly body: Json;
}

/** One call over a new TLS connection (no keep-alive: each call shows its own certificate). */
function callTls(url: string, method: 'GET' | 'POST', path: string, token: string, client?: { cert: Buffer; key: Buffer }, body?: unknown): Promise<Reply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: hostname,
        port,
        path,
        method,
        agent: false,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(client ?? {}),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: /^application\/json(;|$)/.test(res.headers['content-type'] ?? '') ? JSON.parse(text) : text }));
      },
    );
    req.once('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const PROPOSAL = {
  agent: AGENT,
  on_behalf_of: 'olivia',
  surface: SURFACE,
  steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments/shard-7' }],
};

describe('client certificates for executor surfaces', () => {
  let gw: GatewayProcess;
  let ca = '';
  let tlsCert = '';
  let tlsKey = '';

  beforeAll(async () => {
    makeCa('ca1');
    ca = join(dir, 'client-ca.pem');
    copyFileSync(join(dir, 'ca1.pem'), ca);
    tlsCert = join(dir, 'server.pem');
    tlsKey = join(dir, 'server.key');
    copyFileSync(join(TLS, 'a.pem'), tlsCert);
    copyFileSync(join(TLS, 'a.key'), tlsKey);
    // the client CA and its surfaces from the configuration file, relative paths read from its directory
    const config = join(dir, 'countersign.yaml');
    writeFileSync(config, stringifyYaml({ tls: { cert: 'server.pem', key: 'server.key', client_ca: 'client-ca.pem', client_cert_surfaces: [SURFACE] } }));
    gw = await startGatewayProcess({ policy, dir, args: ['--config', config] });
  }, 60_000);
  afterAll(async () => {
    expect(await gw.stop()).toBe(0);
  });

  it('lets a token of the surface through only with a certificate from the CA naming its principal, and records each refusal', async () => {
    expect(gw.url).toMatch(/^https:/);
    const token = await gw.token(AGENT, SURFACE);
    const byUri = makeClient('agent-uri', '/CN=executor-1', 'ca1', `URI:countersign:principal/${AGENT}`);
    const byCn = makeClient('agent-cn', `/CN=${AGENT}`, 'ca1');
    const otherPrincipal = makeClient('olivia', '/CN=olivia', 'ca1', 'URI:countersign:principal/olivia');
    const rogue = makeClient('rogue', `/CN=${AGENT}`, null);

    const missing = await callTls(gw.url, 'POST', '/v1/proposals', token, undefined, PROPOSAL);
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('CLIENT_CERT_MISSING');
    const invalid = await callTls(gw.url, 'POST', '/v1/proposals', token, rogue, PROPOSAL);
    expect(invalid.status).toBe(401);
    expect(invalid.body.error.code).toBe('CLIENT_CERT_INVALID');
    const mismatch = await callTls(gw.url, 'POST', '/v1/proposals', token, otherPrincipal, PROPOSAL);
    expect(mismatch.status).toBe(403);
    expect(mismatch.body.error).toEqual({ code: 'CLIENT_CERT_MISMATCH', message: `the client certificate does not name the token's principal \`${AGENT}\`` });

    const proposed = await callTls(gw.url, 'POST', '/v1/proposals', token, byUri, PROPOSAL);
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    expect(proposed.body.steps[0].effect).toBe('allow');
    // a certificate with no principal URI names the principal of its subject CN
    expect((await callTls(gw.url, 'POST', '/v1/proposals', token, byCn, PROPOSAL)).status).toBe(201);

    // other surfaces need no certificate: an approver reads the ledger without one
    const reader = await gw.token('priya', 'approver-console');
    const exported = await callTls(gw.url, 'GET', '/v1/ledger/export', reader);
    expect(exported.status).toBe(200);
    const entries = (exported.body as string)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as ExportedEntry)
      .filter((e) => e.type === 'authority.rejected');
    expect(entries.map((e) => [e.actor, e.payload.code, e.payload.operation, e.payload.rule_ids])).toEqual([
      [AGENT, 'CLIENT_CERT_MISSING', 'propose', ['tls:client_cert']],
      [AGENT, 'CLIENT_CERT_INVALID', 'propose', ['tls:client_cert']],
      [AGENT, 'CLIENT_CERT_MISMATCH', 'propose', ['tls:client_cert']],
    ]);
  });

  it('re-reads the client CA on SIGHUP: a CA rotated as docs/deploy.md says, both CAs, then only the new one', async () => {
    const token = await gw.token(AGENT, SURFACE);
    const fromCa1 = makeClient('agent-ca1', `/CN=${AGENT}`, 'ca1');
    makeCa('ca2');
    const fromCa2 = makeClient('agent-ca2', `/CN=${AGENT}`, 'ca2');
    expect((await callTls(gw.url, 'POST', '/v1/proposals', token, fromCa2, PROPOSAL)).body.error.code).toBe('CLIENT_CERT_INVALID');

    /** Send SIGHUP and wait until a new connection with `client` is answered `status`. */
    const reloadUntil = async (client: { cert: Buffer; key: Buffer }, status: number): Promise<void> => {
      gw.child.kill('SIGHUP');
      let seen = 0;
      // bounded: the reload is one signal away
      for (let i = 0; i < 100 && seen !== status; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        seen = (await callTls(gw.url, 'POST', '/v1/proposals', token, client, PROPOSAL)).status;
      }
      expect(seen).toBe(status);
    };
    writeFileSync(ca, Buffer.concat([readFileSync(join(dir, 'ca1.pem')), readFileSync(join(dir, 'ca2.pem'))]));
    await reloadUntil(fromCa2, 201);
    // the log line travels on the child's stdout pipe, the answer on a socket: either may be read first
    for (let i = 0; i < 50 && !gw.output().includes('tls certificate reloaded'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(gw.output()).toContain('tls certificate reloaded');
    expect((await callTls(gw.url, 'POST', '/v1/proposals', token, fromCa1, PROPOSAL)).status).toBe(201);

    copyFileSync(join(dir, 'ca2.pem'), ca);
    await reloadUntil(fromCa1, 401);
    const old = await callTls(gw.url, 'POST', '/v1/proposals', token, fromCa1, PROPOSAL);
    expect(old.body.error.code).toBe('CLIENT_CERT_INVALID');
    expect((await callTls(gw.url, 'POST', '/v1/proposals', token, fromCa2, PROPOSAL)).status).toBe(201);
  });
});

describe('client certificate configuration', () => {
  const serve = (args: string[]) =>
    spawnSync(process.execPath, [CLI, 'serve', '--policy', policy, '--db', join(dir, 'refused.db'), '--key', join(dir, 'refused.key'), '--init-key', '--port', '0', ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '' },
      timeout: 30_000,
    });
  const tls = () => ['--tls-cert', join(TLS, 'a.pem'), '--tls-key', join(TLS, 'a.key')];

  it('refuses to start with a CA and no surfaces, surfaces and no CA, a CA without TLS, or a surface the policy does not declare', () => {
    const caOnly = serve([...tls(), '--tls-client-ca', join(TLS, 'a.pem')]);
    expect(caOnly.status).toBe(2);
    expect(caOnly.stderr).toContain('error[USAGE]: client certificates need both `--tls-client-ca` and `--tls-client-cert-surfaces`');
    expect(serve([...tls(), '--tls-client-cert-surfaces', SURFACE]).status).toBe(2);
    const plain = serve(['--tls-client-ca', join(TLS, 'a.pem'), '--tls-client-cert-surfaces', SURFACE]);
    expect(plain.status).toBe(2);
    expect(plain.stderr).toContain('`--tls-client-ca` needs TLS');
    const typo = spawnSync(process.execPath, [CLI, 'serve', '--policy', policy, '--db', join(dir, 'typo.db'), '--key', join(dir, 'refused.key'), '--init-key', '--port', '0', ...tls()], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', COUNTERSIGN_TLS_CLIENT_CA: join(TLS, 'a.pem'), COUNTERSIGN_TLS_CLIENT_CERT_SURFACES: `${SURFACE}, executr` },
      timeout: 30_000,
    });
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain('error[USAGE]: client certificate surfaces not declared by the policy in force: `executr`');
  });
});
