import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isCountersignError } from '@countersign/core';
import { ErrorBody, type Endpoint } from '@countersign/client/contract';
import { GatewayError } from '../errors.js';
import { httpStatusFor } from './http-status.js';
import { ApiError } from './api-error.js';
import { parseJsonBody } from './json-body.js';
import { DEFAULT_BODY_LIMIT_BYTES } from './limits.js';
import { closeQuietConnectionsOnDrain } from './drain.js';
import { answerClientError, answerExpectation } from './protocol-errors.js';
import { ID_MAX_LENGTH } from './routes/bounds.js';

export { ErrorBody };

/**
 * A route and its schemas. The same zod schemas validate requests and responses
 * at run time and produce the OpenAPI document, so the two cannot drift; the
 * gateway's own routes take them from the contract (ADR 005), where the client
 * reads them too.
 */
export interface RouteSpec<
  Body extends z.ZodType = z.ZodType,
  Params extends z.ZodType = z.ZodType,
  Query extends z.ZodType = z.ZodType,
  Response extends z.ZodType = z.ZodType,
> {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** `{name}` marks a path parameter, as in the contract and OpenAPI: `/v1/ledger/proofs/{seq}`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly body?: Body;
  readonly params?: Params;
  readonly query?: Query;
  readonly response: Response;
  /** HTTP status of a success; 200 unless stated. */
  readonly status?: number;
  /**
   * The operation the caller's credential must allow. Routes that name one are
   * authenticated and authorized by `AppOptions.guard` on request, before the
   * body is read; routes without one are public (health, OpenAPI).
   */
  readonly operation?: string;
  /** A tighter or looser body cap than the app's, in bytes (policy activation carries a whole bundle). */
  readonly bodyLimit?: number;
  /**
   * A streamed response (JSON Lines, Server-Sent Events): the handler returns
   * a Readable sent as is with this content type; `response` documents one
   * item. Validation of each item is the handler's job.
   */
  readonly stream?: { readonly contentType: string };
  handler(input: {
    body: z.output<Body>;
    params: z.output<Params>;
    query: z.output<Query>;
    request: FastifyRequest;
    reply: FastifyReply;
  }): Promise<z.input<Response> | Readable>;
}

/** What the gateway adds to an endpoint of the contract: the handler, and the server's own limits. */
export interface RouteHandler<B extends z.ZodType, P extends z.ZodType, Q extends z.ZodType, R extends z.ZodType> {
  readonly bodyLimit?: number;
  /** The streamed answer's media type when it is the server's to say (`/metrics`: the registry's). */
  readonly stream?: { readonly contentType: string };
  handler: RouteSpec<B, P, Q, R>['handler'];
}

/** Declare a route with its types inferred from its schemas: the contract's endpoint and its handler, or a whole spec (tests). */
export function route<B extends z.ZodType, P extends z.ZodType, Q extends z.ZodObject, R extends z.ZodType>(endpoint: Endpoint<P, Q, B, R>, server: RouteHandler<B, P, Q, R>): RouteSpec;
export function route<B extends z.ZodType, P extends z.ZodType, Q extends z.ZodType, R extends z.ZodType>(spec: RouteSpec<B, P, Q, R>): RouteSpec;
export function route(spec: RouteSpec | Endpoint, server?: RouteHandler<z.ZodType, z.ZodType, z.ZodType, z.ZodType>): RouteSpec {
  if (server === undefined) return spec as RouteSpec;
  const { operation, ...rest } = spec as Endpoint;
  return { ...rest, ...(operation === null ? {} : { operation }), ...server } as RouteSpec;
}

/** Authenticate and authorize a request for `operation`; throws an ApiError (401/403) to refuse. */
export type RouteGuard = (request: FastifyRequest, operation: string) => Promise<void>;

/** HTTPS material, PEM: the certificate chain, its key, and the CAs client certificates must chain to. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
}

/**
 * node:tls server options for `tls`, for the server and for each reload.
 * `rejectUnauthorized: false`: an approver's browser has no client
 * certificate and must still connect; the verdict is `socket.authorized`.
 */
export function httpsOptions(tls: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } {
  return { cert: tls.cert, key: tls.key, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }) };
}

export interface AppOptions {
  readonly routes: readonly RouteSpec[];
  /** Required when any route names an `operation`: an unguarded route with an operation fails closed. */
  readonly guard?: RouteGuard;
  /** Requests whose body is larger are refused with BODY_TOO_LARGE before parsing. */
  readonly bodyLimitBytes?: number;
  readonly logLevel?: string;
  readonly title?: string;
  readonly version?: string;
  /**
   * Serve HTTPS with this certificate and key (PEM); `server.setSecureContext`
   * replaces them later. With `clientCa`, every handshake asks for a client
   * certificate and checks it against these CAs without refusing the
   * connection: the guard decides per surface (auth/client-cert.ts).
   */
  readonly tls?: TlsMaterial;
}

export { ApiError, DEFAULT_BODY_LIMIT_BYTES };

function parseWith<S extends z.ZodType>(schema: S | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ApiError('VALIDATION_FAILED', `${where} does not match the schema`, {
    issues: result.error.issues.map((issue) => ({
      path: `/${issue.path.map(String).join('/')}`,
      code: issue.code,
      message: issue.message,
    })),
  });
}

/** Map anything thrown to `{status, body}`; never leaks internals for a 5xx. */
export function toErrorResponse(err: unknown): { status: number; body: z.infer<typeof ErrorBody>; internal: boolean } {
  let code: string;
  let message: string;
  let details: Readonly<Record<string, unknown>> | undefined;
  if (err instanceof ApiError || err instanceof GatewayError || isCountersignError(err)) {
    ({ code, message, details } = err);
  } else if (isFastifyClientError(err)) {
    [code, message] = FASTIFY_CODES[err.code] ?? ['BAD_REQUEST', 'request could not be read'];
  } else {
    const status = httpStatusFor('INTERNAL');
    return { status, body: { error: { code: 'INTERNAL', message: 'internal error' } }, internal: true };
  }
  const status = httpStatusFor(code);
  if (status >= 500) {
    return { status, body: { error: { code, message } }, internal: true };
  }
  return { status, body: { error: details ? { code, message, details: { ...details } } : { code, message } }, internal: false };
}

/** Fastify's own 4xx errors as our codes and messages (Fastify's wording names its internals). */
const FASTIFY_CODES: Readonly<Record<string, readonly [code: string, message: string]>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['BODY_TOO_LARGE', 'request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'request body must be `application/json`'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['BAD_REQUEST', 'request body does not match its content-length'],
  FST_ERR_BAD_URL: ['URL_MALFORMED', 'request path has a malformed percent-escape'],
  FST_ERR_MAX_PARAM_LENGTH: ['PATH_PARAM_TOO_LONG', `a path parameter is longer than ${ID_MAX_LENGTH} characters`],
};

function isFastifyClientError(err: unknown): err is { code: string; statusCode: number } {
  if (typeof err !== 'object' || err === null) return false;
  const { statusCode } = err as { statusCode?: unknown };
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500;
}

/** Build the Fastify app: routes, error mapping, body limits, redacted logs. */
export function buildApp(options: AppOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    logger: {
      level: options.logLevel ?? 'info',
      // Tokens and keys never reach a log line, whatever a future serializer does.
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-countersign-token"]'],
        censor: '[redacted]',
      },
    },
    // Every answer has the documented error body; Fastify's and Node's own are
    // replaced: the 503 while closing and the 400 for a missing Host by the
    // onRequest hook below, router errors by frameworkErrors, the HTTP
    // parser's errors and a failed Expect in protocol-errors.ts.
    return503OnClosing: false,
    ...(options.tls === undefined ? { http: { requireHostHeader: false } } : { https: { ...httpsOptions(options.tls), requireHostHeader: false } }),
    clientErrorHandler: answerClientError,
    // a path parameter is an id at most (routes/bounds.ts): the router and the schema bound it alike
    routerOptions: { maxParamLength: ID_MAX_LENGTH },
    frameworkErrors: (err, request, reply) => sendError(err, request, reply),
  });
  app.server.on('checkExpectation', answerExpectation);

  const sendError = (err: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const { status, body, internal } = toErrorResponse(err);
    if (internal) request.log.error({ err }, 'request failed');
    void reply.status(status).send(body);
  };
  app.setErrorHandler(sendError);

  // One JSON reader for every route (json-body.ts); the text/plain parser Fastify adds by default
  // goes too, so a body in any other media type is 415 UNSUPPORTED_MEDIA_TYPE.
  app.removeAllContentTypeParsers();
  // parseAs buffer: Fastify counts the bytes against bodyLimit before the parser sees them, and never decodes them leniently
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    let value: unknown;
    try {
      value = parseJsonBody(body as Buffer);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    done(null, value);
  });

  let closing = false;
  const connections = closeQuietConnectionsOnDrain(app.server);
  app.addHook('preClose', async () => {
    closing = true;
    connections.drain();
  });
  app.addHook('onRequest', async (request, reply) => {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (Node's check, taken over for the body)
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      void reply.header('connection', 'close');
      throw new ApiError('REQUEST_MALFORMED', 'an HTTP/1.1 request must name its `host`');
    }
    // while draining, a request arriving on a kept-alive connection is turned away, and the connection closed
    if (closing) {
      void reply.header('connection', 'close');
      throw new ApiError('NOT_READY', 'the gateway is shutting down');
    }
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route for \`${request.method} ${request.url.split('?')[0]}\`` } });
  });

  for (const spec of options.routes) {
    const operation = spec.operation;
    const guard = options.guard;
    app.route({
      method: spec.method,
      url: toFastifyPath(spec.path),
      ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
      // onRequest runs before the body is read: a caller without the right never gets a body parsed
      ...(operation === undefined
        ? {}
        : {
            onRequest: async (request: FastifyRequest) => {
              if (guard === undefined) throw new Error(`route \`${spec.path}\` names operation \`${operation}\` but the app has no guard`);
              await guard(request, operation);
            },
          }),
      handler: async (request, reply) => {
        const body = parseWith(spec.body, request.body, 'request body');
        const params = parseWith(spec.params, request.params, 'path parameters');
        const query = parseWith(spec.query, request.query, 'query');
        const result = await spec.handler({ body, params, query, request, reply });
        if (spec.stream) {
          void reply.status(spec.status ?? 200).type(spec.stream.contentType);
          return result;
        }
        // INVARIANT: every response body matches its published schema; a mismatch is our bug.
        const checked = spec.response.parse(result);
        void reply.status(spec.status ?? 200);
        return checked;
      },
    });
  }

  app.get('/openapi.json', async () => openApiDocument(options));
  return app;
}

/** `{seq}` (the contract's, OpenAPI's) as Fastify writes it: `:seq`. */
function toFastifyPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}

function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' });
  return rest;
}

/** OpenAPI 3.1 generated from the same zod schemas that validate requests. */
export function openApiDocument(options: AppOptions): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of options.routes) {
    const parameters: unknown[] = [];
    for (const [location, schema] of [['path', spec.params], ['query', spec.query]] as const) {
      if (!schema) continue;
      const shape = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, property] of Object.entries(shape.properties ?? {})) {
        parameters.push({ name, in: location, required: location === 'path' || (shape.required ?? []).includes(name), schema: property });
      }
    }
    const contentType = spec.stream?.contentType ?? 'application/json';
    const operation: Record<string, unknown> = {
      summary: spec.summary,
      tags: [spec.tag],
      ...(spec.operation === undefined ? {} : { security: [{ bearer: [] }], 'x-countersign-operation': spec.operation }),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } } } : {}),
      responses: {
        [String(spec.status ?? 200)]: {
          description: spec.stream ? 'success: a stream, each item of this schema' : 'success',
          content: { [contentType]: { schema: jsonSchema(spec.response, 'output') } },
        },
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    const key = toOpenApiPath(spec.path);
    paths[key] = { ...paths[key], [spec.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: options.title ?? 'Countersign gateway', version: options.version ?? '0.1.0' },
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorBody, 'output') },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a Countersign credential `cst_<id>_<secret>` (`countersign token issue`)' } },
    },
  };
}
