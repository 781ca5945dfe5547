import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/gateway-process.js';

// Node 20 can deadlock when a garbage collection frees a key-generation job
// while a key it generated is being exported (newEd25519KeyPair's comment).
// Every key pair Countersign makes must survive a collection at any
// allocation: a child runs the generators and the exports the gateway does
// right after (the raw public key for the grant `kid`, the roster form, the
// key files) with V8 collecting every 10 allocations, PAIRS times. A
// deadlock never returns, so the child runs under a watchdog far longer than
// the work takes. Build first.
//
// The hang is a race. With the plain `generateKeyPairSync` pattern under
// such flags it struck after 1,200 to 30,800 key pairs here; a 15 s loop made
// about 18,000, and this test failed 3 runs out of 3 against that pattern.
// So it catches a regression most of the time, not every time; ESLint's
// no-restricted-syntax rule is the deterministic guard against new calls.
// A count rather than a time: the same work on any machine, checked exactly.
const dir = mkdtempSync(join(tmpdir(), 'cs-key-generation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PAIRS = 18_000;
const GATEWAY_KEYS = 40;
/** The work takes about 15 s here idle and 31 s at a load average of 6 on 2 cores: only a deadlock comes near this. */
const WATCHDOG_MS = 150_000;
const core = pathToFileURL(join(ROOT, 'packages', 'core', 'dist', 'index.js')).href;
// the key module alone: the whole gateway (fastify, pg, ...) would load slowly under --gc-interval
const gatewayKeys = pathToFileURL(join(ROOT, 'packages', 'gateway', 'dist', 'keys.js')).href;

const CHILD = `
import { join } from 'node:path';
import { formatPublicKey, newEd25519KeyPair, rawPublicKey } from ${JSON.stringify(core)};
import { generateKeyPair } from ${JSON.stringify(gatewayKeys)};
const [dir, pairs, keyFiles] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let made = 0;
for (let i = 0; i < pairs; i++) {
  const pair = newEd25519KeyPair();
  if (rawPublicKey(pair.privateKey).length !== 32) throw new Error('raw key is not 32 bytes');
  formatPublicKey(pair.publicKey);
  made += 1;
}
for (let i = 0; i < keyFiles; i++) {
  const { key } = generateKeyPair(join(dir, 'gateway-' + i + '.key'));
  rawPublicKey(key);
  made += 1;
}
process.stdout.write(String(made));
`;

describe('key generation', () => {
  it('never deadlocks when a collection frees the generation job during an export', () => {
    const run = spawnSync(process.execPath, ['--gc-interval=10', '--input-type=module', '-e', CHILD, dir, String(PAIRS), String(GATEWAY_KEYS)], { encoding: 'utf8', timeout: WATCHDOG_MS });
    expect(run.error, 'the child was killed: a deadlock').toBeUndefined();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // every pair was made and exported, and the gateway's own key files after them
    expect(run.stdout).toBe(String(PAIRS + GATEWAY_KEYS));
    expect(readdirSync(dir).filter((name) => /^gateway-\d+\.key$/.test(name))).toHaveLength(GATEWAY_KEYS);
  }, WATCHDOG_MS + 30_000);
});
