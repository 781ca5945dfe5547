import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createExportVerifier, LineSplitter } from '../packages/core/src/ledger/export.js';
import { fixtureVerifierKey, recordIncident, recordMode, type IncidentVariant } from './helpers/record-incident.js';

/**
 * The recorded ledgers of the reference incident are committed files. They
 * must stay what the scenario writes today: when the state machine changes
 * what it records, this fails, and the fixtures (and the expected trace and
 * postmortem outputs built on them) are regenerated deliberately, never in CI, with
 *
 *   COUNTERSIGN_RECORD=1 npx vitest run test/trace-fixtures.test.ts test/trace-cli.test.ts
 */

const DIR = fileURLToPath(new URL('./fixtures/ledgers/', import.meta.url));
const RECORD = recordMode();

describe.each<IncidentVariant>(['permissive', 'governed'])('recorded ledger of the %s incident', (variant) => {
  const file = `${DIR}incident-${variant}.jsonl`;
  const fresh = recordIncident(variant);
  if (RECORD) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(file, fresh);
    writeFileSync(`${DIR}incident.vkey`, `${fixtureVerifierKey()}\n`);
  }

  it('is byte for byte what the scenario records', () => {
    expect(Buffer.compare(readFileSync(file), fresh)).toBe(0);
  });

  it('verifies offline with the fixture gateway key', () => {
    expect(readFileSync(`${DIR}incident.vkey`, 'utf8').trim()).toBe(fixtureVerifierKey());
    const verifier = createExportVerifier({ trustedKeys: [fixtureVerifierKey()] });
    const splitter = new LineSplitter();
    for (const line of [...splitter.push(readFileSync(file)), ...splitter.end()]) verifier.line(line);
    const result = verifier.finish();
    expect(result.size).toBeGreaterThan(10);
    expect(result.checkpoints).toBe(1);
  });
});
