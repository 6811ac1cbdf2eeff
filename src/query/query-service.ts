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
  /** A read by a tap principal: pull demand on that Pond line. */
  onTapRead?: (pond: string, major: number) => void;
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
   * (its audit entry also names the job), its whole result written to `destination` as Parquet.
   * Local only for now: the seam for running it on a worker is here, where `router` would take the
   * 'async' job kind and the worker would keep the file.
   */
  async exportPlaced(
    who: Identity,
    sql: string,
    job: { id: string; destination: string; signal?: AbortSignal },
  ): Promise<{ result: { row_count: number; columns: ExportedColumn[] }; placement: Placement }> {
    const exporter = this.options.exporter;
    if (!exporter) throw new Error('this query service has no result exporter');
    return this.governed(who, sql, { async_job: job.id }, (request, placed) => {
      placed({ kind: 'local' });
      return exporter.exportResult(request, job.destination, job.signal);
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
