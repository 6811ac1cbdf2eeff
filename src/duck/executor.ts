/**
 * Runs one Ripple against a connection on the Pond's registry (`registry.duckdb`).
 *
 * - A `.sql` Ripple becomes `CREATE OR REPLACE TABLE <name> AS <select>`: one statement, so the
 *   table is replaced atomically and a failing query leaves the old one.
 * - A TS Ripple's `run(ctx)` runs in the Pond's Ripple host, a sandboxed child process (see
 *   ripple-host.ts); its `ctx.sql`, `ctx.writeTable` and `ctx.log` come back here and run on `conn`.
 *
 * Sources: each execution ATTACHes a private in-memory catalog holding one schema per Source and
 * one view per published table (over the snapshot's Parquet file), and puts those schemas on this
 * connection's `search_path`. So `transactions.transaction` resolves to the snapshot this run was
 * given, per connection — two runs at different freshness in one process each see their own
 * snapshot. The catalog is detached and the connection's settings reset afterwards.
 *
 * Also per connection: `file_search_path` is the Pond's directory (so `read_csv('data/x.csv')`
 * reads a file shipped in the Pond; a sandboxed registry has it set once, globally, see sandbox.ts)
 * and the variables `duckstring_f` / `duckstring_previous_f` (TIMESTAMPTZ, for `getvariable(...)`
 * in SQL Ripples).
 */
import path from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../pond/names.js';
import type { RippleLogger, SqlParams, SqlValue } from '../pond/sdk.js';
import { timestampTZValueFromDate } from '../shared/duckdb.js';
import type { LoadedPond, LoadedRipple } from './loader.js';
import { missingSnapshot, type PublishedTables } from './published.js';
import { HostRunFailure, RippleHost } from './ripple-host-client.js';
import { DEFAULT_WRITE_RETRY, type RetryPolicy, retryOnConflict, withKeyLock } from './write-queue.js';

export interface ExecuteRippleInput {
  /** Used by this Ripple alone for the duration of the call. */
  conn: DuckDBConnection;
  pond: LoadedPond;
  ripple: LoadedRipple | string;
  f: Date;
  previousF: Date | null;
  /** `'source.table'` → absolute path of that table's published Parquet snapshot as of `f`. */
  sources: Readonly<Record<string, string>>;
  log?: RippleLogger;
  writeRetry?: RetryPolicy;
}

export interface TableWrite {
  name: string;
  rows: number;
}

export interface RippleRunResult {
  ripple: string;
  durationMs: number;
  /** Tables written, in write order (a table written twice appears once, with its last row count). */
  tables: TableWrite[];
}

/** A Ripple failed: its own error (a throw, a bad query), not the runtime's. */
export class RippleError extends Error {
  constructor(
    readonly ripple: string,
    readonly file: string,
    /** The underlying error's message. */
    readonly detail: string,
    /** The underlying error's stack (source-mapped to the Ripple's .ts file where possible). */
    readonly rippleStack: string | undefined,
  ) {
    super(`Ripple "${ripple}" (${file}) failed: ${detail}`);
    this.name = 'RippleError';
  }
}

const silentLog: RippleLogger = { info() {}, warn() {}, error() {} };
let catalogCounter = 0;

export async function executeRipple(input: ExecuteRippleInput): Promise<RippleRunResult> {
  const { conn, pond } = input;
  const ripple =
    typeof input.ripple === 'string' ? pond.ripples.find((r) => r.name === input.ripple) : input.ripple;
  if (!ripple) throw new Error(`Pond "${pond.manifest.name}" has no Ripple "${String(input.ripple)}"`);
  const started = performance.now();
  const registry = await currentDatabase(conn);
  const catalog = `_duckstring_sources_${process.pid}_${++catalogCounter}`;
  const published = publishedTables(pond, input.sources);
  let failed = true;
  try {
    await prepareConnection(conn, registry, catalog, published, pond.dir, input.f, input.previousF);
    const writes = new Map<string, number>();
    const write = async (table: string, selectSql: string, params?: SqlParams): Promise<number> => {
      const rows = await replaceTable(conn, registry, table, selectSql, params, input.writeRetry);
      writes.delete(table);
      writes.set(table, rows);
      return rows;
    };
    if (ripple.kind === 'sql') await runSqlRipple(ripple, published, write);
    else await runTsRipple(ripple, input, published, write);
    failed = false;
    return {
      ripple: ripple.name,
      durationMs: performance.now() - started,
      tables: [...writes].map(([name, rows]) => ({ name, rows })),
    };
  } finally {
    // After a failure the original error matters more than a failed reset, which it may have caused.
    await restoreConnection(conn, catalog).catch((err) => {
      if (!failed) throw err;
    });
  }
}

interface Database {
  name: string;
  /** File path of the database, the identity used for write queues. */
  path: string;
}

async function currentDatabase(conn: DuckDBConnection): Promise<Database> {
  const reader = await conn.runAndReadAll(
    'SELECT database_name AS name, coalesce(path, database_name) AS path FROM duckdb_databases() WHERE database_name = current_database()',
  );
  const row = reader.getRowObjectsJS()[0];
  return { name: String(row?.name), path: String(row?.path) };
}

/** Source name → table name → Parquet path, for the Sources the Pond declares. */
function publishedTables(
  pond: LoadedPond,
  sources: Readonly<Record<string, string>>,
): Map<string, Map<string, string>> {
  const bySource = new Map<string, Map<string, string>>(
    pond.manifest.sources.map((s) => [s.name, new Map()]),
  );
  for (const [ref, file] of Object.entries(sources)) {
    const [source, table, ...rest] = ref.split('.');
    if (!source || !table || rest.length > 0)
      throw new Error(`source snapshot key "${ref}" is not "source.table"`);
    const tables = bySource.get(source);
    if (!tables) continue; // Not a Source of this Pond: never exposed.
    if (!path.isAbsolute(file)) throw new Error(`snapshot of ${ref} must be an absolute path, got "${file}"`);
    tables.set(table, file);
  }
  return bySource;
}

async function prepareConnection(
  conn: DuckDBConnection,
  registry: Database,
  catalog: string,
  published: Map<string, Map<string, string>>,
  pondDir: string,
  f: Date,
  previousF: Date | null,
): Promise<void> {
  const searchPath = [`${quoteIdent(registry.name)}.main`];
  await conn.run(`ATTACH ':memory:' AS ${quoteIdent(catalog)}`);
  for (const [source, tables] of published) {
    if (tables.size === 0) continue;
    await conn.run(`CREATE SCHEMA ${quoteIdent(catalog)}.${quoteIdent(source)}`);
    for (const [table, file] of tables) {
      try {
        await conn.run(
          `CREATE VIEW ${quoteIdent(catalog)}.${quoteIdent(source)}.${quoteIdent(table)} AS SELECT * FROM read_parquet(${quoteLiteral(file)})`,
        );
      } catch (err) {
        throw new Error(`snapshot of ${source}.${table} cannot be read (${file}): ${(err as Error).message}`);
      }
    }
    searchPath.push(`${quoteIdent(catalog)}.${quoteIdent(source)}`);
  }
  await conn.run(`SET search_path = ${quoteLiteral(searchPath.join(','))}`);
  // A sandboxed registry has it already, and locked; only an open one needs it per connection.
  const current = await conn.runAndReadAll("SELECT current_setting('file_search_path') AS p");
  if (current.getRowObjectsJS()[0]?.p !== pondDir) {
    await conn.run(`SET file_search_path = ${quoteLiteral(pondDir)}`);
    setsFileSearchPath.add(conn);
  }
  await conn.run(`SET VARIABLE duckstring_f = ${timestampLiteral(f)}`);
  await conn.run(
    `SET VARIABLE duckstring_previous_f = ${previousF ? timestampLiteral(previousF) : 'NULL::TIMESTAMPTZ'}`,
  );
}

/** Connections whose `file_search_path` this execution set (and must reset). */
const setsFileSearchPath = new WeakSet<DuckDBConnection>();

async function restoreConnection(conn: DuckDBConnection, catalog: string): Promise<void> {
  await conn.run(`DETACH DATABASE IF EXISTS ${quoteIdent(catalog)}`);
  await conn.run('RESET search_path');
  if (setsFileSearchPath.delete(conn)) await conn.run('RESET file_search_path');
  await conn.run('RESET VARIABLE duckstring_f');
  await conn.run('RESET VARIABLE duckstring_previous_f');
}

function timestampLiteral(d: Date): string {
  return `TIMESTAMPTZ ${quoteLiteral(d.toISOString())}`;
}

function toDuckValue(value: SqlValue): DuckDBValue {
  return value instanceof Date ? timestampTZValueFromDate(value) : value;
}

function toDuckParams(
  params: SqlParams | undefined,
): DuckDBValue[] | Record<string, DuckDBValue> | undefined {
  if (params === undefined) return undefined;
  if (Array.isArray(params)) return params.map(toDuckValue);
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, toDuckValue(v as SqlValue)]));
}

/** `CREATE OR REPLACE TABLE … AS …`, queued behind other writes to the same table, retried on conflict. */
async function replaceTable(
  conn: DuckDBConnection,
  registry: Database,
  table: string,
  selectSql: string,
  params: SqlParams | undefined,
  retry: RetryPolicy = DEFAULT_WRITE_RETRY,
): Promise<number> {
  const target = `${quoteIdent(registry.name)}.main.${quoteIdent(table)}`;
  // The newline keeps a trailing `-- comment` in the query from swallowing anything we append.
  const statement = `CREATE OR REPLACE TABLE ${target} AS\n${selectSql}\n`;
  const values = toDuckParams(params);
  return withKeyLock(`${registry.path}\u0000${table}`, () =>
    retryOnConflict(async () => {
      const reader = await conn.runAndReadAll(statement, values);
      return Number(reader.getRowObjectsJS()[0]?.Count ?? 0);
    }, retry),
  );
}

type Write = (table: string, selectSql: string, params?: SqlParams) => Promise<number>;

/** Source → table names (the view of `published` the Ripple host gets: no paths). */
function tableNames(published: Map<string, Map<string, string>>): PublishedTables {
  return new Map([...published].map(([source, tables]) => [source, [...tables.keys()]]));
}

async function runSqlRipple(ripple: LoadedRipple, published: Map<string, Map<string, string>>, write: Write) {
  for (const ref of ripple.sourceReads) {
    const problem = missingSnapshot(ref, tableNames(published));
    if (problem) throw new RippleError(ripple.name, ripple.file, `reads ${ref}, but ${problem}`, undefined);
  }
  try {
    await write(ripple.name, ripple.sql ?? '');
  } catch (err) {
    throw new RippleError(ripple.name, ripple.file, errorMessage(err), undefined);
  }
}

/** One Ripple host per loaded Pond, started on its first TS Ripple and kept for the next ones. */
const hosts = new WeakMap<LoadedPond, Promise<RippleHost>>();

async function hostFor(pond: LoadedPond): Promise<RippleHost> {
  const existing = hosts.get(pond);
  if (existing) {
    const host = await existing.catch(() => null);
    if (host?.alive) return host;
  }
  if (!pond.bundleFile) throw new Error(`Pond "${pond.manifest.name}" has no TypeScript Ripples`);
  const bundleFile = pond.bundleFile;
  const started = RippleHost.start(pond.dir, bundleFile, (message) =>
    process.stderr.write(`${JSON.stringify({ time: Date.now(), pond: pond.manifest.name, msg: message })}\n`),
  ).then(({ host }) => host);
  hosts.set(pond, started);
  return started;
}

/** Stops the Pond's Ripple host, if one runs (a runner closing, a local run ending). */
export async function closeRippleHost(pond: LoadedPond): Promise<void> {
  const host = await hosts.get(pond)?.catch(() => null);
  hosts.delete(pond);
  host?.close();
}

async function runTsRipple(
  ripple: LoadedRipple,
  input: ExecuteRippleInput,
  published: Map<string, Map<string, string>>,
  write: Write,
): Promise<void> {
  const { conn, pond } = input;
  const log = input.log ?? silentLog;
  let host: RippleHost;
  try {
    host = await hostFor(pond);
  } catch (err) {
    // The modules loaded at deploy but not now (a throw at top level, a sandbox refusal): the Ripple's.
    if (err instanceof HostRunFailure)
      throw new RippleError(
        ripple.name,
        ripple.file,
        `loading the Ripple modules failed: ${err.message}`,
        undefined,
      );
    throw err;
  }
  try {
    await host.run(
      {
        ripple: ripple.name,
        tables: ripple.tables,
        pond: pond.manifest.name,
        f: input.f,
        previousF: input.previousF,
        published: [...tableNames(published)].map(([source, tables]) => [source, [...tables]]),
      },
      {
        sql: async (query, params) =>
          (await conn.runAndReadAll(query, toDuckParams(params))).getRowObjectsJS(),
        write: (table, selectSql, params) => write(table, selectSql, params),
        log: (level, message, fields) => log[level](message, fields),
      },
    );
  } catch (err) {
    if (err instanceof HostRunFailure)
      throw new RippleError(ripple.name, ripple.file, err.message, err.rippleStack);
    throw err;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : `threw a non-Error value: ${String(err)}`;
}

export interface ExportedTable {
  table: string;
  /** The Parquet file written: `<outDir>/<table>.parquet`. */
  file: string;
  rows: number;
  columns: Array<{ name: string; type: string }>;
}

/** Column names with this prefix belong to the runtime and are refused at publish. */
export const RESERVED_COLUMN_PREFIX = '_duckstring_';

/**
 * Writes each table of the connection's current database to `<outDir>/<table>.parquet` (zstd).
 * Throws if a table is missing or uses a reserved column name (nothing of that table is written).
 */
export async function exportTables(
  conn: DuckDBConnection,
  tables: readonly string[],
  outDir: string,
): Promise<ExportedTable[]> {
  const registry = await currentDatabase(conn);
  const exported: ExportedTable[] = [];
  for (const table of tables) {
    const reader = await conn.runAndReadAll(
      `SELECT column_name AS name, data_type AS type FROM duckdb_columns()
       WHERE database_name = current_database() AND schema_name = 'main' AND table_name = $1 ORDER BY column_index`,
      [table],
    );
    const columns = reader.getRowObjectsJS().map((c) => ({ name: String(c.name), type: String(c.type) }));
    if (columns.length === 0)
      throw new Error(`cannot export table "${table}": it does not exist in the registry`);
    const reserved = columns.find((c) => c.name.toLowerCase().startsWith(RESERVED_COLUMN_PREFIX));
    if (reserved) {
      throw new Error(
        `cannot export table "${table}": column "${reserved.name}" uses the reserved prefix ${RESERVED_COLUMN_PREFIX}`,
      );
    }
    const file = path.join(outDir, `${table}.parquet`);
    const result = await conn.run(
      `COPY ${quoteIdent(registry.name)}.main.${quoteIdent(table)} TO ${quoteLiteral(file)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    exported.push({ table, file, rows: result.rowsChanged, columns });
  }
  return exported;
}
