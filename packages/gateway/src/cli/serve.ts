import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Option, type Command } from 'commander';
import { parseDuration } from '@countersign/core';
import { generateKeyPair, loadPrivateKey } from '../keys.js';
import { openCredentialStore } from '../auth/credential-store.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../server/limits.js';
import { openStore, type StoreConfig } from '../store/open.js';
import { GatewayError } from '../errors.js';
import { DEFAULT_LEDGER_ORIGIN } from '../ledger/checkpoint-scheduler.js';
import { applyServeConfig, loadServeConfig, serveConfigJsonSchema } from './serve-config.js';
import { exitCodesHelp } from './help.js';
import type { TlsMaterial } from '../server/app.js';

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
  config?: string;
  printConfigSchema?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  tlsClientCertSurfaces?: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: HTTP API over the policy and the signed ledger')
    .option('--config <file>', 'configuration file (YAML, countersign-serve.schema.json): flags, then COUNTERSIGN_* variables, then the file, then defaults')
    .option('--print-config-schema', "print the configuration file's JSON Schema and exit")
    .addOption(new Option('--policy <file>', 'policy bundle (YAML): the first bundle of an empty ledger; on a ledger in use, omit it (the active bundle is read from the ledger) or name the active one').env('COUNTERSIGN_POLICY'))
    .addOption(new Option('--db <file>', 'SQLite ledger file (the embedded default)').env('COUNTERSIGN_DB'))
    .addOption(new Option('--postgres <url>', 'PostgreSQL connection URL, for several replicas sharing one chain').env('COUNTERSIGN_POSTGRES'))
    .addOption(new Option('--schema <name>', 'PostgreSQL schema of the ledger and credential tables (default: public)').env('COUNTERSIGN_SCHEMA'))
    .addOption(new Option('--port <n>', 'TCP port').env('COUNTERSIGN_PORT').default('8080'))
    .addOption(new Option('--host <addr>', 'address to bind').env('COUNTERSIGN_HOST').default('127.0.0.1'))
    .addOption(new Option('--key <file>', 'gateway Ed25519 private key (PKCS#8 PEM, mode 0600)').env('COUNTERSIGN_KEY').default('countersign.key'))
    .option('--init-key', 'generate the gateway key at --key if the file does not exist')
    .addOption(new Option('--origin <name>', 'origin line of signed checkpoints and the gateway key name: names this ledger').env('COUNTERSIGN_ORIGIN').default(DEFAULT_LEDGER_ORIGIN))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('COUNTERSIGN_LOG_LEVEL').default('info'))
    .option('--expire-every <duration>', 'how often approval requests past their window are closed', '5s')
    .option('--replica-refresh <duration>', 'PostgreSQL: how often a replica re-reads the ledger while a client waits, in case a change notification was lost; `off` relies on notifications alone', '1s')
    .option('--max-body <bytes>', 'largest request body accepted; bundle activation allows 2 MiB', String(DEFAULT_BODY_LIMIT_BYTES))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this certificate chain (PEM); re-read with --tls-key on SIGHUP, open connections kept').env('COUNTERSIGN_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the TLS private key (PEM)').env('COUNTERSIGN_TLS_KEY'))
    .addOption(new Option('--tls-client-ca <file>', 'ask every TLS client for a certificate and check it against these CAs (PEM); re-read on SIGHUP').env('COUNTERSIGN_TLS_CLIENT_CA'))
    .addOption(
      new Option('--tls-client-cert-surfaces <ids>', "comma-separated surfaces (executors) whose tokens count only with a client certificate naming the token's principal").env(
        'COUNTERSIGN_TLS_CLIENT_CERT_SURFACES',
      ),
    )
    .addOption(new Option('--public-url <url>', 'the URL browsers reach this gateway at: console links and the sign-in redirect (default: the bound address)').env('COUNTERSIGN_PUBLIC_URL'))
    .option('--console-surface <id>', 'the surface approver console sessions act from; the policy must declare it', 'approver-console')
    .addOption(new Option('--oidc-issuer <url>', 'console sign-in: the OpenID Connect provider (its client secret, if any, in COUNTERSIGN_OIDC_CLIENT_SECRET)').env('COUNTERSIGN_OIDC_ISSUER'))
    .addOption(new Option('--oidc-client-id <id>', "console sign-in: this gateway's client id at the provider (redirect URI: <public-url>/console/callback)").env('COUNTERSIGN_OIDC_CLIENT_ID'))
    .option('--console-token-sign-in', 'DEVELOPMENT ONLY: let the console sign in with a pasted token of the console surface')
    .addHelpText(
      'after',
      `
Examples:
  countersign serve --policy examples/payments/policy.yaml --db ledger.db --key gateway.key --init-key
  countersign serve --policy policy.yaml --postgres postgres://countersign@db/countersign --key /run/secrets/gateway.key
  countersign serve --config /etc/countersign/countersign.yaml
  COUNTERSIGN_PORT=9443 countersign serve --config countersign.yaml --log-level debug

Configuration: --config names a YAML file (JSON Schema: --print-config-schema,
committed as countersign-serve.schema.json). A value comes from, in order: the
flag, its COUNTERSIGN_* variable (shown below each flag's name in docs/cli.md),
the file, the default. Secrets only from the environment:
COUNTERSIGN_OIDC_CLIENT_SECRET, COUNTERSIGN_METRICS_TOKEN (when set, /metrics
needs it as a bearer token).

TLS: --tls-cert and --tls-key serve HTTPS; SIGHUP re-reads both files for new
connections without dropping open ones (a file that fails to load keeps the
previous certificate, and says so in the log).

Client certificates: --tls-client-ca CA.pem --tls-client-cert-surfaces executor
makes a token of the surface \`executor\` count only over a connection whose
client certificate chains to CA.pem and names the token's principal (a URI
SAN countersign:principal/<id>, else the subject CN): without one 401
CLIENT_CERT_MISSING, with a bad one 401 CLIENT_CERT_INVALID, for another
principal 403 CLIENT_CERT_MISMATCH, each recorded as authority.rejected.
Other surfaces connect without a certificate. SIGHUP re-reads the CA too.

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
Prometheus metrics on the bound address, behind COUNTERSIGN_METRICS_TOKEN when set.

SIGTERM and SIGINT drain in-flight requests, answer waiting long polls, write
a final signed checkpoint and close the store before exit.
${exitCodesHelp({ ok: 'stopped by SIGTERM or SIGINT after draining', usage: 'bad flags or configuration, a policy that is invalid or not the one in force (POLICY_MISMATCH)', environment: 'the store or the port is unavailable, or the key is unusable' })}`,
    )
    .action(async (_flags: ServeOptions, command: Command) => {
      if (_flags.printConfigSchema === true) {
        process.stdout.write(`${JSON.stringify(serveConfigJsonSchema(), null, 2)}\n`);
        return;
      }
      const fileConfig = _flags.config === undefined ? undefined : loadServeConfig(_flags.config);
      if (_flags.config !== undefined && fileConfig !== undefined) applyServeConfig(command, fileConfig, _flags.config);
      const opts = command.opts<ServeOptions>();
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw new GatewayError('USAGE', 'TLS needs both `--tls-cert` and `--tls-key`');
      }
      const clientCertSurfaces = (opts.tlsClientCertSurfaces ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      if (opts.tlsClientCa !== undefined && opts.tlsCert === undefined) throw new GatewayError('USAGE', '`--tls-client-ca` needs TLS: give `--tls-cert` and `--tls-key`');
      if ((opts.tlsClientCa === undefined) !== (clientCertSurfaces.length === 0)) {
        throw new GatewayError('USAGE', 'client certificates need both `--tls-client-ca` and `--tls-client-cert-surfaces`');
      }
      const tls = opts.tlsCert === undefined || opts.tlsKey === undefined ? undefined : readTls(opts.tlsCert, opts.tlsKey, opts.tlsClientCa);
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
      if (opts.publicUrl !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(opts.publicUrl)) {
        throw new GatewayError('USAGE', `\`--public-url\` is an origin such as \`https://countersign.example.com\`; got \`${opts.publicUrl}\``);
      }
      const key = loadPrivateKey(opts.key);
      if (opts.db !== undefined) mkdirSync(dirname(opts.db), { recursive: true });
      const config: StoreConfig =
        opts.db !== undefined ? { sqlite: opts.db } : { postgres: opts.postgres as string, ...(opts.schema === undefined ? {} : { schema: opts.schema }) };
      // the server and its metrics load only here: every other command starts without Fastify, pino or prom-client
      let boundUrl = `${tls === undefined ? 'http' : 'https'}://${opts.host}:${port}`;
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
        ...(tls === undefined ? {} : { tls }),
        ...(clientCertSurfaces.length === 0 ? {} : { clientCertSurfaces }),
        ...(process.env['COUNTERSIGN_METRICS_TOKEN'] ? { metricsToken: process.env['COUNTERSIGN_METRICS_TOKEN'] } : {}),
        ...(fileConfig?.notifications === undefined
          ? {}
          : { notifications: { webhooks: fileConfig.notifications.webhooks ?? [], slack: fileConfig.notifications.slack ?? [] } }),
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
      if (tls !== undefined) {
        // new connections get the files as they are now; open ones keep theirs
        process.on('SIGHUP', () => {
          try {
            gateway.reloadTls(readTls(opts.tlsCert!, opts.tlsKey!, opts.tlsClientCa));
            gateway.app.log.info('tls certificate reloaded');
          } catch (err) {
            gateway.app.log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'tls reload failed; the previous certificate stays in use');
          }
        });
      }
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));

      const address = await gateway.app.listen({ port, host: opts.host });
      boundUrl = address;
      // for the person who ran it: where to point a browser or a client
      process.stderr.write(`countersign gateway listening on ${address} (console: ${opts.publicUrl ?? address}/console)\n`);
      gateway.app.log.info({ address, bundle_id: gateway.policy.bundleId }, 'countersign gateway listening');
    });
}

/** Certificate, key and client CA from their files; a USAGE error names the one that cannot be read. */
function readTls(certPath: string, keyPath: string, clientCaPath: string | undefined): TlsMaterial {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new GatewayError('USAGE', `cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  return { cert: read(certPath, 'certificate'), key: read(keyPath, 'key'), ...(clientCaPath === undefined ? {} : { clientCa: read(clientCaPath, 'client CA') }) };
}
