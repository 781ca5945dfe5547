import { parseDuration } from '@countersign/core';
import type { Command } from 'commander';
import { openCredentialStore, type CredentialRecord, type CredentialStore } from '../auth/credential-store.js';
import { issueCredential, revokeCredential } from '../auth/credentials.js';
import { GatewayError } from '../errors.js';
import { readPolicyFile } from '../policy-file.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';

const DEFAULT_EXPIRY = '30d';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The listing form of a credential: never the secret, never its hash. */
function listed(c: CredentialRecord): Record<string, string | null> {
  return {
    id: c.id,
    principal: c.principal,
    surface: c.surface,
    created_at: iso(c.createdAt),
    expires_at: iso(c.expiresAt),
    revoked_at: iso(c.revokedAt),
  };
}

async function withStore<T>(flags: StoreFlags, work: (store: CredentialStore) => Promise<T>): Promise<T> {
  const store = await openCredentialStore(storeConfig(flags));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function expiryOf(text: string, now: number): number | null {
  if (text === 'never') return null;
  try {
    return now + parseDuration(text);
  } catch {
    throw new GatewayError('USAGE', `\`--expires\` must be a duration such as \`12h\` or \`30d\`, or \`never\`; got \`${text}\``);
  }
}

/** With `--policy`, a token may only name a principal and a surface the bundle declares. */
function checkAgainstPolicy(path: string, principal: string, surface: string): void {
  const { bundle } = readPolicyFile(path);
  if (!bundle.principals.some((p) => p.id === principal)) {
    throw new GatewayError('USAGE', `principal \`${principal}\` is not declared in policy \`${path}\``);
  }
  if (!bundle.surfaces.some((s) => s.id === surface)) {
    throw new GatewayError('USAGE', `surface \`${surface}\` is not declared in policy \`${path}\``);
  }
}

function table(rows: readonly Record<string, string | null>[]): string {
  const columns = ['id', 'principal', 'surface', 'created_at', 'expires_at', 'revoked_at'];
  const cells = [columns.map((c) => c.replace('_at', '')), ...rows.map((r) => columns.map((c) => r[c] ?? '-'))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export function register(program: Command): void {
  const token = program
    .command('token')
    .description('issue, revoke and list bearer tokens: each bound to one principal and one surface, stored hashed')
    .addHelpText(
      'after',
      `
Examples:
  countersign token issue --principal olivia --surface approver-console --db ledger.db --policy policy.yaml
  countersign token issue --principal payments-copilot --surface copilot-console --expires 12h --db ledger.db
  countersign token list --db ledger.db
  countersign token revoke 3x7kq2m4p5r6s7t2 --db ledger.db

A token reads cst_<id>_<secret>. It is printed once; the store keeps only the
SHA-256 of the secret. Callers send it as \`Authorization: Bearer <token>\`;
the surface of every call is the token's. See docs/credentials.md.`,
    );

  storeOptions(
    token
      .command('issue')
      .description('mint a token for one principal on one surface and print it once')
      .requiredOption('--principal <id>', 'principal the token acts as')
      .requiredOption('--surface <name>', 'surface every call with this token comes from')
      .option('--expires <duration>', 'lifetime such as `12h` or `30d`, or `never`', DEFAULT_EXPIRY)
      .option('--policy <file>', 'refuse a principal or surface this policy does not declare')
      .option('--json', 'print {"token", "id", "principal", "surface", "created_at", "expires_at"} as JSON'),
  ).action(async (opts: StoreFlags & { principal: string; surface: string; expires: string; policy?: string; json?: boolean }) => {
    const now = Date.now();
    const expiresAt = expiryOf(opts.expires, now);
    if (opts.policy !== undefined) checkAgainstPolicy(opts.policy, opts.principal, opts.surface);
    const issued = await withStore(opts, (store) => issueCredential(store, { principal: opts.principal, surface: opts.surface, expiresAt }, now));
    const { revoked_at: _revoked, ...fields } = listed(issued.credential);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ token: issued.token, ...fields })}\n`);
    } else {
      process.stdout.write(
        `${issued.token}\nid         ${fields['id']}\nprincipal  ${fields['principal']}\nsurface    ${fields['surface']}\nexpires    ${fields['expires_at'] ?? 'never'}\n`,
      );
      process.stderr.write('store the token now: it is shown once and only its hash is kept\n');
    }
  });

  storeOptions(
    token
      .command('revoke')
      .description('revoke a token by id; calls with it get 401 TOKEN_REVOKED from then on')
      .argument('<id>', 'credential id (the part between `cst_` and the second `_`, as `token list` shows)')
      .option('--json', 'print the revoked credential as JSON'),
  ).action(async (id: string, opts: StoreFlags & { json?: boolean }) => {
    const revoked = await withStore(opts, (store) => revokeCredential(store, id, Date.now()));
    const row = listed(revoked);
    process.stdout.write(opts.json ? `${JSON.stringify(row)}\n` : `revoked ${row['id']} (${row['principal']} on ${row['surface']}) at ${row['revoked_at']}\n`);
  });

  storeOptions(
    token
      .command('list')
      .description('list tokens: id, principal, surface, created, expires, revoked; never a secret or its hash')
      .option('--json', 'print a JSON array'),
  ).action(async (opts: StoreFlags & { json?: boolean }) => {
    const rows = (await withStore(opts, (store) => store.list())).map(listed);
    process.stdout.write(opts.json ? `${JSON.stringify(rows)}\n` : table(rows));
  });
}
