/**
 * Errors raised while a governed query runs must not reach the caller verbatim: DuckDB has no
 * security barrier, so a message such as "Could not convert string 'x' to INT32" may quote a
 * value from a row the caller cannot see (node-stack.md §4, side channel). The caller gets a
 * generic message with an error id; the full text goes to the audit log under the same id.
 */
import { randomUUID } from 'node:crypto';

export interface SanitizedError {
  /** Safe to return to the caller. */
  publicMessage: string;
  /** Quote this id in the audit log entry holding `detail`. */
  errorId: string;
  /** The original message, for the audit log only. */
  detail: string;
  /** The executor's error code when it had one (e.g. 'timeout'), else 'execution_failed'. */
  code: string;
}

/** Executor codes whose own messages are written by us and never quote data. */
const SAFE_CODES = new Set(['timeout', 'resource_limit', 'snapshot_unavailable', 'invalid_request']);

export function sanitizeExecutionError(error: unknown): SanitizedError {
  const errorId = randomUUID();
  const message = error instanceof Error ? error.message : String(error);
  const extra = (error as { detail?: unknown } | null)?.detail;
  const detail = typeof extra === 'string' && extra !== message ? `${message}\n${extra}` : message;
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : 'execution_failed';
  const publicMessage = SAFE_CODES.has(code)
    ? `${message} (error id ${errorId})`
    : `the query failed while executing (error id ${errorId})`;
  return { publicMessage, errorId, detail, code: SAFE_CODES.has(code) ? code : 'execution_failed' };
}
