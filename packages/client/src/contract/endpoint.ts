import type { z } from 'zod';

/**
 * One route of the HTTP API as both sides read it (ADR 005): the gateway
 * serves it (`route(ENDPOINTS.x, { handler })`), validates requests and
 * answers with its schemas and publishes them as `/openapi.json`; the SDK
 * calls it and types its answers with them.
 *
 * `path` uses `{name}` for a path parameter (percent-encoded by the client).
 * `operation` is the gateway operation the caller's credential must allow (an
 * agent token may call only `propose`, `status`, `wait`, `execute` and
 * `report_outcome`); null marks a public route, to which the token is never
 * sent. Every body is JSON, and so is every answer except a `stream`, whose
 * `response` describes one item; every error is `ErrorBody`.
 */
export interface Endpoint<
  Params extends z.ZodType = z.ZodType,
  Query extends z.ZodObject = z.ZodObject,
  Body extends z.ZodType = z.ZodType,
  Response extends z.ZodType = z.ZodType,
> {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly operation: string | null;
  readonly summary: string;
  /** The OpenAPI tag: the part of the API it belongs to. */
  readonly tag: string;
  readonly params?: Params;
  /** Optional query parameters; the client appends those given, percent-encoded, in the schema's order. */
  readonly query?: Query;
  readonly body?: Body;
  readonly response: Response;
  /** The HTTP status of a success; 200 unless stated. */
  readonly status?: number;
  /** A streamed answer (Server-Sent Events, JSON Lines) in this media type; `response` is one item. */
  readonly stream?: { readonly contentType: string };
}

/** Declare an endpoint, keeping its schemas' own types for both sides. */
export function endpoint<P extends z.ZodType, Q extends z.ZodObject, B extends z.ZodType, R extends z.ZodType>(spec: Endpoint<P, Q, B, R>): Endpoint<P, Q, B, R> {
  return spec;
}

/** The names of an endpoint's query parameters, in order. */
export function queryNames(endpoint: Endpoint): readonly string[] {
  return endpoint.query === undefined ? [] : Object.keys(endpoint.query.shape);
}

/** The media type an endpoint answers a success with, without parameters: `application/json` unless it streams. */
export function mediaType(endpoint: Endpoint): string {
  return (endpoint.stream?.contentType ?? 'application/json').split(';')[0]!.trim();
}

/** What a successful call answers (one item of a stream). */
export type AnswerOf<E extends Endpoint> = z.output<E['response']>;
/** What a call sends as its body. */
export type BodyOf<E extends Endpoint> = E['body'] extends z.ZodType ? z.input<E['body']> : never;

/**
 * A body as callers build it: arrays and objects may be readonly (a body is
 * only read and serialized), so a caller's own readonly data is accepted as is.
 * Records keyed by any string (step parameters) are left as they are.
 */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? string extends keyof T
      ? T
      : { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;
