import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Signer, merkleRoot, newEd25519KeyPair, sealEntry, signCheckpoint, signerVerifierKey, type SealedEntry } from '@countersign/core';
import { DEFAULT_LEDGER_ORIGIN } from '../ledger/checkpoint-scheduler.js';
import { SqliteLedgerStore } from '../store/sqlite.js';

/** `countersign ledger verify --threads` end to end with the built CLI (`npm run build` first). */
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const ENTRIES = 600;
const EVERY = 50;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const signer = ed25519Signer(DEFAULT_LEDGER_ORIGIN, newEd25519KeyPair().privateKey);
const intruder = ed25519Signer(DEFAULT_LEDGER_ORIGIN, newEd25519KeyPair().privateKey);
const vkey = signerVerifierKey(signer).text;
let dir: string;
let db: string;
const entries: SealedEntry[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-verify-threads-'));
  db = join(dir, 'ledger.db');
  await SqliteLedgerStore.open(db).close();
  const h = new Database(db);
  const insert = h.prepare('INSERT INTO ledger_entries (seq, hash, bytes) VALUES (?, ?, ?)');
  const insertCheckpoint = h.prepare('INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)');
  for (let seq = 0; seq < ENTRIES; seq += 1) {
    const draft = { at: '2026-05-15T09:16:00.000Z', type: 'proposal.decided', actor: 'agent-7', surface: null, bundle_id: null, subjects: { proposal: `p-${seq}` }, payload: { n: seq } };
    const entry = sealEntry(draft, seq, entries.at(-1)?.hash ?? null);
    entries.push(entry);
    insert.run(seq, entry.hash, entry.bytes);
    if ((seq + 1) % EVERY === 0) insertCheckpoint.run(seq + 1, checkpointAt(seq + 1));
  }
  h.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function checkpointAt(treeSize: number, by = signer): string {
  return signCheckpoint({ origin: DEFAULT_LEDGER_ORIGIN, treeSize, rootHash: merkleRoot(entries.slice(0, treeSize).map((e) => e.hash)) }, by);
}

/** A copy of the ledger file, changed through SQL as an attacker with file access would. */
function tamperedCopy(name: string, tamper: (h: Database.Database) => void): string {
  const path = join(dir, name);
  copyFileSync(db, path);
  const h = new Database(path);
  tamper(h);
  h.close();
  return path;
}

function flip(h: Database.Database, seq: number): void {
  const row = h.prepare('SELECT bytes FROM ledger_entries WHERE seq = ?').get(seq) as { bytes: Buffer };
  const bytes = Buffer.from(row.bytes);
  const at = bytes.indexOf('"n":') + 4;
  bytes[at] = bytes[at]! ^ 0x01;
  h.prepare('UPDATE ledger_entries SET bytes = ? WHERE seq = ?').run(bytes, seq);
}

/** Both thread counts on the same input: identical output and exit status. */
function bothThreads(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const one = cli('ledger', 'verify', ...args, '--threads', '1');
  const two = cli('ledger', 'verify', ...args, '--threads', '2');
  expect(two).toEqual(one);
  return two;
}

describe('countersign ledger verify --threads', () => {
  it('passes a fresh ledger with one thread or two, printing the same line', () => {
    const run = bothThreads('--db', db, '--public-key', vkey);
    expect(run).toEqual({ status: 0, stdout: `ok ${ENTRIES} entries, ${ENTRIES / EVERY} checkpoints, root ${Buffer.from(merkleRoot(entries.map((e) => e.hash))).toString('base64')}\n`, stderr: '' });
    // the default for a ledger this small is one thread: same answer again
    expect(cli('ledger', 'verify', '--db', db, '--public-key', vkey)).toEqual(run);
  });

  it('names the same first problem whichever thread finds it', () => {
    const cases: [string, (h: Database.Database) => void, RegExp][] = [
      ['entry.db', (h) => flip(h, 333), /^error\[LEDGER_VERIFY_FAILED\]: seq 333: hash mismatch \(.+\)\n$/],
      ['checkpoint.db', (h) => h.prepare('UPDATE checkpoints SET note = ? WHERE tree_size = 200').run(checkpointAt(200, intruder)), /^error\[LEDGER_VERIFY_FAILED\]: seq 199: bad checkpoint signature/],
      // the worker's problem (checkpoint at 100) comes before the calling thread's (entry 450)
      [
        'both.db',
        (h) => {
          h.prepare('UPDATE checkpoints SET note = ? WHERE tree_size = 100').run(checkpointAt(100, intruder));
          flip(h, 450);
        },
        /^error\[LEDGER_VERIFY_FAILED\]: seq 99: bad checkpoint signature/,
      ],
      ['truncated.db', (h) => h.prepare('DELETE FROM ledger_entries WHERE seq >= 520').run(), /^error\[LEDGER_VERIFY_FAILED\]: seq 520: truncation \(.+\)\n$/],
    ];
    for (const [name, tamper, expected] of cases) {
      const run = bothThreads('--db', tamperedCopy(name, tamper), '--public-key', vkey);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(expected);
    }
  });

  it('verifies an export with two threads, tampered or not', () => {
    const out = join(dir, 'ledger.jsonl');
    expect(cli('ledger', 'export', '--db', db, '--out', out).status).toBe(0);
    expect(bothThreads('--file', out, '--public-key', vkey).status).toBe(0);
    const lines = readFileSync(out, 'utf8').split('\n');
    const changed = [...lines];
    const at = changed.findIndex((l) => l.includes('"n":77}'));
    changed[at] = changed[at]!.replace('"n":77}', '"n":78}');
    writeFileSync(join(dir, 'changed.jsonl'), changed.join('\n'));
    expect(bothThreads('--file', join(dir, 'changed.jsonl'), '--public-key', vkey).stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 77: hash mismatch/);

    // a forged checkpoint (the worker's find), then a line that is no item (the reader's, later)
    const forged = [...lines];
    const cp = forged.findIndex((l) => l.startsWith('{"checkpoint":') && l.includes('\\n100\\n'));
    forged[cp] = JSON.stringify({ checkpoint: checkpointAt(100, intruder) });
    forged.splice(cp + 300, 0, '{"checkpoint":7}');
    writeFileSync(join(dir, 'forged.jsonl'), forged.join('\n'));
    expect(bothThreads('--file', join(dir, 'forged.jsonl'), '--public-key', vkey).stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 99: bad checkpoint signature/);
  });

  it('takes only 1 or 2', () => {
    const run = cli('ledger', 'verify', '--db', db, '--public-key', vkey, '--threads', '3');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('`--threads` is 1 or 2');
  });
});
