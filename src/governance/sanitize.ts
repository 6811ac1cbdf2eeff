/**
 * Errors raised while a governed query runs must not reach the caller verbatim: DuckDB has no
 * security barrier, so a message such as "Could not convert string 'x' to INT32" may quote a
 * value from a row the caller cannot see (node-stack.md §4, side channel). The caller gets a
 * generic message with an error id; the full text goes to the audit log under the same id.
 *
 * Errors from binding are the exception: the executor reports them as `invalid_sql` only when they
 * arose before any row was read (unknown column, ambiguous name, wrong argument types), so they
 * depend on nothing but the SQL text and the shapes of tables the caller may read. The caller gets
 * DuckDB's message, cut before the excerpt of the rewritten SQL and with the raw relations named
 * as the tables they stand for.
 *
 * Administrators may read the audit log, which holds the full text of every error, so hiding it
 * from them protects nothing: an administrator's own failed query answers with DuckDB's message
 * (cut before the excerpt of the rewritten SQL, raw relations named as their tables, file paths
 * replaced) and the error id. Everyone else keeps the generic message: an error raised while rows
 * flow may quote a value of a row their filter hides.
 */
import { randomUUID } from 'node:crypto';

export interface SanitizedError {
  /** Safe to return to the caller. */
  publicMessage: string;
  /** Quote this id in the audit log entry holding `detail`. */
  errorId: string;
  /** The original message, for the audit log only. */
  detail: string;
  /** The executor's error code when it is safe to show (e.g. 'timeout'), else 'execution_failed'. */
  code: string;
}

/** Executor codes whose own messages are written by us and never quote data. */
const SAFE_CODES = new Set(['timeout', 'resource_limit', 'snapshot_unavailable', 'invalid_request']);
/** Executor codes carrying DuckDB's message from before any row was read. */
const BIND_CODES = new Set(['invalid_sql', 'unknown_table']);

/**
 * `relations`: raw relation name used in the rewritten SQL ('schema.view') → the table it stands
 * for ('pond@N.table'), so a message never shows an internal name.
 */
export function sanitizeExecutionError(
  error: unknown,
  relations: ReadonlyMap<string, string> = new Map(),
  caller: { admin: boolean } = { admin: false },
): SanitizedError {
  const errorId = randomUUID();
  const message = error instanceof Error ? error.message : String(error);
  const extra = (error as { detail?: unknown } | null)?.detail;
  const detail = typeof extra === 'string' && extra !== message ? `${message}\n${extra}` : message;
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : 'execution_failed';
  if (BIND_CODES.has(code)) {
    return { publicMessage: bindMessage(message, relations), errorId, detail, code };
  }
  const publicMessage = SAFE_CODES.has(code)
    ? `${withTableNames(message, relations)} (error id ${errorId})`
    : caller.admin
      ? `${withoutInternals(bindMessage(message, relations))} (error id ${errorId})`
      : `the query failed while executing (error id ${errorId})`;
  return { publicMessage, errorId, detail, code: SAFE_CODES.has(code) ? code : 'execution_failed' };
}

/** DuckDB's message without the excerpt of the (rewritten) SQL it points into. */
function bindMessage(message: string, relations: ReadonlyMap<string, string>): string {
  return withTableNames(message.split(/\n\s*LINE \d+:/)[0]!.trimEnd(), relations);
}

/** What `withTableNames` could not map: raw relations of other queries, absolute file paths. */
function withoutInternals(message: string): string {
  return message
    .replace(/"?raw_[0-9a-f]{32}"?(\."?t\d+"?)?/g, '<relation>')
    .replace(/(^|[\s'"(=:])\/(?:[^\s'"/()]+\/)+[^\s'"/()]*/g, '$1<path>');
}

/** Internal relation names replaced by the tables they stand for. */
function withTableNames(message: string, relations: ReadonlyMap<string, string>): string {
  let text = message;
  for (const [relation, table] of relations) {
    const [schema, view] = relation.split('.') as [string, string];
    for (const written of [`"${schema}"."${view}"`, `${schema}.${view}`, `"${schema}"`, schema]) {
      text = text.split(written).join(table);
    }
  }
  return text;
}
