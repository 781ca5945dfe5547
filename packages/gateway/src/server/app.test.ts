import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError, buildApp, route } from './app.js';

const Echo = z.strictObject({ name: z.string().min(1).max(20) });

const app = buildApp({
  logLevel: 'silent',
  bodyLimitBytes: 1024,
  routes: [
    route({
      method: 'POST',
      path: '/v1/echo/:id',
      summary: 'echo',
      tag: 'test',
      params: z.strictObject({ id: z.string().regex(/^[a-z]+$/) }),
      body: Echo,
      response: z.strictObject({ id: z.string(), name: z.string() }),
      handler: async ({ body, params }) => ({ id: params.id, name: body.name }),
    }),
    route({
      method: 'GET',
      path: '/v1/boom',
      summary: 'fails with a secret in the message',
      tag: 'test',
      response: z.strictObject({}),
      handler: async () => {
        throw new Error('password=hunter2');
      },
    }),
    route({
      method: 'GET',
      path: '/v1/forbidden',
      summary: 'fails with a typed error',
      tag: 'test',
      response: z.strictObject({}),
      handler: async () => {
        throw new ApiError('FORBIDDEN', 'token may not do this');
      },
    }),
  ],
});

afterAll(async () => {
  await app.close();
});

describe('buildApp', () => {
  it('validates and answers', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/echo/abc', payload: { name: 'x' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'abc', name: 'x' });
  });

  it('refuses a body that does not match the schema with VALIDATION_FAILED and the path', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/echo/abc', payload: { name: 'x', extra: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION_FAILED');
    expect(res.json().error.details.issues[0].code).toBe('unrecognized_keys');
  });

  it('refuses malformed JSON with BAD_REQUEST, not 500', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/echo/abc', headers: { 'content-type': 'application/json' }, payload: '{"name":' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('refuses an oversized body with BODY_TOO_LARGE', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/echo/abc', payload: { name: 'x'.repeat(4096) } });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('BODY_TOO_LARGE');
  });

  it('maps typed errors through the one status table', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/forbidden' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'token may not do this' } });
  });

  it('never leaks the message of an unexpected error', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
    expect(res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
  });

  it('answers unknown routes with NOT_FOUND in the error shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/nothing?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });

  it('publishes OpenAPI 3.1 generated from the route schemas', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    const op = doc.paths['/v1/echo/{id}'].post;
    expect(op.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z]+$' } }]);
    expect(op.requestBody.content['application/json'].schema.properties.name).toEqual({ type: 'string', minLength: 1, maxLength: 20 });
    expect(op.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
  });
});
