import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signOverride, signStatement, type ApprovalStatement, type OverrideBody, type OverrideSignature, type SignerRole } from '@countersign/core';
import { openCredentialStore } from '../../packages/gateway/src/auth/credential-store.js';
import { issueCredential } from '../../packages/gateway/src/auth/credentials.js';
import type { StoreConfig } from '../../packages/gateway/src/store/open.js';

/**
 * The real gateway process for end-to-end tests: `node packages/gateway/dist/cli.js
 * serve ... --port 0`, its address read from its own JSON log line, tokens
 * minted through the credential store API, raw `fetch` helpers. Build first
 * (`npx tsc -b packages/core packages/client packages/gateway`).
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
export const EXAMPLE_POLICY = join(ROOT, 'examples', 'payments', 'policy.yaml');
export const EXAMPLE_GOLDEN = join(ROOT, 'examples', 'payments', 'golden');

/** The example's golden case files as a release proposal sends them: passing cases are required by default (issue 13). */
export function exampleGolden(): { name: string; text: string }[] {
  return readdirSync(EXAMPLE_GOLDEN)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(EXAMPLE_GOLDEN, name), 'utf8') }));
}

/** One case any payments candidate passes: for a candidate the example's own cases refuse on purpose. */
export const DIAGNOSTICS_CASE = {
  name: 'diagnostics.yaml',
  text: `- name: diagnostics stay allowed in prod
  when:
    proposal:
      agent: payments-copilot
      on_behalf_of: olivia
      surface: copilot-console
      steps:
        - { action: queue.inspect, environment: prod, target: payments/shard-7 }
  expect:
    - { effect: allow, reasons: [ALLOWED] }
`,
};

export interface GatewayProcessOptions {
  readonly policy: string;
  readonly dir: string;
  readonly db?: string;
  readonly postgres?: { readonly url: string; readonly schema: string };
  /** Reuse a key (two replicas of one ledger sign with the same key). */
  readonly key?: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly store: StoreConfig;
  readonly keyPath: string;
  /** Everything the process wrote to stdout (its JSON logs) and stderr. */
  output(): string;
  /** A bearer token for `principal` on `surface`, minted in the gateway's database. */
  token(principal: string, surface: string, expiresInMs?: number | null): Promise<string>;
  /** Send `signal` and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  if (!existsSync(CLI)) throw new Error('build first: npx tsc -b packages/core packages/client packages/gateway');
  const keyPath = options.key ?? join(options.dir, 'gateway.key');
  const store: StoreConfig = options.postgres ? { postgres: options.postgres.url, schema: options.postgres.schema } : { sqlite: options.db ?? join(options.dir, 'ledger.db') };
  const storeArgs = 'sqlite' in store ? ['--db', store.sqlite] : ['--postgres', store.postgres, '--schema', options.postgres!.schema];
  const child = spawn(process.execPath, [CLI, 'serve', '--policy', options.policy, ...storeArgs, '--key', keyPath, '--init-key', '--port', '0', ...(options.args ?? [])], {
    cwd: options.dir,
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start within 20 s:\n${output}`)), 20_000);
    const look = (chunk: Buffer): void => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; address?: string };
          if (entry.msg === 'countersign gateway listening' && entry.address) {
            clearTimeout(timer);
            resolve(entry.address);
          }
        } catch {
          // a partial line; the rest comes with the next chunk
        }
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code} before listening:\n${output}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url,
    child,
    store,
    keyPath,
    output: () => output,
    async token(principal, surface, expiresInMs = 60 * 60_000) {
      const credentials = await openCredentialStore(store);
      try {
        const now = Date.now();
        return (await issueCredential(credentials, { principal, surface, expiresAt: expiresInMs === null ? null : now + expiresInMs }, now)).token;
      } finally {
        await credentials.close();
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** JSON answers as tests read them: their shape is what the assertions check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

/** One JSON call with a bearer token; the body is parsed whatever the status. */
export async function call<T = Record<string, Json>>(base: string, method: 'GET' | 'POST', path: string, token: string | null, body?: unknown): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

/** One ledger entry as `GET /v1/ledger/export` streams it. */
export interface ExportedEntry {
  readonly seq: number;
  readonly type: string;
  readonly actor: string | null;
  readonly subjects: Record<string, string>;
  readonly payload: Json;
}

/** The gateway's ledger entries, in order, read over the API (the export's header and checkpoint lines left out). */
export async function ledgerEntries(gw: Pick<GatewayProcess, 'url' | 'token'>, reader: readonly [string, string] = ['priya', 'approver-console']): Promise<ExportedEntry[]> {
  const res = await fetch(`${gw.url}/v1/ledger/export`, { headers: { authorization: `Bearer ${await gw.token(reader[0], reader[1])}` } });
  if (res.status !== 200) throw new Error(`ledger export answered ${res.status}`);
  return (await res.text())
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ExportedEntry)
    .filter((line) => typeof line.type === 'string');
}

/** A TCP port free on loopback now, for a process that must know its address before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

const keys = new Map<string, KeyObject>();
export function fixtureKey(principal: string): KeyObject {
  let key = keys.get(principal);
  if (!key) {
    key = createPrivateKey(readFileSync(join(ROOT, 'test', 'fixtures', 'keys', `${principal}.key`), 'utf8'));
    keys.set(principal, key);
  }
  return key;
}

/** A 0600 copy of a fixture key in `dir`, for the CLI (git does not keep file modes). */
export function fixtureKeyFile(dir: string, principal: string): string {
  const path = join(dir, `${principal}.key`);
  if (!existsSync(path)) {
    copyFileSync(join(ROOT, 'test', 'fixtures', 'keys', `${principal}.key`), path);
    chmodSync(path, 0o600);
  }
  return path;
}

/** An approval body as `countersign approve` sends it: the statement signed with the approver's own key. */
export function signedApproval(request: { id: string; digest: string; bundle_id: string }, approver: string, surface: string, over: Partial<ApprovalStatement> = {}, signer = approver): Record<string, unknown> {
  const statement: ApprovalStatement = {
    request: request.id,
    step_digest: request.digest,
    bundle_id: request.bundle_id,
    decision: 'approve',
    approver,
    surface,
    reason: 'checked the digest and the consequence',
    signed_at: new Date().toISOString(),
    ...over,
  };
  return { statement, attestation: { kind: 'key', key_id: `${signer}-2025`, signature: signStatement(statement, fixtureKey(signer)) } };
}

export function overrideSignature(body: OverrideBody, role: SignerRole, signer: string, surface: string): OverrideSignature {
  return signOverride(body, { role, signer, key_id: `${signer}-2025`, surface, signed_at: new Date().toISOString() }, fixtureKey(signer));
}

export const EVIDENCE = `sha256:${'e'.repeat(64)}`;
