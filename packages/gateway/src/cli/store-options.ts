import { Option, type Command } from 'commander';
import { GatewayError } from '../errors.js';
import type { StoreConfig } from '../store/open.js';

/** `--db FILE` or `--postgres URL`, as every ledger command takes them. */
export interface StoreFlags {
  readonly db?: string;
  readonly postgres?: string;
  readonly schema?: string;
}

export function storeOptions(command: Command): Command {
  return command
    .addOption(new Option('--db <file>', 'SQLite ledger file').conflicts('postgres'))
    .addOption(new Option('--postgres <url>', 'PostgreSQL connection URL'))
    .addOption(new Option('--schema <name>', 'PostgreSQL schema of the ledger tables (default: public)'));
}

/** The store the flags name; `readonly` opens SQLite without migrating or writing. */
export function storeConfig(flags: StoreFlags, access: { readonly readonly?: boolean } = {}): StoreConfig {
  if (flags.db !== undefined) return { sqlite: flags.db, ...(access.readonly ? { readonly: true } : {}) };
  if (flags.postgres !== undefined) return { postgres: flags.postgres, ...(flags.schema !== undefined ? { schema: flags.schema } : {}) };
  throw new GatewayError('USAGE', 'name the ledger with `--db FILE` or `--postgres URL`');
}
