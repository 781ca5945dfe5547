import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, CLI, EXAMPLE_POLICY, type GatewayProcess, type Json, startGatewayProcess } from './helpers/gateway-process.js';

// `countersign requests` end to end: the built CLI against the real gateway process over SQLite
// (build first: `npx tsc -b packages/core packages/client packages/mcp packages/gateway`).

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const INCIDENT = 'inc-payments-0912';
const restart = (target: string, environment = 'prod') => ({ action: 'workers.restart_pool', environment, target, params: { strategy: 'rolling' } });

let dir: string;
let gw: GatewayProcess;
const tokens = new Map<string, string>();
const tok = async (principal: string, surface: string): Promise<string> => {
  const key = `${principal}@${surface}`;
  if (!tokens.has(key)) tokens.set(key, await gw.token(principal, surface));
  return tokens.get(key)!;
};

function cli(args: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'requests', ...args], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const as = async (principal: string, surface: string): Promise<Record<string, string>> => ({ COUNTERSIGN_SERVER: gw.url, COUNTERSIGN_TOKEN: await tok(principal, surface) });

async function propose(steps: unknown[], over: Record<string, unknown> = {}): Promise<string[]> {
  const res = await call(gw.url, 'POST', '/v1/proposals', await tok('payments-copilot', 'copilot-console'), { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps, ...over });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body['steps'].map((s: Json) => s.request as string);
}

/** Ids of the table's rows, and each row's last column. */
function rows(stdout: string): Map<string, string> {
  const [header, ...lines] = stdout.trimEnd().split('\n');
  const at = header!.indexOf('YOU MAY APPROVE');
  return new Map(lines.map((line) => [line.split(/\s+/)[0]!, line.slice(at).trim()]));
}

let forOlivia: string;
let forPriya: string;
let staging: string;
let many: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-requests-'));
  gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db: join(dir, 'ledger.db'), args: ['--expire-every', '1h'] });
  forOlivia = (await propose([restart('payments-worker')], { incident: INCIDENT }))[0]!;
  // lena and leo report to priya
  forPriya = (await propose([restart('payments-worker')], { on_behalf_of: 'priya' }))[0]!;
  // medium in staging
  staging = (await propose([restart('payments-worker', 'staging')]))[0]!;
  // more than one page of the gateway's (200): the CLI follows next_cursor
  many = [];
  for (let p = 0; p < 4; p++) many.push(...(await propose(Array.from({ length: 64 }, (_, i) => restart(`pool-${p}-${i}`)))));
}, 60_000);

afterAll(async () => {
  const code = await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(0);
}, 60_000);

describe('countersign requests', () => {
  it('prints a table of open requests, each with whether you may approve it and why not', async () => {
    const run = await cli(['--limit', '5'], await as('lena', 'signed-cli'));
    expect(run.code, run.stderr).toBe(0);
    const [header] = run.stdout.split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['ID', 'STATUS', 'ACTION', 'ENV', 'TARGET', 'RISK', 'AGE', 'EXPIRES', 'YOU MAY APPROVE']);
    const table = rows(run.stdout);
    expect([...table.keys()]).toEqual([forOlivia, forPriya, staging, many[0], many[1]]);
    expect(table.get(forOlivia)).toBe('yes');
    expect(table.get(forPriya)).toBe('no: REPORTS_TO_REQUESTER');
    const line = run.stdout.split('\n').find((l) => l.startsWith(forOlivia))!;
    expect(line.split(/\s{2,}/).slice(1, 8)).toEqual(['open', 'workers.restart_pool', 'prod', 'payments-worker', 'high', expect.stringMatching(/^\d+[smhd]$/), expect.stringMatching(/^in \d+[smhd]$/)]);
    expect(run.stderr).toContain('more than 5 requests');
  });

  it('--mine --json: only those you may approve, following every page to the end', async () => {
    const run = await cli(['--mine', '--json'], await as('lena', 'signed-cli'));
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { requests: Json[]; next_cursor: string | null };
    expect(out.next_cursor).toBeNull();
    expect(out.requests.map((r) => r.id)).toEqual([forOlivia, staging, ...many]);
    for (const r of out.requests) expect(r.approvable).toEqual({ by_you: true, reasons: [] });

    // the requester may approve none of them; the token's surface counts too
    const olivia = await cli(['--mine', '--json'], await as('olivia', 'approver-console'));
    expect([olivia.code, JSON.parse(olivia.stdout)]).toEqual([0, { requests: [], next_cursor: null }]);
    expect(olivia.stderr).toContain('no requests you may approve now');
    const copilotSurface = await cli(['--mine'], await as('leo', 'copilot-console'));
    expect([copilotSurface.code, copilotSurface.stdout]).toEqual([0, '']);
  });

  it('narrows by environment, incident, risk and status; --limit cuts the list short and says so', async () => {
    const ids = async (args: string[]): Promise<string[]> => {
      const run = await cli([...args, '--json'], await as('priya', 'approver-console'));
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as { requests: Json[] }).requests.map((r) => r.id);
    };
    expect(await ids(['--env', 'staging'])).toEqual([staging]);
    expect(await ids(['--incident', INCIDENT])).toEqual([forOlivia]);
    expect(await ids(['--risk', 'medium'])).toEqual([staging]);
    expect(await ids(['--status', 'approved,denied'])).toEqual([]);
    expect((await ids(['--risk', 'high'])).length).toBe(2 + many.length);

    const cut = await cli(['--limit', '201', '--json'], await as('priya', 'approver-console'));
    const out = JSON.parse(cut.stdout) as { requests: Json[]; next_cursor: string | null };
    expect([cut.code, out.requests.length, out.next_cursor]).toEqual([0, 201, out.requests[200].id]);
    expect(cut.stderr).toContain('more than 201 requests: narrow with filters or raise --limit');
  });

  it('an agent approves nothing', async () => {
    const run = await cli(['--mine', '--json'], await as('payments-copilot', 'copilot-console'));
    expect([run.code, JSON.parse(run.stdout)]).toEqual([0, { requests: [], next_cursor: null }]);
  });

  it('exit codes: 2 for bad flags, 3 without a token or a gateway', async () => {
    const badStatus = await cli(['--status', 'open,pending'], await as('lena', 'signed-cli'));
    expect([badStatus.code, badStatus.stderr]).toEqual([2, expect.stringContaining('error[USAGE]: `--status` takes open, approved, denied, expired, voided')]);
    const badLimit = await cli(['--limit', '0', '--json'], await as('lena', 'signed-cli'));
    expect([badLimit.code, JSON.parse(badLimit.stdout).error.code]).toEqual([2, 'USAGE']);
    // the gateway's own bounds: a 400 is usage too
    const badEnv = await cli(['--env', 'x'.repeat(500)], await as('lena', 'signed-cli'));
    expect([badEnv.code, badEnv.stderr]).toEqual([2, expect.stringContaining('error[VALIDATION_FAILED]')]);
    const noToken = await cli(['--json'], { COUNTERSIGN_SERVER: gw.url });
    expect([noToken.code, JSON.parse(noToken.stdout).error.code]).toEqual([3, 'TOKEN_MISSING']);
    const refused = await cli([], { COUNTERSIGN_SERVER: gw.url, COUNTERSIGN_TOKEN: 'cst_abcdefghijklmnop_' + 'A'.repeat(43) });
    expect(refused.code).toBe(3);
    const down = await cli([], { COUNTERSIGN_SERVER: 'http://127.0.0.1:9', COUNTERSIGN_TOKEN: await tok('lena', 'signed-cli') });
    expect([down.code, down.stderr]).toEqual([3, expect.stringContaining('error[UNREACHABLE]')]);
  });

  it('--help explains the command with examples and exit codes', async () => {
    const run = await cli(['--help'], {});
    expect(run.code).toBe(0);
    for (const text of ['--mine', '--status <states>', '--env <environment>', '--incident <id>', '--risk <class>', '--limit <n>', 'Exit codes:', 'Examples:', 'countersign requests --mine']) {
      expect(run.stdout).toContain(text);
    }
  });
});
