import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration, type PolicyBundle } from '@countersign/core';
import type { Command } from 'commander';
import { openCredentialStore } from '../auth/credential-store.js';
import { issueCredential } from '../auth/credentials.js';
import { GatewayError } from '../errors.js';
import { generateKeyPair, loadPrivateKey } from '../keys.js';
import { readPolicyFile } from '../policy-file.js';
import { rekeyPolicy } from '../policy-rekey.js';
import { openStore } from '../store/open.js';
import { DEFAULT_SERVER, TOKEN_ENV, SERVER_ENV } from './client/connection.js';
import { table } from './client/output.js';
import { exitCodesHelp } from './help.js';

/**
 * `countersign init DIR`: everything a first run needs in one directory. The
 * policy comes from the payments example, found relative to this file so the
 * command works from any working directory; the key is generated with mode
 * 0600 and never overwritten; tokens are printed once and written to a 0600
 * file, and the database keeps only their hashes.
 */
const EXAMPLE_POLICY = join('examples', 'payments', 'policy.yaml');
const FILES = { policy: 'policy.yaml', key: 'gateway.key', db: 'ledger.db', tokens: 'tokens.env', config: 'countersign.yaml' } as const;
const DEFAULT_EXPIRY = '30d';

/** The example policy: the nearest `examples/payments/policy.yaml` above this module (dist/cli/ in a checkout). */
export function findExamplePolicy(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, EXAMPLE_POLICY);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new GatewayError('FILE_NOT_FOUND', `cannot find the example policy \`${EXAMPLE_POLICY}\` above \`${from}\`; pass \`--policy FILE\``);
}

export interface TokenPlanEntry {
  readonly principal: string;
  readonly surface: string;
}

/**
 * One token per principal and surface, each on the surface that principal
 * works from, and no more (a token on a surface someone never uses is only
 * something to leak):
 *   - agents: the proposal console, the first declared surface that no risk
 *     class accepts approvals through;
 *   - front-line humans (they report to someone and nobody reports to them,
 *     like the on-call operators): that same console, where they work beside
 *     the copilot and where proposals are made on their behalf;
 *   - every other human (leads, owners, delegates, SRE): each approval
 *     surface, so they can approve from the console or sign from the CLI.
 */
export function tokenPlan(bundle: Pick<PolicyBundle, 'principals' | 'surfaces' | 'risk_classes'>): TokenPlanEntry[] {
  const approvalSurfaces = new Set(bundle.risk_classes.flatMap((c) => c.approval?.surfaces ?? []));
  const declared = bundle.surfaces.map((s) => s.id);
  const approval = declared.filter((s) => approvalSurfaces.has(s));
  const proposalSurface = declared.find((s) => !approvalSurfaces.has(s)) ?? declared[0];
  const managers = new Set(bundle.principals.map((p) => p.reports_to).filter((m): m is string => m !== undefined));
  const plan: TokenPlanEntry[] = [];
  for (const p of bundle.principals) {
    const frontLine = p.kind === 'agent' || (p.reports_to !== undefined && !managers.has(p.id));
    const surfaces = frontLine ? (proposalSurface === undefined ? [] : [proposalSurface]) : approval;
    for (const surface of surfaces) plan.push({ principal: p.id, surface });
  }
  return plan;
}

/** `COUNTERSIGN_TOKEN_<PRINCIPAL>_<SURFACE>`: ids upper-cased, every character a shell name cannot hold as `_`. */
export function tokenVariable(entry: TokenPlanEntry): string {
  const part = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return `${TOKEN_ENV}_${part(entry.principal)}_${part(entry.surface)}`;
}

/** Write a file readable by its owner only, replacing any previous one whole. */
function writePrivateFile(path: string, contents: string): void {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  // 'wx' with mode 0600: the file is never readable by others, not even before a chmod
  writeFileSync(temp, contents, { flag: 'wx', mode: 0o600 });
  renameSync(temp, path);
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * countersign.yaml for the scaffolded directory: loopback only (the tour's
 * gateway is not for a network), at the port of the URL tokens.env points
 * clients at, so the two agree.
 */
export function serveConfigText(server: string): string {
  const url = new URL(server);
  const port = url.port === '' ? 8080 : Number(url.port);
  return [
    '# written by `countersign init`: the gateway\'s configuration (docs/configuration.md, countersign serve --print-config-schema).',
    '# Relative paths are read from this file\'s directory. Flags and COUNTERSIGN_* variables override it.',
    `listen: { host: 127.0.0.1, port: ${port} }`,
    `policy: ${FILES.policy}`,
    `store: { sqlite: ${FILES.db} }`,
    `key: { file: ${FILES.key} }`,
    '',
  ].join('\n');
}

interface InitFlags {
  readonly force?: boolean;
  readonly policy?: string;
  readonly expires: string;
  readonly json?: boolean;
  readonly server?: string;
}

export function register(program: Command): void {
  program
    .command('init')
    .description('scaffold a gateway in DIR: the payments example policy, a gateway key, a database, and tokens for the example principals')
    .argument('<dir>', 'directory to create (or an empty one)')
    .option('--force', 'use a non-empty DIR: create what is missing, keep every existing file (a key is never overwritten), issue new tokens')
    .option('--policy <file>', 'start from this policy instead of examples/payments/policy.yaml')
    .option('--expires <duration>', 'lifetime of the tokens issued', DEFAULT_EXPIRY)
    .option('--server <url>', `the gateway URL written to tokens.env as ${SERVER_ENV} (default: ${SERVER_ENV}, else ${DEFAULT_SERVER})`)
    .option('--json', 'print {"dir", "files", "roster_keys", "tokens": [{principal, surface, variable, token}], "serve"} as JSON')
    .addHelpText(
      'after',
      `
Creates, in DIR:
  policy.yaml    the policy (the payments example with every roster key replaced)
  keys/          a fresh Ed25519 private key (mode 0600) for each roster key id,
                 e.g. keys/leo-2025.key: hand each to its person, then delete it here
  gateway.key    the gateway's Ed25519 signing key (mode 0600), and gateway.key.pub
  ledger.db      the SQLite ledger, migrated, with the token hashes
  tokens.env     export ${TOKEN_ENV}_<PRINCIPAL>_<SURFACE>=... lines (mode 0600)
  countersign.yaml
                 the gateway's configuration (docs/configuration.md): this policy,
                 key and database, listening on 127.0.0.1 at the port of --server

One token per principal and surface: the agent and the on-call operators on
the copilot console; leads, owners, delegates and SRE on the approval
surfaces (approver-console and signed-cli). Tokens are printed once; the
database keeps only their hashes. A .gitignore keeps the keys, the tokens and
the ledger out of any repository DIR sits in.

Examples:
  countersign init ./cs
  countersign init ./cs --force --expires 7d          # add what is missing, fresh tokens
  countersign init ./cs --server http://127.0.0.1:9090   # tokens.env points clients at that gateway
  countersign serve --config ./cs/countersign.yaml
${exitCodesHelp({ ok: 'done: the directory holds everything a first run needs', usage: 'DIR is not empty (without --force), or a flag or the policy is wrong', environment: 'the database cannot be opened, or a key is unusable' })}`,
    )
    .action(async (dirArg: string, opts: InitFlags) => {
      // checked before anything is written
      const server = opts.server ?? process.env[SERVER_ENV] ?? DEFAULT_SERVER;
      if (!/^https?:\/\/[^/?#\s]+\/?$/.test(server)) throw new GatewayError('USAGE', `\`--server\` is a gateway URL such as \`http://127.0.0.1:9090\`; got \`${server}\``);
      let lifetime: number;
      try {
        lifetime = parseDuration(opts.expires);
      } catch {
        throw new GatewayError('USAGE', `\`--expires\` must be a duration such as \`12h\` or \`30d\`; got \`${opts.expires}\``);
      }
      const source = opts.policy ?? findExamplePolicy();
      readPolicyFile(source);

      const dir = resolve(dirArg);
      if (existsSync(dir)) {
        if (!statSync(dir).isDirectory()) throw new GatewayError('FILE_EXISTS', `\`${dirArg}\` exists and is not a directory`, { path: dirArg });
        if (readdirSync(dir).length > 0 && !opts.force) {
          throw new GatewayError('FILE_EXISTS', `\`${dirArg}\` is not empty; pass --force to add what is missing (existing files are kept)`, { path: dirArg });
        }
      } else {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      }
      const path = (name: string) => join(dir, name);
      const kept: string[] = [];

      // The example's roster keys are test fixtures whose private halves ship in this
      // repository: a scaffolded gateway must never trust them, so every roster key
      // is replaced by a fresh one whose private half goes to keys/<key id>.key (0600).
      const rosterKeys: string[] = [];
      if (existsSync(path(FILES.policy))) kept.push(FILES.policy);
      else {
        mkdirSync(path('keys'), { recursive: true, mode: 0o700 });
        const rekeyed = rekeyPolicy(readFileSync(source, 'utf8'), source, (_principal, keyId) => {
          const file = join('keys', `${keyId}.key`);
          rosterKeys.push(file);
          return generateKeyPair(path(file)).key;
        });
        writeFileSync(path(FILES.policy), `# scaffolded by \`countersign init\` from ${source}; roster keys are fresh, private halves in keys/\n${rekeyed.text}`, { flag: 'wx' });
      }
      const { bundle, bundleId } = readPolicyFile(path(FILES.policy));

      // INVARIANT: a key is never overwritten; an existing one must still be a usable 0600 key
      if (existsSync(path(FILES.key))) {
        loadPrivateKey(path(FILES.key));
        kept.push(FILES.key);
      } else {
        generateKeyPair(path(FILES.key));
      }

      const store = await openStore({ sqlite: path(FILES.db) });
      await store.close();

      const now = Date.now();
      const plan = tokenPlan(bundle);
      const credentials = await openCredentialStore({ sqlite: path(FILES.db) });
      const tokens: { principal: string; surface: string; variable: string; id: string; token: string }[] = [];
      try {
        for (const entry of plan) {
          const issued = await issueCredential(credentials, { ...entry, expiresAt: now + lifetime }, now);
          tokens.push({ ...entry, variable: tokenVariable(entry), id: issued.credential.id, token: issued.token });
        }
      } finally {
        await credentials.close();
      }
      writePrivateFile(
        path(FILES.tokens),
        `# countersign tokens issued by \`countersign init\` at ${new Date(now).toISOString()}, expiring after ${opts.expires}.\n` +
          `# Secret: anyone holding a line acts as that principal on that surface. Revoke with \`countersign token revoke ID --db ${path(FILES.db)}\`.\n` +
          `export ${SERVER_ENV}=${shellQuote(server)}\n` +
          tokens.map((t) => `export ${t.variable}=${shellQuote(t.token)}  # ${t.principal} on ${t.surface}, id ${t.id}\n`).join(''),
      );

      // secrets never reach a commit by accident: the keys, the tokens and the ledger stay out of git
      const ignore = path('.gitignore');
      if (!existsSync(ignore)) {
        writeFileSync(ignore, `# written by \`countersign init\`: private keys, tokens and the ledger are not for a repository\n${FILES.key}\n${FILES.key}.pub\nkeys/\n${FILES.tokens}\n${FILES.db}\n${FILES.db}-*\n`, { flag: 'wx' });
      }
      // the gateway's configuration names the files above by relative paths (read from the file's directory), so DIR can move
      if (existsSync(path(FILES.config))) kept.push(FILES.config);
      else writeFileSync(path(FILES.config), serveConfigText(server), { flag: 'wx' });
      const serve = `countersign serve --config ${path(FILES.config)}`;
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ dir, bundle_id: bundleId, files: Object.fromEntries(Object.entries(FILES).map(([k, v]) => [k, path(v)])), roster_keys: rosterKeys.map(path), kept, tokens, serve })}\n`,
        );
        return;
      }
      const agentToken = tokens.find((t) => bundle.principals.find((p) => p.id === t.principal)?.kind === 'agent');
      const lines = [
        `initialised ${dir} (policy ${bundle.name}, bundle ${bundleId})`,
        ...Object.values(FILES).map((f) => `  ${f}${kept.includes(f) ? '  (kept as it was)' : ''}`),
        ...(rosterKeys.length > 0 ? [`  keys/  ${rosterKeys.length} roster private keys (mode 0600), one per key id in policy.yaml`] : []),
        '',
        'tokens (shown once; also in tokens.env, mode 0600):',
        table(['principal', 'surface', 'token'], tokens.map((t) => [t.principal, t.surface, t.token])).trimEnd(),
        '',
        'next:',
        `  ${serve}`,
        `  source ${path(FILES.tokens)}`,
        `  ${TOKEN_ENV}=$${agentToken?.variable ?? `${TOKEN_ENV}_<PRINCIPAL>_<SURFACE>`} countersign propose proposal.json`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
      process.stderr.write('store the tokens now: they are shown once and only their hashes are kept\n');
    });
}
