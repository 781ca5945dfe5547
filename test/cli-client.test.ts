import { spawn, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  buildRoster,
  loadPolicy,
  overrideBodyHash,
  parseOverrideBody,
  stepDigest,
  verifyOverrideSignature,
  verifyStatement,
  type ApprovalStatement,
  type OverrideSignature,
} from '@countersign/core';
import { apiError, startFakeGateway, type FakeGateway, type Handler, type RecordedCall } from './helpers/fake-gateway.js';

// End to end: the built CLI (`npx tsc -b packages/core packages/client packages/gateway` first)
// against a fake gateway that answers in the client's shapes (test/helpers/fake-gateway.ts).
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const POLICY = join(ROOT, 'examples', 'payments', 'policy.yaml');
const TOKEN = 'cst_abcdefghijklmnop_' + 'A'.repeat(43);
const { bundle, bundleId: BUNDLE } = loadPolicy(readFileSync(POLICY, 'utf8'), POLICY);
const roster = buildRoster(bundle);

/** util-linux `script` runs a command on a pseudo-terminal: the only way to test the interactive prompt. */
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

const tmp = mkdtempSync(join(tmpdir(), 'countersign-client-'));
const keys: Record<string, string> = {};
beforeAll(() => {
  // git does not keep file modes, and loadPrivateKey refuses a key others can read
  for (const who of ['lena', 'fatima', 'priya', 'olivia']) {
    keys[who] = join(tmp, `${who}.key`);
    copyFileSync(join(ROOT, 'test', 'fixtures', 'keys', `${who}.key`), keys[who]);
    chmodSync(keys[who], 0o600);
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let gateway: FakeGateway | null = null;
afterEach(async () => {
  await gateway?.close();
  gateway = null;
});

async function fake(routes: Record<string, Handler>): Promise<FakeGateway> {
  gateway = await startFakeGateway({ token: TOKEN, routes });
  return gateway;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the CLI without blocking this process: the fake gateway lives in it. stdin is a pipe, never a TTY. */
function countersign(args: readonly string[], options: { token?: string | null; server?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', ...options.env };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) env['COUNTERSIGN_TOKEN'] = token;
  if (options.server ?? gateway?.url) env['COUNTERSIGN_SERVER'] = (options.server ?? gateway?.url)!;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

const restart = { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } };
const RESTART_DIGEST = stepDigest(restart, BUNDLE);

function requestView(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'request-1',
    status: 'open',
    digest: RESTART_DIGEST,
    action: restart.action,
    environment: restart.environment,
    target: restart.target,
    params: restart.params,
    bundle_id: BUNDLE,
    risk: 'high',
    class: 'write',
    expected_consequence: 'in-flight jobs are retried',
    rollback_plan: 'workers.rollback_pool on payments-worker (artifact-1, ready)',
    agent: 'payments-copilot',
    on_behalf_of: 'olivia',
    surface: 'copilot-console',
    expires_at: '2099-01-01T00:00:00.000Z',
    grant: null,
    ...overrides,
  };
}

/** Nothing that looks like the private key may cross the wire, in PEM, DER or raw form. */
function expectNoKeyMaterial(calls: readonly RecordedCall[], keyFile: string): void {
  const pem = readFileSync(keyFile, 'utf8');
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  const seed = der.subarray(der.length - 32);
  const forms = [pem, der.toString('base64'), der.toString('base64url'), seed.toString('base64'), seed.toString('base64url'), seed.toString('hex')];
  for (const call of calls) {
    const seen = `${call.raw}\n${JSON.stringify(call.headers)}`;
    for (const form of forms) expect(seen).not.toContain(form.trim());
  }
}

describe('connection', () => {
  it('refuses to run without a token, before any request', async () => {
    const gw = await fake({ 'GET /v1/requests/:id': () => ({ body: requestView() }) });
    const r = await countersign(['status', 'request-1'], { token: null });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error\[TOKEN_MISSING\]: no token: set COUNTERSIGN_TOKEN or pass --token/);
    expect(gw.calls).toHaveLength(0);
  });

  it('exits 3 with UNREACHABLE when nothing listens, in human and JSON form', async () => {
    const gw = await fake({});
    const url = gw.url;
    await gw.close();
    gateway = null;
    const r = await countersign(['status', 'request-1'], { server: url });
    expect([r.code, r.stderr]).toEqual([3, 'error[UNREACHABLE]: the gateway did not answer `GET /v1/requests/{id}`\n']);
    const j = await countersign(['status', 'request-1', '--json'], { server: url });
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout)).toEqual({ error: { code: 'UNREACHABLE', message: 'the gateway did not answer `GET /v1/requests/{id}`' } });
  });

  it('sends the token only in the Authorization header and exits 3 on 401', async () => {
    const gw = await fake({ 'GET /v1/requests/:id': () => ({ body: requestView() }) });
    const ok = await countersign(['status', 'request-1', '--token', TOKEN], { token: null });
    expect(ok.code).toBe(1);
    expect(gw.calls[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(gw.calls[0]!.path + JSON.stringify(gw.calls[0]!.query)).not.toContain(TOKEN);
    expect(ok.stdout + ok.stderr).not.toContain(TOKEN);

    const other = 'cst_qrstuvwxyz234567_' + 'B'.repeat(43);
    const bad = await countersign(['status', 'request-1'], { token: other });
    expect([bad.code, bad.stderr]).toEqual([3, 'error[TOKEN_UNKNOWN]: the token is not known to this gateway\n']);
    expect(bad.stdout + bad.stderr).not.toContain(other);
  });

  it('reads the server from COUNTERSIGN_SERVER and --server, the flag winning', async () => {
    const gw = await fake({ 'GET /v1/requests/:id': () => ({ body: requestView({ status: 'approved' }) }) });
    const r = await countersign(['status', 'request-1', '--server', gw.url], { env: { COUNTERSIGN_SERVER: 'http://127.0.0.1:1' } });
    expect(r.code).toBe(0);
  });
});

describe('countersign propose', () => {
  const proposal = {
    agent: 'payments-copilot',
    on_behalf_of: 'olivia',
    surface: 'copilot-console',
    incident: 'inc-42',
    steps: [
      { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-3', params: {} },
      { ...restart, rationale: 'backlog is growing' },
    ],
  };

  it('sends the proposal, prints each step, and exits 1 while a step needs approval', async () => {
    const gw = await fake({
      'POST /v1/proposals': () => ({
        status: 201,
        body: {
          proposal: 'proposal-1',
          steps: [
            { step: 'step-1', index: 0, effect: 'allow', reasons: [], rule_ids: ['queue.inspect/prod'], digest: 'sha256:' + '1'.repeat(64), request: null, grant: 'aaa.bbb.ccc', awaiting_rollback: false },
            { step: 'step-2', index: 1, effect: 'require_approval', reasons: ['RISK_HIGH'], rule_ids: ['workers.restart_pool/prod'], digest: RESTART_DIGEST, request: 'request-1', grant: null, awaiting_rollback: false },
          ],
        },
      }),
    });
    const file = join(tmp, 'proposal.yaml');
    // YAML in, exactly the same proposal out
    writeFileSync(file, `agent: payments-copilot\non_behalf_of: olivia\nsurface: copilot-console\nincident: inc-42\nsteps:\n  - {action: queue.inspect, environment: prod, target: payments-queue/shard-3}\n  - {action: workers.restart_pool, environment: prod, target: payments-worker, params: {strategy: rolling}, rationale: backlog is growing}\n`);
    const r = await countersign(['propose', file]);
    expect(r.code).toBe(1);
    expect(gw.calls).toHaveLength(1);
    expect(gw.calls[0]!.headers['content-type']).toBe('application/json');
    expect(gw.calls[0]!.body).toEqual(proposal);
    expect(r.stdout).toContain('proposal proposal-1');
    expect(r.stdout).toMatch(/step 0 {2}queue\.inspect {2}prod {2}payments-queue\/shard-3\n {2}decision {2}allow/);
    expect(r.stdout).toContain('  grant     aaa.bbb.ccc');
    expect(r.stdout).toMatch(/step 1 {2}workers\.restart_pool {2}prod {2}payments-worker\n {2}decision {2}require_approval/);
    expect(r.stdout).toContain('  request   request-1');
    expect(r.stderr).toContain('countersign status request-1 --wait');

    const j = await countersign(['propose', file, '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ proposal: 'proposal-1', steps: [{ effect: 'allow' }, { effect: 'require_approval', request: 'request-1' }] });
  });

  it('exits 0 when every step is allowed and granted', async () => {
    await fake({
      'POST /v1/proposals': () => ({
        body: { proposal: 'proposal-2', steps: [{ step: 'step-1', index: 0, effect: 'allow', reasons: [], rule_ids: [], digest: 'sha256:' + '1'.repeat(64), request: null, grant: 'aaa.bbb.ccc', awaiting_rollback: false }] },
      }),
    });
    const file = join(tmp, 'read.json');
    writeFileSync(file, JSON.stringify({ ...proposal, steps: [proposal.steps[0]] }));
    expect((await countersign(['propose', file])).code).toBe(0);
  });

  it('rejects an invalid proposal locally with exit 2, and maps a gateway refusal to exit 1', async () => {
    const gw = await fake({ 'POST /v1/proposals': () => apiError(403, 'FORBIDDEN', 'an agent credential cannot `approve`') });
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ agent: 'payments-copilot', steps: [] }));
    const r = await countersign(['propose', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error\[PROPOSAL_INVALID\]/);
    expect(gw.calls).toHaveLength(0);

    const good = join(tmp, 'good.json');
    writeFileSync(good, JSON.stringify(proposal));
    const refused = await countersign(['propose', good]);
    expect([refused.code, refused.stderr]).toEqual([1, 'error[FORBIDDEN]: an agent credential cannot `approve`\n']);
  });
});

describe('countersign status', () => {
  it('exits 0 for approved, 1 for open or denied, and prints JSON that parses', async () => {
    let status = 'approved';
    await fake({ 'GET /v1/requests/:id': (c) => ({ body: requestView({ id: c.params['id'], status, grant: status === 'approved' ? 'g.h.i' : null }) }) });
    const approved = await countersign(['status', 'request-1']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(/^request +request-1\nstatus +approved\naction +workers\.restart_pool\n/);
    expect(approved.stdout).toMatch(/grant +g\.h\.i/);
    for (status of ['open', 'denied', 'expired']) {
      const r = await countersign(['status', 'request-1', '--json']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ id: 'request-1', status });
    }
  });

  it('--wait long-polls until the request is decided', async () => {
    let polls = 0;
    const gw = await fake({ 'GET /v1/requests/:id': () => ({ body: requestView(++polls < 2 ? {} : { status: 'approved', grant: 'g.h.i' }) }) });
    const r = await countersign(['status', 'request-1', '--wait', '20s', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'approved', grant: 'g.h.i' });
    expect(gw.calls.length).toBe(2);
    expect(gw.calls[0]!.query).toEqual({ wait: '20s' });
  });

  it('--wait that runs out prints the open request and exits 1', async () => {
    await fake({ 'GET /v1/requests/:id': () => ({ body: requestView() }) });
    const r = await countersign(['status', 'request-1', '--wait', '1s']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/status +open/);
    expect(r.stderr).toContain('still open after 1s');
    const bad = await countersign(['status', 'request-1', '--wait', 'soon']);
    expect([bad.code, bad.stderr]).toEqual([2, "error[USAGE]: `--wait` must be a duration such as `30s` or `5m`; got `soon`\n"]);
  });

  it('--grant prints only the grant for a pipe into execute, and exits 1 without one', async () => {
    let grant: string | null = 'g.h.i';
    await fake({ 'GET /v1/requests/:id': () => ({ body: requestView({ status: grant ? 'approved' : 'open', grant }) }) });
    const granted = await countersign(['status', 'request-1', '--grant']);
    expect([granted.code, granted.stdout]).toEqual([0, 'g.h.i\n']);
    grant = null;
    const none = await countersign(['status', 'request-1', '--grant']);
    expect([none.code, none.stdout, none.stderr]).toEqual([1, '', 'request `request-1` has no grant (status open)\n']);
    const mixed = await countersign(['status', 'proposal-1', '--proposal', '--grant']);
    expect(mixed.code).toBe(2);
  });

  it('--proposal shows every step and exits 0 only when all are granted', async () => {
    const gw = await fake({
      'GET /v1/proposals/:id': () => ({
        body: { proposal: 'proposal-1', steps: [{ step: 'step-1', index: 0, effect: 'require_approval', reasons: [], rule_ids: [], digest: RESTART_DIGEST, request: 'request-1', grant: null, awaiting_rollback: false }] },
      }),
    });
    const r = await countersign(['status', 'proposal-1', '--proposal']);
    expect(r.code).toBe(1);
    expect(gw.calls[0]!.path).toBe('/v1/proposals/proposal-1');
    expect(r.stdout).toContain('request   request-1');
  });

  it('--proposal --wait waits on each open request, then shows the proposal again', async () => {
    let decided = false;
    const step = { step: 'step-1', index: 0, effect: 'require_approval', reasons: [], rule_ids: [], digest: RESTART_DIGEST, request: 'request-1', awaiting_rollback: false };
    const gw = await fake({
      'GET /v1/proposals/:id': () => ({ body: { proposal: 'proposal-1', steps: [{ ...step, grant: decided ? 'g.h.i' : null }] } }),
      'GET /v1/requests/:id': () => {
        decided = true;
        return { body: requestView({ status: 'approved', grant: 'g.h.i' }) };
      },
    });
    const r = await countersign(['status', 'proposal-1', '--proposal', '--wait', '30s', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(gw.calls.map((c) => c.path)).toEqual(['/v1/proposals/proposal-1', '/v1/requests/request-1', '/v1/proposals/proposal-1']);
    expect(JSON.parse(r.stdout)).toMatchObject({ steps: [{ grant: 'g.h.i' }] });
  });

  it('maps an unknown request (404 with a workflow code) to exit 1', async () => {
    await fake({ 'GET /v1/requests/:id': () => apiError(404, 'REQUEST_UNKNOWN', 'request is not known') });
    const r = await countersign(['status', 'request-9']);
    expect([r.code, r.stderr]).toEqual([1, 'error[REQUEST_UNKNOWN]: request is not known\n']);
  });
});

describe('countersign approve and deny', () => {
  function approvalRoutes(view: Record<string, unknown> = requestView()): Record<string, Handler> {
    const answer = (decision: string): Handler => () => ({
      body: decision === 'approve'
        ? { ...view, status: 'approved', quorum_met: true, remaining: [], grant: 'g.h.i' }
        : { ...view, status: 'denied', quorum_met: false, remaining: [], grant: null },
    });
    return { 'GET /v1/requests/:id': () => ({ body: view }), 'POST /v1/requests/:id/approvals': answer('approve'), 'POST /v1/requests/:id/denials': answer('deny') };
  }

  it('shows what is signed, signs the statement locally and sends only statement and signature', async () => {
    const gw = await fake(approvalRoutes());
    const before = Date.now();
    const r = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY, '--reason', 'restart is safe', '--yes']);
    const after = Date.now();
    expect(r.code, r.stderr).toBe(0);
    // what the approver saw
    for (const shown of ['APPROVE', 'workers.restart_pool', 'payments-worker', 'prod', 'high', 'in-flight jobs are retried', 'workers.rollback_pool on payments-worker', RESTART_DIGEST, BUNDLE, 'lena (key lena-2025) via signed-cli']) {
      expect(r.stderr).toContain(shown);
    }
    expect(r.stdout).toMatch(/^approved request request-1 as lena \(key lena-2025\) via signed-cli\n/);
    expect(r.stdout).toMatch(/grant +g\.h\.i/);

    const post = gw.calls.find((c) => c.method === 'POST')!;
    expect(post.path).toBe('/v1/requests/request-1/approvals');
    const body = post.body as { statement: ApprovalStatement; attestation: { kind: string; key_id: string; signature: string } };
    expect(Object.keys(body).sort()).toEqual(['attestation', 'statement']);
    expect(body.statement).toMatchObject({
      request: 'request-1',
      step_digest: RESTART_DIGEST,
      bundle_id: BUNDLE,
      decision: 'approve',
      approver: 'lena',
      surface: 'signed-cli',
      reason: 'restart is safe',
    });
    // stamped by the CLI while it ran, from this machine's clock
    expect(Date.parse(body.statement.signed_at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(body.statement.signed_at)).toBeLessThanOrEqual(after);
    expect(body.attestation).toMatchObject({ kind: 'key', key_id: 'lena-2025' });
    // the signature verifies with lena's public key from the example roster, and with nobody else's
    expect(verifyStatement(body.statement, body.attestation.signature, roster, 'lena-2025')).toEqual({ verified: true, keyId: 'lena-2025' });
    expect(verifyStatement({ ...body.statement, step_digest: 'sha256:' + '0'.repeat(64) }, body.attestation.signature, roster).verified).toBe(false);
    expectNoKeyMaterial(gw.calls, keys['lena']!);
  });

  it('--json prints the signed statement and the answer', async () => {
    await fake(approvalRoutes());
    const r = await countersign(['approve', 'request-1', '--key', keys['priya']!, '--principal', 'priya', '--key-id', 'priya-2025', '--surface', 'approver-console', '--yes', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { statement: ApprovalStatement; attestation: { signature: string }; result: { status: string } };
    expect(out.statement).toMatchObject({ approver: 'priya', surface: 'approver-console', reason: '' });
    expect(out.result.status).toBe('approved');
    expect(verifyStatement(out.statement, out.attestation.signature, roster, 'priya-2025').verified).toBe(true);
  });

  it('deny sends decision deny with the reason to the denials endpoint', async () => {
    const gw = await fake(approvalRoutes());
    const r = await countersign(['deny', 'request-1', '--key', keys['fatima']!, '--policy', POLICY, '--reason', 'snapshot first', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('DENY');
    const post = gw.calls.find((c) => c.method === 'POST')!;
    expect(post.path).toBe('/v1/requests/request-1/denials');
    const body = post.body as { statement: ApprovalStatement; attestation: { signature: string; key_id: string } };
    expect(body.statement).toMatchObject({ decision: 'deny', approver: 'fatima', reason: 'snapshot first' });
    expect(verifyStatement(body.statement, body.attestation.signature, roster, body.attestation.key_id).verified).toBe(true);
    expectNoKeyMaterial(gw.calls, keys['fatima']!);

    const noReason = await countersign(['deny', 'request-1', '--key', keys['fatima']!, '--policy', POLICY, '--yes']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("required option '--reason <text>' not specified");
  });

  it('refuses to sign without --yes when stdin is not a terminal, and sends nothing', async () => {
    const gw = await fake(approvalRoutes());
    const r = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('You are about to APPROVE');
    expect(r.stderr).toContain('error[USAGE]: stdin is not a terminal: read what is shown above and pass --yes to sign without a prompt');
    expect(gw.calls.filter((c) => c.method === 'POST')).toHaveLength(0);
  });

  // a real terminal, through util-linux `script`: the prompt is read from the TTY, and only `y` signs
  it('asks on a terminal: no sends nothing, yes signs and sends', async (ctx) => {
    if (!HAS_SCRIPT) {
      const why = 'util-linux `script` is not on PATH, so no terminal can be given to the CLI (Debian: apt-get install bsdutils)';
      // CI installs it (.ci/run): there a missing `script` is a broken setup, never a pass
      if (process.env['CI']) throw new Error(`${why}; CI requires it`);
      console.warn(`SKIPPED the terminal prompt test: ${why}`);
      ctx.skip(why);
    }
    const gw = await fake(approvalRoutes());
    const onTty = (answer: string) =>
      new Promise<Run>((resolve, reject) => {
        const cmd = [process.execPath, CLI, 'approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY].join(' ');
        const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: tmp, env: { PATH: process.env['PATH'] ?? '', COUNTERSIGN_TOKEN: TOKEN, COUNTERSIGN_SERVER: gw.url } });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout: out, stderr: '' }));
        child.stdin.end(`${answer}\n`);
      });
    const no = await onTty('n');
    expect(no.stdout).toContain('Approve request request-1? [y/N]');
    expect(no.stdout).toContain('error[DECLINED]: nothing was signed or sent');
    expect(no.code).toBe(1);
    expect(gw.calls.filter((c) => c.method === 'POST')).toHaveLength(0);
    const yes = await onTty('y');
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toContain('approved request request-1 as lena');
    expect(gw.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
  });

  it('refuses to sign a step that does not hash to the digest it is asked to sign', async () => {
    const gw = await fake(approvalRoutes(requestView({ params: { strategy: 'immediate' } })));
    const r = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY, '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error\[DIGEST_MISMATCH\]: the step shown for request `request-1` does not hash to the digest/);
    expect(gw.calls.filter((c) => c.method === 'POST')).toHaveLength(0);
  });

  it('fails closed when the gateway omits the bundle or the parameters', async () => {
    for (const missing of ['bundle_id', 'params']) {
      const view = requestView();
      delete view[missing];
      const gw = await fake(approvalRoutes(view));
      const r = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY, '--yes']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^error\[BAD_RESPONSE\]/);
      expect(gw.calls.filter((c) => c.method === 'POST')).toHaveLength(0);
      await gw.close();
      gateway = null;
    }
  });

  it('does not sign a request that is no longer open', async () => {
    await fake(approvalRoutes(requestView({ status: 'approved' })));
    const r = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY, '--yes']);
    expect([r.code, r.stderr]).toEqual([1, 'error[REQUEST_CLOSED]: request `request-1` is approved: there is nothing to sign\n']);
  });

  it('reports a refusal with its code and exit 1', async () => {
    const gw = await fake({
      ...approvalRoutes(),
      'POST /v1/requests/:id/approvals': () => apiError(409, 'SELF_APPROVAL', 'approval was not accepted: self approval'),
    });
    const r = await countersign(['approve', 'request-1', '--key', keys['olivia']!, '--policy', POLICY, '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[SELF_APPROVAL]: approval was not accepted: self approval');
    expect(gw.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
  });

  it('names the signer from the roster or from flags, and refuses a key that is not theirs', async () => {
    const gw = await fake(approvalRoutes());
    const none = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--yes']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error[USAGE]: name the signer');
    const wrong = await countersign(['approve', 'request-1', '--key', keys['lena']!, '--policy', POLICY, '--principal', 'priya', '--yes']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('is the key `lena-2025` of `lena`, not of `priya`');
    const open = join(tmp, 'open.key');
    copyFileSync(keys['lena']!, open);
    chmodSync(open, 0o644);
    const leaky = await countersign(['approve', 'request-1', '--key', open, '--policy', POLICY, '--yes']);
    expect(leaky.code).toBe(3);
    expect(leaky.stderr).toMatch(/^error\[KEY_INVALID\]: private key file .* is accessible by group or others/);
    expect(gw.calls).toHaveLength(0);
  });
});

describe('countersign execute and outcome', () => {
  const claims = {
    jti: 'grant-1',
    iat: 1_900_000_000,
    exp: 1_900_000_600,
    step_digest: RESTART_DIGEST,
    environment: 'prod',
    target: 'payments-worker',
    bundle_id: BUNDLE,
    request_id: 'request-1',
    lease_id: null,
  };
  const jws = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${'s'.repeat(86)}`;

  it('consumes a grant given inline or in a file, prints the claims, exits 0', async () => {
    const gw = await fake({ 'POST /v1/executions': () => ({ status: 201, body: { execution: 'execution-1' } }) });
    const r = await countersign(['execute', jws]);
    expect(r.code, r.stderr).toBe(0);
    expect(gw.calls[0]!.body).toEqual({ grant: jws });
    expect(r.stdout).toMatch(/^consumed: execution execution-1\ngrant +grant-1\nstep digest +sha256:/);
    expect(r.stdout).toMatch(/expires +2030-03-17T17:56:40\.000Z/);
    expect(r.stderr).toContain('countersign outcome execution-1');

    const file = join(tmp, 'grant.jws');
    writeFileSync(file, `${jws}\n`);
    const stepFile = join(tmp, 'step.json');
    writeFileSync(stepFile, JSON.stringify(restart));
    const j = await countersign(['execute', file, '--step', stepFile, '--json']);
    expect(j.code).toBe(0);
    expect(gw.calls[1]!.body).toEqual({ grant: jws, step: restart });
    expect(JSON.parse(j.stdout)).toEqual({ execution: 'execution-1', claims });
  });

  it('exits 1 when the gateway refuses to consume the grant', async () => {
    await fake({ 'POST /v1/executions': () => apiError(409, 'GRANT_USED', 'grant has been used') });
    const r = await countersign(['execute', jws, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'GRANT_USED', message: 'grant has been used' } });
    const missing = await countersign(['execute', join(tmp, 'nope.jws')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error\[FILE_NOT_FOUND\]/);
  });

  it('reports an outcome; refuses an unknown outcome before sending', async () => {
    const gw = await fake({ 'POST /v1/executions/:id/outcome': (c) => ({ body: { execution: c.params['id'], outcome: (c.body as { outcome: string }).outcome } }) });
    const r = await countersign(['outcome', 'execution-1', 'failed', '--detail', 'pool did not come back']);
    expect([r.code, r.stdout]).toEqual([0, 'recorded: execution execution-1 failed\n']);
    expect(gw.calls[0]!.body).toEqual({ outcome: 'failed', detail: 'pool did not come back' });
    const bad = await countersign(['outcome', 'execution-1', 'fine']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error[USAGE]: outcome must be `succeeded`, `failed`, `ambiguous`; got `fine`');
    expect(gw.calls).toHaveLength(1);
  });
});

describe('countersign hold', () => {
  it('opens a hold with the SHA-256 of an evidence file, never the file', async () => {
    const gw = await fake({ 'POST /v1/holds': () => ({ status: 201, body: { ok: true, hold: 'hold-1', revoked_leases: [] } }) });
    const evidence = join(tmp, 'backlog.log');
    writeFileSync(evidence, 'dlq depth 48213 at 09:14\n');
    const r = await countersign(['hold', 'open', '--gate', 'K1', '--scope-env', 'prod', '--scope-action', 'queue.clear_shard', '--scope-action', 'workers.restart_pool', '--scope-target', 'payments-queue/shard-3', '--evidence', evidence, '--incident', 'inc-42', '--reason', 'evidence at risk']);
    expect(r.code, r.stderr).toBe(0);
    expect(gw.calls[0]!.body).toEqual({
      trip_gate: 'K1',
      scope: { environments: ['prod'], classes: [], actions: ['queue.clear_shard', 'workers.restart_pool'], targets: ['payments-queue/shard-3'] },
      evidence_hash: `sha256:${createHash('sha256').update('dlq depth 48213 at 09:14\n').digest('hex')}`,
      incident: 'inc-42',
      reason: 'evidence at risk',
    });
    expect(gw.calls[0]!.raw).not.toContain('dlq depth');
    expect(r.stdout).toMatch(/^opened hold hold-1\n/);
  });

  it('takes --evidence-hash, refuses both or neither, and refuses a malformed hash before sending', async () => {
    const gw = await fake({ 'POST /v1/holds/:id/evidence': (c) => ({ body: { ok: true, hold: c.params['id'], revoked_leases: ['lease-1'] } }) });
    const hex = 'AB'.repeat(32);
    const r = await countersign(['hold', 'evidence', 'hold-1', '--evidence-hash', hex, '--json']);
    expect(r.code).toBe(0);
    expect(gw.calls[0]!.body).toEqual({ evidence_hash: `sha256:${hex.toLowerCase()}` });
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, hold: 'hold-1', revoked_leases: ['lease-1'] });
    for (const args of [[], ['--evidence-hash', 'sha256:abc'], ['--evidence-hash', hex, '--evidence', 'x.log']]) {
      const bad = await countersign(['hold', 'evidence', 'hold-1', ...args]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^error\[USAGE\]/);
    }
    expect(gw.calls).toHaveLength(1);
  });

  it('lifts a hold with a reason; a refusal exits 1 with its code', async () => {
    const gw = await fake({ 'POST /v1/holds/:id/lift': () => apiError(403, 'ROLE_NOT_ELIGIBLE', 'caller holds no role the policy names for this') });
    const r = await countersign(['hold', 'lift', 'hold-1', '--reason', 'drained']);
    expect([r.code, r.stderr]).toEqual([1, 'error[ROLE_NOT_ELIGIBLE]: caller holds no role the policy names for this\n']);
    expect(gw.calls[0]!.body).toEqual({ reason: 'drained' });
  });
});

describe('countersign override', () => {
  const digest = RESTART_DIGEST;
  const requestArgs = (out: string) => [
    'override', 'request', '--hold', 'hold-1', '--gate-ack', 'K1', '--step', digest, '--valid-from', '2030-01-01T09:30:00Z', '--valid-for', '1h',
    '--scope-env', 'prod', '--scope-action', 'workers.restart_pool', '--scope-target', 'payments-worker',
    '--reason-code', 'CUSTOMER_IMPACT', '--reason', 'settlements are failing', '--rollback', 'artifact-1', '--out', out,
  ];
  /** The gateway's answer: the body it would record, built from what was asked, as the real server does. */
  const overrideRoutes = (tamper: (b: Record<string, unknown>) => void = () => undefined): Record<string, Handler> => ({
    'POST /v1/overrides': (c) => {
      const asked = c.body as Record<string, unknown>;
      const body: Record<string, unknown> = {
        id: 'override-1', hold_ref: asked['hold'], step_digests: asked['step_digests'], trip_gate_ack: asked['trip_gate_ack'],
        valid_from: asked['valid_from'], valid_to: asked['valid_to'], scope: asked['scope'], reason_code: asked['reason_code'],
        reason_text: asked['reason_text'], rollback_ref: asked['rollback_artifact'], requester: 'olivia', request_surface: 'approver-console',
      };
      tamper(body);
      return { status: 201, body: { ok: true, override: 'override-1', id: 'override-1', body, body_hash: overrideBodyHash(parseOverrideBody(body)) } };
    },
    'POST /v1/overrides/:id/submit': (c) => ({
      body: { ok: true, override: c.params['id'], lease: 'lease-1', valid_from: '2030-01-01T09:30:00.000Z', valid_to: '2030-01-01T10:30:00.000Z', step_digests: [digest], evidence_hash: 'sha256:' + 'e'.repeat(64) },
    }),
  });

  it('request, sign by A and B on their own keys, submit: the whole flow', async () => {
    const gw = await fake(overrideRoutes());
    const file = join(tmp, 'override.json');
    const req = await countersign(requestArgs(file));
    expect(req.code, req.stderr).toBe(0);
    expect(gw.calls[0]!.body).toEqual({
      hold: 'hold-1', step_digests: [digest], trip_gate_ack: 'K1', valid_from: '2030-01-01T09:30:00.000Z', valid_to: '2030-01-01T10:30:00.000Z',
      scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] },
      reason_code: 'CUSTOMER_IMPACT', reason_text: 'settlements are failing', rollback_artifact: 'artifact-1',
    });
    const written = JSON.parse(readFileSync(file, 'utf8')) as { format: string; override: string; body: unknown; body_hash: string; signatures: unknown[] };
    expect(written.format).toBe('countersign-override/v1');
    expect(written.body_hash).toBe(overrideBodyHash(parseOverrideBody(written.body)));
    expect(written.signatures).toEqual([]);
    expect(req.stdout).toContain('requested override override-1; wrote');

    // each signer on their own machine: no network at all
    const offline = { server: 'http://127.0.0.1:1' };
    const a = await countersign(['override', 'sign', file, '--key', keys['lena']!, '--as', 'a', '--policy', POLICY, '--yes'], offline);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toContain('You are about to SIGN this override as signer a');
    expect(a.stderr).toContain(written.body_hash);
    const b = await countersign(['override', 'sign', file, '--key', keys['fatima']!, '--as', 'b', '--principal', 'fatima', '--key-id', 'fatima-2025', '--surface', 'approver-console', '--yes', '--json'], offline);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ role: 'b', signer: 'fatima', key_id: 'fatima-2025', surface: 'approver-console', body_hash: written.body_hash });
    expect(gw.calls).toHaveLength(1);

    const signed = JSON.parse(readFileSync(file, 'utf8')) as { signatures: OverrideSignature[] };
    expect(signed.signatures.map((s) => [s.role, s.signer, s.surface])).toEqual([['a', 'lena', 'signed-cli'], ['b', 'fatima', 'approver-console']]);
    for (const sig of signed.signatures) expect(verifyOverrideSignature('override-1', sig, roster)).toBe(true);
    const fileText = readFileSync(file, 'utf8');
    expect(fileText).not.toContain('PRIVATE KEY');

    const again = await countersign(['override', 'sign', file, '--key', keys['priya']!, '--as', 'b', '--policy', POLICY, '--yes'], offline);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('seat `b` of override `override-1` is already signed');

    const sub = await countersign(['override', 'submit', file]);
    expect(sub.code, sub.stderr).toBe(0);
    expect(gw.calls[1]!.path).toBe('/v1/overrides/override-1/submit');
    expect(gw.calls[1]!.body).toEqual({ signatures: signed.signatures });
    expect(sub.stdout).toMatch(/^granted lease lease-1 for override override-1\n/);
    for (const call of gw.calls) for (const who of ['lena', 'fatima']) expectNoKeyMaterial([call], keys[who]!);
  });

  it('never overwrites the out file, and sends nothing when it exists', async () => {
    const gw = await fake(overrideRoutes());
    const file = join(tmp, 'exists.json');
    writeFileSync(file, '{}');
    const r = await countersign(requestArgs(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error\[FILE_EXISTS\]/);
    expect(gw.calls).toHaveLength(0);
  });

  it('refuses a body that is not what was asked, and writes nothing', async () => {
    await fake(overrideRoutes((b) => (b['scope'] = { environments: ['prod'], actions: ['workers.restart_pool', 'queue.clear_shard'], targets: ['payments-worker'] })));
    const file = join(tmp, 'widened.json');
    const r = await countersign(requestArgs(file));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error[BAD_RESPONSE]: the gateway's override body differs from the request at `scope`");
    expect(existsSync(file)).toBe(false);
  });

  it('refuses to sign or submit a file whose body was edited after it was recorded', async () => {
    const gw = await fake(overrideRoutes());
    const file = join(tmp, 'edited.json');
    expect((await countersign(requestArgs(file))).code).toBe(0);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { body: { valid_to: string } };
    doc.body.valid_to = '2030-01-01T13:30:00.000Z';
    writeFileSync(file, JSON.stringify(doc));
    const sign = await countersign(['override', 'sign', file, '--key', keys['lena']!, '--as', 'a', '--policy', POLICY, '--yes']);
    expect(sign.code).toBe(1);
    expect(sign.stderr).toMatch(/^error\[BODY_HASH_MISMATCH\]/);
    const submit = await countersign(['override', 'submit', file]);
    expect(submit.code).toBe(1);
    expect(gw.calls).toHaveLength(1);
  });

  it('reports every failing gate of a refused submit and exits 1', async () => {
    const gw = await fake({
      ...overrideRoutes(),
      'POST /v1/overrides/:id/submit': () => apiError(422, 'O1_IDENTITY_COLLISION', 'override refused', { codes: ['O1_IDENTITY_COLLISION', 'O7_DURATION_EXCEEDED'] }),
    });
    const file = join(tmp, 'refused.json');
    expect((await countersign(requestArgs(file))).code).toBe(0);
    expect((await countersign(['override', 'sign', file, '--key', keys['olivia']!, '--as', 'a', '--policy', POLICY, '--yes'])).code).toBe(0);
    const r = await countersign(['override', 'submit', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error[O1_IDENTITY_COLLISION]: override refused\n  every failing gate: O1_IDENTITY_COLLISION, O7_DURATION_EXCEEDED\n');
    expect(gw.calls).toHaveLength(2);
  });
});

describe('countersign rollback and halt', () => {
  it('registers a rollback for a step and prints the step grant it released', async () => {
    const gw = await fake({
      // the contract's RollbackRegistered: the released grant is its compact JWS, or null
      'POST /v1/rollbacks': () => ({ status: 201, body: { artifact: 'artifact-1', digest: 'sha256:' + 'a'.repeat(64), grant: 'x.y.z', step_granted: true } }),
      'POST /v1/rollbacks/:id/run': (c) => ({ body: { ok: true, artifact: c.params['id'], execution: 'execution-9', revoked_leases: ['lease-1'] } }),
    });
    const r = await countersign(['rollback', 'register', '--for', 'step-2', '--action', 'workers.rollback_pool', '--target', 'payments-worker', '--params', '{"release":"v41"}']);
    expect(r.code, r.stderr).toBe(0);
    expect(gw.calls[0]!.body).toEqual({ step: 'step-2', action: 'workers.rollback_pool', target: 'payments-worker', params: { release: 'v41' } });
    expect(r.stdout).toMatch(/^registered rollback artifact-1 for step step-2\ndigest +sha256:a+\nstep grant +x\.y\.z\n$/);

    const run = await countersign(['rollback', 'run', 'artifact-1', '--json']);
    expect(run.code).toBe(0);
    expect(gw.calls[1]!.path).toBe('/v1/rollbacks/artifact-1/run');
    expect(JSON.parse(run.stdout)).toMatchObject({ execution: 'execution-9' });

    const bad = await countersign(['rollback', 'register', '--for', 'step-2', '--action', 'a', '--target', 't', '--params', '[1]']);
    expect(bad.code).toBe(2);
    expect(gw.calls).toHaveLength(2);
  });

  it('halts a scope: env, incident or all; anything else is a usage error', async () => {
    const routes: Parameters<typeof fake>[0] = { 'POST /v1/halts': () => ({ status: 201, body: { ok: true, halt: 'halt-1', revoked_grants: ['grant-1'], revoked_leases: [] } }) };
    const gw = await fake(routes);
    const expected: [string, unknown][] = [
      ['env:prod', { kind: 'environment', environment: 'prod' }],
      ['incident:inc-42', { kind: 'incident', incident: 'inc-42' }],
      ['all', { kind: 'all' }],
    ];
    for (const [scope, body] of expected) {
      const r = await countersign(['halt', '--scope', scope, '--reason', 'stop']);
      expect(r.code, r.stderr).toBe(0);
      expect(gw.calls.at(-1)!.body).toEqual({ scope: body, reason: 'stop' });
    }
    expect((await countersign(['halt', '--scope', 'env:prod', '--reason', 'stop'])).stdout).toMatch(/^halted env:prod: halt halt-1\nrevoked grants +grant-1\nrevoked leases +-\n$/);
    for (const scope of ['prod', 'env:', 'everything']) {
      const r = await countersign(['halt', '--scope', scope, '--reason', 'stop']);
      expect(r.code).toBe(2);
    }
    expect(gw.calls).toHaveLength(4);
    // a halt over a busy environment: how many and the first ten, every id with --json
    const many = Array.from({ length: 25_000 }, (_, i) => `grant-${i + 1}`);
    routes['POST /v1/halts'] = () => ({ status: 201, body: { ok: true, halt: 'halt-2', revoked_grants: many, revoked_leases: [] } });
    const busy = await countersign(['halt', '--scope', 'env:prod', '--reason', 'stop']);
    expect(busy.stdout).toMatch(/^halted env:prod: halt halt-2\nrevoked grants +25000: grant-1, grant-2, .*, grant-10, \.\.\. \(every id with --json\)\nrevoked leases +-\n$/);
    expect(JSON.parse((await countersign(['halt', '--scope', 'env:prod', '--reason', 'stop', '--json'])).stdout).revoked_grants).toEqual(many);
  });
});
