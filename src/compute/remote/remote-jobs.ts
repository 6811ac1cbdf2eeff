/**
 * Async query jobs on a worker (the Submit / GetJob / FetchPage / Cancel / Delete calls): the
 * Catchment submits a governed query, waits for it to reach a final state, then pages through the
 * result the worker keeps on its disk. The worker's pages carry values converted by the same code
 * as an interactive answer (results.ts), so a remote page equals a local one.
 *
 * Errors are split as for interactive calls (./errors.ts): the query's own failure (bad SQL, a
 * limit, its time limit) comes back as the QueryError a local run would raise; anything the path
 * did (worker unreachable or killed, draining, full, a poll past the job's deadline) is a
 * RemoteCallFailed — that attempt failed, another may succeed.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { Clock } from '../../shared/clock.js';
import { DomainError } from '../../shared/errors.js';
import { JobState, type JobStatus } from '../grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { QueryBackendRequest } from '../query-backend.js';
import type { ColumnInfo, JsonValue } from '../results.js';
import type { WorkerConnection } from './client-pool.js';
import {
  classifyCallError,
  ERROR_CODE_HEADER,
  type FailureReason,
  RemoteCallFailed,
  reasonText,
} from './errors.js';
import { grantFiles, type SnapshotGrant } from './remote-backend.js';

/** What a finished remote job left on its worker. */
export interface RemoteJobResult {
  /** The worker's id of the job (FetchPage / Delete take it). */
  jobId: string;
  row_count: number;
  truncated: boolean;
  columns: ColumnInfo[];
  /** How long the worker keeps the result after it finished (its QUERY_RESULT_TTL). */
  retentionMs: number;
}

export interface RemotePage {
  columns: ColumnInfo[];
  rows: JsonValue[][];
  row_count: number;
}

export interface RemoteJobsOptions {
  grant: SnapshotGrant;
  clock: Clock;
  /** A connection to the endpoint named `name` as the directory has it now; undefined when it is gone. */
  connectTo: (name: string) => WorkerConnection | undefined;
  /** First and longest pause between two GetJob polls (default 25 ms and 1 s). */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Deadline of each single call (default 10 s). */
  callTimeoutMs?: number;
}

/** The worker holding a finished job's result cannot be reached: try again later. */
export class RemoteResultUnavailable extends DomainError {
  constructor(endpoint: string, reason: FailureReason) {
    super({
      code: 'remote_result_unavailable',
      httpStatus: 503,
      message: `the result is kept on compute endpoint "${endpoint}", which cannot be reached now (${reasonText(reason)}); try again later`,
      expose: true,
    });
  }
}

/** The worker no longer has the job's result (it restarted, or expired or lost it). */
export class RemoteResultGone extends DomainError {
  constructor(endpoint: string) {
    super({
      code: 'remote_result_gone',
      httpStatus: 410,
      message: `compute endpoint "${endpoint}" no longer has this result (the worker restarted or deleted it); run the query again`,
      expose: true,
    });
  }
}

/** An async job's attempts are used up, the last one failing on the path to `endpoint`. */
export class AsyncAttemptsExhausted extends DomainError {
  constructor(endpoint: string, reason: FailureReason, attempts: number) {
    super({
      // The code of a failed path (as ComputeUnavailable), so callers and the audit treat both alike.
      code: 'compute_unavailable',
      httpStatus: 503,
      message: `compute endpoint "${endpoint}" could not run the query (${reasonText(reason)}) and the job's ${attempts} attempts are used up`,
      expose: true,
    });
  }
}

/** Rows a remote async job may keep: none are dropped (a local async run has no row limit either). */
const NO_ROW_LIMIT = BigInt(Number.MAX_SAFE_INTEGER);
/** A job not final this long after its time limit is the path's fault (the worker lost track of it). */
const DEADLINE_MARGIN_MS = 15_000;

export class RemoteJobs {
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly callTimeoutMs: number;

  constructor(private readonly options: RemoteJobsOptions) {
    this.pollInitialMs = options.pollInitialMs ?? 25;
    this.pollMaxMs = options.pollMaxMs ?? 1000;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
  }

  /**
   * Runs one attempt of an async job on the worker behind `connect` and resolves once it succeeded.
   * `requestId` names the attempt: submitting it again returns the same worker job (a retried
   * Submit call never runs the query twice), a new attempt gets a new one. `signal` cancels the job
   * on the worker (best effort) and rejects with its reason.
   */
  async run(
    connect: () => WorkerConnection,
    request: QueryBackendRequest,
    job: { requestId: string; signal?: AbortSignal; submitted?: (workerJobId: string) => void },
  ): Promise<RemoteJobResult> {
    const { grant, clock } = this.options;
    const { files, timeoutMs, capability } = grantFiles(request, grant);
    const connection = connect();
    const endpoint = connection.endpoint;
    const signal = job.signal;
    let workerJobId: string | null = null;
    try {
      signal?.throwIfAborted();
      let status = await this.call(connection, (options) =>
        connection.client.submit(
          {
            requestId: job.requestId,
            query: {
              sql: request.sql,
              tables: files,
              principal: request.principal,
              timeoutMs,
              maxRows: NO_ROW_LIMIT,
              capability,
              snapshotUrl: grant.snapshotUrl(),
            },
          },
          options,
        ),
      );
      workerJobId = status.jobId;
      job.submitted?.(workerJobId);
      const deadline = clock.now() + timeoutMs + DEADLINE_MARGIN_MS;
      let pause = this.pollInitialMs;
      while (status.state === JobState.QUEUED || status.state === JobState.RUNNING) {
        if (clock.now() > deadline)
          throw new RemoteCallFailed(endpoint, 'deadline', `job ${workerJobId} did not finish in time`);
        await this.sleep(pause, signal);
        pause = Math.min(pause * 2, this.pollMaxMs);
        const id = workerJobId;
        status = await this.call(connection, (options) => connection.client.getJob({ jobId: id }, options));
      }
      return finalResult(endpoint, status);
    } catch (error) {
      if (signal?.aborted && workerJobId !== null) {
        // Nobody waits for the answer any more: the worker stops the job (best effort; its small
        // CANCELED record goes with the worker's own TTL).
        const id = workerJobId;
        void this.call(connection, (options) => connection.client.cancel({ jobId: id }, options)).catch(
          () => undefined,
        );
      }
      if (signal?.aborted) throw signal.reason;
      throw classifyCallError(endpoint, error);
    } finally {
      connection.release();
    }
  }

  /** Rows `offset` … of a finished job's result on endpoint `name` (at most `maxRows`, maybe fewer). */
  async fetchPage(name: string, workerJobId: string, offset: number, maxRows: number): Promise<RemotePage> {
    const connection = this.options.connectTo(name);
    if (!connection) throw new RemoteResultUnavailable(name, 'unavailable');
    try {
      const page = await this.call(connection, (options) =>
        connection.client.fetchPage(
          { jobId: workerJobId, cursor: offset === 0 ? '' : String(offset), maxRows },
          options,
        ),
      );
      const rows = JSON.parse(
        new TextDecoder().decode(page.rows?.rowsJson ?? new Uint8Array()),
      ) as JsonValue[][];
      if (!Array.isArray(rows) || rows.length !== (page.rows?.rowCount ?? 0))
        throw new RemoteResultUnavailable(name, 'protocol');
      return {
        columns: (page.schema?.columns ?? []).map((c) => ({ name: c.name, type: c.type })),
        rows,
        row_count: rows.length,
      };
    } catch (error) {
      throw resultError(name, error);
    } finally {
      connection.release();
    }
  }

  /** Deletes a job and its result on endpoint `name`; false when the worker did not have it. */
  async delete(name: string, workerJobId: string): Promise<boolean> {
    const connection = this.options.connectTo(name);
    if (!connection) return false;
    try {
      const answer = await this.call(connection, (options) =>
        connection.client.delete({ jobId: workerJobId }, options),
      );
      return answer.deleted;
    } finally {
      connection.release();
    }
  }

  private call<T>(
    connection: WorkerConnection,
    fn: (options: { headers: Record<string, string>; timeoutMs: number }) => Promise<T>,
  ): Promise<T> {
    return fn({ headers: connection.headers, timeoutMs: this.callTimeoutMs });
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        timer.cancel();
        reject(signal!.reason);
      };
      const timer = this.options.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A final JobStatus as the job's answer: its result, the query's own error, or the path's failure. */
function finalResult(endpoint: string, status: JobStatus): RemoteJobResult {
  if (status.state === JobState.SUCCEEDED) {
    return {
      jobId: status.jobId,
      row_count: Number(status.rowCount),
      truncated: status.truncated,
      columns: (status.schema?.columns ?? []).map((c) => ({ name: c.name, type: c.type })),
      retentionMs: Number(status.expiresAt - status.finishedAt),
    };
  }
  if (status.state === JobState.FAILED) {
    // The worker's error code, read as if a call had failed with it: query faults surface as a
    // local run's QueryError, the worker's own state (draining, snapshot) fails the attempt.
    throw classifyCallError(
      endpoint,
      new ConnectError(status.errorMessage, Code.Unknown, {
        [ERROR_CODE_HEADER]: status.errorCode || 'internal',
      }),
    );
  }
  // CANCELED or EXPIRED behind the Catchment's back: someone else stopped it on the worker.
  throw new RemoteCallFailed(
    endpoint,
    'unavailable',
    `job ${status.jobId} is ${JobState[status.state]} on the worker`,
  );
}

function resultError(endpoint: string, error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  const connect = ConnectError.from(error);
  const code = connect.metadata.get(ERROR_CODE_HEADER);
  // The Catchment checked the cursor against the row count: a refusal means the job left the worker.
  if (connect.code === Code.NotFound || code === 'not_found' || code === 'invalid_request')
    return new RemoteResultGone(endpoint);
  const failed = classifyCallError(endpoint, connect);
  return new RemoteResultUnavailable(
    endpoint,
    failed instanceof RemoteCallFailed ? failed.reason : 'protocol',
  );
}
