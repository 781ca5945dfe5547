import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, stepDigest } from '@countersign/core';
import { deriveStep, MappingError, ProxyConfig, ToolMapping } from './mapping.js';

const restart = ToolMapping.parse({
  upstream: 'workers',
  action: 'workers.restart_pool',
  environment: '{env}',
  target: 'payments-worker/{pool}',
  params: { strategy: '{strategy}', batch: '{batch}', reason: 'incident {ticket}' },
});

function refusal(run: () => unknown): Pick<MappingError, 'code' | 'argument'> {
  try {
    run();
  } catch (err) {
    if (err instanceof MappingError) return { code: err.code, argument: err.argument };
    throw err;
  }
  throw new Error('no refusal');
}

describe('deriveStep', () => {
  it('fills literals, whole arguments of any JSON type, and one string argument between fixed text', () => {
    expect(deriveStep(restart, { env: 'prod', pool: 'blue', strategy: 'rolling', batch: { size: 5 }, ticket: 'INC-7' })).toEqual({
      action: 'workers.restart_pool',
      environment: 'prod',
      target: 'payments-worker/blue',
      params: { strategy: 'rolling', batch: { size: 5 }, reason: 'incident INC-7' },
    });
  });

  it('leaves out a param whose whole argument the call leaves out', () => {
    expect(deriveStep(restart, { env: 'prod', pool: 'blue', ticket: 'INC-7' }).params).toEqual({ reason: 'incident INC-7' });
  });

  it('refuses an argument no field carries, so no approval can leave part of a call uncovered', () => {
    expect(refusal(() => deriveStep(restart, { env: 'prod', pool: 'blue', ticket: 'INC-7', force: true }))).toEqual({ code: 'ARGUMENT_NOT_MAPPED', argument: 'force' });
  });

  it('refuses a missing argument the environment, target or a text template needs', () => {
    expect(refusal(() => deriveStep(restart, { pool: 'blue', ticket: 'INC-7' }))).toEqual({ code: 'ARGUMENT_MISSING', argument: 'env' });
    expect(refusal(() => deriveStep(restart, { env: 'prod', ticket: 'INC-7' }))).toEqual({ code: 'ARGUMENT_MISSING', argument: 'pool' });
    expect(refusal(() => deriveStep(restart, { env: 'prod', pool: 'blue' }))).toEqual({ code: 'ARGUMENT_MISSING', argument: 'ticket' });
  });

  it('refuses a non-string where text is built: `7` and "7" would make the same target', () => {
    expect(refusal(() => deriveStep(restart, { env: 'prod', pool: 7, ticket: 'INC-7' }))).toEqual({ code: 'ARGUMENT_INVALID', argument: 'pool' });
    expect(refusal(() => deriveStep(restart, { env: ['prod'], pool: 'blue', ticket: 'INC-7' }))).toEqual({ code: 'ARGUMENT_INVALID', argument: 'env' });
  });

  it('puts an argument into text as it is: replacement patterns such as `$&` stay text', () => {
    for (const pool of ['a$$', 'a$', '$&', 'x$`', "$'", '$1']) {
      expect(deriveStep(restart, { env: 'prod', pool, ticket: 'INC-7' }).target).toBe(`payments-worker/${pool}`);
    }
  });

  it('never treats an inherited name as an argument', () => {
    expect(refusal(() => deriveStep(restart, JSON.parse('{"__proto__": {"env": "prod"}, "pool": "blue", "ticket": "x"}') as Record<string, unknown>))).toMatchObject({
      code: 'ARGUMENT_NOT_MAPPED',
    });
  });

  it('maps two different calls to two different digests (property): the digest covers every argument', () => {
    const json = fc.jsonValue({ maxDepth: 2 }).filter((v) => {
      try {
        canonicalJson(v as never);
        return true;
      } catch {
        return false;
      }
    });
    const args = fc.record(
      // `$` and braces among the characters: the text a value becomes must still be one-to-one
      { env: fc.string({ maxLength: 6 }), pool: fc.stringMatching(/^[a$&`'{}]{0,6}$/), ticket: fc.string({ maxLength: 6 }), strategy: json, batch: json },
      { requiredKeys: ['env', 'pool', 'ticket'] },
    );
    fc.assert(
      fc.property(args, args, (a, b) => {
        fc.pre(canonicalJson(a as never) !== canonicalJson(b as never));
        const digest = (x: Record<string, unknown>) => stepDigest(deriveStep(restart, x) as never, 'bundle-1');
        expect(digest(a)).not.toBe(digest(b));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the mapping schema', () => {
  it('refuses templates that could read two ways, and braces that name nothing', () => {
    for (const target of ['{a}{b}', '{a}/{b}', 'shard-{', '{}', 'x}']) {
      expect(ToolMapping.safeParse({ upstream: 'q', action: 'a', environment: 'prod', target }).success, target).toBe(false);
    }
  });

  it('refuses an unknown key and a configuration without upstreams', () => {
    const base = { agent: 'a', on_behalf_of: 'o', surface: 's', upstreams: { q: { url: 'http://127.0.0.1:1/mcp' } }, tools: {} };
    expect(ProxyConfig.safeParse(base).success).toBe(true);
    expect(ProxyConfig.safeParse({ ...base, token: 'secret' }).success).toBe(false);
    expect(ProxyConfig.safeParse({ ...base, upstreams: {} }).success).toBe(false);
    expect(ProxyConfig.safeParse({ ...base, upstreams: { q: { url: 'file:///etc/passwd' } } }).success).toBe(false);
  });
});
