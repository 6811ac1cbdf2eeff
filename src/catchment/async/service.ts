/**
 * Async queries (issue 11): submit a governed query, let it run in the background, page through
 * its stored result later. Jobs live in duck.db (job-store.ts), results as Parquet files under
 * `<root>/results/`; both survive a restart.
 *
 * - Submitting is idempotent per (principal, request_id); the same request_id with other SQL is 409.
 * - The runner takes QUEUED jobs through a fair scheduler (src/shared/fair-scheduler.ts): at most
 *   `maxRunning` at once, round-robin between principals, so one principal's backlog never starves
 *   another's single job. A principal may have `maxQueuedPerPrincipal` unfinished jobs (429 past it).
 * - A run goes through QueryService.exportPlaced: the same governance, limits and audit entry as an
 *   interactive query, routed like one of the 'async' kind. On a worker the result stays there and
 *   pages are fetched from it (RemoteJobs); a failed path fails only that attempt, and every
 *   attempt (target, outcome, reason) is kept in the job's attempt_log.
 * - Restart: jobs a previous process left RUNNING go back to QUEUED and run again (queries are
 *   read-only; a re-run reads the snapshots published when it starts), QUEUED jobs run.
 * - Retention: a finished job expires `resultTtlMs` after it finished; a timer on the Clock sweeps
 *   every `cleanupIntervalMs`, marks them EXPIRED and deletes their files, but never a file a page
 *   is being read from (the deletion waits for the last reader).
 * - A foreign job answers exactly like an unknown one (404). Every state change is audited, in the
 *   same duck.db transaction as the change itself: a kill -9 between the two cannot leave a final
 *   job without its one terminal audit entry.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { RemoteJobs } from '../../compute/remote/remote-jobs.js';
import type { ResultPageReader } from '../../compute/result-pages.js';
import { placementLabel } from '../../compute/topology.js';
import type { GovernanceService, Identity } from '../../governance/service.js';
import type { AsyncAttemptLog, QueryService } from '../../query/query-service.js';
import type { Clock, Timer } from '../../shared/clock.js';
import { DomainError, RequestError } from '../../shared/errors.js';
import { FairScheduler } from '../../shared/fair-scheduler.js';
import { type AsyncQueryConfig, DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS, SINGLE_PAGE_CAP } from './config.js';
import type { CursorCodec } from './cursor.js';
import { InvalidCursor } from './cursor.js';
import {
  FINAL_STATES,
  JOB_ID_PATTERN,
  type JobAttempt,
  newJobId,
  type QueryJob,
  type QueryJobRepository,
  type QueryJobState,
} from './job-store.js';
import type { AsyncQueryTelemetry } from './telemetry.js';

export const RESULTS_DIRECTORY = 'results';

/** A remote job expires this long before its worker drops the result (the worker's TTL started first). */
const RETENTION_MARGIN_MS = 2_000;

/** What names a job's result: its file under the root, or `remote:ENDPOINT/WORKER_JOB_ID`. */
function resultKey(job: QueryJob): string | null {
  if (job.remote_job_id) {
    const endpoint = remoteEndpoint(job);
    return endpoint ? remoteKey(endpoint, job.remote_job_id) : null;
  }
  return job.result_file;
}

function remoteEndpoint(job: QueryJob): string | null {
  return job.placement?.startsWith('remote:') ? job.placement.slice('remote:'.length) : null;
}

function remoteKey(endpoint: string, jobId: string): string {
  return `remote:${endpoint}/${jobId}`;
}

function parseRemoteKey(key: string): { endpoint: string; jobId: string } | null {
  if (!key.startsWith('remote:')) return null;
  const rest = key.slice('remote:'.length);
  const slash = rest.lastIndexOf('/');
  return { endpoint: rest.slice(0, slash), jobId: rest.slice(slash + 1) };
}

/** A run's hold on one of the local slots, which it lets go once its job is on a worker. */
class LocalSlot {
  held = true;
  readonly freed: Promise<void>;
  private free!: () => void;

  constructor() {
    this.freed = new Promise((resolve) => {
      this.free = resolve;
    });
  }

  release(): void {
    this.held = false;
    this.free();
  }
}

export interface AsyncQueryServiceOptions {
  jobs: QueryJobRepository;
  queries: QueryService;
  governance: GovernanceService;
  pages: ResultPageReader;
  /** Pages and deletes of results kept on workers (absent: no job runs remotely). */
  remote?: RemoteJobs;
  cursors: CursorCodec;
  root: string;
  clock: Clock;
  config: AsyncQueryConfig;
  /** Told of every audited state change: queue depth and latency (telemetry.ts). */
  telemetry?: AsyncQueryTelemetry;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export interface ResultsPage {
  columns: Array<{ name: string; type: string }>;
  rows: unknown[][];
  row_count: number;
  /** Rows in the whole result. */
  total_rows: number;
  /** Pass to the next request for the following page; null on the last page. */
  next_cursor: string | null;
  truncated: boolean;
}

export class AsyncQueriesDisabled extends RequestError {
  constructor() {
    super(404, 'async_disabled', 'async queries are disabled on this Catchment (set FEATURE_ASYNC_QUEUE=on)');
  }
}

export class JobNotFound extends RequestError {
  constructor(id: string) {
    super(404, 'query_job_not_found', `no query job ${id}`);
  }
}

export class AsyncQueryService {
  readonly config: AsyncQueryConfig;
  private readonly scheduler: FairScheduler;
  private readonly directory: string;
  /** Per job: aborts its wait for a slot or its run (cancel, delete, stop). */
  private readonly controllers = new Map<string, AbortController>();
  private readonly runs = new Set<Promise<void>>();
  /** Readers per result file, and files to delete when their last reader is done. */
  private readonly readers = new Map<string, number>();
  private readonly doomed = new Set<string>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private cleanupTimer: Timer | undefined;
  private stopping = false;

  constructor(private readonly options: AsyncQueryServiceOptions) {
    this.config = options.config;
    this.scheduler = new FairScheduler({ slots: options.config.maxRunning });
    this.directory = path.join(options.root, RESULTS_DIRECTORY);
  }

  /** Queue depth and latency (`duckstring compute status`), when the Catchment keeps them. */
  get telemetry(): AsyncQueryTelemetry | undefined {
    return this.options.telemetry;
  }

  /**
   * Recovers after a restart and starts the runner and the cleanup timer: jobs left RUNNING are
   * queued again, every QUEUED job is scheduled, result files no job names are removed.
   */
  start(): void {
    // Switched off, nothing runs; results a previous run kept still expire on time.
    if (!this.config.enabled && !existsSync(this.directory)) return;
    mkdirSync(this.directory, { recursive: true });
    const { jobs } = this.options;
    jobs.transaction(() => {
      for (const before of jobs.requeueRunning(this.options.clock.now())) {
        // The interrupted attempt's worker job is abandoned: the re-run is a new attempt.
        const last = before.attempt_log.at(-1);
        if (last?.outcome === 'running' && last.remote_job_id && last.target.startsWith('remote:'))
          this.removeResult(remoteKey(last.target.slice('remote:'.length), last.remote_job_id));
        const job = jobs.get(before.id);
        if (job) this.audit(job, 'requeued', { reason: 'the Catchment restarted while it ran' });
      }
    });
    this.sweepOrphans();
    this.expire();
    if (this.config.enabled) for (const job of jobs.inState('QUEUED')) this.schedule(job);
    this.cleanupTimer = this.options.clock
      .setInterval(() => this.expire(), this.config.cleanupIntervalMs)
      .unref();
  }

  /** Stops taking jobs; running ones are interrupted and stay RUNNING, to run again on the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cleanupTimer?.cancel();
    for (const controller of this.controllers.values())
      controller.abort(new Error('the Catchment is stopping'));
    await Promise.allSettled([...this.runs]);
  }

  submit(
    who: Identity,
    input: { sql: string; request_id?: string | undefined },
  ): { job: QueryJob; created: boolean } {
    this.assertEnabled();
    const { jobs } = this.options;
    const principal = who.principal;
    if (input.request_id !== undefined) {
      const existing = jobs.byRequestId(principal, input.request_id);
      if (existing) {
        if (existing.sql !== input.sql) {
          throw new RequestError(
            409,
            'request_id_reused',
            `request_id "${input.request_id}" was already used for a different query (job ${existing.id})`,
          );
        }
        return { job: existing, created: false };
      }
    }
    if (jobs.countQueued(principal) >= this.config.maxQueuedPerPrincipal) {
      throw new RequestError(
        429,
        'too_many_queued_queries',
        `you already have ${this.config.maxQueuedPerPrincipal} async queries queued or running; wait for some to finish`,
      );
    }
    const job = jobs.transaction(() => {
      const inserted = jobs.insert({
        id: newJobId(),
        principal,
        request_id: input.request_id ?? null,
        sql: input.sql,
        at: this.options.clock.now(),
      });
      this.audit(inserted, 'submitted');
      return inserted;
    });
    this.schedule(job);
    return { job, created: true };
  }

  get(who: Identity, id: string): QueryJob {
    this.assertEnabled();
    const job = JOB_ID_PATTERN.test(id) ? this.options.jobs.get(id) : undefined;
    if (!job || job.principal.toLowerCase() !== who.principal.toLowerCase()) throw new JobNotFound(id);
    return job;
  }

  list(who: Identity, limit: number, cursor?: string): { jobs: QueryJob[]; next_cursor: string | null } {
    this.assertEnabled();
    let before: number | undefined;
    if (cursor !== undefined) {
      if (!/^[1-9][0-9]{0,14}$/.test(cursor))
        throw new InvalidCursor('the cursor is malformed: pass next_cursor unchanged');
      before = Number(cursor);
    }
    const page = this.options.jobs.list(who.principal, limit + 1, before);
    const more = page.length > limit;
    const shown = page.slice(0, limit);
    return {
      jobs: shown.map(({ seq: _seq, ...job }) => job),
      next_cursor: more ? String(shown[shown.length - 1]!.seq) : null,
    };
  }

  /** Resolves once the job is in a final state or `ms` passed; returns the job as it is then. */
  async waitFor(who: Identity, id: string, ms: number): Promise<QueryJob> {
    const job = this.get(who, id);
    if (FINAL_STATES.includes(job.state) || ms <= 0) return job;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const timer = this.options.clock.setTimeout(done, ms);
      function done() {
        timer.cancel();
        set.delete(done);
        resolve();
      }
      set.add(done);
    });
    return this.get(who, id);
  }

  async results(
    who: Identity,
    id: string,
    request: { cursor?: string; max_rows?: number },
  ): Promise<ResultsPage> {
    const job = this.get(who, id);
    if (job.state === 'EXPIRED') {
      throw new RequestError(
        410,
        'query_job_expired',
        `the results of query job ${id} expired and were deleted`,
      );
    }
    if (job.state !== 'SUCCEEDED') {
      throw new RequestError(
        409,
        'query_job_not_finished',
        `query job ${id} is ${job.state}: it has no results`,
        {
          state: job.state,
        },
      );
    }
    const total = job.row_count ?? 0;
    let offset = 0;
    let limit: number;
    if (this.config.cursorMode) {
      limit = request.max_rows ?? DEFAULT_PAGE_ROWS;
      if (request.cursor !== undefined) offset = this.options.cursors.decode(id, request.cursor);
      if (offset > total || (offset === total && total > 0)) {
        throw new InvalidCursor('the cursor is past the end of the result');
      }
    } else {
      if (request.cursor !== undefined) {
        throw new InvalidCursor(
          'cursors are off on this Catchment (FEATURE_CURSOR_MODE): results come in one page',
        );
      }
      if (total > SINGLE_PAGE_CAP) {
        throw new RequestError(
          422,
          'result_too_large',
          `the result has ${total} rows, more than the ${SINGLE_PAGE_CAP} one page may hold; turn FEATURE_CURSOR_MODE on to page through it`,
        );
      }
      limit = SINGLE_PAGE_CAP;
    }
    if (limit > MAX_PAGE_ROWS) limit = MAX_PAGE_ROWS;
    const columns = job.columns!.map(({ name, type }) => ({ name, type }));
    const page = (rows: unknown[][]): ResultsPage => {
      const next = offset + rows.length;
      return {
        columns,
        rows,
        row_count: rows.length,
        total_rows: total,
        next_cursor: this.config.cursorMode && next < total ? this.options.cursors.encode(id, next) : null,
        truncated: job.truncated ?? false,
      };
    };
    const key = resultKey(job);
    if (key === null) throw new Error(`query job ${id} succeeded without a result`);
    // Counted before the first await: the cleanup timer cannot delete the result under this read.
    this.readers.set(key, (this.readers.get(key) ?? 0) + 1);
    try {
      if (job.remote_job_id) {
        const remote = this.options.remote;
        const endpoint = remoteEndpoint(job);
        if (!remote || !endpoint)
          throw new Error(`query job ${id} has a remote result but no way to reach it`);
        // The worker may send fewer rows than asked (its page is bounded in bytes): ask again
        // until the page is as full as a local one. The Catchment cursor is the row offset.
        const rows: unknown[][] = [];
        while (rows.length < limit && offset + rows.length < total) {
          const part = await remote.fetchPage(
            endpoint,
            job.remote_job_id,
            offset + rows.length,
            limit - rows.length,
          );
          if (part.row_count === 0) break;
          rows.push(...part.rows);
        }
        return page(rows);
      }
      const read = await this.options.pages.readPage(
        path.join(this.options.root, job.result_file!),
        job.columns!,
        offset,
        limit,
      );
      return page(read.rows);
    } finally {
      this.readDone(key);
    }
  }

  private readDone(key: string): void {
    const left = (this.readers.get(key) ?? 1) - 1;
    if (left > 0) this.readers.set(key, left);
    else {
      this.readers.delete(key);
      if (this.doomed.delete(key)) this.removeResult(key);
    }
  }

  cancel(who: Identity, id: string): QueryJob {
    const job = this.get(who, id);
    if (FINAL_STATES.includes(job.state)) {
      throw new RequestError(409, 'query_job_finished', `query job ${id} is already ${job.state}`, {
        state: job.state,
      });
    }
    const now = this.options.clock.now();
    const { jobs } = this.options;
    const canceled = jobs.transaction(() => {
      const changed = jobs.finishWithout(
        id,
        ['QUEUED', 'RUNNING'],
        'CANCELED',
        now,
        now + this.config.resultTtlMs,
        {
          code: 'canceled',
          message: 'canceled by its owner',
        },
      );
      if (changed) this.audit(jobs.get(id)!, 'canceled');
      return changed;
    });
    const after = jobs.get(id)!;
    if (!canceled) {
      throw new RequestError(409, 'query_job_finished', `query job ${id} is already ${after.state}`, {
        state: after.state,
      });
    }
    this.controllers.get(id)?.abort(new Error('canceled'));
    this.notify(id);
    return after;
  }

  /** Deletes a finished job and its result file; an unfinished job must be canceled first (409). */
  delete(who: Identity, id: string): void {
    const job = this.get(who, id);
    const { jobs } = this.options;
    const removed = jobs.transaction(() => {
      const gone = jobs.delete(id, FINAL_STATES);
      if (gone) this.audit(gone, 'deleted');
      return gone;
    });
    if (!removed) {
      throw new RequestError(
        409,
        'query_job_not_finished',
        `query job ${id} is ${job.state}: cancel it before deleting it`,
        {
          state: job.state,
        },
      );
    }
    const key = resultKey(removed);
    if (key) this.releaseResult(key);
  }

  /**
   * Marks every job past its TTL EXPIRED and deletes its result (after its last reader): the file,
   * or the worker's copy — best effort, a worker unreachable then drops it at its own TTL.
   */
  expire(): number {
    const { jobs } = this.options;
    const due = jobs.transaction(() => {
      const expired = jobs.expireDue(this.options.clock.now());
      for (const job of expired) this.audit({ ...job, state: 'EXPIRED' }, 'expired');
      return expired;
    });
    for (const job of due) {
      const key = resultKey(job);
      if (key) this.releaseResult(key);
    }
    return due.length;
  }

  private schedule(job: QueryJob): void {
    // Also how jobs waiting since before a restart are counted in the queue again.
    this.options.telemetry?.observe(job, 'queued');
    const controller = new AbortController();
    this.controllers.set(job.id, controller);
    let whole: Promise<void> = Promise.resolve();
    const run = this.scheduler
      .run(
        () => {
          const slot = new LocalSlot();
          whole = this.run(job.id, controller.signal, slot).finally(() => slot.release());
          // The slot is held until the job runs on a worker (then the endpoint's capacity bounds
          // it) or ends; a later local attempt waits for a slot again.
          return slot.freed;
        },
        { principal: job.principal, signal: controller.signal },
      )
      .then(() => whole)
      .catch(() => undefined)
      .finally(() => {
        if (this.controllers.get(job.id) === controller) this.controllers.delete(job.id);
        this.runs.delete(run);
      });
    this.runs.add(run);
  }

  private async run(id: string, signal: AbortSignal, slot: LocalSlot): Promise<void> {
    const { jobs, clock, queries } = this.options;
    if (this.stopping) return;
    const job = jobs.transaction(() => {
      if (!jobs.start(id, clock.now())) return undefined;
      const started = jobs.get(id)!;
      this.audit(started, 'running', { attempt: started.attempts });
      return started;
    });
    if (!job) return;
    this.notify(id);
    const file = path.join(RESULTS_DIRECTORY, `${id}.parquet`);
    const destination = path.join(this.options.root, file);
    rmSync(destination, { force: true });
    const who: Identity = { principal: job.principal, keyId: null };
    try {
      const { result, placement } = await queries.exportPlaced(who, job.sql, {
        id,
        destination,
        signal,
        log: this.attemptLog(job, slot),
        local: (work) =>
          slot.held ? work() : this.scheduler.run(work, { principal: job.principal, signal }),
      });
      const kept = result.remote ? remoteKey(result.remote.endpoint, result.remote.job_id) : null;
      if (this.stopping) {
        if (kept) this.removeResult(kept);
        return;
      }
      const now = clock.now();
      let ttlMs = this.config.resultTtlMs;
      if (result.remote && result.remote.retention_ms - RETENTION_MARGIN_MS < ttlMs) {
        // The job expires when its result does, rather than answering pages the worker no longer
        // has (with equal TTLs that is the margin early: the worker's TTL started first).
        ttlMs = Math.max(0, result.remote.retention_ms - RETENTION_MARGIN_MS);
        if (result.remote.retention_ms < this.config.resultTtlMs)
          this.options.log?.('warn', "the worker's QUERY_RESULT_TTL is shorter than the Catchment's", {
            job: id,
            endpoint: result.remote.endpoint,
            worker_ttl_ms: result.remote.retention_ms,
            catchment_ttl_ms: this.config.resultTtlMs,
          });
      }
      const done = jobs.transaction(() => {
        const changed = jobs.succeed(id, now, now + ttlMs, {
          row_count: result.row_count,
          truncated: result.truncated,
          columns: result.columns,
          result_file: result.remote ? null : file,
          remote_job_id: result.remote?.job_id ?? null,
          placement: placementLabel(placement),
        });
        if (changed)
          this.audit(jobs.get(id)!, 'succeeded', {
            rows: result.row_count,
            placement: placementLabel(placement),
          });
        return changed;
      });
      if (!done) {
        rmSync(destination, { force: true });
        if (kept) this.removeResult(kept);
      }
    } catch (error) {
      rmSync(destination, { force: true });
      // Stopping: the job stays RUNNING and runs again on the next start. Canceled: already final.
      if (this.stopping) return;
      const failure =
        error instanceof DomainError && error.expose
          ? { code: error.code, message: error.message, error_id: error.errorId ?? null }
          : { code: 'internal', message: 'the query failed; see the Catchment log', error_id: null };
      if (!(error instanceof DomainError)) {
        this.options.log?.('error', 'async query failed', { job: id, error: (error as Error).message });
      }
      const now = clock.now();
      jobs.transaction(() => {
        if (jobs.finishWithout(id, ['RUNNING'], 'FAILED', now, now + this.config.resultTtlMs, failure)) {
          this.audit(jobs.get(id)!, 'failed', { code: failure.code });
        }
      });
    } finally {
      this.notify(id);
    }
  }

  private releaseResult(key: string): void {
    if ((this.readers.get(key) ?? 0) > 0) this.doomed.add(key);
    else this.removeResult(key);
  }

  /** Deletes a result: a file under the root, or (best effort) a worker's copy. */
  private removeResult(key: string): void {
    const remote = parseRemoteKey(key);
    if (!remote) {
      this.removeFile(key);
      return;
    }
    this.options.remote?.delete(remote.endpoint, remote.jobId).catch((error: unknown) =>
      this.options.log?.('warn', 'could not delete a result kept on a worker; the worker expires it', {
        endpoint: remote.endpoint,
        worker_job: remote.jobId,
        error: (error as Error).message,
      }),
    );
  }

  private removeFile(file: string): void {
    rmSync(path.join(this.options.root, file), { force: true });
  }

  /** Result files no job names: left by a crash between writing a file and recording the job. */
  private sweepOrphans(): void {
    const named = this.options.jobs.resultFiles();
    for (const name of readdirSync(this.directory)) {
      const file = path.join(RESULTS_DIRECTORY, name);
      if (!named.has(file)) this.removeFile(file);
    }
  }

  /** Records each attempt of a run in the job row (the first is the run's own, numbered by start). */
  private attemptLog(job: QueryJob, slot: LocalSlot): AsyncAttemptLog {
    const { jobs, clock } = this.options;
    let first = true;
    let current: JobAttempt | null = null;
    return {
      begin: (target) => {
        const attempt = first ? job.attempts : (jobs.nextAttempt(job.id) ?? job.attempts);
        first = false;
        current = {
          attempt,
          target,
          outcome: 'running',
          reason: null,
          started_at: clock.now(),
          finished_at: null,
          remote_job_id: null,
        };
        jobs.recordAttempt(job.id, current);
        return attempt;
      },
      submitted: (workerJobId) => {
        slot.release();
        if (!current) return;
        current = { ...current, remote_job_id: workerJobId };
        jobs.recordAttempt(job.id, current);
      },
      end: (outcome, reason) => {
        if (!current) return;
        const ended: JobAttempt = { ...current, outcome, reason, finished_at: clock.now() };
        current = ended;
        jobs.transaction(() => {
          jobs.recordAttempt(job.id, ended);
          if (outcome === 'failed')
            this.audit(jobs.get(job.id) ?? job, 'attempt_failed', {
              attempt: ended.attempt,
              target: ended.target,
              reason,
            });
        });
      },
    };
  }

  private notify(id: string): void {
    for (const done of [...(this.waiters.get(id) ?? [])]) {
      const job = this.options.jobs.get(id);
      if (!job || FINAL_STATES.includes(job.state)) done();
    }
    if (this.waiters.get(id)?.size === 0) this.waiters.delete(id);
  }

  private audit(job: QueryJob, action: string, extra: Record<string, unknown> = {}): void {
    const state: QueryJobState = job.state;
    this.options.telemetry?.observe(job, action);
    this.options.governance.auditQueryJob({ principal: job.principal, keyId: null }, `query_job.${action}`, {
      job: job.id,
      state,
      ...extra,
    });
  }

  private assertEnabled(): void {
    if (!this.config.enabled) throw new AsyncQueriesDisabled();
  }
}
