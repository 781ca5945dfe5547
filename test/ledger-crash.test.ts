import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, ed25519Signer, leafHash, signerVerifierKey, type VerifyResult } from '@countersign/core';
import { DEFAULT_LEDGER_ORIGIN, generateKeyPair, SqliteLedgerStore } from '@countersign/gateway';

/**
 * Crash safety (issue 3): a child appends under load through the Sequencer to a
 * SQLite file with synchronous=FULL and prints each acknowledged seq; we SIGKILL
 * it at random moments, then every acknowledged entry must be there with its
 * bytes, the ledger (checkpoints included) must verify, and the next child
 * must carry on appending.
 *
 * Runs the built gateway (packages/gateway/dist): `npm run build` first.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APPENDER = join(ROOT, 'test/helpers/ledger-appender.mjs');
const CLI = join(ROOT, 'packages/gateway/dist/cli.js');
const ROUNDS = 24;

interface Round {
  readonly acked: Map<number, string>;
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly stderr: string;
}

/** Start the appender and SIGKILL it `killAfterMs` after its first acknowledgement (or after spawn when `early`). */
function runAndKill(db: string, key: string, killAfterMs: number, early: boolean): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [APPENDER, db, '--key', key, '--in-flight', '128'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, string>();
    let killArmed = early;
    let buffered = '';
    let stderr = '';
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    if (early) setTimeout(kill, killAfterMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready' || line === 'done') continue;
        const [seq, hash] = line.split(' ');
        acked.set(Number(seq), hash ?? '');
        if (!killArmed) {
          killArmed = true;
          setTimeout(kill, killAfterMs);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    // 'close' rather than 'exit': every byte the child wrote before dying has been read
    child.on('close', (code, signal) => resolve({ acked, code, signal, stderr }));
  });
}

/** Every stored entry's leaf hash by seq, after the core verifier passed the whole ledger, checkpoints included. */
async function readLedger(db: string, vkey: string): Promise<{ hashes: Map<number, string>; result: VerifyResult }> {
  const store = SqliteLedgerStore.open(db, { readonly: true });
  try {
    const verifier = createVerifier({ origin: DEFAULT_LEDGER_ORIGIN, trustedKeys: [vkey] });
    const checkpoints = [];
    for await (const checkpoint of store.checkpoints()) checkpoints.push(checkpoint.note);
    // all up front is allowed: the verifier holds each until the ledger reaches its size
    for (const note of checkpoints) verifier.checkpoint(note);
    const hashes = new Map<number, string>();
    for await (const entry of store.read(0)) {
      verifier.entry(entry.seq, entry.bytes);
      hashes.set(entry.seq, Buffer.from(leafHash(entry.bytes)).toString('hex'));
    }
    return { hashes, result: verifier.finish() };
  } finally {
    await store.close();
  }
}

describe('ledger crash safety', () => {
  let dir: string;
  let key: string;
  let vkey: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-crash-'));
    const pair = generateKeyPair(join(dir, 'gateway.key'));
    key = pair.privateKey;
    vkey = signerVerifierKey(ed25519Signer(DEFAULT_LEDGER_ORIGIN, pair.key)).text;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(`keeps every acknowledged entry across ${ROUNDS} SIGKILLs and keeps appending`, { timeout: 120_000 }, async () => {
    const db = join(dir, 'ledger.db');
    const everAcked = new Map<number, string>();
    let killedWhileAppending = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // one round in four dies early, possibly while opening or rebuilding; the rest mid-load
      const early = round % 4 === 3;
      const result = await runAndKill(db, key, early ? Math.random() * 200 : Math.random() * 250, early);
      expect(result.signal, `round ${round} exited by itself: ${result.stderr}`).toBe('SIGKILL');
      if (result.acked.size > 0) killedWhileAppending += 1;
      const before = everAcked.size;
      for (const [seq, hash] of result.acked) {
        // a seq acknowledged twice would mean an acknowledged entry was lost and its slot reused
        expect(everAcked.has(seq), `seq ${seq} acknowledged twice`).toBe(false);
        everAcked.set(seq, hash);
      }
      if (!early) expect(everAcked.size, `round ${round} acknowledged nothing`).toBeGreaterThan(before);

      const { hashes } = await readLedger(db, vkey);
      const lost = [...everAcked].filter(([seq, hash]) => hashes.get(seq) !== hash).map(([seq]) => seq);
      expect(lost, `acknowledged entries missing or altered after round ${round}`).toEqual([]);
    }
    expect(killedWhileAppending).toBeGreaterThanOrEqual(ROUNDS / 2);

    // after all that, a child still appends and shuts down cleanly
    const last = spawnSync(process.execPath, [APPENDER, db, '--key', key, '--count', '500'], { encoding: 'utf8' });
    expect(last.status, last.stderr).toBe(0);
    const acks = last.stdout.split('\n').filter((l) => /^\d+ /.test(l));
    expect(acks).toHaveLength(500);
    const { hashes, result } = await readLedger(db, vkey);
    expect(hashes.size).toBeGreaterThanOrEqual(everAcked.size + 500);
    const lost = acks.map((line) => line.split(' ')).filter(([seq, hash]) => hashes.get(Number(seq)) !== hash);
    expect(lost).toEqual([]);
    // close() wrote a final checkpoint covering everything
    expect(result.checkpointedSize).toBe(hashes.size);
    expect(result.checkpoints).toBeGreaterThan(ROUNDS);

    const verify = spawnSync(process.execPath, [CLI, 'ledger', 'verify', '--db', db, '--key-file', `${key}.pub`], { encoding: 'utf8' });
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^ok ${result.size} entries, ${result.checkpoints} checkpoints, root ${Buffer.from(result.rootHash).toString('base64').replace(/[+/]/g, '\\$&')}, origin .* \\(as the ledger names it\\)\n$`));
  });
});
