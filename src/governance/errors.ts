/** Errors of the governance layer, each with the HTTP status the API layer should answer with. */

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
export class GovernanceError extends Error {
  readonly status: number;

  constructor(
    readonly code: GovernanceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'GovernanceError';
    this.status = STATUS[code];
  }
}

/** A policy document (or one of its expressions) is invalid; `issues` lists every problem found. */
export class PolicyError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid policy: ${issues.join('; ')}`);
    this.name = 'PolicyError';
  }
}
