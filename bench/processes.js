// The child processes the bench parts start, and the ports they listen on.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newEd25519KeyPair } from '../packages/core/dist/index.js';

const CLI = fileURLToPath(new URL('../packages/gateway/dist/cli.js', import.meta.url));
/** The example policy every bench part serves. */
export const POLICY = fileURLToPath(new URL('../examples/payments/policy.yaml', import.meta.url));

/** A fresh gateway signing key in `dir`, written 0600; its path. */
export function gatewayKey(dir) {
  const key = join(dir, 'gateway.key');
  writeFileSync(key, newEd25519KeyPair().privatePem, { mode: 0o600 });
  return key;
}

/** `countersign token issue` for `principal` on `surface`, against `store` (`['--db', path]` or `['--postgres', url, …]`): the token. */
export function issueToken(store, principal, surface) {
  const issued = spawnSync(process.execPath, [CLI, 'token', 'issue', '--principal', principal, '--surface', surface, ...store, '--policy', POLICY, '--expires', '1d', '--json'], {
    encoding: 'utf8',
  });
  if (issued.status !== 0) throw new Error(`token issue failed: ${issued.stderr}`);
  return JSON.parse(issued.stdout).token;
}

/**
 * `countersign serve` on `store` with `key`, on a free loopback port, once
 * `/readyz` answers: `{ child, url }`. `nodeArgs` go to node, `extra` to
 * `serve`. A gateway that never gets ready is stopped before the error.
 */
export async function serveGateway({ store, key, nodeArgs = [], extra = [] }) {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--policy', POLICY, ...store, '--key', key, '--port', String(port), '--log-level', 'warn', ...extra], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${url}/readyz`, child);
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
  return { child, url };
}

/** A TCP port free on loopback now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers 2xx; throws if `child` exits first or 20 s pass. */
export async function waitReady(url, child) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} was not ready within 20 s`);
}

/** SIGTERM, SIGKILL after 10 s, and resolve when the child has exited (at once if it already has, by a code or a signal). */
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
