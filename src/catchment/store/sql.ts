/**
 * Typed SQL over better-sqlite3. Kysely is used only as a query builder: queries are compiled to SQL text
 * and run synchronously here, because the store's callers rely on synchronous calls (a better-sqlite3
 * transaction must not await) and Kysely's own SQLite driver is asynchronous.
 */

import type Database from 'better-sqlite3';
import {
  type Compilable,
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { z } from 'zod';
import type { Db } from './db.js';
import { StoreError } from './errors.js';
import type { DuckDbTables } from './tables.js';

/** Builds (never runs) queries against duck.db's tables; stateless, so one instance serves every store. */
export const queryBuilder = new Kysely<DuckDbTables>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});

export type QueryBuilder = typeof queryBuilder;

type Statement = Database.Statement<unknown[]>;

export class SqlRunner {
  readonly build: QueryBuilder = queryBuilder;
  /** Prepared once per SQL text: history upserts and Duck updates are hot paths. */
  private readonly statements = new Map<string, Statement>();

  constructor(readonly db: Db) {}

  /**
   * Every row of a query. The one place rows are typed: `O` is what Kysely derived from the query and
   * `DuckDbTables`, and better-sqlite3 returns exactly the selected columns.
   */
  all<O>(query: Compilable<O>): O[] {
    const c = query.compile();
    return this.prepare(c.sql).all(...parameters(c)) as O[];
  }

  /** The first row of a query, or undefined. */
  first<O>(query: Compilable<O>): O | undefined {
    const c = query.compile();
    return this.prepare(c.sql).get(...parameters(c)) as O | undefined;
  }

  /** Runs a write; returns how many rows it changed. */
  run(query: Compilable<unknown>): number {
    const c = query.compile();
    return this.prepare(c.sql).run(...parameters(c)).changes;
  }

  /** Runs `fn` in a transaction (a savepoint when nested): it commits if `fn` returns, rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  private prepare(text: string): Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }
}

/** Kysely hands out a read-only list; better-sqlite3 binds from a plain array. */
function parameters(c: { parameters: readonly unknown[] }): unknown[] {
  return [...c.parameters];
}

/**
 * Parses a JSON column the store wrote itself. A value that fails is a damaged database, not bad input,
 * so it is a StoreError (a server fault), never a ValidationError.
 */
export function decodeJsonColumn<S extends z.ZodTypeAny>(what: string, schema: S, text: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StoreError(`stored ${what} is not valid JSON`);
  }
  const r = schema.safeParse(value);
  if (!r.success)
    throw new StoreError(`stored ${what} has an unexpected shape: ${r.error.issues[0]?.message}`);
  return r.data;
}
