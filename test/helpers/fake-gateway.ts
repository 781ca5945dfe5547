import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the gateway's HTTP API, for CLI tests written before the
 * real routes exist: it answers the few endpoints a test declares with canned
 * JSON in the shapes of @countersign/client's types, checks the bearer token,
 * and records every request exactly as it arrived. Replace `startFakeGateway`
 * with the real server (same paths, see packages/client/src/endpoints.ts) and
 * the assertions on `calls` keep their meaning.
 */

export interface RecordedCall {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: IncomingMessage['headers'];
  /** The body exactly as received. */
  readonly raw: string;
  /** The body parsed as JSON; undefined when empty. */
  readonly body: unknown;
  /** `:name` parameters of the matched route. */
  readonly params: Readonly<Record<string, string>>;
}

export interface CannedAnswer {
  readonly status?: number;
  readonly body: unknown;
  /** Hold the answer this long (a long poll). */
  readonly delayMs?: number;
}

export type Handler = (call: RecordedCall) => CannedAnswer;

export interface FakeGatewayOptions {
  /** The only token accepted; any other gets 401 TOKEN_UNKNOWN, none gets 401 TOKEN_MISSING. */
  readonly token: string;
  /** `METHOD /path/:param` -> handler. */
  readonly routes: Readonly<Record<string, Handler>>;
}

export interface FakeGateway {
  readonly url: string;
  readonly calls: RecordedCall[];
  close(): Promise<void>;
}

export function apiError(status: number, code: string, message: string, details?: Record<string, unknown>): CannedAnswer {
  return { status, body: { error: { code, message, ...(details ? { details } : {}) } } };
}

function match(pattern: string, method: string, path: string): Record<string, string> | null {
  const [wantMethod, wantPath] = pattern.split(' ') as [string, string];
  if (wantMethod !== method) return null;
  const want = wantPath.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}

export async function startFakeGateway(options: FakeGatewayOptions): Promise<FakeGateway> {
  const calls: RecordedCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fake');
      const send = (answer: CannedAnswer): void => {
        const write = (): void => {
          res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.body));
        };
        if (answer.delayMs) setTimeout(write, answer.delayMs);
        else write();
      };
      let body: unknown;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        send(apiError(400, 'BAD_REQUEST', 'body is not JSON'));
        return;
      }
      for (const [pattern, handler] of Object.entries(options.routes)) {
        const params = match(pattern, req.method ?? '', url.pathname);
        if (params === null) continue;
        const call: RecordedCall = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, raw, body, params };
        calls.push(call);
        const auth = req.headers.authorization;
        if (auth === undefined) return send(apiError(401, 'TOKEN_MISSING', 'this call needs `Authorization: Bearer <token>`'));
        if (auth !== `Bearer ${options.token}`) return send(apiError(401, 'TOKEN_UNKNOWN', 'the token is not known to this gateway'));
        return send(handler(call));
      }
      send(apiError(404, 'NOT_FOUND', `no route for \`${req.method} ${url.pathname}\``));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
