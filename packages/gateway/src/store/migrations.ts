import type { Database } from 'better-sqlite3';
import type { PoolClient } from 'pg';
import { GatewayError } from '../errors.js';

/**
 * One numbered schema change, written once per engine. Both engines walk the
 * same list, so a database of either kind at version N has the same tables.
 * To add a projection table: append a migration with the next version; never
 * edit one that has shipped.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ledger',
    // INVARIANT: seq is unique, so two writers that both believe they lead cannot fork the chain
    sqlite: `
      CREATE TABLE ledger_entries (
        seq INTEGER PRIMARY KEY CHECK (seq >= 0),
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        bytes BLOB NOT NULL
      );
      CREATE TABLE checkpoints (
        tree_size INTEGER PRIMARY KEY CHECK (tree_size >= 0),
        note TEXT NOT NULL
      );`,
    postgres: `
      CREATE TABLE ledger_entries (
        seq BIGINT PRIMARY KEY CHECK (seq >= 0),
        hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
        bytes BYTEA NOT NULL
      );
      CREATE TABLE checkpoints (
        tree_size BIGINT PRIMARY KEY CHECK (tree_size >= 0),
        note TEXT NOT NULL
      );`,
  },
  {
    version: 2,
    name: 'credentials',
    // bearer tokens per principal and surface (auth/credentials.ts): only the SHA-256 of the
    // secret is kept; times are epoch milliseconds so both engines compare them the same way
    sqlite: `
      CREATE TABLE credentials (
        id TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        surface TEXT NOT NULL,
        secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
      );
      CREATE INDEX credentials_principal ON credentials (principal);`,
    postgres: `
      CREATE TABLE credentials (
        id TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        surface TEXT NOT NULL,
        secret_sha256 BYTEA NOT NULL CHECK (octet_length(secret_sha256) = 32),
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT
      );
      CREATE INDEX credentials_principal ON credentials (principal);`,
  },
  {
    version: 3,
    name: 'projections',
    // ADR 002 §4-5: the rows the reducer touched, stored for `ledger replay --check` to compare,
    // and the at-most-once key of entries such as `grant.consumed` (NULLs never collide)
    sqlite: `
      ALTER TABLE ledger_entries ADD COLUMN unique_key TEXT;
      CREATE UNIQUE INDEX ledger_entries_unique_key ON ledger_entries (unique_key);
      CREATE TABLE projections (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, id)
      );`,
    postgres: `
      ALTER TABLE ledger_entries ADD COLUMN unique_key TEXT;
      CREATE UNIQUE INDEX ledger_entries_unique_key ON ledger_entries (unique_key);
      CREATE TABLE projections (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, id)
      );`,
  },
  {
    version: 4,
    name: 'write_probe',
    // One row the readiness probe rewrites: a real write through the append path, outside the ledger
    sqlite: `
      CREATE TABLE write_probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at TEXT NOT NULL
      );`,
    postgres: `
      CREATE TABLE write_probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at TEXT NOT NULL
      );`,
  },
  {
    version: 5,
    name: 'entries_revoke_grants',
    // No table changes: a fence. From here `bundle.activated` and `halt.issued` revoke live grants
    // themselves (ADR 006 decision 4), and a replica that predates this reads such a ledger as if
    // those grants were live. A store at this version is refused by that code (MIGRATION_FAILED).
    sqlite: `SELECT 1;`,
    postgres: `SELECT 1;`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The migrations a database at `current` still needs; refuses a database newer than this code. */
export function pendingMigrations(current: number, migrations: readonly Migration[] = MIGRATIONS): readonly Migration[] {
  const latest = migrations.length;
  if (current > latest) {
    throw new GatewayError(
      'MIGRATION_FAILED',
      `database schema version \`${current}\` is newer than this countersign knows (\`${latest}\`): upgrade countersign before opening it`,
      { current, latest },
    );
  }
  return migrations.slice(current);
}

function assertNumbered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new GatewayError('MIGRATION_FAILED', `migration \`${migration.name}\` has version ${migration.version}, expected ${index + 1}`);
    }
  });
}

function failed(migration: Migration, err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('MIGRATION_FAILED', `schema migration ${migration.version} \`${migration.name}\` failed`, { version: migration.version }, { cause: err });
}

/** Current version of a SQLite database, 0 when it has never been migrated. */
export function sqliteSchemaVersion(db: Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

/** Apply pending migrations in one write transaction: a second process opening the same file waits, then finds nothing to do. */
export function migrateSqlite(db: Database, migrations: readonly Migration[] = MIGRATIONS): void {
  assertNumbered(migrations);
  const run = db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
    for (const migration of pendingMigrations(sqliteSchemaVersion(db), migrations)) {
      try {
        db.exec(migration.sqlite);
        record.run(migration.version, migration.name);
      } catch (err) {
        throw failed(migration, err);
      }
    }
  });
  run.immediate();
}

// Advisory lock namespace ('CSMG'), distinct from the sequencer's, keyed per schema.
const MIGRATION_LOCK_CLASS = 0x43534d47;

/**
 * Apply pending migrations in the client's current search_path, in one
 * transaction under an advisory lock, so replicas starting together migrate once.
 */
export async function migratePostgres(client: PoolClient, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  assertNumbered(migrations);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    for (const migration of pendingMigrations(rows[0]?.version ?? 0, migrations)) {
      try {
        await client.query(migration.postgres);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      } catch (err) {
        throw failed(migration, err);
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Schema names come from configuration; only plain lower-case identifiers are accepted, so quoting is exact. */
export function quoteIdent(name: string): string {
  if (!SCHEMA_NAME.test(name)) {
    throw new GatewayError('USAGE', `schema name \`${name}\` must be a lower-case identifier of at most 63 characters`);
  }
  return `"${name}"`;
}
