/**
 * The QueryBackend port: runs already-governed SQL against a set of snapshot references. The query
 * service (src/query/query-service.ts) governs, routes and audits; a backend only executes. The
 * local executor is the first implementation (local-query-backend.ts); a remote worker implements
 * it over gRPC later, so a request is plain, serializable data: SQL text, references, limits.
 */
import type { QueryResult } from './query.js';
import type { SnapshotRef } from './snapshot-store.js';

export interface QueryBackendRequest {
  /** The rewritten (governed) SQL: it reads only the relations below. */
  sql: string;
  /** Each relation the SQL names (e.g. `"sales@1".daily`'s `sales@1.daily`) and the snapshot behind it. */
  tables: Array<{ relation: string; snapshot: SnapshotRef }>;
  /** Whose query it is: slots are shared fairly between principals. */
  principal: string;
  /** What is left of the query's time limit. */
  timeoutMs: number;
}

export interface QueryBackend {
  execute(request: QueryBackendRequest): Promise<QueryResult>;
}
