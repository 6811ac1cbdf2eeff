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
