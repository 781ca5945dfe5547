import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../packages/core/src/ledger/entry.js';
import { classifyExportLine, LineSplitter } from '../packages/core/src/ledger/export.js';
import { entryIssueText, parseEntry } from '../packages/core/src/state/parse.js';

/**
 * The recorded ledgers under test/fixtures/ledgers/ are files written by an
 * earlier build: the analyses' parser (packages/core/src/state/parse.ts) must
 * read every entry in them as its catalog type, and lose no field of it.
 */

const DIR = fileURLToPath(new URL('./fixtures/ledgers/', import.meta.url));
const LEDGERS = readdirSync(DIR).filter((f) => f.endsWith('.jsonl'));

describe.each(LEDGERS)('recorded ledger %s', (file) => {
  it('parses entry by entry as the catalog types', () => {
    const splitter = new LineSplitter();
    const lines = [...splitter.push(readFileSync(`${DIR}${file}`)), ...splitter.end()];
    const entries = lines.map((line) => classifyExportLine(line)).flatMap((l) => (l.kind === 'entry' ? [decodeEntry(l.bytes)] : []));
    expect(entries.length).toBeGreaterThan(10);
    for (const entry of entries) {
      const parsed = parseEntry(entry);
      if (parsed.kind !== 'authority') throw new Error(`#${entry.seq} ${entry.type}: ${parsed.kind === 'malformed' ? entryIssueText(parsed.issue) : 'not a catalog type'}`);
      expect(parsed.entry).toEqual(entry);
    }
  });
});
