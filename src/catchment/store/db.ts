/**
 * Opening duck.db: pragmas, then forward-only migrations, each in its own transaction. A database whose
 * schema is newer than this build is refused rather than opened, because old code writing a newer schema
 * could silently break its invariants.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { SchemaTooNewError, StoreError } from './errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { SqlRunner } from './sql.js';

export type Db = Database.Database;

export interface OpenOptions {
  /** Defaults to the real schema; tests pass their own lists to exercise the runner. */
  migrations?: readonly Migration[];
  busyTimeoutMs?: number;
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const migrations = options.migrations ?? MIGRATIONS;
  checkMigrationList(migrations);
  const db = new Database(file);
  try {
    // The system of record holds key hashes and history: owner-only, like the root.
    fs.chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL loses at most the last commits on power loss, never consistency.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    migrate(db, migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (!Number.isInteger(m.id) || m.id !== i + 1) {
      throw new StoreError(`migration list must be numbered 1..n in order; position ${i} has id ${m.id}`);
    }
  });
}

/** Applies every migration not yet recorded; returns the ids applied now. */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const sql = new SqlRunner(db);
  const applied = sql.all(sql.build.selectFrom('schema_migrations').select(['id', 'name']).orderBy('id'));
  const newest = applied.at(-1)?.id ?? 0;
  if (newest > migrations.length) {
    throw new SchemaTooNewError(
      `${db.name} has schema version ${newest}, but this build knows only up to ${migrations.length}; ` +
        'upgrade duckstring (or restore a backup made by this version) before opening it',
    );
  }
  for (const row of applied) {
    const known = migrations[row.id - 1];
    if (!known || known.name !== row.name) {
      throw new StoreError(
        `${db.name} records migration ${row.id} as "${row.name}", but this build calls it "${known?.name}"; ` +
          'the database was written by an incompatible build',
      );
    }
  }
  const done = new Set(applied.map((r) => r.id));
  const now: number[] = [];
  for (const m of migrations) {
    if (done.has(m.id)) continue;
    sql.transaction(() => {
      db.exec(m.sql);
      sql.run(
        sql.build.insertInto('schema_migrations').values({ id: m.id, name: m.name, applied_at: Date.now() }),
      );
    });
    now.push(m.id);
  }
  return now;
}
