import { CountersignClientError } from './errors.js';

/** One dispatched Server-Sent Event. */
export interface ServerSentEvent {
  /** `message` when the event names no type (HTML "server-sent events" §9.2.6). */
  readonly event: string;
  readonly data: string;
  /** The last `id:` seen on the stream, empty when none. */
  readonly id: string;
}

/**
 * A stream that never ends a line must not grow a buffer without bound; no
 * request view comes near this (bodies are capped far below it).
 */
export const MAX_SSE_LINE_CHARS = 4 * 1024 * 1024;

/**
 * Parse a `text/event-stream` body into events, as the HTML standard's
 * event-stream interpretation (§9.2.6) does: lines end in CRLF, LF or CR; `:`
 * starts a comment (keep-alives); `data` lines are joined with LF; a blank
 * line dispatches; an event with no data is dropped, and so is a trailing
 * event the stream never terminated. `retry` is ignored: reconnection pacing
 * is the caller's.
 */
export async function* parseServerSentEvents(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<ServerSentEvent, void, undefined> {
  // one decoder for the whole stream: a multi-byte character may straddle two chunks
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let event = '';
  let data: string[] = [];
  let id = '';

  const field = (line: string): ServerSentEvent | null => {
    if (line === '') {
      const dispatched = data.length === 0 ? null : { event: event === '' ? 'message' : event, data: data.join('\n'), id };
      event = '';
      data = [];
      return dispatched;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') event = value;
    else if (name === 'data') data.push(value);
    // an id holding NUL is ignored (§9.2.6)
    else if (name === 'id' && !value.includes('\0')) id = value;
    return null;
  };

  const lines = function* (final: boolean): Generator<string> {
    for (;;) {
      const end = buffer.search(/\r\n|\r|\n/);
      // a CR at the very end may be the first half of a CRLF still in flight
      if (end < 0 || (!final && end === buffer.length - 1 && buffer[end] === '\r')) break;
      const breakLength = buffer.startsWith('\r\n', end) ? 2 : 1;
      yield buffer.slice(0, end);
      buffer = buffer.slice(end + breakLength);
    }
    if (buffer.length > MAX_SSE_LINE_CHARS) {
      throw new CountersignClientError('BAD_RESPONSE', 'the gateway sent an event stream line longer than the client accepts');
    }
  };

  const feed = function* (text: string, final: boolean): Generator<ServerSentEvent> {
    buffer += text;
    if (first && buffer.length > 0) {
      // a leading byte order mark is not part of the first field name
      if (buffer.startsWith('\uFEFF')) buffer = buffer.slice(1);
      first = false;
    }
    for (const line of lines(final)) {
      const dispatched = field(line);
      if (dispatched) yield dispatched;
    }
  };

  for await (const chunk of chunks) yield* feed(decoder.decode(chunk, { stream: true }), false);
  yield* feed(decoder.decode(), true);
}
