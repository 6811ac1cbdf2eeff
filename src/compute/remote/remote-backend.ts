/**
 * Runs a governed query on a worker: sends the rewritten SQL, the exact snapshot files it reads and
 * a capability to download them, then assembles the streamed schema and row batches into the same
 * QueryResult the local executor returns. Values were converted on the worker by the same
 * converter (results.ts), so the JSON answer is identical wherever the query ran. The batches are
 * checked (./row-batch.ts) but not parsed: the HTTP answer passes them through
 * (./passthrough-result.ts), which keeps a remote answer as fast as a local one.
 *
 * Nothing reaches the caller before the whole answer is assembled, so any failure of the path
 * (RemoteCallFailed) happens before a row reached the caller and may be retried locally; the
 * query's own errors come back as QueryErrors and surface like local ones.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { CapabilityFile } from '../capability.js';
import { DEFAULT_LIMITS, QueryError, type QueryResult } from '../query.js';
import type { QueryBackend, QueryBackendRequest } from '../query-backend.js';
import type { ColumnInfo } from '../results.js';
import type { SnapshotRef } from '../snapshot-store.js';
import type { WorkerConnection } from './client-pool.js';
import { classifyCallError, ERROR_CODE_HEADER, RemoteCallFailed } from './errors.js';
import { passthroughResult } from './passthrough-result.js';
import { type CheckedRowBatch, checkRowBatch, RowBatchRefused } from './row-batch.js';

/** What the Catchment lends a worker for one query's files. */
export interface SnapshotGrant {
  /** The snapshot file's size in bytes (the worker checks what it downloads against it). */
  sizeOf(ref: SnapshotRef): number;
  /** A capability naming exactly `files`, valid for `ttlMs`. */
  capability(files: CapabilityFile[], ttlMs: number): string;
  /** The Catchment's base URL the worker downloads from. */
  snapshotUrl(): string;
}

export interface RemoteQueryBackendOptions {
  /** Rows kept at most (the rest counted, `truncated` set); the local executor's default. */
  maxRows?: number;
}

const CAPABILITY_MARGIN_MS = 30_000;

/**
 * The files a worker may read for `request`, and a capability naming exactly them. It outlives the
 * query only by a margin for clock skew: downloads happen while it runs.
 */
export function grantFiles(request: QueryBackendRequest, grant: SnapshotGrant) {
  const files = request.tables.map((t) => ({
    relation: t.relation,
    pond: t.snapshot.pond,
    major: t.snapshot.major,
    table: t.snapshot.table,
    file: t.snapshot.file,
    size: BigInt(grant.sizeOf(t.snapshot)),
    checksum: t.snapshot.checksum,
  }));
  const timeoutMs = Math.max(1, request.timeoutMs);
  const capability = grant.capability(
    files.map((f) => ({
      pond: f.pond,
      major: f.major,
      file: f.file,
      size: Number(f.size),
      checksum: f.checksum,
    })),
    timeoutMs + CAPABILITY_MARGIN_MS,
  );
  return { files, timeoutMs, capability };
}

export class RemoteQueryBackend implements QueryBackend {
  constructor(
    private readonly connect: () => WorkerConnection,
    private readonly grant: SnapshotGrant,
    private readonly options: RemoteQueryBackendOptions = {},
  ) {}

  async execute(request: QueryBackendRequest): Promise<QueryResult> {
    const { files, timeoutMs, capability } = grantFiles(request, this.grant);
    const maxRows = this.options.maxRows ?? DEFAULT_LIMITS.maxRows;
    const connection = this.connect();
    // Ends the call however the loop below leaves it (an error thrown from inside it included).
    const call = new AbortController();
    try {
      const stream = connection.client.execute(
        {
          query: {
            sql: request.sql,
            tables: files,
            principal: request.principal,
            timeoutMs,
            maxRows: BigInt(maxRows),
            capability,
            snapshotUrl: this.grant.snapshotUrl(),
          },
        },
        { headers: connection.headers, timeoutMs, signal: call.signal },
      );
      let columns: ColumnInfo[] | null = null;
      const batches: CheckedRowBatch[] = [];
      let rows = 0;
      let result: QueryResult | null = null;
      // Read to the end of the stream, past `done`: only a stream read to its end releases the
      // call's deadline timer (Connect clears it when the transport finishes, not when we stop reading).
      for await (const message of stream) {
        const event = message.event;
        if (result) throw protocol(connection.endpoint, 'a message after the last one');
        if (event.case === 'schema') {
          if (columns) throw protocol(connection.endpoint, 'a second schema');
          columns = event.value.columns.map((c) => ({ name: c.name, type: c.type }));
        } else if (event.case === 'batch') {
          if (!columns) throw protocol(connection.endpoint, 'rows before the schema');
          const batch = checkBatch(connection.endpoint, event.value.rowsJson, columns.length);
          if (batch.rows !== event.value.rowCount)
            throw protocol(connection.endpoint, 'a batch whose row count does not match its rows');
          rows += batch.rows;
          // The worker keeps at most maxRows (counting the rest): more is a worker not keeping to it.
          if (rows > maxRows) throw protocol(connection.endpoint, 'more rows than the row limit');
          batches.push(batch);
        } else if (event.case === 'done') {
          if (!columns) throw protocol(connection.endpoint, 'no schema');
          const rowCount = Number(event.value.rowCount);
          if (rowCount < rows) throw protocol(connection.endpoint, 'a row count below the rows sent');
          result = passthroughResult(columns, batches, rowCount, event.value.truncated);
        }
      }
      if (!result) throw protocol(connection.endpoint, 'a stream that ended before its last message');
      return result;
    } catch (error) {
      // Our own deadline is the query's time limit: a timeout, wherever it ran.
      if (
        error instanceof ConnectError &&
        error.code === Code.DeadlineExceeded &&
        !error.metadata.has(ERROR_CODE_HEADER)
      )
        throw new QueryError('timeout', 'query exceeded its time limit', 'while executing on a worker');
      throw classifyCallError(connection.endpoint, error);
    } finally {
      call.abort();
      connection.release();
    }
  }
}

function protocol(endpoint: string, what: string): RemoteCallFailed {
  return new RemoteCallFailed(endpoint, 'protocol', `the worker sent ${what}`);
}

function checkBatch(endpoint: string, bytes: Uint8Array, width: number): CheckedRowBatch {
  try {
    return checkRowBatch(bytes, width);
  } catch (error) {
    if (error instanceof RowBatchRefused) throw protocol(endpoint, error.message);
    throw error;
  }
}
