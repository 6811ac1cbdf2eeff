/**
 * The identifiers every module shares: Pond (and Source, Ripple, window) names, the SQL identifiers
 * tables are published under, and major lines `name@major`. Names become SQL identifiers, directory
 * names and URL segments, so they are deliberately narrow. Patterns are also exported as source text
 * so other patterns (policy targets, line principals) can embed them instead of repeating them.
 */

/** A Pond name: a lowercase ASCII identifier. */
export const NAME_SOURCE = '[a-z][a-z0-9_]*';
export const NAME_PATTERN = new RegExp(`^${NAME_SOURCE}$`);
export const NAME_RULE = 'lowercase letters, digits and _, starting with a letter';
export const MAX_NAME_LENGTH = 63;

/** A SQL identifier as published tables and Ripple functions may be named (mixed case allowed). */
export const IDENTIFIER_SOURCE = '[A-Za-z_][A-Za-z0-9_]*';
export const IDENTIFIER_PATTERN = new RegExp(`^${IDENTIFIER_SOURCE}$`);

/**
 * A Pond as a query or a policy may reference it: wider than NAME_SOURCE (mixed case, `-`), so
 * these layers need not know the naming rule; a reference no Pond can have simply matches nothing.
 */
export const POND_REF_SOURCE = '[A-Za-z0-9_][A-Za-z0-9_-]*';

/** A principal's name: users, services, taps and Pond lines (`pond.sales@1`) alike. */
export const PRINCIPAL_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/;
export const PRINCIPAL_NAME_RULE = 'names use letters, digits and _ . @ + - (not first)';

/** A major line number as written in ids and URLs: no sign, no leading zeros. */
export const MAJOR_SOURCE = '(?:0|[1-9][0-9]*)';

/**
 * Catalog and schema names DuckDB itself uses. A Pond named like one could never be queried as
 * `pond.table`, and a table named like one would make `x.y` references ambiguous.
 */
export const DUCKDB_RESERVED_NAMES: readonly string[] = [
  'information_schema',
  'pg_catalog',
  'main',
  'temp',
  'system',
  'memory',
];

export function isDuckdbReservedName(name: string): boolean {
  return DUCKDB_RESERVED_NAMES.includes(name.toLowerCase());
}

/** `name@major`: one major line of a Pond (the engine's node name, a Duck's identity). */
export const LINE_ID_PATTERN = new RegExp(`^(${NAME_SOURCE})@(${MAJOR_SOURCE})$`);

export function lineId(name: string, major: number): string {
  return `${name}@${major}`;
}

export function isLineId(id: string): boolean {
  return LINE_ID_PATTERN.test(id);
}

/** The parts of a line id. Ids are only ever made by `lineId`, so a malformed one is a bug: it throws. */
export function parseLineId(id: string): { name: string; major: number } {
  const m = LINE_ID_PATTERN.exec(id);
  if (!m) throw new Error(`not a line id (name@major): ${JSON.stringify(id)}`);
  return { name: m[1]!, major: Number(m[2]) };
}
