/**
 * Refusals that protect the query service from one principal's load: each carries the HTTP status
 * and stable code the API answers with, and a message naming the limit that was hit.
 */
export type QueryLimitCode = 'sql_too_large' | 'sql_too_complex' | 'too_many_queries';

const STATUS: Record<QueryLimitCode, number> = {
  sql_too_large: 413,
  sql_too_complex: 400,
  too_many_queries: 429,
};

export class QueryLimitError extends Error {
  readonly status: number;

  constructor(
    readonly code: QueryLimitCode,
    message: string,
    /** For too_many_queries: seconds after which a retry may succeed (the Retry-After header). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'QueryLimitError';
    this.status = STATUS[code];
  }
}

/** Work abandoned because the query's deadline passed before it finished (or started). */
export class QueryDeadlineExceeded extends Error {
  constructor(
    /** The stage that was running or waiting when time ran out, for the audit log. */
    readonly stage: string,
  ) {
    super(`the query's time limit ran out while ${stage}`);
    this.name = 'QueryDeadlineExceeded';
  }
}
