import { applyEntry, createState, decodeEntry, parseDuration, storedPolicy, type PolicyBundle } from '@countersign/core';
import { existsSync } from 'node:fs';
import { openStore } from '../store/open.js';
import type { Command } from 'commander';
import { credentialView, openCredentialStore, type CredentialRecord, type CredentialStore } from '../auth/credential-store.js';
import { issueCredential, revokeCredential } from '../auth/credentials.js';
import { GatewayError } from '../errors.js';
import { readPolicyFile } from '../policy-file.js';
import { storeConfig, storeOptions, type StoreFlags } from './store-options.js';
import { table } from './client/output.js';
import { isCountersignClientError } from '@countersign/client';
import { clientExitCode, connect, TOKEN_ENV } from './client/connection.js';
import { exitCodesHelp } from './help.js';

/**
 * With `--server`, the command goes through the gateway's token
 * administration API (policy `credentials.admin_roles`; the caller's own
 * token in COUNTERSIGN_TOKEN): recorded in the ledger, no database access.
 */
interface ServerFlag {
  readonly server?: string;
}

function viaServer(flags: StoreFlags & ServerFlag): boolean {
  if (flags.server === undefined) return false;
  if (flags.db !== undefined || flags.postgres !== undefined) throw new GatewayError('USAGE', 'give `--server URL` (the API) or `--db`/`--postgres` (the database), not both');
  return true;
}

/** An API call: a refusal or an unreachable gateway is printed with its code and sets the exit code (null then). */
async function overApi<T>(work: () => Promise<T>): Promise<T | null> {
  try {
    return await work();
  } catch (err) {
    if (!isCountersignClientError(err)) throw err;
    process.stderr.write(`error[${err.code}]: ${err.message}\n`);
    process.exitCode = clientExitCode(err);
    return null;
  }
}

const SERVER_HELP = `the gateway's URL: administer tokens over its API as the principal of ${TOKEN_ENV} (an administrator under the policy's credentials.admin_roles), recorded in the ledger, instead of opening the database`;

const DEFAULT_EXPIRY = '30d';

/** The listing form of a credential: never the secret, never its hash. */
const listed = (c: CredentialRecord): Record<string, string | null> => credentialView(c);

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

/** A token may only name a principal and a surface the bundle declares. */
function checkAgainstBundle(bundle: Pick<PolicyBundle, 'principals' | 'surfaces'>, where: string, principal: string, surface: string): void {
  if (!bundle.principals.some((p) => p.id === principal)) {
    throw new GatewayError('USAGE', `principal \`${principal}\` is not declared in ${where}`);
  }
  if (!bundle.surfaces.some((s) => s.id === surface)) {
    throw new GatewayError('USAGE', `surface \`${surface}\` is not declared in ${where}`);
  }
}

/** The bundle in force in a store's ledger, from the text the ledger records; null on an empty ledger. */
async function bundleInForce(flags: StoreFlags): Promise<{ readonly bundle: PolicyBundle; readonly id: string } | null> {
  if (flags.db !== undefined && !existsSync(flags.db)) return null;
  const store = await openStore(storeConfig(flags, { readonly: true }));
  try {
    const state = createState();
    for await (const entry of store.read(0)) applyEntry(state, decodeEntry(entry.bytes));
    const id = state.bundle.bundle_id;
    if (id === null) return null;
    const compiled = storedPolicy(state, id);
    if (compiled === null) throw new GatewayError('USAGE', `the ledger's bundle ${id} has no recorded text; pass --policy with it`);
    return { bundle: compiled.bundle, id };
  } finally {
    await store.close();
  }
}

function credentialTable(rows: readonly Record<string, string | null>[]): string {
  const columns = ['id', 'principal', 'surface', 'created_at', 'expires_at', 'revoked_at'];
  return table(
    columns.map((c) => c.replace('_at', '')),
    rows.map((r) => columns.map((c) => r[c] ?? '-')),
  );
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
  COUNTERSIGN_TOKEN=$ADMIN_TOKEN countersign token issue --principal olivia --surface approver-console --server https://countersign.example.com
  COUNTERSIGN_TOKEN=$ADMIN_TOKEN countersign token list --server https://countersign.example.com

Exit codes: 0 done; 1 refused by the gateway (not an administrator, a token
for yourself, an undeclared principal or surface); 2 usage; 3 the database or
the gateway unreachable, or the token refused.

A token reads cst_<id>_<secret>. It is printed once; the store keeps only the
SHA-256 of the secret. Callers send it as \`Authorization: Bearer <token>\`;
the surface of every call is the token's. See docs/credentials.md.`,
    );

  storeOptions(
    token
      .command('issue')
      .description('mint a token for one principal on one surface and print it once')
      .addHelpText('after', `\nExamples:\n  countersign token issue --principal olivia --surface approver-console --db cs/ledger.db\n  COUNTERSIGN_TOKEN=$ADMIN_TOKEN countersign token issue --principal payments-copilot --surface copilot-console --expires 12h --server https://countersign.example.com\n${exitCodesHelp({ ok: 'issued: the token is printed once', negative: 'refused by the gateway (--server): not an administrator, a token for yourself or one that would sign as someone else', usage: 'bad flags, or a principal or surface the policy does not declare', environment: 'the database or the gateway is unreachable, or your token is refused' })}`)
      .requiredOption('--principal <id>', 'principal the token acts as')
      .requiredOption('--surface <name>', 'surface every call with this token comes from')
      .option('--expires <duration>', 'lifetime such as `12h` or `30d`, or `never`', DEFAULT_EXPIRY)
      .option('--policy <file>', 'refuse a principal or surface this policy does not declare (default: the bundle in force in the ledger)')
      .option('--json', 'print {"token", "id", "principal", "surface", "created_at", "expires_at"} as JSON')
      .option('--server <url>', SERVER_HELP),
  ).action(async (opts: StoreFlags & ServerFlag & { principal: string; surface: string; expires: string; policy?: string; json?: boolean }) => {
    let issued: { token: string; fields: Record<string, string | null> };
    if (viaServer(opts)) {
      if (opts.expires === 'never') throw new GatewayError('USAGE', 'over the API a token expires: at most `365d`');
      const answer = await overApi(() => connect({ server: opts.server! }).issueToken({ principal: opts.principal, surface: opts.surface, expires_in: opts.expires }));
      if (answer === null) return;
      const { token: secret, revoked_at: _r, ...rest } = answer;
      issued = { token: secret, fields: rest as Record<string, string | null> };
    } else {
      const now = Date.now();
      const expiresAt = expiryOf(opts.expires, now);
      if (opts.policy !== undefined) checkAgainstBundle(readPolicyFile(opts.policy).bundle, `policy \`${opts.policy}\``, opts.principal, opts.surface);
      else {
        // the ledger says which bundle is in force: a token for someone it does not declare is refused
        const inForce = await bundleInForce(opts);
        if (inForce !== null) checkAgainstBundle(inForce.bundle, `the bundle in force (${inForce.id})`, opts.principal, opts.surface);
        else process.stderr.write('the ledger has no bundle yet: principal and surface not checked (pass --policy to check them)\n');
      }
      const minted = await withStore(opts, (store) => issueCredential(store, { principal: opts.principal, surface: opts.surface, expiresAt }, now));
      const { revoked_at: _revoked, ...rest } = listed(minted.credential);
      issued = { token: minted.token, fields: rest };
    }
    const fields = issued.fields;
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
      .addHelpText('after', `\nExamples:\n  countersign token revoke 3x7kq2m4p5r6s7t2 --db cs/ledger.db\n  COUNTERSIGN_TOKEN=$ADMIN_TOKEN countersign token revoke 3x7kq2m4p5r6s7t2 --server https://countersign.example.com\n${exitCodesHelp({ ok: 'revoked (revoking twice keeps the first time)', negative: 'refused by the gateway (--server), or no such token', usage: 'bad flags or an id that is not a credential id', environment: 'the database or the gateway is unreachable, or your token is refused' })}`)
      .argument('<id>', 'credential id (the part between `cst_` and the second `_`, as `token list` shows)')
      .option('--json', 'print the revoked credential as JSON')
      .option('--server <url>', SERVER_HELP),
  ).action(async (id: string, opts: StoreFlags & ServerFlag & { json?: boolean }) => {
    const row = viaServer(opts) ? ((await overApi(() => connect({ server: opts.server! }).revokeToken(id))) as Record<string, string | null> | null) : listed(await withStore(opts, (store) => revokeCredential(store, id, Date.now())));
    if (row === null) return;
    process.stdout.write(opts.json ? `${JSON.stringify(row)}\n` : `revoked ${row['id']} (${row['principal']} on ${row['surface']}) at ${row['revoked_at']}\n`);
  });

  storeOptions(
    token
      .command('list')
      .description('list tokens: id, principal, surface, created, expires, revoked; never a secret or its hash')
      .addHelpText('after', `\nExamples:\n  countersign token list --db cs/ledger.db --json\n  COUNTERSIGN_TOKEN=$ADMIN_TOKEN countersign token list --server https://countersign.example.com\n${exitCodesHelp({ ok: 'listed', negative: 'refused by the gateway (--server): not an administrator', usage: 'bad flags', environment: 'the database or the gateway is unreachable, or your token is refused' })}`)
      .option('--json', 'print a JSON array')
      .option('--server <url>', SERVER_HELP),
  ).action(async (opts: StoreFlags & ServerFlag & { json?: boolean }) => {
    let rows: Record<string, string | null>[];
    if (viaServer(opts)) {
      const answer = await overApi(() => connect({ server: opts.server! }).listTokens());
      if (answer === null) return;
      rows = answer.tokens.map((t) => ({ id: t.id, principal: t.principal, surface: t.surface, created_at: t.created_at, expires_at: t.expires_at, revoked_at: t.revoked_at }));
    } else rows = (await withStore(opts, (store) => store.list())).map(listed);
    process.stdout.write(opts.json ? `${JSON.stringify(rows)}\n` : credentialTable(rows));
  });
}
