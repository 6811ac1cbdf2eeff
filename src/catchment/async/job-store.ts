/**
 * Async query jobs in duck.db (table `query_jobs`). Every state change is one conditional UPDATE
 * (`WHERE state = expected`), so a job moves to a final state exactly once even when the runner,
 * a cancel and the cleanup timer race: the loser changes nothing and learns the current state.
 */
import { randomBytes } from 'node:crypto';
import type { ColumnInfo } from '../../compute/results.js';
import type { Db } from '../store/db.js';
import { SqlRunner } from '../store/sql.js';
import type { QueryJobState, QueryJobsTable } from '../store/tables.js';

export type { QueryJobState };

export const FINAL_STATES: readonly QueryJobState[] = ['SUCCEEDED', 'FAILED', 'CANCELED', 'EXPIRED'];

/** A column of a stored result: `sql_type` is what the Parquet column is cast back to when read. */
export interface StoredColumn extends ColumnInfo {
  sql_type: string;
}

export interface QueryJob {
  id: string;
  principal: string;
  request_id: string | null;
  sql: string;
  state: QueryJobState;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  expires_at: number | null;
  error: { code: string; message: string; error_id: string | null } | null;
  row_count: number | null;
  truncated: boolean | null;
  columns: StoredColumn[] | null;
  result_file: string | null;
  placement: string | null;
  /** The worker's id of the job when its result is kept on the worker named by `placement`. */
  remote_job_id: string | null;
  attempt_log: JobAttempt[];
}

/** One attempt of a job: where it ran and how it ended. */
export interface JobAttempt {
  attempt: number;
  /** local, remote:NAME or fallback:NAME. */
  target: string;
  outcome: 'running' | 'succeeded' | 'failed' | 'canceled' | 'interrupted';
  /** Why it did not succeed (for a path failure: the reason and what it means). */
  reason: string | null;
  started_at: number;
  finished_at: number | null;
  remote_job_id: string | null;
}

/** `q_` and 128 random bits in lowercase hex: unguessable, and safe as a file name. */
export const JOB_ID_PATTERN = /^q_[0-9a-f]{32}$/;

export function newJobId(): string {
  return `q_${randomBytes(16).toString('hex')}`;
}

function toJob(row: QueryJobsTable): QueryJob {
  return {
    id: row.id,
    principal: row.principal,
    request_id: row.request_id,
    sql: row.sql,
    state: row.state,
    attempts: row.attempts,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    expires_at: row.expires_at,
    error:
      row.error_code === null
        ? null
        : { code: row.error_code, message: row.error_message ?? '', error_id: row.error_id },
    row_count: row.row_count,
    truncated: row.truncated === null ? null : row.truncated === 1,
    columns: row.columns === null ? null : (JSON.parse(row.columns) as StoredColumn[]),
    result_file: row.result_file,
    placement: row.placement,
    remote_job_id: row.remote_job_id,
    attempt_log: JSON.parse(row.attempt_log) as JobAttempt[],
  };
}

export interface JobSuccess {
  row_count: number;
  truncated: boolean;
  columns: StoredColumn[];
  /** The local Parquet file; null when the result stays on a worker (`remote_job_id`). */
  result_file: string | null;
  placement: string;
  remote_job_id?: string | null;
}

export class QueryJobRepository {
  private readonly sql: SqlRunner;

  constructor(db: Db) {
    this.sql = new SqlRunner(db);
  }

  /** Runs `fn` in one transaction of duck.db, which also holds the audit log. */
  transaction<T>(fn: () => T): T {
    return this.sql.transaction(fn);
  }

  get(id: string): QueryJob | undefined {
    const row = this.sql.first(this.sql.build.selectFrom('query_jobs').selectAll().where('id', '=', id));
    return row && toJob(row);
  }

  byRequestId(principal: string, requestId: string): QueryJob | undefined {
    const row = this.sql.first(
      this.sql.build
        .selectFrom('query_jobs')
        .selectAll()
        .where('principal', '=', principal)
        .where('request_id', '=', requestId),
    );
    return row && toJob(row);
  }

  /** Inserts a QUEUED job. */
  insert(job: {
    id: string;
    principal: string;
    request_id: string | null;
    sql: string;
    at: number;
  }): QueryJob {
    return this.sql.transaction(() => {
      const last = this.sql.first(
        this.sql.build.selectFrom('query_jobs').select((eb) => eb.fn.max('seq').as('seq')),
      );
      this.sql.run(
        this.sql.build.insertInto('query_jobs').values({
          id: job.id,
          seq: (last?.seq ?? 0) + 1,
          principal: job.principal,
          request_id: job.request_id,
          sql: job.sql,
          state: 'QUEUED',
          attempts: 0,
          created_at: job.at,
          started_at: null,
          finished_at: null,
          expires_at: null,
          error_code: null,
          error_message: null,
          error_id: null,
          row_count: null,
          truncated: null,
          columns: null,
          result_file: null,
          placement: null,
          remote_job_id: null,
          attempt_log: '[]',
        }),
      );
      return this.get(job.id)!;
    });
  }

  /** A principal's jobs, newest first; `before` is the seq cursor of the previous page. */
  list(principal: string, limit: number, before?: number): Array<QueryJob & { seq: number }> {
    let q = this.sql.build
      .selectFrom('query_jobs')
      .selectAll()
      .where('principal', '=', principal)
      .orderBy('seq', 'desc')
      .limit(limit);
    if (before !== undefined) q = q.where('seq', '<', before);
    return this.sql.all(q).map((r) => ({ ...toJob(r), seq: r.seq }));
  }

  /** Jobs in `state`, oldest first. */
  inState(state: QueryJobState): QueryJob[] {
    return this.sql
      .all(
        this.sql.build.selectFrom('query_jobs').selectAll().where('state', '=', state).orderBy('seq', 'asc'),
      )
      .map(toJob);
  }

  countQueued(principal: string): number {
    const row = this.sql.first(
      this.sql.build
        .selectFrom('query_jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('principal', '=', principal)
        .where('state', 'in', ['QUEUED', 'RUNNING']),
    );
    return Number(row?.n ?? 0);
  }

  /** QUEUED → RUNNING (attempts + 1); false when the job was not QUEUED any more. */
  start(id: string, at: number): boolean {
    return (
      this.sql.run(
        this.sql.build
          .updateTable('query_jobs')
          .set((eb) => ({ state: 'RUNNING', started_at: at, attempts: eb('attempts', '+', 1) }))
          .where('id', '=', id)
          .where('state', '=', 'QUEUED'),
      ) === 1
    );
  }

  /** RUNNING → SUCCEEDED; false when the job was canceled or deleted meanwhile. */
  succeed(id: string, at: number, expiresAt: number, result: JobSuccess): boolean {
    return (
      this.sql.run(
        this.sql.build
          .updateTable('query_jobs')
          .set({
            state: 'SUCCEEDED',
            finished_at: at,
            expires_at: expiresAt,
            row_count: result.row_count,
            truncated: result.truncated ? 1 : 0,
            columns: JSON.stringify(result.columns),
            result_file: result.result_file,
            placement: result.placement,
            remote_job_id: result.remote_job_id ?? null,
          })
          .where('id', '=', id)
          .where('state', '=', 'RUNNING'),
      ) === 1
    );
  }

  /** `from` → FAILED or CANCELED with the reason; false when the job was not in `from`. */
  finishWithout(
    id: string,
    from: readonly QueryJobState[],
    to: 'FAILED' | 'CANCELED',
    at: number,
    expiresAt: number,
    error: { code: string; message: string; error_id?: string | null },
  ): boolean {
    return (
      this.sql.run(
        this.sql.build
          .updateTable('query_jobs')
          .set({
            state: to,
            finished_at: at,
            expires_at: expiresAt,
            error_code: error.code,
            error_message: error.message,
            error_id: error.error_id ?? null,
          })
          .where('id', '=', id)
          .where('state', 'in', [...from]),
      ) === 1
    );
  }

  /**
   * RUNNING → QUEUED, for every job a previous process left running; returns them as they were
   * (a remote attempt's worker job is then abandoned). Their open attempt is marked interrupted.
   */
  requeueRunning(at: number): QueryJob[] {
    return this.sql.transaction(() => {
      const running = this.inState('RUNNING');
      for (const job of running) {
        const log = job.attempt_log.map((a) =>
          a.outcome === 'running'
            ? { ...a, outcome: 'interrupted' as const, reason: 'the Catchment restarted', finished_at: at }
            : a,
        );
        this.sql.run(
          this.sql.build
            .updateTable('query_jobs')
            .set({ state: 'QUEUED', started_at: null, attempt_log: JSON.stringify(log) })
            .where('id', '=', job.id)
            .where('state', '=', 'RUNNING'),
        );
      }
      return running;
    });
  }

  /** Another attempt of a RUNNING job (after one failed on its path); returns its number. */
  nextAttempt(id: string): number | undefined {
    return this.sql.transaction(() => {
      const changed = this.sql.run(
        this.sql.build
          .updateTable('query_jobs')
          .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
          .where('id', '=', id)
          .where('state', '=', 'RUNNING'),
      );
      return changed === 1 ? this.get(id)!.attempts : undefined;
    });
  }

  /** Adds attempt `entry.attempt` to the job's history, or replaces it (its outcome changed). */
  recordAttempt(id: string, entry: JobAttempt): void {
    this.sql.transaction(() => {
      const job = this.get(id);
      if (!job) return;
      const log = job.attempt_log.filter((a) => a.attempt !== entry.attempt);
      log.push(entry);
      log.sort((a, b) => a.attempt - b.attempt);
      this.sql.run(
        this.sql.build
          .updateTable('query_jobs')
          .set({ attempt_log: JSON.stringify(log) })
          .where('id', '=', id),
      );
    });
  }

  /** Finished jobs whose TTL passed → EXPIRED; returns them as they were (result files to delete). */
  expireDue(now: number): QueryJob[] {
    return this.sql.transaction(() => {
      const due = this.sql
        .all(
          this.sql.build
            .selectFrom('query_jobs')
            .selectAll()
            .where('state', 'in', ['SUCCEEDED', 'FAILED', 'CANCELED'])
            .where('expires_at', '<=', now),
        )
        .map(toJob);
      for (const job of due) {
        this.sql.run(
          this.sql.build
            .updateTable('query_jobs')
            .set({ state: 'EXPIRED', result_file: null, remote_job_id: null })
            .where('id', '=', job.id)
            .where('state', '=', job.state),
        );
      }
      return due;
    });
  }

  /** Removes a job; returns it as it was, or undefined when it was not in one of `states`. */
  delete(id: string, states: readonly QueryJobState[]): QueryJob | undefined {
    return this.sql.transaction(() => {
      const job = this.get(id);
      if (!job || !states.includes(job.state)) return undefined;
      this.sql.run(this.sql.build.deleteFrom('query_jobs').where('id', '=', id));
      return job;
    });
  }

  /** Result files still named by a job (the rest under results/ are orphans of a crash). */
  resultFiles(): Set<string> {
    return new Set(
      this.sql
        .all(
          this.sql.build.selectFrom('query_jobs').select('result_file').where('result_file', 'is not', null),
        )
        .map((r) => r.result_file!),
    );
  }
}
