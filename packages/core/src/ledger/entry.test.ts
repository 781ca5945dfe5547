import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeEntry, GENESIS_PREV_HASH, leafHash, sealEntry, type EntryDraft } from './entry.js';
import { codeOf, errorOf } from './code-of.contract.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// Keys deliberately out of order, every scalar kind, extreme safe integers,
// every class of string escape, non-BMP text and U+2028/U+2029 (which RFC 8785,
// like JSON.stringify, leaves unescaped).
const DRAFT: EntryDraft = {
  at: '2026-05-15T09:16:00.000Z',
  type: 'proposal.decided',
  actor: 'agent-7',
  surface: 'copilot-console',
  bundle_id: 'sha256:a3f1c2d4e5b6a7980112233445566778899aabbccddeeff00112233445566778',
  subjects: { step: 'step-1-0', proposal: 'prop-1' },
  payload: {
    target: 'payments-worker-3',
    action: 'payments-worker.restart',
    n: -9007199254740991,
    big: 9007199254740991,
    zero: 0,
    ok: true,
    no: false,
    none: null,
    nested: { z: [1, 'two', { b: null, a: [] }], A: {}, '': 'empty key', 'a~b/c': 'pointer chars' },
    text: 'quote " backslash \\ slash / tab \t nl \n cr \r ctl \u0001 \u001f del \u007f \u00e9 \u00fc \u4e2d\u6587 \ud83d\ude00 \u2028 \u2029',
  },
};

// Pinned before the serializer was rewritten for speed: stored bytes are the
// ledger's contract, so any drift in canonical form or hashing must fail here.
const PINNED_0 =
  '{"actor":"agent-7","at":"2026-05-15T09:16:00.000Z","bundle_id":"sha256:a3f1c2d4e5b6a7980112233445566778899aabbccddeeff00112233445566778","payload":{"action":"payments-worker.restart","big":9007199254740991,"n":-9007199254740991,"nested":{"":"empty key","A":{},"a~b/c":"pointer chars","z":[1,"two",{"a":[],"b":null}]},"no":false,"none":null,"ok":true,"target":"payments-worker-3","text":"quote \\" backslash \\\\ slash / tab \\t nl \\n cr \\r ctl \\u0001 \\u001f del \u007f \u00e9 \u00fc \u4e2d\u6587 \ud83d\ude00 \u2028 \u2029","zero":0},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":0,"subjects":{"proposal":"prop-1","step":"step-1-0"},"surface":"copilot-console","type":"proposal.decided","v":1}';
const PINNED_HASH_0 = 'd93dfb41b8e112f4c1ad8965c7c9164434cecf7ee39ca5c0d39132ef23969217';
const PINNED_1 =
  '{"actor":null,"at":"2026-05-15T09:16:00.000Z","bundle_id":null,"payload":{},"prev_hash":"d93dfb41b8e112f4c1ad8965c7c9164434cecf7ee39ca5c0d39132ef23969217","seq":1,"subjects":{},"surface":null,"type":"proposal.decided","v":1}';
const PINNED_HASH_1 = '655ebb67202d57f498834a029a8e711881fdf1b35eea1036a6322be8ecb3c586';

describe('sealEntry', () => {
  it('produces exactly the pinned bytes and leaf hash', () => {
    const e0 = sealEntry(DRAFT, 0, null);
    expect(Buffer.from(e0.bytes).toString('utf8')).toBe(PINNED_0);
    expect(hex(e0.bytes)).toBe(Buffer.from(PINNED_0, 'utf8').toString('hex'));
    expect(hex(e0.hash)).toBe(PINNED_HASH_0);
    expect(e0.seq).toBe(0);

    const e1 = sealEntry({ ...DRAFT, actor: null, surface: null, bundle_id: null, subjects: {}, payload: {} }, 1, e0.hash);
    expect(Buffer.from(e1.bytes).toString('utf8')).toBe(PINNED_1);
    expect(hex(e1.hash)).toBe(PINNED_HASH_1);
  });

  it('hashes as RFC 6962 leaves: SHA-256(0x00 || bytes)', () => {
    const e = sealEntry(DRAFT, 5, new Uint8Array(32).fill(7));
    const expected = createHash('sha256').update(Buffer.from([0])).update(e.bytes).digest('hex');
    expect(hex(e.hash)).toBe(expected);
    expect(hex(leafHash(e.bytes))).toBe(expected);
  });

  it('decodes back to the draft with v, seq and prev_hash', () => {
    const e = sealEntry(DRAFT, 0, null);
    expect(decodeEntry(e.bytes)).toEqual({ ...DRAFT, v: 1, seq: 0, prev_hash: GENESIS_PREV_HASH });
  });

  const refusals: [string, EntryDraft, number, Uint8Array | null, string][] = [
    ['a negative seq', DRAFT, -1, null, 'LEDGER_ENTRY_INVALID'],
    ['a fractional seq', DRAFT, 1.5, null, 'LEDGER_ENTRY_INVALID'],
    ['an undotted type', { ...DRAFT, type: 'decided' }, 0, null, 'LEDGER_ENTRY_INVALID'],
    ['a timestamp without milliseconds', { ...DRAFT, at: '2026-05-15T09:16:00Z' }, 0, null, 'LEDGER_ENTRY_INVALID'],
    ['an upper-case subject key', { ...DRAFT, subjects: { Step: 's' } }, 0, null, 'LEDGER_ENTRY_INVALID'],
    ['a float in the payload', { ...DRAFT, payload: { x: [1, 0.5] } }, 0, null, 'NOT_CANONICALIZABLE'],
    ['a lone surrogate in the payload', { ...DRAFT, payload: { s: 'a\ud800' } }, 0, null, 'NOT_CANONICALIZABLE'],
    ['a lone surrogate in the actor', { ...DRAFT, actor: '\udc00' }, 0, null, 'NOT_CANONICALIZABLE'],
    // the verifier finds `prev_hash` as the last look-alike: nothing after it may nest one
    ['a non-string subject', { ...DRAFT, subjects: { step: 1 } } as unknown as EntryDraft, 0, null, 'LEDGER_ENTRY_INVALID'],
    ['an object surface', { ...DRAFT, surface: { prev_hash: GENESIS_PREV_HASH, seq: 0 } } as unknown as EntryDraft, 0, null, 'LEDGER_ENTRY_INVALID'],
    ['a number actor', { ...DRAFT, actor: 7 } as unknown as EntryDraft, 0, null, 'LEDGER_ENTRY_INVALID'],
    ['a previous hash of the wrong size', DRAFT, 1, new Uint8Array(31), 'LEDGER_ENTRY_INVALID'],
  ];
  it.each(refusals)('refuses %s', (_label, draft, seq, prev, code) => {
    expect(codeOf(() => sealEntry(draft, seq, prev))).toBe(code);
  });

  it('names the JSON pointer of a bad payload value', () => {
    expect(errorOf(() => sealEntry({ ...DRAFT, payload: { a: { 'b/c': [0, 1.5] } } }, 0, null)).details?.['pointer']).toBe('/payload/a/b~1c/1');
  });
});

describe('sealEntry beyond the common case', () => {
  // The scratch buffer starts at 4 KiB and grows: a large entry, mostly 3-byte UTF-8, must seal whole.
  it('seals an entry larger than the scratch buffer to its full canonical bytes and their leaf hash', () => {
    const text = '\u4e2d'.repeat(3000);
    const e = sealEntry({ ...DRAFT, payload: { text } }, 2, new Uint8Array(32).fill(9));
    const bytes = Buffer.from(e.bytes);
    expect(bytes.length).toBeGreaterThan(9000);
    expect(decodeEntry(e.bytes)).toMatchObject({ seq: 2, payload: { text }, prev_hash: '09'.repeat(32) });
    expect(hex(e.hash)).toBe(createHash('sha256').update(Buffer.from([0])).update(bytes).digest('hex'));
    // and a small entry after it still seals to the pinned bytes
    expect(Buffer.from(sealEntry(DRAFT, 0, null).bytes).toString('utf8')).toBe(PINNED_0);
  });

  it('takes subjects from an object without a prototype', () => {
    const subjects = Object.assign(Object.create(null) as Record<string, string>, { step: 'step-1-0', proposal: 'prop-1' });
    expect(Buffer.from(sealEntry({ ...DRAFT, subjects }, 0, null).bytes).toString('utf8')).toBe(PINNED_0);
  });

  it.each([
    ['null subjects', { ...DRAFT, subjects: null }],
    ['subjects as a list', { ...DRAFT, subjects: ['step-1-0'] }],
    ['subjects as a Map', { ...DRAFT, subjects: new Map([['step', 'step-1-0']]) }],
    ['a type that is a list holding a valid type', { ...DRAFT, type: ['proposal.decided'] }],
    ['a timestamp that is a list holding a valid timestamp', { ...DRAFT, at: ['2026-05-15T09:16:00.000Z'] }],
  ])('refuses %s as LEDGER_ENTRY_INVALID', (_label, draft) => {
    expect(codeOf(() => sealEntry(draft as unknown as EntryDraft, 0, null))).toBe('LEDGER_ENTRY_INVALID');
  });
});

describe('sealEntry names the JSON pointer of a bad string field', () => {
  it.each([
    ['actor', { ...DRAFT, actor: 'a\ud800' }, '/actor'],
    ['bundle_id', { ...DRAFT, bundle_id: 'b\ud800' }, '/bundle_id'],
    ['surface', { ...DRAFT, surface: '\udc00s' }, '/surface'],
    ['a subject', { ...DRAFT, subjects: { step: 's\ud800' } }, '/subjects/step'],
  ])('%s', (_label, draft, pointer) => {
    const err = errorOf(() => sealEntry(draft, 0, null));
    expect(err.code).toBe('NOT_CANONICALIZABLE');
    expect(err.details?.['pointer']).toBe(pointer);
  });
});

describe('decodeEntry', () => {
  it.each([
    ['bytes that are not UTF-8', Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
    ['text that is not JSON', new TextEncoder().encode('{"a":')],
  ])('refuses %s as LEDGER_ENTRY_INVALID', (_label, bytes) => {
    expect(codeOf(() => decodeEntry(bytes))).toBe('LEDGER_ENTRY_INVALID');
  });
});
