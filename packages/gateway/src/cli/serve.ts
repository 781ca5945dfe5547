import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '@countersign/core';
import { generateKeyPair, loadPrivateKey } from '../keys.js';
import { openCredentialStore } from '../auth/credential-store.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../server/limits.js';
import { openStore, type StoreConfig } from '../store/open.js';
import { GatewayError } from '../errors.js';
import { DEFAULT_LEDGER_ORIGIN } from '../ledger/sequencer.js';

interface ServeOptions {
  policy?: string;
  db?: string;
  postgres?: string;
  schema?: string;
  port: string;
  maxBody: string;
  expireEvery: string;
  host: string;
  key: string;
  initKey?: boolean;
  origin: string;
  logLevel: string;
  replicaRefresh: string;
  publicUrl?: string;
  consoleSurface: string;
  oidcIssuer?: string;
  oidcClientId?: string;
  consoleTokenSignIn?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: HTTP API over the policy and the signed ledger')
    .option('--policy <file>', 'policy bundle (YAML): the first bundle of an empty ledger; on a ledger in use, omit it (the active bundle is read from the ledger) or name the active one')
    .option('--db <file>', 'SQLite ledger file (the embedded default)')
    .option('--postgres <url>', 'PostgreSQL connection URL, for several replicas sharing one chain')
    .option('--schema <name>', 'PostgreSQL schema of the ledger and credential tables (default: public)')
    .option('--port <n>', 'TCP port', '8080')
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--key <file>', 'gateway Ed25519 private key (PKCS#8 PEM, mode 0600)', 'countersign.key')
    .option('--init-key', 'generate the gateway key at --key if the file does not exist')
    .option('--origin <name>', 'origin line of signed checkpoints and the gateway key name: names this ledger', DEFAULT_LEDGER_ORIGIN)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .option('--expire-every <duration>', 'how often approval requests past their window are closed', '5s')
    .option('--replica-refresh <duration>', 'PostgreSQL: how often a replica re-reads the ledger while a client waits, in case a change notification was lost; `off` relies on notifications alone', '1s')
    .option('--max-body <bytes>', 'largest request body accepted; bundle activation allows 2 MiB', String(DEFAULT_BODY_LIMIT_BYTES))
    .option('--public-url <url>', 'the URL browsers reach this gateway at: console links and the sign-in redirect (default: the bound address)')
    .option('--console-surface <id>', 'the surface approver console sessions act from; the policy must declare it', 'approver-console')
    .option('--oidc-issuer <url>', 'console sign-in: the OpenID Connect provider (its client secret, if any, in COUNTERSIGN_OIDC_CLIENT_SECRET)')
    .option('--oidc-client-id <id>', 'console sign-in: this gateway\'s client id at the provider (redirect URI: <public-url>/console/callback)')
    .option('--console-token-sign-in', 'DEVELOPMENT ONLY: let the console sign in with a pasted token of the console surface')
    .addHelpText(
      'after',
      `
Examples:
  countersign serve --policy examples/payments/policy.yaml --db ledger.db --key gateway.key --init-key
  countersign serve --policy policy.yaml --postgres postgres://countersign@db/countersign --key /run/secrets/gateway.key

Policy: the ledger records its bundles with their full text. The first start
installs --policy; later starts run the bundle in force and refuse a --policy
that differs (error[POLICY_MISMATCH], exit 2): rules change only by a governed
release (countersign policy propose, then its quorum signs), never by
restarting a replica with another file.

Replicas: several \`serve\` processes on one PostgreSQL share one chain. Each
follows the others' entries through LISTEN/NOTIFY, so any replica answers
for a request, grant, hold or lease committed on another.

Console: /console is the approver console. People sign in through the
organisation's identity provider (--oidc-issuer, --oidc-client-id; the
policy's \`identities\` map their accounts to roster humans); see docs/console.md.

Tokens for callers: countersign token issue --principal ID --surface NAME (same --db or --postgres).
Logs are JSON lines on stdout (pino); they never contain tokens or keys. The
API is described at /openapi.json and in docs/http-api.md; /metrics serves
Prometheus metrics on the bound address without a token.

SIGTERM and SIGINT drain in-flight requests, answer waiting long polls, write
a final signed checkpoint and close the store before exit.`,
    )
    .action(async (opts: ServeOptions) => {
      if ((opts.db === undefined) === (opts.postgres === undefined)) {
        throw new GatewayError('USAGE', 'give exactly one of `--db FILE` or `--postgres URL`');
      }
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) {
        throw new GatewayError('USAGE', `\`${opts.port}\` is not a TCP port`);
      }
      if (opts.initKey && !existsSync(opts.key)) {
        mkdirSync(dirname(opts.key), { recursive: true, mode: 0o700 });
        generateKeyPair(opts.key);
        process.stderr.write(`generated gateway key ${opts.key} (public half ${opts.key}.pub)\n`);
      }
      const maxBody = Number(opts.maxBody);
      if (!Number.isSafeInteger(maxBody) || maxBody < 1_024) {
        throw new GatewayError('USAGE', `\`--max-body\` must be a number of bytes, at least 1024; got \`${opts.maxBody}\``);
      }
      let expireIntervalMs: number;
      try {
        expireIntervalMs = parseDuration(opts.expireEvery);
      } catch {
        throw new GatewayError('USAGE', `\`--expire-every\` must be a duration such as \`5s\`; got \`${opts.expireEvery}\``);
      }
      let replicaRefreshMs: number | null;
      try {
        replicaRefreshMs = opts.replicaRefresh === 'off' ? null : parseDuration(opts.replicaRefresh);
      } catch {
        throw new GatewayError('USAGE', `\`--replica-refresh\` must be a duration such as \`1s\`, or \`off\`; got \`${opts.replicaRefresh}\``);
      }
      if ((opts.oidcIssuer === undefined) !== (opts.oidcClientId === undefined)) {
        throw new GatewayError('USAGE', 'console sign-in needs both `--oidc-issuer` and `--oidc-client-id`');
      }
      if (opts.publicUrl !== undefined && !/^https?:\/\/[^/]+\/?$/.test(opts.publicUrl)) {
        throw new GatewayError('USAGE', `\`--public-url\` is an origin such as \`https://countersign.example.com\`; got \`${opts.publicUrl}\``);
      }
      const key = loadPrivateKey(opts.key);
      if (opts.db !== undefined) mkdirSync(dirname(opts.db), { recursive: true });
      const config: StoreConfig =
        opts.db !== undefined ? { sqlite: opts.db } : { postgres: opts.postgres as string, ...(opts.schema === undefined ? {} : { schema: opts.schema }) };
      // the server and its metrics load only here: every other command starts without Fastify, pino or prom-client
      let boundUrl = `http://${opts.host}:${port}`;
      const [{ startGateway }, { createObservability }] = await Promise.all([import('../server/gateway-server.js'), import('../observability/index.js')]);
      const store = await openStore(config);
      const credentials = await openCredentialStore(config);
      const gateway = await startGateway({
        ...(opts.policy === undefined ? {} : { policyPath: opts.policy }),
        store,
        credentials,
        key,
        origin: opts.origin,
        logLevel: opts.logLevel,
        bodyLimitBytes: maxBody,
        expireIntervalMs,
        ...(opts.postgres === undefined ? {} : { replicaRefreshMs }),
        observability: createObservability(),
        console: {
          surface: opts.consoleSurface,
          publicUrl: () => opts.publicUrl ?? boundUrl,
          ...(opts.oidcIssuer === undefined || opts.oidcClientId === undefined
            ? {}
            : {
                oidc: {
                  issuer: opts.oidcIssuer,
                  clientId: opts.oidcClientId,
                  ...(process.env['COUNTERSIGN_OIDC_CLIENT_SECRET'] ? { clientSecret: process.env['COUNTERSIGN_OIDC_CLIENT_SECRET'] } : {}),
                },
              }),
          ...(opts.consoleTokenSignIn === true ? { tokenSignIn: true } : {}),
        },
      });

      const shutdown = (signal: string): void => {
        gateway.app.log.info({ signal }, 'draining');
        gateway.close().then(
          () => process.exit(0),
          (err: unknown) => {
            gateway.app.log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));

      const address = await gateway.app.listen({ port, host: opts.host });
      boundUrl = address;
      gateway.app.log.info({ address, bundle_id: gateway.policy.bundleId }, 'countersign gateway listening');
    });
}
