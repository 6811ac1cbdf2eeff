/**
 * Refusals that protect the query service from one principal's load: each carries the HTTP status
 * and stable code the API answers with, and a message naming the limit that was hit.
 */
import { httpStatusForQueryError, type QueryErrorCode } from '../compute/query.js';
import { DomainError } from '../shared/errors.js';

export type QueryLimitCode = 'sql_too_large' | 'sql_too_complex' | 'too_many_queries';

const STATUS: Record<QueryLimitCode, number> = {
  sql_too_large: 413,
  sql_too_complex: 400,
  too_many_queries: 429,
};

export class QueryLimitError extends DomainError {
  declare readonly code: QueryLimitCode;

  constructor(
    code: QueryLimitCode,
    message: string,
    /** For too_many_queries: seconds after which a retry may succeed (the Retry-After header). */
    readonly retryAfterSeconds?: number,
  ) {
    super({
      code,
      httpStatus: STATUS[code],
      message,
      ...(retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(retryAfterSeconds) } } : {}),
    });
  }
}

/** Work abandoned because the query's deadline passed before it finished (or started). */
export class QueryDeadlineExceeded extends DomainError {
  constructor(
    /** The stage that was running or waiting when time ran out, for the audit log. */
    readonly stage: string,
  ) {
    super({ code: 'timeout', httpStatus: 408, message: `the query's time limit ran out while ${stage}` });
  }
}

/** A governed query failed while executing; only the safe message and the error id go out. */
export class QueryExecutionFailed extends DomainError {
  declare readonly errorId: string;

  /** `code` is a QueryErrorCode (sanitize.ts passes only those); anything else answers 400. */
  constructor(code: string, message: string, errorId: string) {
    const httpStatus = httpStatusForQueryError(code as QueryErrorCode) ?? 400;
    super({ code, httpStatus, message, errorId, expose: true });
  }
}
