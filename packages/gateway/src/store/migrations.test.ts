import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, migrateSqlite, pendingMigrations, SCHEMA_VERSION, sqliteSchemaVersion, type Migration } from './migrations.js';

const projection: Migration = {
  version: SCHEMA_VERSION + 1,
  name: 'projection',
  sqlite: 'CREATE TABLE holds (id TEXT PRIMARY KEY)',
  postgres: 'CREATE TABLE holds (id TEXT PRIMARY KEY)',
};

describe('schema migrations', () => {
  it('are numbered 1..n with SQL for both engines', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    for (const m of MIGRATIONS) {
      expect(m.sqlite.trim()).not.toBe('');
      expect(m.postgres.trim()).not.toBe('');
    }
  });

  it('lists what a database still needs and refuses one newer than the code', () => {
    expect(pendingMigrations(0)).toEqual(MIGRATIONS);
    expect(pendingMigrations(SCHEMA_VERSION)).toEqual([]);
    expect(() => pendingMigrations(SCHEMA_VERSION + 1)).toThrow(expect.objectContaining({ code: 'MIGRATION_FAILED' }));
  });

  it('applies a newly added migration, and only that one, to an existing database', () => {
    const db = new Database(':memory:');
    migrateSqlite(db);
    db.prepare('INSERT INTO checkpoints (tree_size, note) VALUES (0, ?)').run('kept');
    migrateSqlite(db, [...MIGRATIONS, projection]);
    expect(sqliteSchemaVersion(db)).toBe(SCHEMA_VERSION + 1);
    expect(db.prepare('SELECT note FROM checkpoints').all()).toEqual([{ note: 'kept' }]);
    db.prepare("INSERT INTO holds (id) VALUES ('h1')").run();
    migrateSqlite(db, [...MIGRATIONS, projection]);
    db.close();
  });

  it('rolls back a failing migration whole, naming it', () => {
    const db = new Database(':memory:');
    migrateSqlite(db);
    const broken: Migration = { ...projection, sqlite: 'CREATE TABLE half (id TEXT); CREATE TABLE oops (' };
    expect(() => migrateSqlite(db, [...MIGRATIONS, broken])).toThrow(expect.objectContaining({ code: 'MIGRATION_FAILED', message: expect.stringContaining('`projection`') }));
    expect(sqliteSchemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
    db.close();
  });

  it('refuses a list that is not numbered in order', () => {
    const db = new Database(':memory:');
    expect(() => migrateSqlite(db, [...MIGRATIONS, { ...projection, version: SCHEMA_VERSION + 2 }])).toThrow(expect.objectContaining({ code: 'MIGRATION_FAILED' }));
    db.close();
  });
});
