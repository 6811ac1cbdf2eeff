/**
 * Naming rules of pond.toml, Ripples and tables, on the shared identifiers (src/shared/ids.ts).
 */
import { DUCKDB_RESERVED_NAMES, MAX_NAME_LENGTH, NAME_PATTERN, NAME_RULE } from '../shared/ids.js';

/**
 * Table names a Pond may not create. A leading `_` is kept for the runtime (`_duckstring_*`
 * columns and scratch tables); the others are ours and DuckDB's catalog/schema names, whose use as
 * a table name would make `x.y` references ambiguous or shadow system views.
 */
export const RESERVED_TABLE_NAMES: readonly string[] = ['duckstring', ...DUCKDB_RESERVED_NAMES];

/** `null` when `name` is a valid Pond/Source/Ripple name, else the reason. */
export function nameProblem(name: string): string | null {
  if (!NAME_PATTERN.test(name)) return `"${name}" is not a valid name (${NAME_RULE})`;
  if (name.length > MAX_NAME_LENGTH) return `"${name}" is longer than ${MAX_NAME_LENGTH} characters`;
  return null;
}

/** `null` when `name` may be used as one of a Pond's table names, else the reason. */
export function tableNameProblem(name: string): string | null {
  if (name.startsWith('_'))
    return `table name "${name}" is reserved (names starting with _ belong to the runtime)`;
  if (RESERVED_TABLE_NAMES.includes(name)) {
    return `table name "${name}" is reserved (reserved: ${RESERVED_TABLE_NAMES.join(', ')}, and any name starting with _)`;
  }
  return nameProblem(name);
}

/** Double-quotes an identifier for SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Single-quotes a string literal for SQL. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
