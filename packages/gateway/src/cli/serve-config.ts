import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SlackDestination, Webhook } from '@countersign/core';
import { GatewayError } from '../errors.js';

/**
 * `countersign serve --config countersign.yaml` (issue 16): one file for
 * everything the flags set, validated by a published JSON Schema
 * (countersign-serve.schema.json) for editor completion. Precedence, highest
 * first: a flag on the command line, its `COUNTERSIGN_*` environment
 * variable, the file, the built-in default. Relative paths in the file are
 * read from the file's directory. Secrets never sit in it: the OIDC client
 * secret and the metrics token come from the environment only.
 */

const Duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as `5s` or `1m`');
const Path = z.string().min(1).max(4_096);

export const ServeConfig = z.strictObject({
  $schema: z.string().optional(),
  listen: z
    .strictObject({
      host: z.string().min(1).max(255).optional().describe('address to bind (COUNTERSIGN_HOST, --host); default 127.0.0.1'),
      port: z.number().int().min(0).max(65_535).optional().describe('TCP port (COUNTERSIGN_PORT, --port); default 8080'),
    })
    .optional(),
  public_url: z.string().regex(/^https?:\/\/[^/?#]+\/?$/, 'an origin such as `https://countersign.example.com`').optional().describe('the URL browsers reach the gateway at (COUNTERSIGN_PUBLIC_URL, --public-url)'),
  policy: Path.optional().describe('policy bundle for an empty ledger, or the active one (COUNTERSIGN_POLICY, --policy)'),
  store: z
    .union([
      z.strictObject({ sqlite: Path.describe('SQLite ledger file (COUNTERSIGN_DB, --db)') }),
      z.strictObject({
        postgres: z.string().min(1).describe('PostgreSQL URL (COUNTERSIGN_POSTGRES, --postgres); prefer the environment: a URL may carry a password'),
        schema: z.string().min(1).max(63).optional().describe('PostgreSQL schema (COUNTERSIGN_SCHEMA, --schema)'),
      }),
    ])
    .optional(),
  key: z
    .strictObject({
      file: Path.optional().describe('gateway Ed25519 private key, PKCS#8 PEM, mode 0600 (COUNTERSIGN_KEY, --key)'),
      init: z.boolean().optional().describe('generate the key if the file does not exist (--init-key)'),
    })
    .optional(),
  origin: z.string().min(1).max(255).optional().describe('origin line of signed checkpoints (COUNTERSIGN_ORIGIN, --origin)'),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional().describe('COUNTERSIGN_LOG_LEVEL, --log-level'),
  limits: z
    .strictObject({
      max_body: z.number().int().min(1_024).optional().describe('largest request body in bytes (--max-body)'),
      expire_every: Duration.optional().describe('how often expired requests are closed (--expire-every)'),
      replica_refresh: z.union([Duration, z.literal('off')]).optional().describe('PostgreSQL replicas: re-read period while clients wait (--replica-refresh)'),
    })
    .optional(),
  tls: z
    .strictObject({
      cert: Path.describe('certificate chain, PEM (COUNTERSIGN_TLS_CERT, --tls-cert); re-read on SIGHUP'),
      key: Path.describe('its private key, PEM (COUNTERSIGN_TLS_KEY, --tls-key); re-read on SIGHUP'),
      client_ca: Path.optional().describe('CA certificates, PEM, that client certificates must chain to (COUNTERSIGN_TLS_CLIENT_CA, --tls-client-ca); re-read on SIGHUP'),
      client_cert_surfaces: z
        .array(z.string().min(1).max(128))
        .min(1)
        .optional()
        .describe('surfaces whose tokens count only with a client certificate naming their principal (COUNTERSIGN_TLS_CLIENT_CERT_SURFACES, --tls-client-cert-surfaces); needs client_ca'),
    })
    .optional(),
  notifications: z
    .strictObject({
      webhooks: z.array(Webhook).optional().describe('signed webhooks, as in the policy’s `notifications.webhooks`; secrets by environment variable name'),
      slack: z.array(SlackDestination).optional().describe('Slack channels, as in the policy’s `notifications.slack`'),
    })
    .optional()
    .describe('notification destinations the operator adds beside the policy’s own (a delivery never allows or blocks anything, so no release is needed); an id the policy also declares is refused'),
  console: z
    .strictObject({
      surface: z.string().min(1).max(128).optional().describe('the surface console sessions act from (--console-surface)'),
      oidc: z
        .strictObject({
          issuer: z.url().describe('the OpenID Connect provider (--oidc-issuer); its client secret in COUNTERSIGN_OIDC_CLIENT_SECRET'),
          client_id: z.string().min(1).describe('this gateway’s client id at the provider (--oidc-client-id)'),
        })
        .optional(),
      token_sign_in: z.boolean().optional().describe('DEVELOPMENT ONLY: sign in to the console with a pasted token (--console-token-sign-in)'),
    })
    .optional(),
});
export type ServeConfig = z.output<typeof ServeConfig>;

/** The configuration's JSON Schema, for editors (`countersign serve --print-config-schema`). */
export function serveConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ServeConfig, { io: 'input', target: 'draft-2020-12' }),
    $id: 'https://countersign.dev/schema/serve-config-v1.json',
    title: 'Countersign gateway configuration',
  };
}

export function loadServeConfig(path: string): ServeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GatewayError('USAGE', `cannot read the configuration ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = ServeConfig.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length === 0 ? '(top)' : i.path.join('.')}: ${i.message}`);
    throw new GatewayError('USAGE', `${path} is not a valid gateway configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/**
 * Fill every option the command line and the environment left at its
 * default from the file: commander knows where each value came from.
 */
export function applyServeConfig(command: Command, config: ServeConfig, path: string): void {
  const base = dirname(resolve(path));
  const file = (p: string | undefined): string | undefined => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p));
  const store = config.store;
  const values: Record<string, string | boolean | undefined> = {
    host: config.listen?.host,
    port: config.listen?.port === undefined ? undefined : String(config.listen.port),
    publicUrl: config.public_url,
    policy: file(config.policy),
    db: store !== undefined && 'sqlite' in store ? file(store.sqlite) : undefined,
    postgres: store !== undefined && 'postgres' in store ? store.postgres : undefined,
    schema: store !== undefined && 'postgres' in store ? store.schema : undefined,
    key: file(config.key?.file),
    initKey: config.key?.init,
    origin: config.origin,
    logLevel: config.log_level,
    maxBody: config.limits?.max_body === undefined ? undefined : String(config.limits.max_body),
    expireEvery: config.limits?.expire_every,
    replicaRefresh: config.limits?.replica_refresh,
    tlsCert: file(config.tls?.cert),
    tlsKey: file(config.tls?.key),
    tlsClientCa: file(config.tls?.client_ca),
    tlsClientCertSurfaces: config.tls?.client_cert_surfaces?.join(','),
    consoleSurface: config.console?.surface,
    oidcIssuer: config.console?.oidc?.issuer,
    oidcClientId: config.console?.oidc?.client_id,
    consoleTokenSignIn: config.console?.token_sign_in,
  };
  // a store named on the command line or in the environment replaces the file's, whichever kind
  const storeGiven = ['db', 'postgres'].some((name) => ['cli', 'env'].includes(command.getOptionValueSource(name) ?? ''));
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (storeGiven && (name === 'db' || name === 'postgres' || name === 'schema')) continue;
    const source = command.getOptionValueSource(name);
    if (source === undefined || source === 'default') command.setOptionValueWithSource(name, value, 'config');
  }
}
