import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from './migrations.js';
import { describeUrl } from './describe-url.js';

/**
 * Test support for anything that talks to the real PostgreSQL: the server
 * (127.0.0.1:5432 on these machines, `COUNTERSIGN_TEST_POSTGRES_URL` overrides).
 */
export const DEFAULT_TEST_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

export function testPostgresUrl(): string {
  return process.env['COUNTERSIGN_TEST_POSTGRES_URL'] ?? DEFAULT_TEST_POSTGRES_URL;
}

/**
 * The test server's URL when it answers. When it does not: in CI this throws,
 * so the test file fails (a Postgres test must never pass by skipping there);
 * locally it warns loudly and returns `null` for `describe.skipIf`.
 */
export async function reachableTestPostgres(): Promise<string | null> {
  const url = testPostgresUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return url;
  } catch (err) {
    const reason = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'no answer';
    const message = `postgres at \`${describeUrl(url)}\` is unreachable (${reason}): set COUNTERSIGN_TEST_POSTGRES_URL or start the server`;
    if (process.env['CI']) throw new Error(`${message}; CI requires it`);
    console.warn(`\n${'!'.repeat(72)}\n!! SKIPPING POSTGRES TESTS: ${message}\n${'!'.repeat(72)}\n`);
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh schema name for one test run, so parallel runs never see each other's tables. */
export function testSchemaName(prefix = 'cs_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function dropTestSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
