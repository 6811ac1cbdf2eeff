/**
 * The in-process QueryBackend: the sandboxed DuckDB executor (query.ts) reading snapshots from the
 * local store. References turn into paths here, and the executor then reads them through per-query
 * links (snapshot-links.ts).
 */
import type { LocalSnapshotStore } from './local-snapshot-store.js';
import type { QueryExecutor, QueryResult } from './query.js';
import type { QueryBackend, QueryBackendRequest } from './query-backend.js';

export class LocalQueryBackend implements QueryBackend {
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
}
