/** Errors of the governance layer, each with the HTTP status the API layer answers with. */
import { DomainError } from '../shared/errors.js';

export type GovernanceErrorCode = 'invalid_sql' | 'permission_denied' | 'not_allowed' | 'unknown_table';

const STATUS: Record<GovernanceErrorCode, number> = {
  invalid_sql: 400,
  permission_denied: 403,
  not_allowed: 403,
  /** A table that does not exist and one the caller may not read get this same answer. */
  unknown_table: 404,
};

/**
 * A query was refused before anything executed. The message is safe to show the caller: it
 * names only what the caller wrote or may see.
 */
export class GovernanceError extends DomainError {
  declare readonly code: GovernanceErrorCode;

  constructor(code: GovernanceErrorCode, message: string) {
    super({ code, httpStatus: STATUS[code], message });
  }
}

/** A policy document (or one of its expressions) is invalid; `issues` lists every problem found. */
export class PolicyError extends DomainError {
  constructor(readonly issues: readonly string[]) {
    super({
      code: 'invalid_policy',
      httpStatus: 422,
      message: `invalid policy: ${issues.join('; ')}`,
      details: issues,
    });
  }
}

/**
 * Refusals that protect the query path from one principal's load: each carries the HTTP status and
 * stable code the API answers with, and a message naming the limit that was hit. The query service
 * raises them before governing (text size, nesting, queries in progress), the governor pool while
 * governing (memory, deadline).
 */
export type QueryLimitCode = 'sql_too_large' | 'sql_too_complex' | 'too_many_queries';

const LIMIT_STATUS: Record<QueryLimitCode, number> = {
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
      httpStatus: LIMIT_STATUS[code],
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
