/**
 * The in-process QueryBackend: the sandboxed DuckDB executor (query.ts) reading snapshots from the
 * local store. References turn into paths here, and the executor then reads them through per-query
 * links (snapshot-links.ts).
 */
import type { LocalSnapshotStore } from './local-snapshot-store.js';
import type { ExportedColumn, QueryExecutor, QueryResult } from './query.js';
import type { QueryBackend, QueryBackendRequest } from './query-backend.js';

export class LocalQueryBackend implements QueryBackend, ResultExporter {
  constructor(
    readonly executor: QueryExecutor,
    private readonly snapshots: LocalSnapshotStore,
  ) {}

  execute(request: QueryBackendRequest): Promise<QueryResult> {
    const tables = new Map(request.tables.map((t) => [t.relation, this.snapshots.pathOf(t.snapshot)]));
    return this.executor.execute(request.sql, {
      tables,
      principal: request.principal,
      limits: { timeoutMs: request.timeoutMs },
    });
  }

  exportResult(
    request: QueryBackendRequest,
    destination: string,
    signal?: AbortSignal,
  ): Promise<{ row_count: number; columns: ExportedColumn[] }> {
    const tables = new Map(request.tables.map((t) => [t.relation, this.snapshots.pathOf(t.snapshot)]));
    return this.executor.exportResult(
      request.sql,
      {
        tables,
        principal: request.principal,
        limits: { timeoutMs: request.timeoutMs },
        ...(signal ? { signal } : {}),
      },
      destination,
    );
  }
}

/** Writes a governed query's whole result to a Parquet file (async queries); see QueryExecutor.exportResult. */
export interface ResultExporter {
  exportResult(
    request: QueryBackendRequest,
    destination: string,
    signal?: AbortSignal,
  ): Promise<{ row_count: number; columns: ExportedColumn[] }>;
}
