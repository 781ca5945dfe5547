import type { TransactionalLedgerStore } from '@countersign/core';
import type { PostgresStoreOptions } from './postgres.js';
import { SqliteLedgerStore, type SqliteStoreOptions } from './sqlite.js';

export type StoreConfig =
  | ({ readonly sqlite: string } & SqliteStoreOptions)
  | ({ readonly postgres: string } & PostgresStoreOptions);

/** Open the configured ledger store, applying schema migrations (unless opened read-only). */
export async function openStore(config: StoreConfig): Promise<TransactionalLedgerStore> {
  if ('sqlite' in config) {
    const { sqlite, ...options } = config;
    return SqliteLedgerStore.open(sqlite, options);
  }
  const { postgres, ...options } = config;
  // pg loads only for a PostgreSQL ledger: a SQLite command never pays for it
  const { PostgresLedgerStore } = await import('./postgres.js');
  return PostgresLedgerStore.open(postgres, options);
}
