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
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, type DuckDBPreparedStatement, StatementType } from '@duckdb/node-api';
import { z } from 'zod';
import { SnapshotLeases } from './leases.js';
import { type ConvertedResult, readResult } from './results.js';
import { createViews, lockDown, SandboxPool, type SandboxView } from './sandbox.js';

export type QueryErrorCode =
  | 'invalid_request'
  | 'invalid_sql'
  | 'unknown_table'
  | 'not_allowed'
  | 'snapshot_unavailable'
  | 'timeout'
  | 'resource_limit'
  | 'execution_failed';

export class QueryError extends Error {
  constructor(
    readonly code: QueryErrorCode,
    message: string,
    /** DuckDB's original message when `message` paraphrases it. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

/** Suggested HTTP status per error code, for the API layer. */
export function httpStatusForQueryError(code: QueryErrorCode): number {
  switch (code) {
    case 'invalid_request':
    case 'invalid_sql':
    case 'unknown_table':
    case 'execution_failed':
      return 400;
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
}

export type QueryResult = ConvertedResult;

export interface QueryExecutorOptions {
  /** Shared with garbage collection so it never deletes a file being read. */
  leases?: SnapshotLeases;
  /** Queries running at once; more wait their turn. Default 2 (one per core on our machines). */
  maxConcurrent?: number;
  /** Instances created ahead of time; default maxConcurrent. */
  warmInstances?: number;
  /** Limits for requests that do not set their own. */
  defaults?: QueryLimits;
  /** Directory DuckDB may spill to; unset means no spilling (memory_limit is a hard cap). */
  tempDirectory?: string;
}

const DEFAULT_LIMITS: Required<QueryLimits> = {
  maxRows: 100_000,
  timeoutMs: 30_000,
  memoryLimit: '1GiB',
  threads: 2,
};

/** Names DuckDB already uses for catalogs/schemas; a Pond with such a name cannot be exposed. */
const RESERVED_QUALIFIERS = new Set(['main', 'temp', 'system', 'memory', 'information_schema', 'pg_catalog']);
const TABLE_KEY = /^([A-Za-z0-9_][A-Za-z0-9_-]*(?:@[0-9]+)?)\.([A-Za-z_][A-Za-z0-9_]*)$/;

/** Known DuckDB error classes caused by the query text itself. */
const USER_ERROR =
  /^(Parser|Binder|Catalog|Conversion|Invalid Input|Out of Range|Not implemented|Syntax|Constraint|Dependency|Mismatch Type|Invalid type|Type) Error/;

interface ResolvedTable extends SandboxView {
  key: string;
}

class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export class QueryExecutor {
  readonly leases: SnapshotLeases;
  private readonly slots: Slots;
  private readonly pool: SandboxPool;
  private readonly defaults: Required<QueryLimits>;
  private readonly tempDirectory: string;

  constructor(options: QueryExecutorOptions = {}) {
    const maxConcurrent = options.maxConcurrent ?? 2;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new QueryError('invalid_request', 'maxConcurrent must be a positive integer');
    }
    this.leases = options.leases ?? new SnapshotLeases();
    this.slots = new Slots(maxConcurrent);
    this.pool = new SandboxPool(options.warmInstances ?? maxConcurrent);
    this.defaults = { ...DEFAULT_LIMITS, ...parseLimits(options.defaults) };
    this.tempDirectory = options.tempDirectory ?? '';
  }

  async execute(sql: string, request: QueryRequest): Promise<QueryResult> {
    if (typeof sql !== 'string' || sql.trim() === '') {
      throw new QueryError('invalid_sql', 'SQL is empty');
    }
    const limits = { ...this.defaults, ...parseLimits(request.limits) };
    const tables = resolveTables(request.tables);
    // Lease before anything async so a concurrent garbage collection cannot take the files away.
    const release = this.leases.acquire(tables.map((t) => t.file));
    try {
      await assertFilesPresent(tables);
      return await this.slots.run(() => this.runSandboxed(sql, tables, limits));
    } finally {
      release();
    }
  }

  private async runSandboxed(
    sql: string,
    tables: ResolvedTable[],
    limits: Required<QueryLimits>,
  ): Promise<QueryResult> {
    const instance = await this.pool.take();
    let connection: DuckDBConnection | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      connection?.interrupt();
    }, limits.timeoutMs);
    try {
      connection = await instance.connect();
      await lockDown(connection, {
        allowedPaths: tables.map((t) => t.file),
        threads: limits.threads,
        memoryLimit: limits.memoryLimit,
        tempDirectory: this.tempDirectory,
      });
      try {
        await createViews(connection, tables);
      } catch (error) {
        throw new QueryError(
          'snapshot_unavailable',
          'a published snapshot could not be opened',
          (error as Error).message,
        );
      }
      const statement = await prepareSingleSelect(connection, sql).catch((error: unknown) => {
        throw qualifyUnknownTable(toQueryError(error, null), connection!, sql);
      });
      const result = await statement.stream();
      return await readResult(result, {
        rowCountLimit: limits.maxRows,
        onChunk: () => {
          if (timedOut)
            throw new QueryError('timeout', `query exceeded its time limit of ${limits.timeoutMs} ms`);
        },
      });
    } catch (error) {
      throw toQueryError(error, timedOut ? limits.timeoutMs : null);
    } finally {
      clearTimeout(timer);
      connection?.closeSync();
      instance.closeSync();
    }
  }

  /** Disposes the warm instances. Queries already running finish normally. */
  async close(): Promise<void> {
    await this.pool.close();
  }
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
    if (RESERVED_QUALIFIERS.has(schema.toLowerCase())) {
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

async function assertFilesPresent(tables: ResolvedTable[]): Promise<void> {
  for (const table of tables) {
    const stat = await fsp.stat(table.file).catch(() => null);
    if (!stat?.isFile()) {
      throw new QueryError(
        'snapshot_unavailable',
        `the published snapshot of "${table.key}" is no longer available`,
      );
    }
  }
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

function toQueryError(error: unknown, timedOutAfterMs: number | null): QueryError {
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
  if (USER_ERROR.test(message)) return new QueryError('invalid_sql', message);
  return new QueryError('execution_failed', message);
}
