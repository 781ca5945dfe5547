import { createHash } from 'node:crypto';
import { signCheckpoint } from '../../packages/core/src/ledger/checkpoint.js';
import type { SealedEntry } from '../../packages/core/src/ledger/entry.js';
import { exportCheckpointLine, exportEntryLine, exportHeaderLine } from '../../packages/core/src/ledger/export.js';
import { ed25519PrivateKeyFromSeed, ed25519Signer, signerVerifierKey, type Signer } from '../../packages/core/src/ledger/key.js';
import { merkleRoot } from '../../packages/core/src/ledger/merkle.js';
import { playGoverned, playPermissive } from '../scenario/incident.js';

/**
 * Recorded ledgers of the reference incident, as `countersign ledger export`
 * writes them: a header, every entry's exact canonical bytes, and one signed
 * checkpoint over the whole tree. Everything is deterministic: the scenario
 * runs on a fixed clock with counter ids, and Ed25519 signatures over the
 * same message with the same key are the same bytes (RFC 8032 §5.1.6).
 *
 * The fixtures under test/fixtures/ledgers/ are these bytes; test/trace-fixtures.test.ts
 * fails when they drift and rewrites them only with COUNTERSIGN_RECORD=1.
 */

export const FIXTURE_ORIGIN = 'countersign.dev/ledger/incident-fixture';

/** A test-only gateway key derived from a public phrase: never a secret. */
export function fixtureSigner(): Signer {
  const seed = createHash('sha256').update('countersign incident fixture gateway key').digest();
  return ed25519Signer(FIXTURE_ORIGIN, ed25519PrivateKeyFromSeed(seed));
}

/** The verifier key of the fixture gateway key, as `keys public` prints it. */
export function fixtureVerifierKey(): string {
  return signerVerifierKey(fixtureSigner()).text;
}

/** A ledger as export lines: header, entries, one checkpoint over all of them. */
export function exportLedger(sealed: readonly SealedEntry[], signer: Signer = fixtureSigner()): Buffer {
  const parts: Uint8Array[] = [Buffer.from(exportHeaderLine(signer.name))];
  for (const entry of sealed) parts.push(exportEntryLine(entry.bytes));
  if (sealed.length > 0) {
    const note = signCheckpoint({ origin: signer.name, treeSize: sealed.length, rootHash: merkleRoot(sealed.map((e) => e.hash)) }, signer);
    parts.push(Buffer.from(exportCheckpointLine(note)));
  }
  return Buffer.concat(parts);
}

export type IncidentVariant = 'permissive' | 'governed';

export function recordIncident(variant: IncidentVariant): Buffer {
  const run = variant === 'permissive' ? playPermissive() : playGoverned();
  return exportLedger(run.world.machine.sealed);
}

/**
 * `COUNTERSIGN_RECORD=1`: the fixture tests write what the code produces now
 * over their committed expectations, then compare, so every comparison passes.
 * That is for a person who reads the diff afterwards; in CI it would pass any
 * change, so there it throws when the test file loads.
 */
export function recordMode(): boolean {
  if (process.env['COUNTERSIGN_RECORD'] !== '1') return false;
  if (process.env['CI']) {
    throw new Error('COUNTERSIGN_RECORD=1 rewrites the expected fixtures before comparing them: refused in CI; record locally, read the diff and commit it');
  }
  return true;
}
