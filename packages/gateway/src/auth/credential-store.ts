import Database from 'better-sqlite3';
import type pg from 'pg';
import { GatewayError } from '../errors.js';
import { migratePostgres, migrateSqlite, quoteIdent } from '../store/migrations.js';
import type { StoreConfig } from '../store/open.js';
import { describeUrl } from '../store/describe-url.js';

/** A credential as listed: everything but the secret's hash. Times are epoch milliseconds. */
export interface CredentialRecord {
  readonly id: string;
  readonly principal: string;
  readonly surface: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

/** A credential as the CLI and the API show it: ISO times, never the secret or its hash. */
export type CredentialView = {
  readonly id: string;
  readonly principal: string;
  readonly surface: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly revoked_at: string | null;
};

export function credentialView(c: CredentialRecord): CredentialView {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return { id: c.id, principal: c.principal, surface: c.surface, created_at: new Date(c.createdAt).toISOString(), expires_at: iso(c.expiresAt), revoked_at: iso(c.revokedAt) };
}

/** A credential as stored: the record plus SHA-256 of its secret (never the secret). */
export interface StoredCredential extends CredentialRecord {
  readonly secretSha256: Uint8Array;
}

/** What authentication reads again on every call, so that neither is ever taken from a cache: revocation (`token revoke`) and expiry. */
export interface CredentialStatus {
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

/**
 * Where credentials live: the `credentials` table of the ledger database
 * (migration 2), reached through a connection of its own so the ledger
 * store's classes stay untouched. Both engines implement the same port.
 */
export interface CredentialStore {
  readonly kind: 'sqlite' | 'postgres';
  insert(credential: StoredCredential): Promise<void>;
  find(id: string): Promise<StoredCredential | null>;
  /**
   * Expiry and revocation of one credential as committed now, or null when the
   * row is gone: the per-call read of authentication once the rest of the
   * credential is known (a smaller row than `find`'s, no secret hash copied).
   */
  status(id: string): Promise<CredentialStatus | null>;
  /** Marks the credential revoked at `at` unless it already is (the first revocation time stands); null when unknown. */
  revoke(id: string, at: number): Promise<CredentialRecord | null>;
  /** Every credential, oldest first. */
  list(): Promise<CredentialRecord[]>;
  close(): Promise<void>;
}

interface Row {
  readonly id: string;
  readonly principal: string;
  readonly surface: string;
  readonly secret_sha256: Buffer;
  readonly created_at: number | string;
  readonly expires_at: number | string | null;
  readonly revoked_at: number | string | null;
}

// pg returns BIGINT as a string; epoch milliseconds fit a double exactly until the year 287396
const ms = (value: number | string): number => Number(value);
const msOrNull = (value: number | string | null): number | null => (value === null ? null : Number(value));

function toStored(row: Row): StoredCredential {
  return { ...toRecord(row), secretSha256: row.secret_sha256 };
}

function toRecord(row: Omit<Row, 'secret_sha256'>): CredentialRecord {
  return {
    id: row.id,
    principal: row.principal,
    surface: row.surface,
    createdAt: ms(row.created_at),
    expiresAt: msOrNull(row.expires_at),
    revokedAt: msOrNull(row.revoked_at),
  };
}

const COLUMNS = 'id, principal, surface, created_at, expires_at, revoked_at';

/** Credentials in the SQLite ledger file, over a second connection to it (WAL lets both coexist). */
export class SqliteCredentialStore implements CredentialStore {
  readonly kind = 'sqlite';
  private closed = false;
  private readonly statements: {
    readonly insert: Database.Statement<[string, string, string, Buffer, number, number | null]>;
    readonly find: Database.Statement<[string], Row>;
    readonly status: Database.Statement<[string], [number | null, number | null]>;
    readonly revoke: Database.Statement<[number, string]>;
    readonly record: Database.Statement<[string], Row>;
    readonly list: Database.Statement<[], Row>;
  };

  private constructor(private readonly db: Database.Database) {
    this.statements = {
      insert: db.prepare(
        'INSERT INTO credentials (id, principal, surface, secret_sha256, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL)',
      ),
      find: db.prepare(`SELECT ${COLUMNS}, secret_sha256 FROM credentials WHERE id = ?`),
      // raw: an array, not an object with named keys, for the read every call makes
      status: db.prepare<[string], [number | null, number | null]>('SELECT expires_at, revoked_at FROM credentials WHERE id = ?').raw(),
      revoke: db.prepare('UPDATE credentials SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      record: db.prepare(`SELECT ${COLUMNS} FROM credentials WHERE id = ?`),
      list: db.prepare(`SELECT ${COLUMNS} FROM credentials ORDER BY created_at, id`),
    };
  }

  static open(path: string, options: { readonly busyTimeoutMs?: number } = {}): SqliteCredentialStore {
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (err) {
      throw new GatewayError('STORE_UNAVAILABLE', `cannot open credential database \`${path}\``, undefined, { cause: err });
    }
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      db.pragma('journal_mode = WAL');
      // a revocation acknowledged to the operator must survive power loss
      db.pragma('synchronous = FULL');
      migrateSqlite(db);
      return new SqliteCredentialStore(db);
    } catch (err) {
      db.close();
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('STORE_UNAVAILABLE', `cannot open credential database \`${path}\``, undefined, { cause: err });
    }
  }

  insert(c: StoredCredential): Promise<void> {
    return this.run(() => {
      this.statements.insert.run(c.id, c.principal, c.surface, Buffer.from(c.secretSha256), c.createdAt, c.expiresAt);
    }, 'store a credential');
  }

  find(id: string): Promise<StoredCredential | null> {
    return this.run(() => {
      const row = this.statements.find.get(id);
      return row === undefined ? null : toStored(row);
    }, 'read a credential');
  }

  status(id: string): Promise<CredentialStatus | null> {
    return this.run(() => {
      const row = this.statements.status.get(id);
      return row === undefined ? null : { expiresAt: msOrNull(row[0]), revokedAt: msOrNull(row[1]) };
    }, 'read a credential');
  }

  revoke(id: string, at: number): Promise<CredentialRecord | null> {
    return this.run(() => {
      this.statements.revoke.run(at, id);
      const row = this.statements.record.get(id);
      return row === undefined ? null : toRecord(row);
    }, 'revoke a credential');
  }

  list(): Promise<CredentialRecord[]> {
    return this.run(() => this.statements.list.all().map(toRecord), 'list credentials');
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close();
    }
    return Promise.resolve();
  }

  private run<T>(work: () => T, what: string): Promise<T> {
    if (this.closed) return Promise.reject(new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: the credential store is closed`));
    try {
      return Promise.resolve(work());
    } catch (err) {
      const code = err instanceof Database.SqliteError ? err.code : undefined;
      if (code?.startsWith('SQLITE_CONSTRAINT')) {
        return Promise.reject(new GatewayError('STORE_CONFLICT', `cannot ${what}: the id is taken`, undefined, { cause: err }));
      }
      return Promise.reject(new GatewayError('STORE_UNAVAILABLE', `cannot ${what}`, code === undefined ? undefined : { sqlite: code }, { cause: err }));
    }
  }
}

/** Credentials in the PostgreSQL ledger database and schema, over a small pool of its own. */
export class PostgresCredentialStore implements CredentialStore {
  readonly kind = 'postgres';
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly where: string,
  ) {}

  static async open(url: string, options: { readonly schema?: string; readonly poolSize?: number } = {}): Promise<PostgresCredentialStore> {
    const schema = options.schema ?? 'public';
    quoteIdent(schema);
    // pg loads only for PostgreSQL credentials: a SQLite command never pays for it
    const { default: pgModule } = await import('pg');
    const pool = new pgModule.Pool({
      connectionString: url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: 10_000,
      options: `-c search_path=${schema} -c synchronous_commit=on`,
      application_name: 'countersign-credentials',
    });
    pool.on('error', () => undefined);
    const store = new PostgresCredentialStore(pool, describeUrl(url));
    try {
      const client = await pool.connect();
      try {
        await migratePostgres(client, schema);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw store.error(err, 'open the credential store');
    }
    return store;
  }

  async insert(c: StoredCredential): Promise<void> {
    await this.query(
      'store a credential',
      'INSERT INTO credentials (id, principal, surface, secret_sha256, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)',
      [c.id, c.principal, c.surface, Buffer.from(c.secretSha256), c.createdAt, c.expiresAt],
    );
  }

  async find(id: string): Promise<StoredCredential | null> {
    const rows = await this.query<Row>('read a credential', `SELECT ${COLUMNS}, secret_sha256 FROM credentials WHERE id = $1`, [id]);
    return rows[0] === undefined ? null : toStored(rows[0]);
  }

  async status(id: string): Promise<CredentialStatus | null> {
    const rows = await this.query<Pick<Row, 'expires_at' | 'revoked_at'>>('read a credential', 'SELECT expires_at, revoked_at FROM credentials WHERE id = $1', [id]);
    return rows[0] === undefined ? null : { expiresAt: msOrNull(rows[0].expires_at), revokedAt: msOrNull(rows[0].revoked_at) };
  }

  async revoke(id: string, at: number): Promise<CredentialRecord | null> {
    // one statement: COALESCE keeps the first revocation time, RETURNING reads the row it wrote
    const rows = await this.query<Row>(
      'revoke a credential',
      `UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, at],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  }

  async list(): Promise<CredentialRecord[]> {
    const rows = await this.query<Row>('list credentials', `SELECT ${COLUMNS} FROM credentials ORDER BY created_at, id`, []);
    return rows.map(toRecord);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async query<R extends pg.QueryResultRow>(what: string, text: string, params: unknown[]): Promise<R[]> {
    if (this.closed) throw new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: the credential store is closed`);
    try {
      return (await this.pool.query<R>(text, params)).rows;
    } catch (err) {
      throw this.error(err, what);
    }
  }

  /** Driver messages may quote the URL: only the host, port and database are named. */
  private error(err: unknown, what: string): GatewayError {
    if (err instanceof GatewayError) return err;
    const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
    const details = code === undefined ? { server: this.where } : { server: this.where, code };
    if (code === '23505') return new GatewayError('STORE_CONFLICT', `cannot ${what}: the id is taken`, details);
    return new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: postgres at \`${this.where}\` failed${code === undefined ? '' : ` (${code})`}`, details);
  }
}

/** The credential store of the database a `StoreConfig` names (`--db FILE` or `--postgres URL`). */
export async function openCredentialStore(config: StoreConfig): Promise<CredentialStore> {
  if ('sqlite' in config) {
    if (config.readonly) throw new GatewayError('USAGE', 'the credential store cannot be opened read-only');
    return SqliteCredentialStore.open(config.sqlite, config.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: config.busyTimeoutMs });
  }
  return PostgresCredentialStore.open(config.postgres, {
    ...(config.schema === undefined ? {} : { schema: config.schema }),
    ...(config.poolSize === undefined ? {} : { poolSize: config.poolSize }),
  });
}
