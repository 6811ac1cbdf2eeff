/**
 * Runs one query over published snapshots.
 *
 * Input is already-rewritten SQL plus the snapshot files it may read (`tables`: 'pond.table' or
 * 'pond@2.table' → absolute Parquet path). The caller resolves each Pond's manifest once per query
 * (queryTablesFromManifest) so the query reads one published version. The executor leases those
 * files for the duration (garbage collection skips them), runs the query in a fresh locked-down
 * DuckDB instance that can read exactly those files (sandbox.ts), and converts the result with
 * full type fidelity (results.ts).
 */
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance, DuckDBPreparedStatement } from '@duckdb/node-api';
import { z } from 'zod';
import { StatementType } from '../shared/duckdb.js';
import { DomainError } from '../shared/errors.js';
import { FairScheduler } from '../shared/fair-scheduler.js';
import { IDENTIFIER_SOURCE, isDuckdbReservedName, POND_REF_SOURCE } from '../shared/ids.js';
import { SnapshotLeases } from './leases.js';
import { exportParquet as exportParquetFile } from './parquet.js';
import {
  type ColumnInfo,
  type ConvertedResult,
  converterFor,
  type JsonValue,
  readResult,
  typeName,
} from './results.js';
import { createViews, lockDown, SandboxPool, type SandboxView } from './sandbox.js';
import { linkSnapshots } from './snapshot-links.js';
import { quoteString } from './sql-text.js';

export type QueryErrorCode =
  | 'invalid_request'
  | 'invalid_sql'
  | 'unknown_table'
  | 'not_allowed'
  | 'snapshot_unavailable'
  | 'timeout'
  | 'resource_limit'
  | 'execution_failed';

/** Messages are written for the caller, so even the 503 (snapshot_unavailable) shows its message. */
export class QueryError extends DomainError {
  declare readonly code: QueryErrorCode;

  constructor(
    code: QueryErrorCode,
    message: string,
    /** DuckDB's original message when `message` paraphrases it (kept for the log, not sent). */
    readonly detail?: string,
  ) {
    super({ code, httpStatus: httpStatusForQueryError(code), message, expose: true });
  }
}

/** Suggested HTTP status per error code, for the API layer. */
export function httpStatusForQueryError(code: QueryErrorCode): number {
  switch (code) {
    case 'invalid_request':
    case 'invalid_sql':
    case 'execution_failed':
      return 400;
    case 'unknown_table':
      // Like the governance refusal: one answer for "does not exist" and "may not see".
      return 404;
    case 'not_allowed':
      return 403;
    case 'timeout':
      return 408;
    case 'resource_limit':
      return 422;
    case 'snapshot_unavailable':
      return 503;
  }
}

const limitsSchema = z
  .object({
    maxRows: z.number().int().positive().optional(),
    timeoutMs: z.number().int().positive().optional(),
    memoryLimit: z
      .string()
      .regex(
        /^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i,
        "memoryLimit is a size like '512MiB' or '2GB'",
      )
      .optional(),
    threads: z.number().int().min(1).max(64).optional(),
  })
  .strict();

export type QueryLimits = z.infer<typeof limitsSchema>;

export interface QueryRequest {
  /** 'pond.table' or 'pond@2.table' → absolute path of the published Parquet file to read. */
  tables: ReadonlyMap<string, string>;
  limits?: QueryLimits;
  /** Who runs it: query slots are shared round-robin between principals (fair-scheduler.ts). */
  principal?: string;
  /**
   * Honoured by `stream`: aborting stops the query (waiting: dropped; running: DuckDB interrupted)
   * and it fails with execution_failed "the query was canceled".
   */
  signal?: AbortSignal;
}

export type QueryResult = ConvertedResult;

export interface QueryExecutorOptions {
  /** Shared with garbage collection so it never deletes a file being read. */
  leases?: SnapshotLeases;
  /** Queries running at once; more wait their turn. Default 2 (one per core on our machines). */
  maxConcurrent?: number;
  /** Queries one principal may run at once; default maxConcurrent − 1 (at least 1). */
  maxRunningPerPrincipal?: number;
  /** Instances created ahead of time; default maxConcurrent. */
  warmInstances?: number;
  /** Limits for requests that do not set their own. */
  defaults?: QueryLimits;
  /** Directory DuckDB may spill to; unset means no spilling (memory_limit is a hard cap). */
  tempDirectory?: string;
  /**
   * Where each query's private links to its snapshot files live (snapshot-links.ts); on the
   * snapshots' filesystem so they are hard links. Default: the OS temp directory.
   */
  linkDirectory?: string;
  /**
   * Told of each query's DuckDB instance while it runs (a worker sums their memory for its health
   * report); the returned function is awaited before the instance closes.
   */
  onInstance?: (instance: DuckDBInstance) => () => Promise<void>;
}

/** Receives a streamed result (see QueryExecutor.stream). */
export interface RowSink {
  /** Called once, before any row. */
  columns(columns: ColumnInfo[]): Promise<void>;
  /** One converted DuckDB chunk; the next chunk is read only once this resolves (backpressure). */
  rows(rows: JsonValue[][]): Promise<void>;
}

/** What a query may use when its request sets no limit (a remote run sends the same). */
export const DEFAULT_LIMITS: Required<QueryLimits> = {
  maxRows: 100_000,
  timeoutMs: 30_000,
  memoryLimit: '1GiB',
  threads: 2,
};

/** Names DuckDB already uses for catalogs/schemas; a Pond with such a name cannot be exposed. */
/** How often a stopped query's connection is interrupted again until its work returns. */
const REINTERRUPT_MS = 50;

const TABLE_KEY = new RegExp(`^(${POND_REF_SOURCE}(?:@[0-9]+)?)\\.(${IDENTIFIER_SOURCE})$`);

/** Known DuckDB error classes caused by the query text itself. */
const USER_ERROR =
  /^(Parser|Binder|Catalog|Conversion|Invalid Input|Out of Range|Not implemented|Syntax|Constraint|Dependency|Mismatch Type|Invalid type|Type) Error/;

interface ResolvedTable extends SandboxView {
  key: string;
}

export class QueryExecutor {
  readonly leases: SnapshotLeases;
  /** Query slots, shared round-robin between principals; one principal never holds them all. */
  readonly slots: FairScheduler;
  private readonly pool: SandboxPool;
  private readonly defaults: Required<QueryLimits>;
  private readonly tempDirectory: string;
  private readonly linkDirectory: string | undefined;
  private readonly onInstance: QueryExecutorOptions['onInstance'];

  constructor(options: QueryExecutorOptions = {}) {
    const maxConcurrent = options.maxConcurrent ?? 2;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new QueryError('invalid_request', 'maxConcurrent must be a positive integer');
    }
    this.leases = options.leases ?? new SnapshotLeases();
    this.slots = new FairScheduler({
      slots: maxConcurrent,
      ...(options.maxRunningPerPrincipal ? { maxRunningPerPrincipal: options.maxRunningPerPrincipal } : {}),
    });
    this.pool = new SandboxPool(options.warmInstances ?? maxConcurrent);
    this.defaults = { ...DEFAULT_LIMITS, ...parseLimits(options.defaults) };
    this.tempDirectory = options.tempDirectory ?? '';
    this.linkDirectory = options.linkDirectory;
    this.onInstance = options.onInstance;
  }

  /**
   * What every entry point does before running: its limits, the files it may read, and a lease on
   * them — taken before anything async so a concurrent garbage collection cannot take them away.
   */
  private admit(request: QueryRequest): {
    limits: Required<QueryLimits>;
    tables: ResolvedTable[];
    release: () => void;
  } {
    const limits = { ...this.defaults, ...parseLimits(request.limits) };
    const tables = resolveTables(request.tables);
    return { limits, tables, release: this.leases.acquire(tables.map((t) => t.file)) };
  }

  async execute(sql: string, request: QueryRequest): Promise<QueryResult> {
    requireSql(sql);
    const { limits, tables, release } = this.admit(request);
    try {
      return await this.inSlot(request.principal, limits, (remaining) =>
        this.sandboxed(tables, remaining, [], async (connection, progress) => {
          const statement = await prepareSingleSelect(connection, sql).catch((error: unknown) => {
            throw qualifyUnknownTable(toQueryError(error, null, 'bind'), connection, sql);
          });
          progress.executing();
          const result = await statement.stream();
          return readResult(result, { rowCountLimit: limits.maxRows, onChunk: progress.assertInTime });
        }),
      );
    } finally {
      release();
    }
  }

  /**
   * Like `execute`, but hands the result to `sink` chunk by chunk as DuckDB produces it, so the
   * whole result is never held: same sandbox, limits, conversion and errors. A sink that throws
   * (its reader went away) stops the query.
   */
  async stream(
    sql: string,
    request: QueryRequest,
    sink: RowSink,
  ): Promise<{ row_count: number; truncated: boolean }> {
    requireSql(sql);
    const { limits, tables, release } = this.admit(request);
    try {
      return await this.inSlot(
        request.principal,
        limits,
        (remaining) =>
          this.sandboxed(
            tables,
            remaining,
            [],
            async (connection, progress) => {
              const statement = await prepareSingleSelect(connection, sql).catch((error: unknown) => {
                throw qualifyUnknownTable(toQueryError(error, null, 'bind'), connection, sql);
              });
              progress.executing();
              const result = await statement.stream();
              const columns: ColumnInfo[] = [];
              const converters: Array<ReturnType<typeof converterFor>> = [];
              for (let c = 0; c < result.columnCount; c++) {
                const type = result.columnType(c);
                columns.push({ name: result.columnName(c), type: typeName(type) });
                converters.push(converterFor(type));
              }
              await sink.columns(columns);
              let rowCount = 0;
              for (;;) {
                progress.assertInTime();
                const chunk = await result.fetchChunk();
                if (!chunk || chunk.rowCount === 0) return { row_count: rowCount, truncated: false };
                if (rowCount >= limits.maxRows) return { row_count: rowCount, truncated: true };
                const take = Math.min(chunk.rowCount, limits.maxRows - rowCount);
                const rows: JsonValue[][] = [];
                for (let r = 0; r < take; r++) rows.push(new Array<JsonValue>(columns.length));
                for (let c = 0; c < columns.length; c++) {
                  const vector = chunk.getColumnVector(c);
                  const convert = converters[c]!;
                  for (let r = 0; r < take; r++) rows[r]![c] = convert(vector.getItem(r));
                }
                rowCount += take;
                await sink.rows(rows);
                if (take < chunk.rowCount) return { row_count: rowCount, truncated: true };
              }
            },
            request.signal,
          ),
        request.signal,
      );
    } finally {
      release();
    }
  }

  /**
   * Runs `work` in a query slot of `principal`'s turn. The time limit counts from the request: a
   * query still waiting for its slot when it runs out is dropped, and `work` gets what is left.
   */
  private async inSlot<T>(
    principal: string | undefined,
    limits: Required<QueryLimits>,
    work: (remaining: Required<QueryLimits>) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const exceeded = (detail?: string) =>
      new QueryError('timeout', `query exceeded its time limit of ${limits.timeoutMs} ms`, detail);
    const waiting = new AbortController();
    const timer = setTimeout(
      () => waiting.abort(exceeded('while waiting for a query slot')),
      limits.timeoutMs,
    );
    const onCancel = () => waiting.abort(canceled());
    if (signal?.aborted) onCancel();
    signal?.addEventListener('abort', onCancel, { once: true });
    try {
      return await this.slots.run(
        (waitedMs) => {
          clearTimeout(timer);
          const timeoutMs = Math.max(1, Math.floor(limits.timeoutMs - waitedMs));
          if (timeoutMs === limits.timeoutMs) return work(limits);
          // The message names the whole limit, not what was left of it after waiting.
          return work({ ...limits, timeoutMs }).catch((error: unknown) => {
            throw error instanceof QueryError && error.code === 'timeout' ? exceeded(error.detail) : error;
          });
        },
        { ...(principal !== undefined ? { principal } : {}), signal: waiting.signal },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
    }
  }

  /**
   * Runs `work` on a fresh locked-down instance that can read exactly `tables` (through per-query
   * links, under the views the SQL names) and write only `writable`. Errors come out as QueryErrors
   * with no snapshot path in them.
   */
  private async sandboxed<T>(
    tables: ResolvedTable[],
    limits: Required<QueryLimits>,
    writable: readonly string[],
    work: (connection: DuckDBConnection, progress: SandboxProgress) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const links = await linkSnapshots(
      tables.map((t) => t.file),
      this.linkDirectory,
    ).catch((error: NodeJS.ErrnoException) => {
      const missing = tables.find((t) => error.path === t.file) ?? tables[0];
      throw new QueryError(
        'snapshot_unavailable',
        `the published snapshot of "${missing?.key ?? '?'}" is no longer available`,
      );
    });
    const views = tables.map((t, i) => ({ ...t, file: links.paths[i]! }));
    const instance = await this.pool.take();
    const untrack = this.onInstance?.(instance);
    let connection: DuckDBConnection | undefined;
    let timedOut = false;
    let phase: QueryPhase = 'bind';
    // DuckDB's interrupt stops only the statement in flight. One that lands between statements, or
    // while a statement still waits for a thread of the pool (under load, for long), is forgotten
    // when the statement starts, which then runs to its end. So once stopped, the connection is
    // interrupted again until the work returns, and every step checks before it starts.
    let stopping: NodeJS.Timeout | undefined;
    const stop = () => {
      connection?.interrupt();
      stopping ??= setInterval(() => connection?.interrupt(), REINTERRUPT_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, limits.timeoutMs);
    let cancelled = false;
    const onCancel = () => {
      cancelled = true;
      stop();
    };
    signal?.addEventListener('abort', onCancel, { once: true });
    const assertLive = () => {
      if (signal?.aborted) cancelled = true;
      if (cancelled) throw canceled();
      if (timedOut)
        throw new QueryError('timeout', `query exceeded its time limit of ${limits.timeoutMs} ms`);
    };
    try {
      connection = await instance.connect();
      assertLive();
      await lockDown(connection, {
        allowedPaths: [...views.map((v) => v.file), ...writable],
        threads: limits.threads,
        memoryLimit: limits.memoryLimit,
        tempDirectory: this.tempDirectory,
      });
      try {
        await createViews(connection, views);
      } catch (error) {
        throw new QueryError(
          'snapshot_unavailable',
          'a published snapshot could not be opened',
          (error as Error).message,
        );
      }
      assertLive();
      const result = await work(connection, {
        executing: () => {
          assertLive();
          phase = 'execute';
        },
        assertInTime: assertLive,
      });
      assertLive();
      return result;
    } catch (error) {
      if (cancelled) throw canceled();
      throw scrubbed(toQueryError(error, timedOut ? limits.timeoutMs : null, phase), links.scrub);
    } finally {
      clearTimeout(timer);
      clearInterval(stopping);
      signal?.removeEventListener('abort', onCancel);
      connection?.closeSync();
      await untrack?.();
      instance.closeSync();
      await links.release();
    }
  }

  /** Disposes the warm instances. Queries already running finish normally. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /**
   * Writes the whole result of one governed SELECT to a Parquet file, for an async query
   * (src/catchment/async/): the slot, sandbox, time limit and cancel signal of `stream`, no row
   * limit. 128-bit integers are written exactly (parquet.ts), and the columns come back with the
   * SQL type each one must be read back as, so a page of the file is typed like `execute`'s answer.
   */
  async exportResult(
    sql: string,
    request: QueryRequest,
    destination: string,
  ): Promise<{ row_count: number; columns: ExportedColumn[] }> {
    requireSql(sql);
    requireParquetDestination(destination);
    const target = path.resolve(destination);
    const { limits, tables, release } = this.admit(request);
    try {
      return await this.inSlot(
        request.principal,
        limits,
        (remaining) =>
          this.sandboxed(
            tables,
            remaining,
            [target],
            async (connection, progress) => {
              const statement = await prepareSingleSelect(connection, sql).catch((error: unknown) => {
                throw qualifyUnknownTable(toQueryError(error, null, 'bind'), connection, sql);
              });
              const columns: ExportedColumn[] = [];
              for (let c = 0; c < statement.columnCount; c++) {
                const type = statement.columnType(c);
                columns.push({
                  name: statement.columnName(c),
                  type: typeName(type),
                  sql_type: type.toString(),
                });
              }
              statement.destroySync();
              progress.executing();
              const rows = await exportParquetFile(connection, sql, target);
              return { row_count: rows, columns };
            },
            request.signal,
          ),
        request.signal,
      );
    } finally {
      release();
    }
  }

  /**
   * Writes the result of one (governed) SELECT to a Parquet file: a Pond's input, materialised for
   * its line's principal (src/catchment/governed-inputs.ts). Same sandbox as `execute`: the query
   * may read only `request.tables` and the only file it may write is `destination`.
   */
  async exportParquet(sql: string, request: QueryRequest, destination: string): Promise<{ rows: number }> {
    requireSql(sql);
    requireParquetDestination(destination);
    const { limits, tables, release } = this.admit(request);
    try {
      const target = path.resolve(destination);
      return await this.slots.run(() =>
        this.sandboxed(tables, limits, [target], async (connection, progress) => {
          // Checked as a query first (exactly one SELECT), so the COPY wraps nothing else.
          (
            await prepareSingleSelect(connection, sql).catch((error: unknown) => {
              throw toQueryError(error, null, 'bind');
            })
          ).destroySync();
          progress.executing();
          const reader = await connection.runAndReadAll(
            `COPY (\n${sql}\n) TO ${quoteString(target)} (FORMAT parquet)`,
          );
          const count = reader.getRows()[0]?.[0];
          return { rows: count === undefined || count === null ? 0 : Number(count) };
        }),
      );
    } finally {
      release();
    }
  }
}

/** A stored result's column: as an interactive answer names it, and the SQL type to read it back as. */
export interface ExportedColumn extends ColumnInfo {
  sql_type: string;
}

function requireSql(sql: string): void {
  if (typeof sql !== 'string' || sql.trim() === '') throw new QueryError('invalid_sql', 'SQL is empty');
}

function requireParquetDestination(destination: string): void {
  if (!path.isAbsolute(destination) || !destination.endsWith('.parquet') || destination.includes('\0')) {
    throw new QueryError('invalid_request', 'the destination must be an absolute path to a .parquet file');
  }
}

/** The error a query stopped through QueryRequest.signal ends with. */
function canceled(): QueryError {
  return new QueryError('execution_failed', 'the query was canceled');
}

function parseLimits(limits: unknown): QueryLimits {
  if (limits === undefined) return {};
  const parsed = limitsSchema.safeParse(limits);
  if (!parsed.success) {
    const message = parsed.error.issues
      .map((i) => `${i.path.join('.') || 'limits'}: ${i.message}`)
      .join('; ');
    throw new QueryError('invalid_request', `invalid query limits: ${message}`);
  }
  // Drop keys explicitly set to undefined so they do not override defaults.
  return Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
}

function resolveTables(tables: ReadonlyMap<string, string>): ResolvedTable[] {
  if (!(tables instanceof Map)) throw new QueryError('invalid_request', 'tables must be a Map');
  const seen = new Set<string>();
  const out: ResolvedTable[] = [];
  for (const [key, file] of tables) {
    const match = TABLE_KEY.exec(key);
    if (!match) {
      throw new QueryError(
        'invalid_request',
        `table name "${key}" is not of the form pond.table or pond@major.table`,
      );
    }
    const schema = match[1]!;
    if (isDuckdbReservedName(schema)) {
      throw new QueryError(
        'invalid_request',
        `"${schema}" is reserved by DuckDB and cannot name a Pond in queries`,
      );
    }
    if (seen.has(key.toLowerCase())) {
      throw new QueryError('invalid_request', `table "${key}" is given twice (names are case-insensitive)`);
    }
    seen.add(key.toLowerCase());
    if (
      typeof file !== 'string' ||
      !path.isAbsolute(file) ||
      !file.endsWith('.parquet') ||
      file.includes('\0')
    ) {
      throw new QueryError(
        'invalid_request',
        `snapshot for "${key}" must be an absolute path to a .parquet file`,
      );
    }
    out.push({ key, schema, name: match[2]!, file: path.resolve(file) });
  }
  return out;
}

interface SandboxProgress {
  /** Binding is over: errors from here on may depend on data. Throws once canceled or timed out. */
  executing(): void;
  /** Throws the cancel or timeout error once the query was canceled or its time is up. */
  assertInTime(): void;
}

/** The same error with every snapshot path replaced: no answer names a file under the root. */
function scrubbed(error: QueryError, scrub: (text: string) => string): QueryError {
  const detail = error.detail === undefined ? undefined : scrub(error.detail);
  return new QueryError(error.code, scrub(error.message), detail);
}

async function prepareSingleSelect(
  connection: DuckDBConnection,
  sql: string,
): Promise<DuckDBPreparedStatement> {
  let extracted: Awaited<ReturnType<DuckDBConnection['extractStatements']>>;
  try {
    extracted = await connection.extractStatements(sql);
  } catch (error) {
    const message = (error as Error).message;
    // The bindings report an input without statements (only comments or ';') this way.
    if (message.includes('Error in native callback'))
      throw new QueryError('invalid_sql', 'SQL contains no statement');
    throw new QueryError('invalid_sql', message.replace(/^Failed to extract statements: /, ''));
  }
  if (extracted.count !== 1) {
    throw new QueryError('invalid_sql', `expected exactly one SQL statement, got ${extracted.count}`);
  }
  const statement = await extracted.prepare(0);
  if (statement.statementType !== StatementType.SELECT) {
    const kind = StatementType[statement.statementType] ?? 'unknown';
    statement.destroySync();
    throw new QueryError('not_allowed', `only SELECT queries can run here (got a ${kind} statement)`);
  }
  return statement;
}

/**
 * DuckDB names only the table when the schema exists ("Table with name nope does not exist");
 * recover the qualified name the user wrote so the error says "sales.nope".
 */
function qualifyUnknownTable(error: QueryError, connection: DuckDBConnection, sql: string): QueryError {
  const reported = /^unknown table (\S+):/.exec(error.message)?.[1];
  if (error.code !== 'unknown_table' || !reported || reported.includes('.')) return error;
  let written: readonly string[] = [];
  try {
    written = connection.getTableNames(sql, true);
  } catch {
    return error;
  }
  const qualified = written
    .map((name) => name.replace(/ AS .*$/, ''))
    .find((name) => name.toLowerCase().endsWith(`.${reported.toLowerCase()}`));
  return qualified
    ? new QueryError('unknown_table', error.message.replace(reported, qualified), error.detail)
    : error;
}

/**
 * Binding (parse, bind, plan) reads no row, so its errors depend only on the SQL text and the
 * tables' shapes; executing reads rows, so its errors may quote values a row filter hides.
 */
type QueryPhase = 'bind' | 'execute';

function toQueryError(error: unknown, timedOutAfterMs: number | null, phase: QueryPhase): QueryError {
  if (error instanceof QueryError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (timedOutAfterMs !== null || message.startsWith('INTERRUPT Error')) {
    return new QueryError(
      'timeout',
      `query exceeded its time limit of ${timedOutAfterMs ?? '?'} ms`,
      message,
    );
  }
  const unknownTable = /^Catalog Error: Table with name (.+?) does not exist/.exec(message);
  if (unknownTable) {
    const name = unknownTable[1]!.replace(/^"(.*)"$/, '$1');
    return new QueryError(
      'unknown_table',
      `unknown table ${name}: no published table by that name is available to this query`,
      message,
    );
  }
  if (message.startsWith('Permission Error')) return new QueryError('not_allowed', message);
  if (message.startsWith('Out of Memory Error')) return new QueryError('resource_limit', message);
  if (USER_ERROR.test(message) && phase === 'bind') return new QueryError('invalid_sql', message);
  return new QueryError('execution_failed', message);
}
