/** Async queries (FEATURE_ASYNC_QUEUE): submit, list, show, page results, cancel, delete. */
import { api } from '../../../api/index.js';
import type { QueryJobView } from '../../../api/queries.js';
import type { Identity } from '../../../governance/service.js';
import { checkSqlText } from '../../../query/limits.js';
import { DomainError } from '../../../shared/errors.js';
import type { Application } from '../../app/index.js';
import type { QueryJob } from '../../async/job-store.js';
import { AsyncQueriesDisabled } from '../../async/service.js';
import type { RouteTable } from '../routes.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What a caller is shown of a job: never the result file's path. */
export function jobView(job: QueryJob): QueryJobView {
  return {
    id: job.id,
    state: job.state,
    sql: job.sql,
    request_id: job.request_id,
    attempts: job.attempts,
    created_at: new Date(job.created_at).toISOString(),
    started_at: iso(job.started_at),
    finished_at: iso(job.finished_at),
    expires_at: iso(job.expires_at),
    error: job.error,
    row_count: job.row_count,
    placement: job.placement,
    attempt_log: job.attempt_log.map((a) => ({
      ...a,
      started_at: new Date(a.started_at).toISOString(),
      finished_at: iso(a.finished_at),
    })),
  };
}

/**
 * What can be refused at submission without a job, with the interactive query's answers: the text
 * limits (413 sql_too_large, 400 sql_too_complex), then empty, unparseable or not a single SELECT
 * (400 invalid_sql, 403 not_allowed). Tables and grants are left to the run: checking them here
 * would answer before the job exists what only the governed run may say, and a table published
 * between submission and run would be refused for nothing. Refusals are audited as denied queries.
 */
async function checkSubmission(app: Application, who: Identity, sql: string): Promise<void> {
  const limits = app.queries.limits;
  try {
    checkSqlText(sql, limits);
    await app.governance.checkStatement(who, sql, limits.timeoutMs);
  } catch (error) {
    const size = Buffer.byteLength(sql, 'utf8');
    app.governance.auditQuery(who, 'denied', {
      ...(size > limits.maxSqlBytes ? { sql_bytes: size } : { sql }),
      reason: (error as Error).message,
      async_submission: true,
    });
    throw error;
  }
}

export function registerAsyncQueryRoutes(routes: RouteTable, app: Application): void {
  const jobs = app.asyncQueries;
  const { queries } = api;
  routes.implement(queries.submit, async ({ body, identity, reply }) => {
    if (!jobs.config.enabled) throw new AsyncQueriesDisabled();
    await checkSubmission(app, identity, body.sql);
    const { job } = jobs.submit(identity, { sql: body.sql, request_id: body.request_id });
    const waited = body.wait ? await jobs.waitFor(identity, job.id, body.wait * 1000) : job;
    if (waited.state === 'SUCCEEDED') {
      reply.status(200);
      // A result too large for one page (cursor mode off) is not an error of the submission: the
      // job is answered alone, and asking for its results says why there are none.
      const results = await jobs.results(identity, job.id, {}).catch((error: unknown) => {
        if (error instanceof DomainError && error.code === 'result_too_large') return undefined;
        throw error;
      });
      return results ? { job: jobView(waited), results } : { job: jobView(waited) };
    }
    return { job: jobView(waited) };
  });
  routes.implement(queries.list, ({ query, identity }) => {
    const page = jobs.list(identity, query.limit, query.cursor);
    return { jobs: page.jobs.map(jobView), next_cursor: page.next_cursor };
  });
  routes.implement(queries.show, ({ params, identity }) => jobView(jobs.get(identity, params.id)));
  routes.implement(queries.results, ({ params, query, identity }) =>
    jobs.results(identity, params.id, {
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      ...(query.max_rows !== undefined ? { max_rows: query.max_rows } : {}),
    }),
  );
  routes.implement(queries.cancel, ({ params, identity }) => jobView(jobs.cancel(identity, params.id)));
  routes.implement(queries.remove, ({ params, identity }) => {
    jobs.delete(identity, params.id);
    return { ok: true as const };
  });
}
