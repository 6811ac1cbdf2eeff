/**
 * What a governed query may contain, by kind: the AST node kinds the walker understands, the
 * expression classes and their types, and the type descriptions of casts. Each list is an
 * allow-list: any kind not on it fails closed with a message naming it, so a DuckDB upgrade that
 * adds a construct cannot slip one past the walker. Functions have their own allow-list
 * (function-allowlist.ts). Also here: the schema and object names that belong to DuckDB itself.
 */
import { DUCKDB_RESERVED_NAMES, POND_REF_SOURCE } from '../shared/ids.js';

/** Query nodes: they carry a cte_map and a body. */
export const QUERY_NODES = new Set(['SELECT_NODE', 'SET_OPERATION_NODE', 'RECURSIVE_CTE_NODE']);

/**
 * Table references understood by the walker. SHOW_REF (DESCRIBE, SHOW, SUMMARIZE) is listed so
 * that the walker can refuse it with its own message; TABLE_FUNCTION passes only for generators.
 */
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

/** Other typed objects that hold only expressions or plain values (result modifiers, orders). */
export const AUXILIARY_NODES = new Set([
  'ORDER_MODIFIER',
  'LIMIT_MODIFIER',
  'LIMIT_PERCENT_MODIFIER',
  'DISTINCT_MODIFIER',
  'ORDER_DEFAULT',
  'ASCENDING',
  'DESCENDING',
]);

/**
 * Descriptions of a type in a cast or constant (`DECIMAL(12,2)`, `INT[]`, `STRUCT(...)`, a named
 * type): plain values, no expressions.
 */
export const TYPE_INFOS = new Set([
  'GENERIC_TYPE_INFO',
  'DECIMAL_TYPE_INFO',
  'STRING_TYPE_INFO',
  'LIST_TYPE_INFO',
  'STRUCT_TYPE_INFO',
  'ENUM_TYPE_INFO',
  'USER_TYPE_INFO',
  'ARRAY_TYPE_INFO',
  'ANY_TYPE_INFO',
  'INTEGER_LITERAL_TYPE_INFO',
  'UNBOUND_TYPE_INFO',
]);

/** Expression classes understood by the walker, each with the expression types it may carry. */
export const EXPRESSION_KINDS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.entries({
    BETWEEN: ['COMPARE_BETWEEN', 'COMPARE_NOT_BETWEEN'],
    CASE: ['CASE_EXPR'],
    CAST: ['OPERATOR_CAST'],
    COLLATE: ['COLLATE'],
    COLUMN_REF: ['COLUMN_REF'],
    COMPARISON: [
      'COMPARE_EQUAL',
      'COMPARE_NOTEQUAL',
      'COMPARE_LESSTHAN',
      'COMPARE_GREATERTHAN',
      'COMPARE_LESSTHANOREQUALTO',
      'COMPARE_GREATERTHANOREQUALTO',
      'COMPARE_DISTINCT_FROM',
      'COMPARE_NOT_DISTINCT_FROM',
    ],
    CONJUNCTION: ['CONJUNCTION_AND', 'CONJUNCTION_OR'],
    CONSTANT: ['VALUE_CONSTANT'],
    FUNCTION: ['FUNCTION'],
    LAMBDA: ['LAMBDA'],
    LAMBDA_REF: ['LAMBDA_REF'],
    OPERATOR: [
      'OPERATOR_NOT',
      'OPERATOR_IS_NULL',
      'OPERATOR_IS_NOT_NULL',
      'OPERATOR_COALESCE',
      'OPERATOR_TRY',
      'OPERATOR_UNPACK',
      'COMPARE_IN',
      'COMPARE_NOT_IN',
      'ARRAY_EXTRACT',
      'ARRAY_SLICE',
      'ARRAY_CONSTRUCTOR',
      'STRUCT_EXTRACT',
      'GROUPING_FUNCTION',
    ],
    // Refused by the walker with its own message (parameters are not supported).
    PARAMETER: ['VALUE_PARAMETER'],
    POSITIONAL_REFERENCE: ['POSITIONAL_REFERENCE'],
    STAR: ['STAR'],
    SUBQUERY: ['SUBQUERY'],
    WINDOW: [
      'WINDOW_AGGREGATE',
      'WINDOW_ROW_NUMBER',
      'WINDOW_RANK',
      'WINDOW_RANK_DENSE',
      'WINDOW_PERCENT_RANK',
      'WINDOW_CUME_DIST',
      'WINDOW_NTILE',
      'WINDOW_LAG',
      'WINDOW_LEAD',
      'WINDOW_FIRST_VALUE',
      'WINDOW_LAST_VALUE',
      'WINDOW_NTH_VALUE',
      'WINDOW_FILL',
    ],
  }).map(([cls, types]) => [cls, new Set(types)]),
);

/** The expression classes of EXPRESSION_KINDS. */
export const EXPRESSION_CLASSES: ReadonlySet<string> = new Set(EXPRESSION_KINDS.keys());

/** Why an expression node (`class`, `type`) is not a known shape; undefined when it is. */
export function expressionKindProblem(cls: string, type: unknown): string | undefined {
  const types = EXPRESSION_KINDS.get(cls);
  if (!types) return `unsupported SQL expression (${cls})`;
  if (typeof type !== 'string' || !types.has(type))
    return `unsupported SQL expression (${cls} ${String(type)})`;
  return undefined;
}

/** Whether a typed object that is not a query node, table reference or expression is known. */
export function isAuxiliaryNode(type: string): boolean {
  return AUXILIARY_NODES.has(type) || TYPE_INFOS.has(type);
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
const SYSTEM_SCHEMAS: ReadonlySet<string> = new Set(DUCKDB_RESERVED_NAMES);
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
export const POND_QUALIFIER = new RegExp(`^(${POND_REF_SOURCE})(?:@([0-9]+))?$`);

/** Names of the two policy functions replaced by constants before anything runs. */
export const CURRENT_PRINCIPAL = 'current_principal';
export const IS_MEMBER = 'is_member';
