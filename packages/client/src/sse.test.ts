import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SSE_LINE_CHARS, parseServerSentEvents, type ServerSentEvent } from './sse.js';

async function* chunksOf(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  for (const part of parts) yield typeof part === 'string' ? encoder.encode(part) : part;
}

async function parse(...parts: (string | Uint8Array)[]): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  for await (const event of parseServerSentEvents(chunksOf(...parts))) events.push(event);
  return events;
}

describe('parseServerSentEvents', () => {
  it('reads the gateway stream: retry, named events with ids, keep-alive comments', async () => {
    const stream = 'retry: 2000\n\nevent: request\nid: 1\ndata: {"status":"open"}\n\n: keep-alive\n\nevent: request\nid: 2\ndata: {"status":"approved"}\n\n';
    expect(await parse(stream)).toEqual([
      { event: 'request', id: '1', data: '{"status":"open"}' },
      { event: 'request', id: '2', data: '{"status":"approved"}' },
    ]);
  });

  it('follows the standard: CR, LF and CRLF line ends, joined data lines, default type, optional space, BOM', async () => {
    expect(await parse('\uFEFFdata:a\r\ndata: b\rdata\n\nevent:x\ndata:  c\r\n\r\n')).toEqual([
      { event: 'message', id: '', data: 'a\nb\n' },
      { event: 'x', id: '', data: ' c' },
    ]);
  });

  it('drops an event without data, an event the stream never terminated, and a NUL id', async () => {
    expect(await parse('event: request\n\nid: 7\ndata: kept\n\nid: a\0b\ndata: same id\n\nevent: request\ndata: cut off')).toEqual([
      { event: 'message', id: '7', data: 'kept' },
      { event: 'message', id: '7', data: 'same id' },
    ]);
  });

  it('gives the same events however the bytes are split into chunks', async () => {
    const text = '\uFEFFevent: request\r\nid: 1\r\ndata: {"target":"café ☕ 𝄞"}\r\n\r\n: keep-alive\r\rdata: two\rdata: lines\n\n';
    const bytes = new TextEncoder().encode(text);
    const whole = await parse(bytes);
    expect(whole).toHaveLength(2);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }), async (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const parts = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
        expect(await parse(...parts)).toEqual(whole);
      }),
    );
  });

  it('refuses a line that never ends rather than buffer it without bound', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const parts = Array.from({ length: Math.ceil(MAX_SSE_LINE_CHARS / chunk.length) + 1 }, () => chunk);
    await expect(parse('data: ', ...parts)).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });
});
