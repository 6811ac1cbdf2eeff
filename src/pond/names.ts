/**
 * Naming rules shared by pond.toml, Ripples and tables. Names become SQL identifiers, directory
 * names and URL segments, so they are deliberately narrow: lowercase ASCII identifiers.
 */

export const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;
export const NAME_RULE = 'lowercase letters, digits and _, starting with a letter';
export const MAX_NAME_LENGTH = 63;

/**
 * Table names a Pond may not create. A leading `_` is kept for the runtime (`_duckstring_*`
 * columns and scratch tables); the others are DuckDB catalog/schema names whose use as a table
 * name would make `x.y` references ambiguous or shadow system views.
 */
export const RESERVED_TABLE_NAMES: readonly string[] = [
  'duckstring',
  'information_schema',
  'pg_catalog',
  'main',
  'temp',
  'system',
  'memory',
];

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
