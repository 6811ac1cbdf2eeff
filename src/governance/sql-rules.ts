/**
 * What a governed query may contain, by name: the node kinds the walker understands (anything
 * else fails closed), the table functions allowed (pure generators only), the scalar functions
 * denied (those that read files, settings, variables or catalog metadata), and the schema and
 * object names that belong to DuckDB itself.
 */

/** Query nodes: they carry a cte_map and a body. */
export const QUERY_NODES = new Set(['SELECT_NODE', 'SET_OPERATION_NODE', 'RECURSIVE_CTE_NODE']);

/** Table references understood by the walker (SHOW_REF is denied explicitly). */
export const TABLE_REFS = new Set([
  'BASE_TABLE',
  'TABLE_FUNCTION',
  'JOIN',
  'SUBQUERY',
  'EXPRESSION_LIST',
  'EMPTY',
  'PIVOT',
  'SHOW_REF',
]);

/** Other typed objects that hold only expressions or plain values. */
export const AUXILIARY_NODES = new Set([
  'ORDER_MODIFIER',
  'LIMIT_MODIFIER',
  'LIMIT_PERCENT_MODIFIER',
  'DISTINCT_MODIFIER',
  'ORDER_DEFAULT',
  'ASCENDING',
  'DESCENDING',
]);

/** Expression classes understood by the walker. */
export const EXPRESSION_CLASSES = new Set([
  'BETWEEN',
  'CASE',
  'CAST',
  'COLLATE',
  'COLUMN_REF',
  'COMPARISON',
  'CONJUNCTION',
  'CONSTANT',
  'FUNCTION',
  'LAMBDA',
  'LAMBDA_REF',
  'OPERATOR',
  'PARAMETER',
  'POSITIONAL_REFERENCE',
  'STAR',
  'SUBQUERY',
  'WINDOW',
]);

/** Table functions that generate values and read nothing. */
export const ALLOWED_TABLE_FUNCTIONS = new Set(['range', 'generate_series', 'unnest']);

/**
 * Scalar, aggregate and window functions that read outside the governed tables: files, settings
 * (allowed_paths would name snapshot files), variables, secrets, catalog metadata, or that run
 * SQL given as text.
 */
const DENIED_FUNCTION_NAMES = new Set([
  'query',
  'query_table',
  'glob',
  'getenv',
  'getvariable',
  'current_setting',
  'which_secret',
  'sniff_csv',
  'col_description',
  'obj_description',
  'shobj_description',
  'format_pg_type',
  'format_type',
  'checkpoint',
  'force_checkpoint',
  'json_execute_serialized_sql',
  'nextval',
  'currval',
]);
const DENIED_FUNCTION_PREFIXES = [
  'read_',
  'duckdb_',
  'pragma_',
  'parquet_',
  'sqlite_',
  'pg_',
  'has_',
  'iceberg_',
  'delta_',
  'postgres_',
  'mysql_',
  'ducklake_',
];

export function isDeniedFunction(name: string): boolean {
  const n = name.toLowerCase();
  return DENIED_FUNCTION_NAMES.has(n) || DENIED_FUNCTION_PREFIXES.some((p) => n.startsWith(p));
}

/**
 * Whether a function call names a schema or catalog other than the built-in ones (the parser
 * itself writes `main` / `system` for calls it synthesises, such as struct_pack for `{...}`).
 */
export function isQualifiedFunction(schema: unknown, catalog: unknown): boolean {
  const s = typeof schema === 'string' ? schema.toLowerCase() : '';
  const c = typeof catalog === 'string' ? catalog.toLowerCase() : '';
  return !(s === '' || s === 'main') || !(c === '' || c === 'system');
}

/** Schemas and catalogs DuckDB keeps for itself; never a Pond. */
const SYSTEM_SCHEMAS = new Set(['information_schema', 'pg_catalog', 'main', 'temp', 'system', 'memory']);
const SYSTEM_OBJECT_PREFIXES = ['duckdb_', 'sqlite_', 'pragma_', 'pg_', 'information_schema'];

export function isSystemName(name: string): boolean {
  const n = name.toLowerCase();
  return SYSTEM_SCHEMAS.has(n) || SYSTEM_OBJECT_PREFIXES.some((p) => n.startsWith(p));
}

/** A table name that DuckDB would read as a file (replacement scan) rather than a table. */
export function looksLikeFilePath(name: string): boolean {
  return /[./\\:*?]/.test(name);
}

/** The Pond part of a schema name: `sales` or `sales@2`. */
export const POND_QUALIFIER = /^([A-Za-z0-9_][A-Za-z0-9_-]*)(?:@([0-9]+))?$/;

/** Names of the two policy functions replaced by constants before anything runs. */
export const CURRENT_PRINCIPAL = 'current_principal';
export const IS_MEMBER = 'is_member';
