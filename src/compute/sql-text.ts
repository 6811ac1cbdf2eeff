/** Quotes an identifier for DuckDB ("a""b"). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal for DuckDB ('it''s'). NUL bytes cannot appear in a DuckDB literal. */
export function quoteString(value: string): string {
  if (value.includes('\0')) throw new Error('string literal contains a NUL byte');
  return `'${value.replaceAll("'", "''")}'`;
}
