/**
 * What a `.sql` Ripple reads, found with DuckDB's own parser (`json_serialize_sql`): the one parser
 * that understands all DuckDB syntax. We only read the AST, never re-serialise it, so plain
 * JSON.parse is fine here (its loss of UINT64 `query_location` precision does not matter).
 */
import type { DuckDBConnection } from '@duckdb/node-api';

export interface TableRef {
  catalog: string;
  schema: string;
  table: string;
}

export type SelectAnalysis = { ok: true; refs: TableRef[] } | { ok: false; error: string };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** 1-based line and column of character offset `position` in `text`. */
function lineColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `${line}:${column}`;
}

/**
 * Parses `sqlText`, which must be exactly one SELECT (or VALUES / FROM-first) statement, and lists
 * the base tables it reads. Names bound to a CTE in scope are left out; table functions and file
 * paths are reported as base tables only when written `FROM 'path'` (callers decide about those).
 */
export async function analyzeSelect(conn: DuckDBConnection, sqlText: string): Promise<SelectAnalysis> {
  const reader = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS ast', [sqlText]);
  const ast = JSON.parse(String(reader.getRowObjects()[0]?.ast)) as JsonObject;
  if (ast.error === true) {
    if (ast.error_type === 'not implemented') {
      return {
        ok: false,
        error: 'must be a SELECT statement (a .sql Ripple is one query whose result becomes its table)',
      };
    }
    const where = typeof ast.position === 'string' ? `${lineColumn(sqlText, Number(ast.position))}: ` : '';
    return { ok: false, error: `${where}${String(ast.error_message)}` };
  }
  const statements = Array.isArray(ast.statements) ? ast.statements : [];
  if (statements.length === 0) return { ok: false, error: 'is empty (expected one SELECT statement)' };
  if (statements.length > 1) {
    return {
      ok: false,
      error: `holds ${statements.length} statements (expected exactly one SELECT statement)`,
    };
  }
  const refs: TableRef[] = [];
  collectRefs(statements[0] ?? null, new Set(), refs);
  return { ok: true, refs };
}

function cteEntries(node: JsonObject): Array<{ name: string; body: Json; recursive: boolean }> {
  const map = isObject(node.cte_map) ? node.cte_map.map : undefined;
  if (!Array.isArray(map)) return [];
  return map.filter(isObject).map((entry) => {
    const value = isObject(entry.value) ? entry.value : {};
    const query = isObject(value.query) ? value.query : {};
    const body = isObject(query.node) ? query.node : null;
    return {
      name: String(entry.key).toLowerCase(),
      body: value,
      recursive: body?.type === 'RECURSIVE_CTE_NODE',
    };
  });
}

/** Walks every node; `ctes` holds the CTE names visible at this point. */
function collectRefs(node: Json, ctes: ReadonlySet<string>, out: TableRef[]): void {
  if (Array.isArray(node)) {
    for (const child of node) collectRefs(child, ctes, out);
    return;
  }
  if (!isObject(node)) return;
  if (node.type === 'BASE_TABLE' && typeof node.table_name === 'string') {
    const ref = {
      catalog: String(node.catalog_name ?? '').toLowerCase(),
      schema: String(node.schema_name ?? '').toLowerCase(),
      table: node.table_name.toLowerCase(),
    };
    if (ref.catalog !== '' || ref.schema !== '' || !ctes.has(ref.table)) out.push(ref);
    return;
  }
  let scope = ctes;
  const entries = cteEntries(node);
  if (entries.length > 0) {
    // A non-recursive CTE sees the CTEs declared before it, not itself; the body sees them all.
    const visible = new Set(ctes);
    for (const entry of entries) {
      collectRefs(entry.body, entry.recursive ? new Set([...visible, entry.name]) : visible, out);
      visible.add(entry.name);
    }
    scope = visible;
  }
  for (const [key, child] of Object.entries(node)) {
    if (key !== 'cte_map') collectRefs(child, scope, out);
  }
}
