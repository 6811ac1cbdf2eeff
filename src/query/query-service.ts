/**
 * The query service: one governed query from acceptance to answer — govern → route → execute →
 * audit. Governance decides what `who` may see and rewrites the SQL (src/governance/service.ts);
 * a QueryBackend runs the rewritten SQL against snapshot references (src/compute/query-backend.ts);
 * this module holds the order, the load limits and the one audit entry each query leaves.
 *
 * Load limits (docs/governance.md, "Limits"): the SQL's size and nesting are checked before anything
 * else (QueryLimitError), then the principal's queries in progress (429 past
 * maxQueriesPerPrincipal); governing runs on the worker pool, and one time limit counts from
 * acceptance to the last row. Refusals keep their precise (safe) message; any error while executing
 * becomes a generic message with an error id (DuckDB's own, scrubbed, for an administrator), the
 * full text going to the audit log.
 */

import type { ResultExporter } from '../compute/local-query-backend.js';
import { type ExportedColumn, QueryError, type QueryResult } from '../compute/query.js';
import type { QueryBackendRequest } from '../compute/query-backend.js';
import { type FailureReason, RemoteCallFailed, reasonText } from '../compute/remote/errors.js';
import { AsyncAttemptsExhausted, type RemoteJobs } from '../compute/remote/remote-jobs.js';
import type { QueryRouter } from '../compute/remote/router.js';
import type { SnapshotRef } from '../compute/snapshot-store.js';
import { type Placement, placementLabel } from '../compute/topology.js';
import type { Catalog } from '../governance/catalog.js';
import { QueryDeadlineExceeded } from '../governance/errors.js';
import type { GovernedQuery } from '../governance/rewrite.js';
import { sanitizeExecutionError } from '../governance/sanitize.js';
import type { GovernanceService, Identity } from '../governance/service.js';
import type { AuditEntry } from '../governance/store.js';
import { DomainError } from '../shared/errors.js';
import { QueryAdmission } from './admission.js';
import { QueryExecutionFailed } from './errors.js';
import { checkSqlText, type QueryLimitsConfig } from './limits.js';

/** The published data a query is governed against and reads: one consistent view, leased. */
export interface QuerySnapshot {
  catalog: Catalog;
  /** Per 'pond@N.table' key (lower case), the snapshot a query would read. */
  refs: ReadonlyMap<string, SnapshotRef>;
  /** Lets garbage collection have the files again; called once the query is done. */
  release(): void;
}

export interface QuerySnapshots {
  snapshot(): Promise<QuerySnapshot>;
}

export interface QueryServiceOptions {
  governance: GovernanceService;
  snapshots: QuerySnapshots;
  /**
   * Where a governed query runs: locally or on a worker, with fallback (src/compute/remote/router.ts;
   * `localRouter(backend)` runs everything locally).
   */
  router: QueryRouter;
  limits: QueryLimitsConfig;
  /** Writes an async query's result file (local execution); absent: async queries cannot run. */
  exporter?: ResultExporter;
  /** Runs async jobs on workers when the router places them there; absent: async jobs run locally. */
  remoteJobs?: RemoteJobs;
  /** A read by a tap principal: pull demand on that Pond line. */
  onTapRead?: (pond: string, major: number) => void;
}

/** Attempts an async job makes at most per run (a path failure moves it to the next target). */
export const MAX_ASYNC_ATTEMPTS = 3;

/** Where an async job's attempts are recorded (the job row's attempt history). */
export interface AsyncAttemptLog {
  /** An attempt starts on `target` (local, remote:NAME, fallback:NAME); returns its number. */
  begin(target: string): number;
  /** The worker took the attempt as its job `workerJobId`. */
  submitted(workerJobId: string): void;
  /** The attempt ended; `reason` says why it did not succeed. */
  end(outcome: 'succeeded' | 'failed' | 'canceled', reason: string | null): void;
}

/** What an async job's run produced: a local Parquet file, or a result kept on a worker. */
export interface ExportedJobResult {
  row_count: number;
  truncated: boolean;
  columns: ExportedColumn[];
  /** Set when the result stays on a worker. */
  remote?: { endpoint: string; job_id: string; retention_ms: number };
}

export class QueryService {
  readonly limits: QueryLimitsConfig;
  private readonly admission: QueryAdmission;

  constructor(private readonly options: QueryServiceOptions) {
    this.limits = options.limits;
    this.admission = new QueryAdmission(options.limits.maxQueriesPerPrincipal);
  }

  /** Governs, runs and audits one query of `who`. */
  async query(who: Identity, sql: string): Promise<QueryResult> {
    return (await this.queryPlaced(who, sql)).result;
  }

  /**
   * As `query`, also saying where the query ran (the HTTP answer's `x-duckstring-executed-on`).
   * The audit entry records it too: `placement` (local, remote:NAME, fallback:NAME) and, after a
   * fallback, `fallback_reason`.
   */
  async queryPlaced(who: Identity, sql: string): Promise<{ result: QueryResult; placement: Placement }> {
    return this.governed(who, sql, {}, (request, placed) =>
      this.options.router.execute(request, 'interactive', placed),
    );
  }

  /**
   * An async query's run (src/catchment/async/): governed, limited and audited exactly like `query`
   * (one audit entry, which also names the job). The router places it like an interactive query of
   * the 'async' kind. Locally the whole result is written to `destination` as Parquet; on a worker
   * it stays there (FetchPage pages it). A failed path (worker unreachable, killed, draining) fails
   * only that attempt: the job re-plans without that endpoint — another worker, or local when the
   * assignment allows fallback — for at most MAX_ASYNC_ATTEMPTS attempts, each recorded in `log`.
   */
  async exportPlaced(
    who: Identity,
    sql: string,
    job: {
      id: string;
      destination: string;
      signal?: AbortSignal;
      log?: AsyncAttemptLog;
      /** Wraps a local attempt (the caller's admission: local runs wait for its slots). */
      local?: <T>(work: () => Promise<T>) => Promise<T>;
    },
  ): Promise<{ result: ExportedJobResult; placement: Placement }> {
    const exporter = this.options.exporter;
    if (!exporter) throw new Error('this query service has no result exporter');
    const { router, remoteJobs } = this.options;
    const log = job.log;
    return this.governed(who, sql, { async_job: job.id }, async (request, placed) => {
      const started = performance.now();
      const avoid = new Map<string, FailureReason>();
      let where: Placement = { kind: 'local' };
      const track = (placement: Placement) => {
        where = placement;
        placed(placement);
      };
      for (let attempt = 1; ; attempt++) {
        // The attempts share the query's one time limit.
        const timeoutMs = Math.floor(request.timeoutMs - (performance.now() - started));
        if (timeoutMs <= 0)
          throw new QueryError('timeout', 'query exceeded its time limit', 'while retrying');
        const current: QueryBackendRequest = { ...request, timeoutMs };
        let begun = false;
        let number = 0;
        const begin = (target: string) => {
          begun = true;
          number = log?.begin(target) ?? attempt;
        };
        try {
          const result = await router.attempt<ExportedJobResult>(
            who.principal,
            'async',
            {
              local: async () => {
                begin(placementLabel(where));
                const work = () => exporter.exportResult(current, job.destination, job.signal);
                const done = await (job.local ? job.local(work) : work());
                return { ...done, truncated: false };
              },
              remote: async (candidate, connect) => {
                if (!remoteJobs) throw new Error('this query service has no remote job client');
                begin(`remote:${candidate.endpoint.name}`);
                const done = await remoteJobs.run(connect, current, {
                  // A new attempt is a new worker job; the same attempt submitted twice is not.
                  requestId: `${job.id}.${number}`,
                  ...(job.signal ? { signal: job.signal } : {}),
                  ...(log ? { submitted: (id: string) => log.submitted(id) } : {}),
                });
                return {
                  row_count: done.row_count,
                  truncated: done.truncated,
                  // The worker's values are already converted: the type is all a page needs.
                  columns: done.columns.map((c) => ({ ...c, sql_type: c.type })),
                  remote: {
                    endpoint: candidate.endpoint.name,
                    job_id: done.jobId,
                    retention_ms: done.retentionMs,
                  },
                };
              },
            },
            track,
            avoid,
          );
          log?.end('succeeded', null);
          return result;
        } catch (error) {
          if (!begun && error instanceof DomainError && error.code === 'compute_unavailable') {
            // Refused before any call (no fallback): still an attempt the caller sees.
            begin(placementLabel(where));
          }
          if (job.signal?.aborted) {
            log?.end('canceled', null);
            throw error;
          }
          if (error instanceof RemoteCallFailed) {
            log?.end('failed', `${error.reason}: ${reasonText(error.reason)}`);
            avoid.set(error.endpoint, error.reason);
            if (attempt < MAX_ASYNC_ATTEMPTS) continue;
            throw new AsyncAttemptsExhausted(error.endpoint, error.reason, attempt);
          }
          // The query's own error is the job's (sanitized) error; its code says enough here.
          if (begun)
            log?.end(
              'failed',
              error instanceof QueryError ? error.code : error instanceof DomainError ? error.message : null,
            );
          throw error;
        }
      }
    });
  }

  private async governed<T extends { row_count: number }>(
    who: Identity,
    sql: string,
    context: Record<string, unknown>,
    execute: (request: QueryBackendRequest, placed: (where: Placement) => void) => Promise<T>,
  ): Promise<{ result: T; placement: Placement }> {
    const { governance, snapshots } = this.options;
    const started = performance.now();
    const limits = this.limits;
    const detail: Record<string, unknown> = { ...context };
    const audit = (decision: AuditEntry['decision']) =>
      governance.auditQuery(who, decision, {
        ...detail,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      });
    // The cheap refusals come first: a text past the limits, or a principal with as many queries in
    // progress as it may have, costs no parsing, no snapshot and no slot.
    let release: () => void;
    try {
      checkSqlText(sql, limits);
      detail.sql = sql;
      release = this.admission.admit(who.principal);
    } catch (error) {
      if (detail.sql === undefined) detail.sql_bytes = Buffer.byteLength(sql, 'utf8');
      detail.reason = (error as Error).message;
      audit('denied');
      throw error;
    }
    // One deadline from acceptance covers governing, waiting for a slot and executing.
    const remainingMs = () => Math.floor(limits.timeoutMs - (performance.now() - started));
    const failed = (error: unknown, relations?: Map<string, string>) => {
      const safe = sanitizeExecutionError(error, relations, { admin: governance.isAdmin(who) });
      detail.error_id = safe.errorId;
      detail.error = safe.detail;
      // What the caller was told: all that looking the error up shows a principal not an administrator.
      detail.message = safe.publicMessage;
      audit('failed');
      return new QueryExecutionFailed(safe.code, safe.publicMessage, safe.errorId);
    };
    const timedOut = (stage: string, cause?: unknown) =>
      failed(
        new QueryError(
          'timeout',
          `query exceeded its time limit of ${limits.timeoutMs} ms (while ${stage})`,
          cause instanceof Error ? cause.message : undefined,
        ),
      );
    let snapshot: QuerySnapshot | undefined;
    try {
      snapshot = await snapshots.snapshot();
      // govern
      let governed: GovernedQuery;
      try {
        governed = await governance.govern(who, sql, snapshot.catalog, remainingMs());
      } catch (error) {
        if (error instanceof QueryDeadlineExceeded) throw timedOut(error.stage);
        detail.reason = (error as Error).message;
        audit('denied');
        throw error;
      }
      detail.rewritten_sql = governed.sql;
      detail.tables = governed.tables.map((t) => t.key);
      detail.columns = governed.columns;
      const tables: QueryBackendRequest['tables'] = [];
      for (const t of governed.tables) {
        const ref = snapshot.refs.get(t.key);
        if (ref) tables.push({ relation: t.relation, snapshot: ref });
      }
      const timeoutMs = remainingMs();
      if (timeoutMs <= 0) throw timedOut('governing');
      // route → execute
      const request: QueryBackendRequest = { sql: governed.sql, tables, principal: who.principal, timeoutMs };
      let result: T;
      let placement: Placement = { kind: 'local' };
      const placed = (where: Placement) => {
        placement = where;
        detail.placement = placementLabel(where);
        if (where.kind === 'fallback') detail.fallback_reason = where.reason;
        else delete detail.fallback_reason;
      };
      try {
        result = await execute(request, placed);
      } catch (error) {
        if (error instanceof DomainError && error.code === 'compute_unavailable') {
          // The path to the worker failed and fallback is off: the message is the caller's answer.
          detail.reason = error.message;
          audit('failed');
          throw error;
        }
        if ((error as { code?: unknown }).code === 'timeout') {
          const waited = String((error as { detail?: unknown }).detail).startsWith('while waiting');
          throw timedOut(waited ? 'waiting for a query slot' : 'executing', error);
        }
        throw failed(error, new Map(governed.tables.map((t) => [t.relation, t.key])));
      }
      // audit
      detail.rows = result.row_count;
      audit('allowed');
      if (this.options.onTapRead && governance.isTap(who)) {
        const lines = new Map(governed.tables.map((t) => [`${t.pond}@${t.major}`, t]));
        for (const t of lines.values()) this.options.onTapRead(t.pond, t.major);
      }
      return { result, placement };
    } finally {
      snapshot?.release();
      release();
    }
  }
}
