import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { httpStatusFor } from './http-status.js';

/**
 * Answers Node's HTTP server would otherwise give itself, before Fastify sees
 * a request, with a bare status or a body of its own: errors of its parser
 * (`clientError`) and an `Expect` it cannot meet (`checkExpectation`). Ours
 * carry the documented body, `{ "error": { "code", "message" } }`, and a
 * stable code mapped in http-status.ts like every other.
 */

export type ProtocolErrorCode = 'REQUEST_MALFORMED' | 'HEADERS_TOO_LARGE' | 'BODY_TOO_LARGE' | 'REQUEST_TIMEOUT' | 'EXPECTATION_FAILED';

/** llhttp and Node error codes with an answer of their own; any other parser error is a malformed request. */
const PARSER_ERRORS: Readonly<Record<string, readonly [ProtocolErrorCode, string]>> = {
  HPE_HEADER_OVERFLOW: ['HEADERS_TOO_LARGE', 'request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: ['BODY_TOO_LARGE', 'request chunk extensions are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'request was not received in time'],
};
const MALFORMED: readonly [ProtocolErrorCode, string] = ['REQUEST_MALFORMED', 'request is not well-formed HTTP/1.1'];

function errorBody(code: ProtocolErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/**
 * `clientError`: answer on the raw socket, then close it, since the connection
 * is out of step and cannot carry another request. Node's own socketOnError
 * (lib/_http_server.js) does the same, and writes nothing when a response has
 * already begun on the socket: bytes written then would corrupt it.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [code, message] = PARSER_ERRORS[err.code ?? ''] ?? MALFORMED;
  const status = httpStatusFor(code);
  const body = errorBody(code, message);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ].join('\r\n');
  // end, not write then destroy: the answer is flushed before the socket closes
  socket.end(`${head}\r\n\r\n${body}`, () => socket.destroy());
}

/**
 * `checkExpectation`: an `Expect` other than `100-continue` (RFC 9110 §10.1.1:
 * 417), which Node would answer with an empty body. The request body is not
 * read, so the connection is closed.
 */
export function answerExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const code: ProtocolErrorCode = 'EXPECTATION_FAILED';
  const body = errorBody(code, 'the only `expect` the gateway meets is `100-continue`');
  response.writeHead(httpStatusFor(code), { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  response.end(body);
}
