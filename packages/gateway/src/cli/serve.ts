import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { generateKeyPair, loadPrivateKey } from '../keys.js';
import { startGateway } from '../server/gateway-server.js';
import { openStore } from '../store/open.js';
import { GatewayError } from '../errors.js';

interface ServeOptions {
  policy: string;
  db?: string;
  postgres?: string;
  port: string;
  host: string;
  key: string;
  initKey?: boolean;
  origin: string;
  logLevel: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: HTTP API over the policy and the signed ledger')
    .requiredOption('--policy <file>', 'policy bundle (YAML)')
    .option('--db <file>', 'SQLite ledger file (the embedded default)')
    .option('--postgres <url>', 'PostgreSQL connection URL, for several replicas sharing one chain')
    .option('--port <n>', 'TCP port', '8080')
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--key <file>', 'gateway Ed25519 private key (PKCS#8 PEM, mode 0600)', 'countersign.key')
    .option('--init-key', 'generate the gateway key at --key if the file does not exist')
    .option('--origin <name>', 'origin line of signed checkpoints: names this ledger', 'countersign.local/ledger')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .addHelpText(
      'after',
      `
Examples:
  countersign serve --policy examples/payments/policy.yaml --db ledger.db --key gateway.key --init-key
  countersign serve --policy policy.yaml --postgres postgres://countersign@db/countersign --key /run/secrets/gateway.key

SIGTERM and SIGINT drain in-flight requests and flush the ledger before exit.`,
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
      const key = loadPrivateKey(opts.key);
      if (opts.db !== undefined) mkdirSync(dirname(opts.db), { recursive: true });
      const store = await openStore(opts.db !== undefined ? { sqlite: opts.db } : { postgres: opts.postgres as string });
      const gateway = await startGateway({ policyPath: opts.policy, store, key, origin: opts.origin, logLevel: opts.logLevel });

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
      gateway.app.log.info({ address, bundle_id: gateway.policy.bundleId }, 'countersign gateway listening');
    });
}
