/**
 * governQuery: one user query in, the SQL that may run for this principal out (or a typed
 * refusal). Steps:
 * 1. Parse with DuckDB's own parser (json_serialize_sql); exactly one SELECT statement.
 * 2. Walk the whole tree, failing closed on any node kind it does not know. Every base-table
 *    reference (FROM, JOIN, subqueries anywhere, CTE bodies, LATERAL, set operations, recursive
 *    CTEs, function arguments) is resolved against the catalog, checked for SELECT, and replaced
 *    by the table's governed subquery (row filter + masks, policy-sql.ts). current_principal()
 *    and is_member('g') become constants. Table functions other than pure generators, file paths,
 *    system schemas, duckdb_* objects and functions that read settings, files or metadata are
 *    refused; so are CTE names that shadow a catalog name.
 * 3. Turn the tree back into SQL (json_deserialize_sql), parse that SQL again and check that every
 *    table it reads sits inside an untouched governed subquery: the text that runs is verified,
 *    not just the tree we built.
 */
import type { Catalog, CatalogTable } from './catalog.js';
import { Catalog as CatalogClass } from './catalog.js';
import { GovernanceError, PolicyError } from './errors.js';
import { cloneLossless, isJsonObject, type LosslessJson, type LosslessObject } from './lossless-json.js';
import type { Policy } from './policy.js';
import {
  canonicalForm,
  GovernedStatements,
  policyFunctionConstant,
  validatePolicySql,
} from './policy-sql.js';
import { DuckSqlParser } from './sql-parser.js';
import {
  ALLOWED_TABLE_FUNCTIONS,
  AUXILIARY_NODES,
  EXPRESSION_CLASSES,
  isDeniedFunction,
  isQualifiedFunction,
  isSystemName,
  looksLikeFilePath,
  POND_QUALIFIER,
  QUERY_NODES,
  TABLE_REFS,
} from './sql-rules.js';

export interface GovernContext {
  /** The querying principal's name. */
  principal: string;
  policy: Policy;
  /** A Catalog, or its plain description (validated). */
  catalog: Catalog | unknown;
}

export interface GovernedTable {
  /** 'pond@major.table': the name the rewritten SQL reads; give the executor this key. */
  key: string;
  pond: string;
  major: number;
  table: string;
}

export interface GovernedQuery {
  /** The SQL to execute. */
  sql: string;
  /** Every table read, once each. */
  tables: GovernedTable[];
  /**
   * Columns the query refers to, as 'pond@major.table.column' (for the audit log). Conservative:
   * a name is attributed to every table read that has it, and * or a whole-row reference counts
   * every column.
   */
  columns: string[];
}

type Scope = ReadonlySet<string>;

interface PendingReplacement {
  ref: LosslessObject;
  table: CatalogTable;
}

const EMPTY_SCOPE: Scope = new Set();

/** The tree walker for one query; `verify` mode checks a rewritten tree instead of rewriting. */
class QueryWalker {
  readonly pending: PendingReplacement[] = [];
  readonly tables = new Map<string, CatalogTable>();
  readonly columnNames = new Set<string>();
  readonly singleNames = new Set<string>();
  readonly columnNamesToKeep: { list: LosslessJson[]; index: number; original: LosslessObject }[] = [];
  readonly relationNames = new Set<string>();
  wholeRows = false;

  constructor(
    private readonly ctx: { principal: string; policy: Policy; catalog: Catalog },
    private readonly reservedCteNames: ReadonlySet<string>,
    private readonly verifiedSubqueries: ReadonlySet<string> | null,
  ) {}

  visit(value: LosslessJson, scope: Scope): LosslessJson {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.visit(value[i]!, scope);
      return value;
    }
    if (!isJsonObject(value)) return value;
    if (typeof value.class === 'string') return this.visitExpression(value, scope);
    const type = value.type;
    if (typeof type === 'string') {
      if (QUERY_NODES.has(type)) return this.visitQueryNode(value, scope);
      if (TABLE_REFS.has(type)) return this.visitTableRef(value, scope);
      if (AUXILIARY_NODES.has(type) || type.endsWith('_TYPE_INFO')) return this.visitChildren(value, scope);
      throw new GovernanceError('not_allowed', `unsupported SQL construct (${type})`);
    }
    return this.visitChildren(value, scope);
  }

  private visitChildren(node: LosslessObject, scope: Scope): LosslessObject {
    for (const key of Object.keys(node)) node[key] = this.visit(node[key]!, scope);
    return node;
  }

  private visitQueryNode(node: LosslessObject, scope: Scope): LosslessObject {
    if (!this.verifiedSubqueries && node.type === 'SELECT_NODE' && Array.isArray(node.select_list)) {
      this.rememberColumnNames(node.select_list);
    }
    const entries = isJsonObject(node.cte_map) && Array.isArray(node.cte_map.map) ? node.cte_map.map : [];
    let inner = scope;
    for (const entry of entries) {
      if (!isJsonObject(entry) || typeof entry.key !== 'string' || !isJsonObject(entry.value)) {
        throw new GovernanceError('not_allowed', 'unsupported SQL construct (CTE)');
      }
      const name = entry.key.toLowerCase();
      if (this.reservedCteNames.has(name) || isSystemName(name)) {
        throw new GovernanceError(
          'not_allowed',
          `the CTE name "${entry.key}" shadows a catalog name; choose another name`,
        );
      }
      // A CTE sees the CTEs before it (and itself only through a recursive node, below).
      entry.value.query = this.visit(entry.value.query!, inner);
      inner = new Set([...inner, name]);
    }
    if (node.type === 'RECURSIVE_CTE_NODE' && typeof node.cte_name === 'string') {
      inner = new Set([...inner, node.cte_name.toLowerCase()]);
    }
    for (const key of Object.keys(node)) {
      if (key !== 'cte_map') node[key] = this.visit(node[key]!, inner);
    }
    return node;
  }

  /**
   * DuckDB names an unaliased result column after the expression's text. Rewriting a subquery
   * or a policy function inside it would change that name (and show the governed SQL to the
   * caller), so such items get their original text as an explicit alias.
   */
  private rememberColumnNames(list: LosslessJson[]): void {
    list.forEach((item, index) => {
      if (!isJsonObject(item) || item.alias !== '' || item.class === 'STAR' || item.class === 'COLUMN_REF')
        return;
      if (containsRewrittenExpression(item))
        this.columnNamesToKeep.push({ list, index, original: cloneLossless(item) });
    });
  }

  private visitTableRef(ref: LosslessObject, scope: Scope): LosslessJson {
    switch (ref.type) {
      case 'BASE_TABLE':
        return this.visitBaseTable(ref, scope);
      case 'TABLE_FUNCTION': {
        const fn = ref.function;
        const name = isJsonObject(fn) ? String(fn.function_name).toLowerCase() : '?';
        if (!ALLOWED_TABLE_FUNCTIONS.has(name) || (isJsonObject(fn) && fn.schema !== '')) {
          throw new GovernanceError(
            'not_allowed',
            `table function ${name}() is not allowed; query tables as pond.table`,
          );
        }
        return this.visitChildren(ref, scope);
      }
      case 'JOIN':
        if (Array.isArray(ref.using_columns)) {
          for (const c of ref.using_columns) this.columnNames.add(String(c).toLowerCase());
        }
        if (ref.ref_type === 'NATURAL') this.wholeRows = true;
        return this.visitChildren(ref, scope);
      case 'SHOW_REF':
        throw new GovernanceError(
          'not_allowed',
          'DESCRIBE, SHOW and SUMMARIZE are not allowed; use the catalog listing',
        );
      case 'SUBQUERY':
        if (this.verifiedSubqueries?.has(canonicalForm(ref.subquery!))) return ref;
        return this.visitChildren(ref, scope);
      default:
        return this.visitChildren(ref, scope);
    }
  }

  private visitBaseTable(ref: LosslessObject, scope: Scope): LosslessJson {
    const catalogName = String(ref.catalog_name ?? '');
    const schema = String(ref.schema_name ?? '');
    const name = String(ref.table_name ?? '');
    const written = [catalogName, schema, name].filter((p) => p !== '').join('.');
    if (catalogName === '' && schema === '') {
      if (scope.has(name.toLowerCase()) && ref.at_clause === null) return ref;
      if (looksLikeFilePath(name)) {
        throw new GovernanceError('not_allowed', 'reading files is not allowed; query tables as pond.table');
      }
      if (isSystemName(name)) throw new GovernanceError('not_allowed', `system table ${name} is not allowed`);
      throw new GovernanceError(
        'invalid_sql',
        `unknown table ${name}: name tables as pond.table or "pond@major".table`,
      );
    }
    if (this.verifiedSubqueries) {
      throw new GovernanceError('not_allowed', 'the query could not be governed safely');
    }
    if (catalogName !== '' || isSystemName(schema) || isSystemName(name)) {
      throw new GovernanceError(
        'not_allowed',
        `${written} is not allowed: only pond.table names can be queried`,
      );
    }
    const qualifier = POND_QUALIFIER.exec(schema);
    const major = qualifier?.[2] === undefined ? undefined : Number(qualifier[2]);
    const pond = qualifier?.[1];
    const table = pond === undefined ? undefined : this.ctx.catalog.find(pond, major, name);
    const { policy, principal } = this.ctx;
    if (!table || pond === undefined) {
      // Unknown and forbidden look alike unless the caller may see the whole pond (major).
      const resolvedMajor = pond === undefined ? undefined : (major ?? this.ctx.catalog.selectedMajor(pond));
      const seesPond =
        pond !== undefined &&
        this.ctx.catalog.hasPond(pond) &&
        policy.can(principal, 'SELECT', { kind: 'pond', pond: pond.toLowerCase(), major: resolvedMajor });
      if (seesPond) throw new GovernanceError('invalid_sql', `unknown table ${written}`);
      throw new GovernanceError('permission_denied', `permission denied: SELECT on ${written}`);
    }
    if (ref.at_clause !== null) {
      throw new GovernanceError('not_allowed', `time travel (AT) is not allowed on ${written}`);
    }
    if (
      !policy.can(principal, 'SELECT', {
        kind: 'table',
        pond: table.pond,
        major: table.major,
        table: table.name,
      })
    ) {
      throw new GovernanceError('permission_denied', `permission denied: SELECT on ${written}`);
    }
    this.tables.set(table.key, table);
    const alias = typeof ref.alias === 'string' && ref.alias !== '' ? ref.alias : name;
    this.relationNames.add(alias.toLowerCase());
    const replacement: LosslessObject = {
      type: 'SUBQUERY',
      alias,
      sample: ref.sample ?? null,
      query_location: ref.query_location ?? null,
      subquery: null,
      column_name_alias: ref.column_name_alias ?? [],
    };
    this.pending.push({ ref: replacement, table });
    return replacement;
  }

  private visitExpression(node: LosslessObject, scope: Scope): LosslessJson {
    const cls = String(node.class);
    if (!EXPRESSION_CLASSES.has(cls))
      throw new GovernanceError('not_allowed', `unsupported SQL expression (${cls})`);
    switch (cls) {
      case 'PARAMETER':
        throw new GovernanceError('invalid_sql', 'query parameters ($1, ?) are not supported');
      case 'COLUMN_REF': {
        const parts = (node.column_names as LosslessJson[]).map((p) => String(p).toLowerCase());
        // A single name may be a whole-row reference (`SELECT d FROM t d`); in a.b the a is a qualifier.
        if (parts.length === 1) this.singleNames.add(parts[0]!);
        for (const part of parts.length === 1 ? parts : parts.slice(1)) this.columnNames.add(part);
        return node;
      }
      case 'STAR':
        this.wholeRows = true;
        return this.visitChildren(node, scope);
      case 'FUNCTION':
      case 'WINDOW': {
        const name = String(node.function_name).toLowerCase();
        if (cls === 'FUNCTION') {
          const constant = policyFunctionConstant(node, this.ctx.principal, this.ctx.policy);
          if (constant) return constant;
        }
        if (isDeniedFunction(name) || isQualifiedFunction(node.schema, node.catalog)) {
          throw new GovernanceError('not_allowed', `function ${name}() is not allowed`);
        }
        return this.visitChildren(node, scope);
      }
      default:
        return this.visitChildren(node, scope);
    }
  }
}

function containsRewrittenExpression(value: LosslessJson): boolean {
  if (Array.isArray(value)) return value.some(containsRewrittenExpression);
  if (!isJsonObject(value)) return false;
  if (value.class === 'SUBQUERY') return true;
  if (value.class === 'FUNCTION') {
    const name = String(value.function_name).toLowerCase();
    if (name === 'current_principal' || name === 'is_member') return true;
  }
  return Object.values(value).some(containsRewrittenExpression);
}

/** Checks the parse result and returns the single SELECT statement's node. */
function singleSelect(parsed: LosslessObject): LosslessObject {
  if (parsed.error !== false) {
    const message = String(parsed.error_message ?? 'unparseable SQL');
    if (/only select statements/i.test(message) || parsed.error_type === 'not implemented') {
      throw new GovernanceError('not_allowed', 'only a single SELECT query is allowed');
    }
    throw new GovernanceError('invalid_sql', message);
  }
  const statements = parsed.statements;
  if (!Array.isArray(statements) || statements.length === 0) {
    throw new GovernanceError('invalid_sql', 'SQL contains no statement');
  }
  if (statements.length !== 1) {
    throw new GovernanceError('invalid_sql', `expected exactly one SQL statement, got ${statements.length}`);
  }
  const statement = statements[0];
  if (!isJsonObject(statement) || !isJsonObject(statement.node)) {
    throw new GovernanceError('not_allowed', 'only a single SELECT query is allowed');
  }
  return statement;
}

function reservedNames(catalog: Catalog): Set<string> {
  const out = new Set<string>();
  for (const t of catalog.all()) {
    out.add(t.name);
    out.add(t.pond);
    out.add(`${t.pond}@${t.major}`);
  }
  return out;
}

/** Parses, checks and rewrites queries; owns a private DuckDB parser instance. */
export class Governor {
  private readonly statements: GovernedStatements;
  private selectTemplate: Promise<LosslessObject> | undefined;

  private constructor(private readonly parser: DuckSqlParser) {
    this.statements = new GovernedStatements(parser);
  }

  static async create(): Promise<Governor> {
    return new Governor(await DuckSqlParser.create());
  }

  async governQuery(sql: string, ctx: GovernContext): Promise<GovernedQuery> {
    if (typeof sql !== 'string' || sql.trim() === '')
      throw new GovernanceError('invalid_sql', 'SQL is empty');
    if (sql.includes('\0')) throw new GovernanceError('invalid_sql', 'SQL contains a NUL byte');
    const catalog = CatalogClass.parse(ctx.catalog);
    const { policy } = ctx;
    const known = typeof ctx.principal === 'string' ? policy.principal(ctx.principal) : undefined;
    if (!known) throw new GovernanceError('permission_denied', 'unknown principal');
    // The policy's spelling, so current_principal() does not depend on how the caller typed it.
    const principal = known.name;
    const context = { principal, policy, catalog };
    const reserved = reservedNames(catalog);

    const parsed = await this.parser.serialize(sql);
    const statement = singleSelect(parsed);
    const walker = new QueryWalker(context, reserved, null);
    walker.visit(statement, EMPTY_SCOPE);

    const governed = new Map<string, Promise<{ statement: LosslessObject; canonical: string }>>();
    for (const table of walker.tables.values()) {
      governed.set(table.key, this.statements.get(policy, table, principal));
    }
    const expected = new Set<string>();
    try {
      for (const { ref, table } of walker.pending) {
        const compiled = await governed.get(table.key)!;
        ref.subquery = cloneLossless(compiled.statement);
        expected.add(compiled.canonical);
      }
    } catch (error) {
      if (error instanceof PolicyError) {
        // The policy or the catalog is broken for this table: refuse rather than guess.
        throw new GovernanceError(
          'not_allowed',
          'the policy of a table in this query is invalid; an administrator must fix it',
        );
      }
      throw error;
    }

    for (const { list, index, original } of walker.columnNamesToKeep) {
      const item = list[index];
      if (isJsonObject(item)) item.alias = await this.expressionText(original);
    }
    const rewritten = await this.parser.deserialize({ error: false, statements: [statement] });
    await this.verify(rewritten, context, reserved, expected);

    const tables = [...walker.tables.values()].sort((a, b) => a.key.localeCompare(b.key));
    const columns: string[] = [];
    for (const t of tables) {
      const whole = walker.wholeRows || [...walker.relationNames].some((r) => walker.singleNames.has(r));
      for (const c of t.columns) {
        if (whole || walker.columnNames.has(c.name.toLowerCase())) columns.push(`${t.key}.${c.name}`);
      }
    }
    return {
      sql: rewritten,
      tables: tables.map((t) => ({ key: t.key, pond: t.pond, major: t.major, table: t.name })),
      columns,
    };
  }

  /** An expression's SQL text, which is also the name DuckDB gives an unaliased result column. */
  private async expressionText(expression: LosslessObject): Promise<string> {
    this.selectTemplate ??= this.parser
      .serialize('SELECT 1')
      .then((parsed) => (parsed.statements as LosslessJson[])[0] as LosslessObject);
    const statement = cloneLossless(await this.selectTemplate);
    ((statement.node as LosslessObject).select_list as LosslessJson[])[0] = expression;
    const sql = await this.parser.deserialize({ error: false, statements: [statement] });
    return sql.replace(/^SELECT /, '');
  }

  /** Checks the policy's filters and masks against the catalog (see validatePolicySql). */
  async validatePolicy(policy: Policy, catalog: Catalog | unknown): Promise<void> {
    await validatePolicySql(this.parser, policy, CatalogClass.parse(catalog).all());
  }

  close(): void {
    this.parser.close();
  }

  /** Parses the rewritten text and walks it again: every table read must be a governed subquery. */
  private async verify(
    sql: string,
    context: { principal: string; policy: Policy; catalog: Catalog },
    reserved: ReadonlySet<string>,
    expected: ReadonlySet<string>,
  ): Promise<void> {
    const reparsed = await this.parser.serialize(sql);
    let statement: LosslessObject;
    try {
      statement = singleSelect(reparsed);
      new QueryWalker(context, reserved, expected).visit(statement, EMPTY_SCOPE);
    } catch (error) {
      if (error instanceof GovernanceError && error.message === 'the query could not be governed safely')
        throw error;
      throw new GovernanceError('not_allowed', 'the query could not be governed safely');
    }
  }
}

let shared: Promise<Governor> | undefined;

/** governQuery on a process-wide Governor (created on first use). */
export async function governQuery(sql: string, ctx: GovernContext): Promise<GovernedQuery> {
  shared ??= Governor.create();
  return (await shared).governQuery(sql, ctx);
}

/** Closes the process-wide Governor, if one was created. */
export async function closeSharedGovernor(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) (await current).close();
}
