/**
 * The authoring API of a Pond (`import { ripple } from 'duckstring/pond'`). This file is bundled
 * into every Pond's Ripple bundle, so it must stay free of runtime dependencies: types plus one
 * small function. Ripples are recognised by a global-registry symbol rather than `instanceof`,
 * because the bundled copy and the runtime's copy of this module are different module instances.
 */

/** Marks objects made by `ripple()`. */
export const RIPPLE_BRAND: unique symbol = Symbol.for('duckstring.ripple');

/** A value bound to a `$1` / `$name` parameter in `ctx.sql`. Dates bind as TIMESTAMPTZ. */
export type SqlValue = string | number | boolean | bigint | null | Date;
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue>>;

/**
 * One result row. Values are plain JS: BIGINT/HUGEINT → bigint, DECIMAL/DOUBLE → number,
 * DATE/TIMESTAMP → Date, LIST → array, STRUCT → object, NULL → null.
 */
export type Row = Record<string, unknown>;

export interface RippleLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a running Ripple can do. One context per Ripple attempt. */
export interface RippleContext {
  /** The Pond's name. */
  readonly pond: string;
  /** This Ripple's name. */
  readonly ripple: string;
  /** The freshness this run brings the Pond to. */
  readonly f: Date;
  /** The freshness of the previous successful run, `null` on the first. */
  readonly previousF: Date | null;
  /**
   * Runs one SQL statement on the Pond's registry and returns its rows. Sources resolve as
   * `source.table` (their snapshot as of `f`); data files shipped in the Pond resolve relative to
   * the Pond's root (`read_csv('data/x.csv')`).
   */
  sql<T extends Row = Row>(query: string, params?: SqlParams): Promise<T[]>;
  /**
   * Names a Source's published table (`'source.table'`) as a relation usable inside `sql()`.
   * Throws when the Source is not declared or has no such table.
   */
  readTable(ref: string): string;
  /**
   * Replaces table `name` with the result of `selectSql`, atomically: readers see the old table or
   * the new one, and a failing query leaves the old one. `name` must be one of the Ripple's
   * declared `tables`. Concurrent writes to one table queue.
   */
  writeTable(name: string, selectSql: string, params?: SqlParams): Promise<{ rows: number }>;
  /** Absolute path of a data file shipped inside the Pond (`relPath` is relative to its root). */
  file(relPath: string): string;
  readonly log: RippleLogger;
}

export interface RippleDefinition {
  /** Lowercase identifier, unique in the Pond. */
  name: string;
  /** Ripples of this Pond that must finish first, by name or by the object `ripple()` returned. */
  parents?: ReadonlyArray<string | Ripple>;
  /** Tables this Ripple writes with `writeTable`; defaults to `[name]`. */
  tables?: readonly string[];
  run(ctx: RippleContext): Promise<void> | void;
}

export interface Ripple {
  readonly [RIPPLE_BRAND]: true;
  readonly name: string;
  readonly parents: readonly string[];
  readonly tables: readonly string[];
  readonly run: (ctx: RippleContext) => Promise<void> | void;
}

/** Declares a Ripple. Export the result from a module under `ripples/`. */
export function ripple(definition: RippleDefinition): Ripple {
  const parents = (definition.parents ?? []).map((p) => (typeof p === 'string' ? p : p?.name));
  return Object.freeze({
    [RIPPLE_BRAND]: true as const,
    name: definition.name,
    parents,
    tables: definition.tables ? [...definition.tables] : [definition.name],
    run: definition.run,
  });
}

export function isRipple(value: unknown): value is Ripple {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RIPPLE_BRAND] === true
  );
}
