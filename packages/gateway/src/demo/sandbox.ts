import { spawn, type ChildProcess } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadPolicy, newEd25519KeyPair } from '@countersign/core';
import { CountersignClient } from '@countersign/client';
import { openCredentialStore } from '../auth/credential-store.js';
import { issueCredential } from '../auth/credentials.js';
import { GatewayError } from '../errors.js';
import { generateKeyPair } from '../keys.js';
import { rekeyPolicy } from '../policy-rekey.js';

/**
 * One live gateway for one run of the demo: a temporary copy of a policy
 * whose roster keys are swapped for throwaway keys generated here (so the demo
 * signs as the example's people without any fixture file, in any install), a
 * fresh gateway key, a SQLite ledger, a token per principal and surface the
 * script uses, and `countersign serve` running in its own process on a free
 * loopback port. Everything the script does goes through the HTTP API.
 */

export interface SandboxOptions {
  /** The policy to run, as shipped (examples/.../policy.yaml). */
  readonly policyPath: string;
  /** Where the run's files go: policy copy, keys, ledger. */
  readonly dir: string;
  /** Names the run's files and its ledger origin. */
  readonly name: string;
  /** The built CLI entry point that `serve` runs from. */
  readonly cli: string;
  /** Tokens to issue: `[principal, surface]`. */
  readonly tokens: readonly (readonly [string, string])[];
}

export interface RosterKey {
  readonly principal: string;
  readonly keyId: string;
  readonly key: KeyObject;
}

const READY_TIMEOUT_MS = 20_000;
const TOKEN_LIFETIME_MS = 60 * 60_000;

export class Sandbox {
  readonly name: string;
  readonly policyPath: string;
  readonly bundleId: string;
  readonly bundleName: string;
  readonly db: string;
  readonly server: string;
  /** The ledger's checkpoint origin and the gateway's public key file: what `ledger verify` needs. */
  readonly origin: string;
  readonly publicKeyFile: string;
  readonly #keys: ReadonlyMap<string, RosterKey>;
  readonly #tokens: ReadonlyMap<string, string>;
  readonly #child: ChildProcess;
  readonly #stderr: () => string;

  private constructor(fields: {
    name: string;
    policyPath: string;
    bundleId: string;
    bundleName: string;
    db: string;
    server: string;
    origin: string;
    publicKeyFile: string;
    keys: ReadonlyMap<string, RosterKey>;
    tokens: ReadonlyMap<string, string>;
    child: ChildProcess;
    stderr: () => string;
  }) {
    this.name = fields.name;
    this.policyPath = fields.policyPath;
    this.bundleId = fields.bundleId;
    this.bundleName = fields.bundleName;
    this.db = fields.db;
    this.server = fields.server;
    this.origin = fields.origin;
    this.publicKeyFile = fields.publicKeyFile;
    this.#keys = fields.keys;
    this.#tokens = fields.tokens;
    this.#child = fields.child;
    this.#stderr = fields.stderr;
  }

  static async start(options: SandboxOptions): Promise<Sandbox> {
    const { policyPath, keys } = withThrowawayKeys(options.policyPath, join(options.dir, `${options.name}.policy.yaml`));
    const loaded = loadPolicy(readFileSync(policyPath, 'utf8'), policyPath);
    const db = join(options.dir, `${options.name}.db`);
    const gatewayKey = join(options.dir, `${options.name}.gateway.key`);
    const { publicKey: publicKeyFile } = generateKeyPair(gatewayKey);
    const origin = `countersign.demo/ledger/${options.name}`;

    const tokens = new Map<string, string>();
    const credentials = await openCredentialStore({ sqlite: db });
    try {
      const now = Date.now();
      for (const [principal, surface] of options.tokens) {
        const issued = await issueCredential(credentials, { principal, surface, expiresAt: now + TOKEN_LIFETIME_MS }, now);
        tokens.set(tokenKey(principal, surface), issued.token);
      }
    } finally {
      await credentials.close();
    }

    const port = await freePort();
    const child = spawn(
      process.execPath,
      [options.cli, 'serve', '--policy', policyPath, '--db', db, '--key', gatewayKey, '--port', String(port), '--origin', origin, '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      // keep the tail only: enough to explain a failed start
      stderr = (stderr + chunk).slice(-4_000);
    });
    const server = `http://127.0.0.1:${port}`;
    const sandbox = new Sandbox({ name: options.name, policyPath, bundleId: loaded.bundleId, bundleName: loaded.bundle.name, db, server, origin, publicKeyFile, keys, tokens, child, stderr: () => stderr });
    try {
      await sandbox.#waitReady();
    } catch (err) {
      await sandbox.stop();
      throw err;
    }
    return sandbox;
  }

  /** A client holding the token of `principal` on `surface`. */
  client(principal: string, surface: string): CountersignClient {
    const token = this.#tokens.get(tokenKey(principal, surface));
    if (token === undefined) throw new GatewayError('DEMO_FAILED', `the demo issued no token for \`${principal}\` on \`${surface}\``);
    return new CountersignClient({ server: this.server, token, timeoutMs: 10_000 });
  }

  /** The throwaway private key standing in for `principal`'s roster key. */
  keyOf(principal: string): RosterKey {
    const key = this.#keys.get(principal);
    if (key === undefined) throw new GatewayError('DEMO_FAILED', `principal \`${principal}\` has no key in the demo roster`);
    return key;
  }

  /** SIGTERM: the server drains, writes its last checkpoint and exits. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.#child.exitCode !== null) {
        throw new GatewayError('DEMO_FAILED', `the ${this.name} gateway exited with ${this.#child.exitCode} before it was ready: ${this.#stderr().trim()}`);
      }
      try {
        const res = await fetch(`${this.server}/readyz`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new GatewayError('DEMO_FAILED', `the ${this.name} gateway was not ready within ${READY_TIMEOUT_MS / 1_000} s: ${this.#stderr().trim()}`);
  }
}

function tokenKey(principal: string, surface: string): string {
  return `${principal}\u0000${surface}`;
}

/**
 * Copy the policy with every roster key of every principal replaced by a
 * fresh Ed25519 key (see policy-rekey.ts). The private halves stay in memory
 * for the run and are never written.
 */
function withThrowawayKeys(source: string, target: string): { policyPath: string; keys: Map<string, RosterKey> } {
  const { text, keys } = rekeyPolicy(readFileSync(source, 'utf8'), source, () => newEd25519KeyPair().privateKey);
  writeFileSync(target, `# a copy of ${source} for one demo run: the roster keys are throwaway keys of this run\n${text}`, { mode: 0o600 });
  // the first key of each principal is the one the demo signs with
  const first = keys.filter((k) => k.index === 0).map((k) => [k.principal, { principal: k.principal, keyId: k.keyId, key: k.privateKey }] as const);
  return { policyPath: target, keys: new Map(first) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
