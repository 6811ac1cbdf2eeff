/**
 * Errors of the query service beyond governance's own (src/governance/errors.ts holds the limit
 * refusals, which governing raises too).
 */
import { httpStatusForQueryError, type QueryErrorCode } from '../compute/query.js';
import { DomainError } from '../shared/errors.js';

/** A governed query failed while executing; only the safe message and the error id go out. */
export class QueryExecutionFailed extends DomainError {
  declare readonly errorId: string;

  /** `code` is a QueryErrorCode (sanitize.ts passes only those); anything else answers 400. */
  constructor(code: string, message: string, errorId: string) {
    const httpStatus = httpStatusForQueryError(code as QueryErrorCode) ?? 400;
    super({ code, httpStatus, message, errorId, expose: true });
  }
}
