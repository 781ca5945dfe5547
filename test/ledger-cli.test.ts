import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeEntry,
  ed25519Signer,
  inclusionProofFromJson,
  leafHash,
  merkleRoot,
  parseVerifierKey,
  verifyCheckpoint,
  verifyInclusion,
} from '@countersign/core';
import { DEFAULT_LEDGER_ORIGIN, loadPrivateKey, signedCheckpoints, SqliteLedgerStore } from '@countersign/gateway';
import { Sequencer } from '../packages/gateway/src/testing/plain-sequencer.js';

/** End to end with the built CLI (`npm run build` first): keys, verify, export, prove, checkpoint, rotate. */
const CLI = fileURLToPath(new URL('../packages/gateway/dist/cli.js', import.meta.url));
const ENTRIES = 230;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

let dir: string;
let key: string;
let db: string;
let vkey: string;
const leaves: Uint8Array[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-ledger-cli-'));
  key = join(dir, 'gateway.key');
  db = join(dir, 'ledger.db');
  const generated = cli('keys', 'generate', '--out', key);
  expect(generated.status, generated.stderr).toBe(0);
  vkey = cli('keys', 'public', '--key', key).stdout.split('\n')[0] ?? '';

  const store = SqliteLedgerStore.open(db);
  const signer = ed25519Signer(DEFAULT_LEDGER_ORIGIN, loadPrivateKey(key));
  const sequencer = await Sequencer.open(store, { checkpoints: signedCheckpoints(DEFAULT_LEDGER_ORIGIN, signer, { every: 50 }) });
  // batches of 10 so checkpoints land at 50, 100, 150, 200 and close() adds 230
  for (let i = 0; i < ENTRIES; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, j) =>
        sequencer.append({
          at: '2025-03-01T12:00:00.000Z',
          type: 'proposal.decided',
          actor: 'agent-7',
          surface: 'copilot-console',
          bundle_id: 'b'.repeat(64),
          subjects: { proposal: `p-${i + j}` },
          payload: { n: i + j, note: 'restart payments-worker' },
        }),
      ),
    );
  }
  await sequencer.close();
  for await (const entry of store.read(0)) leaves.push(leafHash(entry.bytes));
  await store.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A copy of the ledger file, changed by `tamper` through SQL as an attacker with file access would. */
function tamperedCopy(name: string, tamper: (db: Database.Database) => void): string {
  const path = join(dir, name);
  copyFileSync(db, path);
  const handle = new Database(path);
  tamper(handle);
  handle.close();
  return path;
}

describe('countersign keys', () => {
  it('generates a 0600 private key and refuses to overwrite it', () => {
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const before = readFileSync(key, 'utf8');
    const again = cli('keys', 'generate', '--out', key);
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`error[FILE_EXISTS]: \`${key}\` already exists; refusing to overwrite it\n`);
    expect(readFileSync(key, 'utf8')).toBe(before);
  });

  it('prints the verifier key and the key id', () => {
    const [line, id] = cli('keys', 'public', '--key', key).stdout.split('\n');
    const parsed = parseVerifierKey(line ?? '');
    expect(parsed.name).toBe(DEFAULT_LEDGER_ORIGIN);
    expect(id).toBe(`key id ${parsed.keyId}`);
  });
});

describe('countersign ledger verify', () => {
  const root = (): string => Buffer.from(merkleRoot(leaves)).toString('base64');

  it('passes a fresh ledger, with the vkey or the .pub file', () => {
    const ok = `ok ${ENTRIES} entries, 5 checkpoints, root ${root()}\n`;
    expect(cli('ledger', 'verify', '--db', db, '--public-key', vkey)).toEqual({ status: 0, stdout: ok, stderr: '' });
    // a PEM key names no origin: the ledger's checkpoints do, and the line says which was checked
    expect(cli('ledger', 'verify', '--db', db, '--key-file', `${key}.pub`)).toEqual({ status: 0, stdout: ok.replace('\n', `, origin ${DEFAULT_LEDGER_ORIGIN} (as the ledger names it)\n`), stderr: '' });
  });

  it('names the seq of a flipped byte inside an entry', () => {
    const path = tamperedCopy('flipped.db', (h) => {
      const row = h.prepare('SELECT bytes FROM ledger_entries WHERE seq = 41').get() as { bytes: Buffer };
      const bytes = Buffer.from(row.bytes);
      const at = bytes.indexOf('restart');
      bytes[at] = bytes[at]! ^ 0x01;
      h.prepare('UPDATE ledger_entries SET bytes = ? WHERE seq = 41').run(bytes);
    });
    const run = cli('ledger', 'verify', '--db', path, '--key-file', `${key}.pub`);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 41: hash mismatch \(.+\)\n$/);
  });

  it('names the seq of a deleted row', () => {
    const path = tamperedCopy('deleted.db', (h) => h.prepare('DELETE FROM ledger_entries WHERE seq = 77').run());
    const run = cli('ledger', 'verify', '--db', path, '--key-file', `${key}.pub`);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 77: gap \(.+\)\n$/);
  });

  it('catches a truncated tail that a checkpoint covers', () => {
    const path = tamperedCopy('truncated.db', (h) => h.prepare('DELETE FROM ledger_entries WHERE seq >= 220').run());
    const run = cli('ledger', 'verify', '--db', path, '--key-file', `${key}.pub`);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 220: truncation \(.+\)\n$/);
  });

  it('refuses a key other than the ledger\'s', () => {
    const other = join(dir, 'other.key');
    cli('keys', 'generate', '--out', other);
    const run = cli('ledger', 'verify', '--db', db, '--key-file', `${other}.pub`);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 49: bad checkpoint signature/);
  });

  it('needs a public key and refuses a private one', () => {
    expect(cli('ledger', 'verify', '--db', db)).toMatchObject({ status: 2, stderr: expect.stringContaining('error[USAGE]') });
    expect(cli('ledger', 'verify', '--db', db, '--key-file', key)).toMatchObject({ status: 3, stderr: expect.stringContaining('error[KEY_INVALID]') });
  });
});

describe('countersign ledger export', () => {
  it('verifies offline with only the public key, and names the seq of a tampered line', () => {
    const out = join(dir, 'ledger.jsonl');
    expect(cli('ledger', 'export', '--db', db, '--out', out)).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(cli('ledger', 'export', '--db', db, '--out', out).stderr).toContain('error[FILE_EXISTS]');

    // a fresh directory holding only the export and the public key
    const offline = mkdtempSync(join(tmpdir(), 'countersign-offline-'));
    try {
      copyFileSync(out, join(offline, 'ledger.jsonl'));
      writeFileSync(join(offline, 'gateway.vkey'), `${vkey}\n`);
      const ok = cli('ledger', 'verify', '--file', join(offline, 'ledger.jsonl'), '--key-file', join(offline, 'gateway.vkey'));
      expect(ok).toEqual({ status: 0, stdout: `ok ${ENTRIES} entries, 5 checkpoints, root ${Buffer.from(merkleRoot(leaves)).toString('base64')}\n`, stderr: '' });

      const lines = readFileSync(out, 'utf8').split('\n');
      const at = lines.findIndex((l) => l.includes('"seq":123,'));
      lines[at] = lines[at]!.replace('"n":123', '"n":124');
      writeFileSync(join(offline, 'tampered.jsonl'), lines.join('\n'));
      const bad = cli('ledger', 'verify', '--file', join(offline, 'tampered.jsonl'), '--public-key', vkey);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^error\[LEDGER_VERIFY_FAILED\]: seq 123: hash mismatch \(.+\)\n$/);
    } finally {
      rmSync(offline, { recursive: true, force: true });
    }
  });
});

describe('countersign ledger prove and checkpoint', () => {
  it('prints an inclusion proof that verifies offline against its checkpoint', () => {
    const run = cli('ledger', 'prove', '41', '--db', db);
    expect(run.status, run.stderr).toBe(0);
    const proof = JSON.parse(run.stdout) as { seq: number; entry: string; leaf_hash: string; tree_size: number; root: string; checkpoint: string };
    expect(proof.tree_size).toBe(ENTRIES);
    const checkpoint = verifyCheckpoint(proof.checkpoint, [vkey], { origin: DEFAULT_LEDGER_ORIGIN });
    const bytes = Buffer.from(proof.entry, 'base64');
    expect(decodeEntry(bytes).seq).toBe(41);
    const leaf = leafHash(bytes);
    expect(Buffer.from(leaf).toString('base64')).toBe(proof.leaf_hash);
    expect(() => verifyInclusion(inclusionProofFromJson(proof), leaf, checkpoint.rootHash)).not.toThrow();
    expect(() => verifyInclusion(inclusionProofFromJson(proof), leafHash(Buffer.from('forged')), checkpoint.rootHash)).toThrow();
  });

  it('proves against an older checkpoint with --size and refuses a size nobody signed', () => {
    const run = cli('ledger', 'prove', '7', '--size', '100', '--db', db);
    expect(run.status, run.stderr).toBe(0);
    const proof = JSON.parse(run.stdout) as { tree_size: number; checkpoint: string; leaf_hash: string };
    const checkpoint = verifyCheckpoint(proof.checkpoint, [vkey]);
    expect(checkpoint.treeSize).toBe(100);
    expect(() => verifyInclusion(inclusionProofFromJson(proof), Buffer.from(proof.leaf_hash, 'base64'), checkpoint.rootHash)).not.toThrow();
    expect(cli('ledger', 'prove', '7', '--size', '99', '--db', db)).toMatchObject({ status: 2, stderr: expect.stringContaining('tree size 99') });
    expect(cli('ledger', 'prove', '120', '--size', '100', '--db', db).stderr).toContain('error[PROOF_INVALID]: seq 120');
  });

  it('prints the latest signed note', () => {
    const run = cli('ledger', 'checkpoint', '--db', db);
    expect(run.status).toBe(0);
    expect(verifyCheckpoint(run.stdout, [vkey]).treeSize).toBe(ENTRIES);
  });
});

describe('countersign keys rotate', () => {
  it('hands over to the new key through a ledger entry the old key signed', () => {
    const path = join(dir, 'rotated.db');
    copyFileSync(db, path);
    const next = join(dir, 'next.key');
    cli('keys', 'generate', '--out', next);
    const run = cli('keys', 'rotate', '--key', key, '--new-key', next, '--db', path);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`rotated at seq ${ENTRIES}`);
    // a verifier that only knows the old key follows the rotation
    const verify = cli('ledger', 'verify', '--db', path, '--public-key', vkey);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^ok ${ENTRIES + 1} entries, 6 checkpoints, `));
  });
});
