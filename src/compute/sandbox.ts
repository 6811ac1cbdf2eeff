/**
 * Throwaway, locked-down DuckDB instances for running one query each.
 *
 * Why one instance per query rather than one shared instance with pooled connections: DuckDB's
 * file allow-list (`allowed_paths`) and `lock_configuration` are instance-wide and can be set only
 * once (node-stack.md §4), and attached catalogs/views are shared by every connection of an
 * instance. A fresh instance per query is the only way to confine a query to exactly the snapshot
 * files it may read and to give it its own `pond.table` names. Creating an instance costs ~15 ms,
 * so a few are created ahead of time (`SandboxPool`); the per-query setup is then ~2 ms.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '../shared/duckdb.js';
import { quoteIdentifier, quoteString } from './sql-text.js';

export interface SandboxSettings {
  /** The only files the query may read (absolute paths). */
  allowedPaths: readonly string[];
  threads: number;
  /** DuckDB size string, e.g. '1GiB'. */
  memoryLimit: string;
  /** Where DuckDB may spill; '' disables spilling (the query fails with an out-of-memory error instead). */
  tempDirectory: string;
}

/** A view to expose: `schema.name` over `read_parquet(file)`. */
export interface SandboxView {
  schema: string;
  name: string;
  file: string;
}

function createInstance(): Promise<DuckDBInstance> {
  return DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
  });
}

/** Keeps `spares` fresh instances ready so a query does not pay for instance creation. */
export class SandboxPool {
  private readonly ready: Promise<DuckDBInstance>[] = [];
  private closed = false;

  constructor(private readonly spares: number) {
    this.refill();
  }

  /** A never-used instance; the caller owns it and must close it. */
  async take(): Promise<DuckDBInstance> {
    if (this.closed) throw new Error('sandbox pool is closed');
    const next = this.ready.shift();
    this.refill();
    if (next) {
      const instance = await next.catch(() => null);
      if (instance) return instance;
    }
    return createInstance();
  }

  private refill(): void {
    while (!this.closed && this.ready.length < this.spares) {
      const pending = createInstance();
      pending.catch(() => undefined);
      this.ready.push(pending);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const spares = this.ready.splice(0);
    for (const pending of spares) {
      const instance = await pending.catch(() => null);
      instance?.closeSync();
    }
  }
}

/**
 * Applies limits, confines file access to `allowedPaths`, disables extension loading and locks the
 * configuration so the query cannot undo any of it (SET fails afterwards, COPY/ATTACH to files,
 * read_* outside the list, INSTALL and LOAD all raise Permission errors).
 */
export async function lockDown(connection: DuckDBConnection, settings: SandboxSettings): Promise<void> {
  const statements = [
    `SET threads = ${Math.trunc(settings.threads)}`,
    `SET memory_limit = ${quoteString(settings.memoryLimit)}`,
    `SET temp_directory = ${quoteString(settings.tempDirectory)}`,
    // A query without ORDER BY has no order to keep; keeping it would force the governed subquery's
    // LIMIT barrier (see src/governance/rewrite.ts) onto one thread.
    'SET preserve_insertion_order = false',
  ];
  if (settings.allowedPaths.length > 0) {
    statements.push(`SET allowed_paths = [${settings.allowedPaths.map(quoteString).join(', ')}]`);
  }
  statements.push('SET enable_external_access = false', 'SET lock_configuration = true');
  await connection.run(statements.join('; '));
}

/** Creates one schema per qualifier and a view per table over its exact snapshot file. */
export async function createViews(
  connection: DuckDBConnection,
  views: readonly SandboxView[],
): Promise<void> {
  if (views.length === 0) return;
  const schemas = [...new Set(views.map((v) => v.schema))];
  const statements = [
    ...schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(s)}`),
    ...views.map(
      (v) =>
        `CREATE VIEW ${quoteIdentifier(v.schema)}.${quoteIdentifier(v.name)} AS SELECT * FROM read_parquet(${quoteString(v.file)})`,
    ),
  ];
  await connection.run(statements.join('; '));
}
