import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, EXAMPLE_POLICY, startGatewayProcess, type GatewayProcess, type Json } from './helpers/gateway-process.js';

/**
 * Malformed input against the real gateway process on SQLite (issue 12, "Bad
 * input that still gets through"; build first: `npx tsc -b packages/core
 * packages/client packages/gateway`). Bodies go out as raw bytes over a
 * socket, since fetch would normalise what is under test (it cannot send
 * invalid UTF-8 in a string, an oversized header or a broken request line).
 * Every answer, whoever raised it (Node's HTTP parser, the router, the body
 * parser), has the documented error shape and a stable code, and a refused
 * body records nothing.
 */

interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Json;
}

/** Send `request` as is on a fresh connection and read the answer until the server closes the connection. */
function raw(url: string, request: Buffer | string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const payload = text.slice(split + 4);
      try {
        resolve({ status: Number(statusLine.split(' ')[1]), headers, body: payload === '' ? null : JSON.parse(payload) });
      } catch {
        reject(new Error(`the answer is not JSON: ${JSON.stringify(text)}`));
      }
    });
    // write, not end: a half-closed connection makes Node abort the request in flight; every request here says `Connection: close`
    socket.setTimeout(10_000, () => socket.destroy(new Error('the server did not close the connection')));
    socket.write(request);
  });
}

/** A POST as raw bytes: the body goes out exactly as given. */
function post(path: string, token: string, body: Buffer | string, contentType = 'application/json'): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${contentType}\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

function get(path: string, token: string | null, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${token === null ? '' : `Authorization: Bearer ${token}\r\n`}${extra}Connection: close\r\n\r\n`;
}

/** The documented error shape, exactly: `{ error: { code, message, details? } }` and nothing else. */
function expectErrorShape(answer: RawAnswer, status: number, code: string): void {
  expect([answer.status, answer.body?.error?.code], JSON.stringify(answer.body)).toEqual([status, code]);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(Object.keys(answer.body)).toEqual(['error']);
  expect(Object.keys(answer.body.error).filter((k) => k !== 'details')).toEqual(['code', 'message']);
  expect(typeof answer.body.error.message).toBe('string');
  expect(answer.body.error.message).not.toMatch(/FST_|HPE_|fastify/i);
}

const STEP = '{"action":"queue.inspect","environment":"prod","target":"payments-queue/shard-7","params":{}}';
const proposal = (step = STEP, head = '"agent":"payments-copilot"'): string => `{${head},"on_behalf_of":"olivia","surface":"copilot-console","steps":[${step}]}`;

let dir = '';
let gw: GatewayProcess;
let agent = '';
let reader = '';
const size = async (): Promise<number> => (await call<{ size: number }>(gw.url, 'GET', '/v1/ledger/head', reader)).body.size;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-malformed-'));
  gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db: join(dir, 'ledger.db'), args: ['--expire-every', '1h'] });
  agent = await gw.token('payments-copilot', 'copilot-console');
  reader = await gw.token('priya', 'approver-console');
}, 60_000);

afterAll(async () => {
  const code = await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(0);
}, 60_000);

describe('bodies two readers could read differently are refused, and nothing is recorded', () => {
  it('a valid body sent as raw bytes is still granted, and recorded', async () => {
    const before = await size();
    const answer = await raw(gw.url, post('/v1/proposals', agent, proposal()));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body.steps[0].effect).toBe('allow');
    expect(await size()).toBeGreaterThan(before);
  });

  it.each([
    ['a step naming its environment twice', proposal(STEP.replace('"environment":"prod"', '"environment":"Prod","environment":"prod"')), '/steps/0/environment'],
    ['a proposal naming its agent twice', proposal(STEP, '"agent":"olivia","agent":"payments-copilot"'), '/agent'],
    ['a duplicate spelled with an escape', proposal(STEP.replace('"params":{}', '"params":{"mode":"a","mod\\u0065":"b"}')), '/steps/0/params/mode'],
  ])('%s: 400 BODY_DUPLICATE_KEY with the pointer of the member', async (_label, body, pointer) => {
    const before = await size();
    const answer = await raw(gw.url, post('/v1/proposals', agent, body));
    expectErrorShape(answer, 400, 'BODY_DUPLICATE_KEY');
    expect(answer.body.error.details).toEqual({ pointer });
    expect(await size()).toBe(before);
  });

  it('invalid UTF-8: 400 BODY_INVALID_UTF8, not stored with U+FFFD in its place', async () => {
    const before = await size();
    const body = Buffer.concat([Buffer.from(proposal(STEP.replace('"params":{}', '"params":{},"rationale":"look ')), 'utf8').subarray(0, -3), Buffer.from([0xff]), Buffer.from(' before"}]}', 'utf8')]);
    expect(body.toString('latin1')).toContain('look \xff before');
    const answer = await raw(gw.url, post('/v1/proposals', agent, body));
    expectErrorShape(answer, 400, 'BODY_INVALID_UTF8');
    expect(await size()).toBe(before);
  });

  it.each([
    ['-0', 'is negative zero'],
    ['-0.0', 'is negative zero'],
    ['1e-400', 'underflows to zero'],
    ['1e400', 'overflows to infinity'],
    ['9007199254740993', 'beyond 2^53'],
  ])('the number %s: 400 BODY_NUMBER_NOT_CANONICAL, never recorded as another number', async (literal, problem) => {
    const before = await size();
    const answer = await raw(gw.url, post('/v1/proposals', agent, proposal(STEP.replace('"params":{}', `"params":{"count":${literal}}`))));
    expectErrorShape(answer, 400, 'BODY_NUMBER_NOT_CANONICAL');
    expect(answer.body.error.details).toEqual({ pointer: '/steps/0/params/count' });
    expect(answer.body.error.message).toContain(problem);
    expect(await size()).toBe(before);
  });

  it('a member named __proto__: 400 BODY_FORBIDDEN_KEY, as Fastify’s own parser refused it', async () => {
    const answer = await raw(gw.url, post('/v1/proposals', agent, proposal(STEP.replace('"params":{}', '"params":{"__proto__":{"x":1}}'))));
    expectErrorShape(answer, 400, 'BODY_FORBIDDEN_KEY');
    expect(answer.body.error.details).toEqual({ pointer: '/steps/0/params/__proto__' });
  });

  it('malformed and empty JSON stay 400 BAD_REQUEST; a body that is not JSON is 415 as documented', async () => {
    const before = await size();
    expectErrorShape(await raw(gw.url, post('/v1/proposals', agent, '{"agent":')), 400, 'BAD_REQUEST');
    expectErrorShape(await raw(gw.url, post('/v1/proposals', agent, '')), 400, 'BAD_REQUEST');
    expectErrorShape(await raw(gw.url, post('/v1/proposals', agent, proposal(), 'text/plain')), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectErrorShape(await raw(gw.url, post('/v1/proposals', agent, proposal(), 'application/x-www-form-urlencoded')), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(await size()).toBe(before);
  });

  it('the body limit still applies before the body is parsed', async () => {
    const before = await size();
    const huge = proposal(STEP.replace('"params":{}', `"params":{},"rationale":"${'x'.repeat(300 * 1024)}"`));
    expectErrorShape(await raw(gw.url, post('/v1/proposals', agent, huge)), 413, 'BODY_TOO_LARGE');
    expect(await size()).toBe(before);
  });
});

describe('answers Fastify or Node would give in their own shape', () => {
  it('a malformed percent-escape in the path: 400 URL_MALFORMED', async () => {
    expectErrorShape(await raw(gw.url, get('/v1/requests/%E0%A4%A', agent)), 400, 'URL_MALFORMED');
  });

  it('ids up to the schema’s 200 characters reach the route; a longer one is 414 PATH_PARAM_TOO_LONG', async () => {
    expectErrorShape(await raw(gw.url, get(`/v1/requests/${'r'.repeat(200)}`, agent)), 404, 'REQUEST_UNKNOWN');
    expectErrorShape(await raw(gw.url, get(`/v1/trace/${'r'.repeat(150)}`, reader)), 404, 'TRACE_NOT_FOUND');
    expectErrorShape(await raw(gw.url, get(`/v1/requests/${'r'.repeat(201)}`, agent)), 414, 'PATH_PARAM_TOO_LONG');
  });

  it('headers too large: 431 HEADERS_TOO_LARGE, and the connection is closed', async () => {
    const answer = await raw(gw.url, get('/healthz', null, `X-Filler: ${'f'.repeat(20 * 1024)}\r\n`));
    expectErrorShape(answer, 431, 'HEADERS_TOO_LARGE');
    expect(answer.headers['connection']).toBe('close');
  });

  it.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n'],
    ['an unknown method', 'BREW /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost localhost\r\n\r\n'],
    ['a broken chunked body', `POST /v1/proposals HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer TOKEN\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`],
  ])('%s: 400 REQUEST_MALFORMED, and the connection is closed', async (_label, request) => {
    const answer = await raw(gw.url, request.replace('TOKEN', agent));
    expectErrorShape(answer, 400, 'REQUEST_MALFORMED');
    expect(answer.headers['connection']).toBe('close');
  });

  it('an HTTP/1.1 request without Host: 400 REQUEST_MALFORMED (RFC 9112 §3.2), where Node would answer with no body', async () => {
    const answer = await raw(gw.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expectErrorShape(answer, 400, 'REQUEST_MALFORMED');
    expect(answer.headers['connection']).toBe('close');
    // HTTP/1.0 has no Host requirement
    expect((await raw(gw.url, 'GET /healthz HTTP/1.0\r\n\r\n')).body).toEqual({ status: 'ok' });
  });

  it('an Expect other than 100-continue: 417 EXPECTATION_FAILED, where Node would answer with no body', async () => {
    const answer = await raw(gw.url, get('/healthz', null, 'Expect: teapot\r\n'));
    expectErrorShape(answer, 417, 'EXPECTATION_FAILED');
  });

  it('an unknown route keeps its NOT_FOUND in the same shape', async () => {
    expectErrorShape(await raw(gw.url, get('/v1/nothing', null)), 404, 'NOT_FOUND');
  });
});
