import { z } from 'zod';
import type { CanonicalValue } from '@countersign/core';

/**
 * The proxy's configuration: where the gateway is, as whom the proxy
 * proposes, which upstream MCP servers it fronts, and how each tool call
 * becomes one step (docs/agents.md "Tool mapping").
 *
 * A tool's `environment`, `target` and `params` are templates over the
 * call's arguments:
 *
 * - `"prod"`: a literal;
 * - `"{shard}"`: the argument `shard` itself, any JSON value in `params`, a
 *   string in `environment` and `target`;
 * - `"payments-queue/{shard}"`: one string argument between fixed text.
 *
 * One placeholder per template and fixed text around it make each field a
 * one-to-one function of the arguments it names. Every argument of a call
 * must be named by some field, or the call is refused: two calls that differ
 * in any argument are two different steps, so the digest an approver signs
 * covers exactly what reaches the upstream.
 */

const NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_-]{0,63})\}/g;

/** A template: a literal, one whole argument, or one string argument between fixed text. */
export const Template = z
  .string()
  .min(1)
  .max(300)
  .refine((text) => (text.match(PLACEHOLDER) ?? []).length <= 1, 'a template names at most one argument')
  .refine((text) => !/[{}]/.test(text.replace(PLACEHOLDER, '')), 'braces only around an argument name: `{name}`')
  .describe('a literal, `{arg}` for the argument as it is, or fixed text around one string argument: `payments-queue/{shard}`');

const Duration = z
  .string()
  .regex(/^\d{1,6}(ms|s|m)$/, 'a duration: `500ms`, `30s` or `2m`')
  .describe('a duration: `500ms`, `30s` or `2m`');

export const ToolMapping = z.strictObject({
  upstream: z.string().regex(NAME).describe('the upstream (a key of `upstreams`) that serves the tool'),
  tool: z.string().min(1).max(128).optional().describe("the tool's name upstream; default: the name the agent sees"),
  action: z.string().min(1).max(200).describe('the policy action id each call of this tool proposes'),
  environment: Template,
  target: Template,
  params: z.record(z.string().regex(NAME), Template).default({}).describe('step params: name → template'),
  expected_consequence: z.string().max(2_000).optional().describe('shown to approvers beside the step'),
});
export type ToolMapping = z.output<typeof ToolMapping>;

export const Upstream = z.union([
  z.strictObject({
    command: z.string().min(1).describe('a stdio MCP server: the command to start'),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}).describe('added to the environment the proxy passes on (PATH, HOME and the like)'),
    cwd: z.string().optional(),
  }),
  z.strictObject({
    url: z.url({ protocol: /^https?$/ }).describe('a Streamable HTTP MCP server'),
    headers: z.record(z.string(), z.string()).default({}).describe('sent with every request, e.g. the upstream’s own authorization'),
  }),
]);
export type Upstream = z.output<typeof Upstream>;

export const ProxyConfig = z.strictObject({
  $schema: z.string().optional(),
  server: z.url({ protocol: /^https?$/ }).optional().describe('the gateway URL; `--server` or COUNTERSIGN_SERVER override it'),
  agent: z.string().min(1).max(200).describe("the agent principal the proxy proposes as (the token's principal)"),
  on_behalf_of: z.string().min(1).max(200).describe('the human the agent acts for'),
  surface: z.string().min(1).max(200).describe("the surface proposals come from (the gateway records the token's)"),
  incident: z.string().min(1).max(200).optional(),
  wait: Duration.default('2m').describe('how long one tools/call waits for approvers before answering with the request id'),
  upstream_timeout: Duration.default('60s').describe('how long an upstream call may take; past it the outcome is `ambiguous`'),
  upstreams: z.record(z.string().regex(NAME), Upstream).refine((u) => Object.keys(u).length > 0, 'at least one upstream'),
  tools: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/), ToolMapping).describe('the tools the agent sees, by name; any other upstream tool is hidden and refused'),
});
export type ProxyConfig = z.output<typeof ProxyConfig>;

/** Why a call cannot become a step: a stable code for the agent, and the argument concerned. */
export class MappingError extends Error {
  readonly code: 'ARGUMENT_NOT_MAPPED' | 'ARGUMENT_MISSING' | 'ARGUMENT_INVALID';
  readonly argument: string;
  constructor(code: MappingError['code'], argument: string, message: string) {
    super(message);
    this.name = 'MappingError';
    this.code = code;
    this.argument = argument;
  }
}

export interface DerivedStep {
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly params: { readonly [key: string]: CanonicalValue };
}

/** The argument names a template refers to. */
function namesIn(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * A field's value from the call's arguments, or `undefined` when the field
 * is a whole argument the call left out (only params may be absent).
 */
function fill(template: string, args: Readonly<Record<string, unknown>>, field: string, wholeMayBeAny: boolean): unknown {
  const [name] = namesIn(template);
  if (name === undefined) return template;
  if (!Object.hasOwn(args, name)) {
    if (template === `{${name}}` && wholeMayBeAny) return undefined;
    throw new MappingError('ARGUMENT_MISSING', name, `argument \`${name}\` is needed for the step's ${field}`);
  }
  const value = args[name];
  if (template === `{${name}}` && wholeMayBeAny) return value;
  if (typeof value !== 'string') throw new MappingError('ARGUMENT_INVALID', name, `argument \`${name}\` goes into the step's ${field} and must be a string`);
  // a function replacer: `$&`, `$$` and the like in the value are text, never replacement patterns
  return template.replace(`{${name}}`, () => value);
}

/**
 * The step one call of a mapped tool proposes. Fails closed: an argument
 * no field names (ARGUMENT_NOT_MAPPED), a named one missing
 * (ARGUMENT_MISSING) or of the wrong type (ARGUMENT_INVALID) is refused
 * before anything is proposed or forwarded.
 */
export function deriveStep(mapping: ToolMapping, args: Readonly<Record<string, unknown>>): DerivedStep {
  const named = new Set([mapping.environment, mapping.target, ...Object.values(mapping.params)].flatMap(namesIn));
  for (const name of Object.keys(args)) {
    if (!named.has(name)) throw new MappingError('ARGUMENT_NOT_MAPPED', name, `argument \`${name}\` is not carried into the step, so no approval could cover it`);
  }
  const environment = fill(mapping.environment, args, 'environment', false) as string;
  const target = fill(mapping.target, args, 'target', false) as string;
  const params: Record<string, CanonicalValue> = {};
  for (const [key, template] of Object.entries(mapping.params)) {
    const value = fill(template, args, `param \`${key}\``, true);
    if (value !== undefined) params[key] = value as CanonicalValue;
  }
  return { action: mapping.action, environment, target, params };
}

/** A duration of the config as milliseconds. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(text);
  if (match === null) throw new RangeError(`not a duration: ${text}`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n : match[2] === 's' ? n * 1_000 : n * 60_000;
}

/** The configuration's JSON Schema, for editors (`countersign mcp schema`). */
export function proxyConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ProxyConfig, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }),
    $id: 'https://countersign.dev/schema/mcp-proxy.json',
    title: 'Countersign MCP proxy configuration',
  };
}
