/**
 * Async queries: submitted, run in the background, kept on the worker's disk until fetched page by
 * page, deleted, or expired. A result is written as it is produced, one JSON row per line (the
 * same converted values Execute streams), so memory stays bounded and a page is a byte range.
 *
 * - Submit is idempotent per request id: the same id returns the first job.
 * - A cursor is the index of the page's first row; an index of every INDEX_STRIDE-th row's byte
 *   offset lets a page start without reading what precedes it. A cursor that does not parse or
 *   lies past the end is refused (INVALID_ARGUMENT).
 * - Finished jobs expire QUERY_RESULT_TTL after finishing; a real timer (QUERY_CLEANUP_INTERVAL)
 *   deletes expired results and leaves a small EXPIRED record, forgotten after another TTL.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { create } from '@bufbuild/protobuf';
import {
  DeleteResponseSchema,
  JobState,
  type JobStatus,
  JobStatusSchema,
  type QuerySpec,
  type ResultPage,
  ResultPageSchema,
} from '../grpc/gen/duckstring/worker/v1/worker_pb.js';
import { QueryError } from '../query.js';
import type { ColumnInfo } from '../results.js';
import { ERROR_CODE_HEADER, toConnectError, workerError } from './wire-errors.js';
import type { WorkerCore } from './worker-core.js';
import type { WorkerMetrics } from './worker-metrics.js';

const INDEX_STRIDE = 1024;
const DEFAULT_PAGE_ROWS = 1000;
const MAX_PAGE_ROWS = 10_000;
/** A page stops early once it holds this much JSON, below the gRPC message limit. */
const MAX_PAGE_BYTES = 4 * 1024 * 1024;

interface Job {
  id: string;
  requestId: string;
  state: JobState;
  columns: ColumnInfo[];
  rowCount: number;
  truncated: boolean;
  errorCode: string;
  errorMessage: string;
  submittedAt: number;
  startedAt: number;
  finishedAt: number;
  expiresAt: number;
  file: string;
  /** Byte offset of row i * INDEX_STRIDE. */
  offsets: number[];
  abort: AbortController;
  done: Promise<void>;
}

export interface JobStoreOptions {
  resultsDir: string;
  ttlMs: number;
  cleanupIntervalMs: number;
  now?: () => number;
}

export class JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly byRequest = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private completedCount = 0;

  constructor(
    private readonly core: () => WorkerCore,
    private readonly metrics: WorkerMetrics,
    private readonly options: JobStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => void this.cleanup(), options.cleanupIntervalMs);
    this.timer.unref();
  }

  stored(): number {
    let n = 0;
    for (const job of this.jobs.values()) if (job.state === JobState.SUCCEEDED) n++;
    return n;
  }

  completed(): number {
    return this.completedCount;
  }

  async submit(requestId: string, spec: QuerySpec): Promise<JobStatus> {
    if (requestId.trim() === '' || requestId.length > 200) {
      throw workerError('invalid_request', 'request_id must be 1 to 200 characters');
    }
    const existing = this.byRequest.get(requestId);
    if (existing !== undefined) {
      const job = this.jobs.get(existing);
      if (job) return toStatus(job);
    }
    const release = this.core().admit();
    await fsp.mkdir(this.options.resultsDir, { recursive: true, mode: 0o700 });
    const id = randomUUID();
    const job: Job = {
      id,
      requestId,
      state: JobState.QUEUED,
      columns: [],
      rowCount: 0,
      truncated: false,
      errorCode: '',
      errorMessage: '',
      submittedAt: this.now(),
      startedAt: 0,
      finishedAt: 0,
      expiresAt: 0,
      file: path.join(this.options.resultsDir, `${id}.ndjson`),
      offsets: [],
      abort: new AbortController(),
      done: Promise.resolve(),
    };
    this.jobs.set(id, job);
    this.byRequest.set(requestId, id);
    job.done = this.run(job, spec).finally(release);
    return toStatus(job);
  }

  private async run(job: Job, spec: QuerySpec): Promise<void> {
    const started = performance.now();
    const handle = await fsp.open(job.file, 'w', 0o600);
    let offset = 0;
    try {
      const done = await this.core().run(
        spec,
        {
          columns: async (columns) => {
            job.columns = columns;
            job.state = JobState.RUNNING;
            job.startedAt = this.now();
          },
          rows: async (rows) => {
            if (job.abort.signal.aborted) throw job.abort.signal.reason;
            const lines: string[] = [];
            let bytes = 0;
            for (const row of rows) {
              if (job.rowCount % INDEX_STRIDE === 0) job.offsets.push(offset + bytes);
              const line = `${JSON.stringify(row)}\n`;
              lines.push(line);
              bytes += Buffer.byteLength(line);
              job.rowCount += 1;
            }
            await handle.write(lines.join(''));
            offset += bytes;
          },
        },
        job.abort.signal,
      );
      job.truncated = done.truncated;
      this.finish(job, JobState.SUCCEEDED);
      this.completedCount += 1;
      this.metrics.finished('async', 'ok', (performance.now() - started) / 1000);
    } catch (error) {
      if (job.state === JobState.CANCELED) {
        this.metrics.finished('async', 'canceled', 0);
      } else {
        const wire = toConnectError(error instanceof QueryError || !job.abort.signal.aborted ? error : null);
        job.errorCode = wire.metadata.get(ERROR_CODE_HEADER) ?? 'internal';
        job.errorMessage = wire.rawMessage;
        this.finish(job, JobState.FAILED);
        this.metrics.finished('async', 'error', 0, job.errorCode);
      }
      await fsp.rm(job.file, { force: true });
    } finally {
      await handle.close();
    }
  }

  private finish(job: Job, state: JobState): void {
    if (job.state === JobState.CANCELED || job.state === JobState.EXPIRED) return;
    job.state = state;
    job.finishedAt = this.now();
    job.expiresAt = job.finishedAt + this.options.ttlMs;
  }

  private get(jobId: string): Job {
    const job = this.jobs.get(jobId);
    if (!job) throw workerError('not_found', `no job ${JSON.stringify(jobId)} on this worker`);
    return job;
  }

  async status(jobId: string): Promise<JobStatus> {
    return toStatus(this.get(jobId));
  }

  async fetchPage(jobId: string, cursor: string, maxRows: number): Promise<ResultPage> {
    const job = this.get(jobId);
    if (job.state !== JobState.SUCCEEDED) {
      throw workerError(
        'invalid_request',
        `job ${jobId} has no result to fetch (it is ${JobState[job.state].toLowerCase()})`,
      );
    }
    const first = cursor === '' ? 0 : /^\d{1,15}$/.test(cursor) ? Number(cursor) : Number.NaN;
    if (Number.isNaN(first) || (cursor !== '' && first >= job.rowCount)) {
      throw workerError(
        'invalid_request',
        `cursor ${JSON.stringify(cursor)} is not a position in this result`,
      );
    }
    const limit = Math.min(maxRows > 0 ? maxRows : DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS);
    const lines: string[] = [];
    if (first < job.rowCount) {
      const stride = Math.floor(first / INDEX_STRIDE);
      let row = stride * INDEX_STRIDE;
      const input = createReadStream(job.file, { start: job.offsets[stride] ?? 0, encoding: 'utf8' });
      const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
      let bytes = 0;
      try {
        for await (const line of reader) {
          if (row >= first) {
            lines.push(line);
            bytes += line.length;
            if (lines.length >= limit || bytes >= MAX_PAGE_BYTES || row + 1 >= job.rowCount) break;
          }
          row += 1;
        }
      } finally {
        reader.close();
        input.destroy();
      }
    }
    const next = first + lines.length;
    return create(ResultPageSchema, {
      schema: { columns: job.columns },
      rows: { rowsJson: new TextEncoder().encode(`[${lines.join(',')}]`), rowCount: lines.length },
      nextCursor: next < job.rowCount ? String(next) : '',
    });
  }

  async cancel(jobId: string): Promise<JobStatus> {
    const job = this.get(jobId);
    if (job.state === JobState.QUEUED || job.state === JobState.RUNNING) {
      job.state = JobState.CANCELED;
      job.finishedAt = this.now();
      job.expiresAt = job.finishedAt + this.options.ttlMs;
      job.abort.abort(workerError('internal', 'the job was canceled'));
      await job.done;
    }
    return toStatus(job);
  }

  async delete(jobId: string) {
    const job = this.jobs.get(jobId);
    if (!job) return create(DeleteResponseSchema, { deleted: false });
    if (job.state === JobState.QUEUED || job.state === JobState.RUNNING) await this.cancel(jobId);
    this.jobs.delete(jobId);
    this.byRequest.delete(job.requestId);
    await fsp.rm(job.file, { force: true });
    return create(DeleteResponseSchema, { deleted: true });
  }

  /** Removes expired results (the timer's work; callable directly). Returns how many it removed. */
  async cleanup(): Promise<number> {
    const now = this.now();
    let removed = 0;
    for (const job of [...this.jobs.values()]) {
      if (job.expiresAt === 0 || job.expiresAt > now) continue;
      if (job.state === JobState.EXPIRED) {
        this.jobs.delete(job.id);
        this.byRequest.delete(job.requestId);
        continue;
      }
      const hadResult = job.state === JobState.SUCCEEDED;
      job.state = JobState.EXPIRED;
      job.expiresAt = now + this.options.ttlMs;
      await fsp.rm(job.file, { force: true });
      if (hadResult) removed += 1;
    }
    if (removed > 0) this.metrics.resultsCleaned(removed);
    return removed;
  }

  /** Stops the cleanup timer, cancels unfinished jobs and removes every stored result. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const job of [...this.jobs.values()]) await this.delete(job.id);
  }
}

function toStatus(job: Job): JobStatus {
  return create(JobStatusSchema, {
    jobId: job.id,
    requestId: job.requestId,
    state: job.state,
    rowCount: BigInt(job.rowCount),
    truncated: job.truncated,
    schema: { columns: job.columns },
    errorCode: job.errorCode,
    errorMessage: job.errorMessage,
    submittedAt: BigInt(job.submittedAt),
    startedAt: BigInt(job.startedAt),
    finishedAt: BigInt(job.finishedAt),
    expiresAt: BigInt(job.expiresAt),
  });
}
