/**
 * governQuery: one user query in, the SQL that may run for this principal out (or a typed
 * refusal). Steps:
 * 1. Parse with DuckDB's own parser (json_serialize_sql); exactly one SELECT statement.
 * 2. Walk the whole tree, failing closed on any node kind it does not know. Every base-table
 *    reference (FROM, JOIN, subqueries anywhere, CTE bodies, LATERAL, set operations, recursive
 *    CTEs, function arguments) is resolved against the catalog, checked for SELECT, and replaced
 *    by the table's governed subquery (row filter + masks, policy-sql.ts). current_principal()
 *    and is_member('g') become constants. Every function call must fit the allow-list of
 *    function-allowlist.ts for where it stands (scalar/aggregate, window, table generator); file
 *    paths, system schemas and duckdb_* objects are refused. A name that is not a table the caller
 *    may read gets one answer (unknown_table), whether it exists or not.
 * 3. Each governed subquery reads its raw relation as `"raw_<128 random bits>"."t<i>"`, a name
 *    minted for this query that no user SQL can write: even a reference the walker missed cannot
 *    reach a raw snapshot (the executor creates only those views, over per-query file links).
 *    CTE names are therefore free: a CTE can neither shadow nor reach a governed table.
 * 4. Turn the tree back into SQL (json_deserialize_sql), parse that SQL again and check that every
 *    table it reads sits inside an untouched governed subquery: the text that runs is verified,
 *    not just the tree we built.
 */
import { randomBytes } from 'node:crypto';
import type { Catalog, CatalogTable } from './catalog.js';
import { Catalog as CatalogClass } from './catalog.js';
import { ColumnNames } from './column-names.js';
import { GovernanceError, PolicyError } from './errors.js';
import { bareNameProblem, functionCallProblem } from './function-allowlist.js';
import { cloneLossless, isJsonObject, type LosslessJson, type LosslessObject } from './lossless-json.js';
import type { Policy } from './policy.js';
import {
  type GovernedStatement,
  GovernedStatements,
  policyFunctionConstant,
  sameTreeIgnoringLocations,
  validatePolicySql,
  withRawRelation,
} from './policy-sql.js';
import { DuckSqlParser } from './sql-parser.js';
import {
  expressionKindProblem,
  isAuxiliaryNode,
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
  /**
   * Schema of the raw relations in the rewritten SQL. Default: a fresh random name per query, so
   * user SQL can never name a raw snapshot even where the rewrite lets a name through. Tests that
   * reuse one executor catalog across queries may fix it.
   */
  rawSchema?: string;
}

export interface GovernedTable {
  /** 'pond@major.table': the table's identity (audit, catalog, snapshot lookup). */
  key: string;
  /**
   * 'schema.view': the raw relation the rewritten SQL reads, only inside this table's governed
   * subquery. Give the executor this name with the table's snapshot.
   */
  relation: string;
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

  /** COLUMN_REFs of three parts: `pond.table.column` once the tables of the query are known. */
  readonly qualifiedColumns: LosslessObject[] = [];
  /** Governed subqueries standing for base tables read without an alias, with where they stand. */
  readonly unaliased: { replacement: LosslessObject; written: string; name: string; from: number }[] = [];
  /** The FROM clause being walked (an id per SELECT), to tell tables side by side from nested ones. */
  private from = 0;
  private fromCount = 0;

  constructor(
    private readonly ctx: { principal: string; policy: Policy; catalog: Catalog },
    private readonly verifiedSubqueries: readonly LosslessObject[] | null,
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
      if (isAuxiliaryNode(type)) return this.visitChildren(value, scope);
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
      // Any name will do: a CTE cannot be schema-qualified, and raw relations live in a schema no
      // query can name, so a CTE can neither shadow nor reach a governed table.
      const name = entry.key.toLowerCase();
      // A CTE sees the CTEs before it (and itself only through a recursive node, below).
      entry.value.query = this.visit(entry.value.query!, inner);
      inner = new Set([...inner, name]);
    }
    if (node.type === 'RECURSIVE_CTE_NODE' && typeof node.cte_name === 'string') {
      inner = new Set([...inner, node.cte_name.toLowerCase()]);
    }
    for (const key of Object.keys(node)) {
      if (key === 'cte_map') continue;
      const outer = this.from;
      if (key === 'from_table') this.from = ++this.fromCount;
      node[key] = this.visit(node[key]!, inner);
      this.from = outer;
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
        if (!isJsonObject(fn) || fn.class !== 'FUNCTION') {
          throw new GovernanceError('not_allowed', 'unsupported SQL construct (TABLE_FUNCTION)');
        }
        const problem = functionCallProblem(fn, 'table');
        if (problem) throw new GovernanceError('not_allowed', problem);
        // The call itself is a table function, not a scalar: walk only its arguments.
        for (const key of Object.keys(ref)) {
          ref[key] = key === 'function' ? this.visitChildren(fn, scope) : this.visit(ref[key]!, scope);
        }
        return ref;
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
        if (this.verifiedSubqueries?.some((expected) => sameTreeIgnoringLocations(expected, ref.subquery!)))
          return ref;
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
        'unknown_table',
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
    // One answer for a table that does not exist and one the caller may not read, whatever part of
    // the name is wrong (pond, major line, table), so no query can probe what exists.
    if (
      !table ||
      !policy.can(principal, 'SELECT', {
        kind: 'table',
        pond: table.pond,
        major: table.major,
        table: table.name,
      })
    ) {
      throw new GovernanceError('unknown_table', unknownTableMessage(written));
    }
    if (ref.at_clause !== null) {
      throw new GovernanceError('not_allowed', `time travel (AT) is not allowed on ${written}`);
    }
    this.tables.set(table.key, table);
    const aliased = typeof ref.alias === 'string' && ref.alias !== '';
    const alias = aliased ? (ref.alias as string) : name;
    this.relationNames.add(alias.toLowerCase());
    const replacement: LosslessObject = {
      type: 'SUBQUERY',
      alias,
      sample: ref.sample ?? null,
      query_location: ref.query_location ?? null,
      subquery: null,
      column_name_alias: ref.column_name_alias ?? [],
    };
    if (!aliased) this.unaliased.push({ replacement, written: `${schema}.${name}`, name, from: this.from });
    this.pending.push({ ref: replacement, table });
    return replacement;
  }

  private visitExpression(node: LosslessObject, scope: Scope): LosslessJson {
    const cls = String(node.class);
    const unknownKind = expressionKindProblem(cls, node.type);
    if (unknownKind) throw new GovernanceError('not_allowed', unknownKind);
    switch (cls) {
      case 'PARAMETER':
        throw new GovernanceError('invalid_sql', 'query parameters ($1, ?) are not supported');
      case 'COLUMN_REF': {
        const parts = (node.column_names as LosslessJson[]).map((p) => String(p).toLowerCase());
        // A single name may be a whole-row reference (`SELECT d FROM t d`); in a.b the a is a qualifier.
        if (parts.length === 1) this.singleNames.add(parts[0]!);
        const bareFunction = parts.length === 1 ? bareNameProblem(parts[0]!) : undefined;
        if (bareFunction) throw new GovernanceError('not_allowed', bareFunction);
        if (parts.length === 3 && !this.verifiedSubqueries) this.qualifiedColumns.push(node);
        for (const part of parts.length === 1 ? parts : parts.slice(1)) this.columnNames.add(part);
        return node;
      }
      case 'STAR':
        this.wholeRows = true;
        return this.visitChildren(node, scope);
      case 'FUNCTION':
      case 'WINDOW': {
        if (cls === 'FUNCTION') {
          const constant = policyFunctionConstant(node, this.ctx.principal, this.ctx.policy);
          if (constant) return constant;
        }
        const problem = functionCallProblem(node, cls === 'WINDOW' ? 'window' : 'query');
        if (problem) throw new GovernanceError('not_allowed', problem);
        return this.visitChildren(node, scope);
      }
      default:
        return this.visitChildren(node, scope);
    }
  }
}

/** The answer for a table reference that does not resolve to a table the caller may read. */
export function unknownTableMessage(written: string): string {
  return `table ${written} does not exist or you may not read it`;
}

/**
 * Aliases for the governed subqueries of unaliased tables, and the column references that name
 * them. DuckDB tells `sales.daily` from `"sales@2".daily` in one FROM by their schemas; a subquery
 * has only its alias, so tables of one name side by side are aliased `"sales.daily"` and
 * `"sales@2.daily"` (as written) and the others by their name. `pond.table.column` then becomes
 * `alias.column` — only where the query reads `pond.table` without an alias, as DuckDB requires.
 */
function aliasUnaliasedTables(walker: QueryWalker): void {
  const byName = new Map<string, number>();
  const key = (u: { from: number; name: string }) => `${u.from}\0${u.name.toLowerCase()}`;
  for (const u of walker.unaliased) byName.set(key(u), (byName.get(key(u)) ?? 0) + 1);
  const aliases = new Map<string, string>();
  for (const u of walker.unaliased) {
    const alias = (byName.get(key(u)) ?? 0) > 1 ? u.written : u.name;
    u.replacement.alias = alias;
    const written = u.written.toLowerCase();
    if (aliases.get(written) !== u.written) aliases.set(written, aliases.has(written) ? u.written : alias);
  }
  for (const node of walker.qualifiedColumns) {
    const parts = node.column_names as LosslessJson[];
    const alias = aliases.get(`${String(parts[0])}.${String(parts[1])}`.toLowerCase());
    if (alias !== undefined) node.column_names = [alias, ...parts.slice(2)];
  }
}

/**
 * json_deserialize_sql writes a CROSS join as a comma, which binds looser than JOIN: the tree
 * `(a CROSS JOIN b) JOIN c` would come back as `a, (b JOIN c)`. An inner join on a condition that
 * always holds is the same relation and keeps its place, whatever nests around it.
 */
function crossJoinsAsInner(value: LosslessJson, always: LosslessObject): void {
  if (Array.isArray(value)) {
    for (const item of value) crossJoinsAsInner(item, always);
    return;
  }
  if (!isJsonObject(value)) return;
  if (value.type === 'JOIN' && value.ref_type === 'CROSS' && value.condition === null) {
    value.ref_type = 'REGULAR';
    value.join_type = 'INNER';
    value.condition = cloneLossless(always);
  }
  for (const child of Object.values(value)) crossJoinsAsInner(child, always);
}

/** The shape of every join in a tree, in walk order: what must survive the trip through SQL text. */
function joinShapes(value: LosslessJson, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) joinShapes(item, out);
    return out;
  }
  if (!isJsonObject(value)) return out;
  if (value.type === 'JOIN') {
    const kind = (side: LosslessJson | undefined) => (isJsonObject(side) ? String(side.type) : '?');
    out.push(`${String(value.ref_type)} ${String(value.join_type)} ${kind(value.left)} ${kind(value.right)}`);
  }
  for (const child of Object.values(value)) joinShapes(child, out);
  return out;
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

function checkText(sql: string): void {
  if (typeof sql !== 'string' || sql.trim() === '') throw new GovernanceError('invalid_sql', 'SQL is empty');
  if (sql.includes('\0')) throw new GovernanceError('invalid_sql', 'SQL contains a NUL byte');
}

/** A schema name no query can guess: 128 random bits. */
function freshRawSchema(): string {
  return `raw_${randomBytes(16).toString('hex')}`;
}

/** Parses, checks and rewrites queries; owns a private DuckDB parser instance. */
export class Governor {
  private readonly statements: GovernedStatements;
  private selectTemplate: Promise<LosslessObject> | undefined;
  private alwaysTrueNode: Promise<LosslessObject> | undefined;

  private readonly columnNames: ColumnNames;

  private constructor(private readonly parser: DuckSqlParser) {
    this.statements = new GovernedStatements(parser);
    this.columnNames = new ColumnNames(parser);
  }

  static async create(): Promise<Governor> {
    return new Governor(await DuckSqlParser.create());
  }

  /**
   * The refusals that depend on the text alone — empty, a NUL byte, unparseable, not exactly one
   * SELECT — with the errors governing gives them; returns the parsed statement. An async submission
   * is checked with this alone: nothing here depends on the catalog or on what its author may read.
   */
  async checkStatement(sql: string): Promise<LosslessObject> {
    checkText(sql);
    return singleSelect(await this.parser.serialize(sql));
  }

  async governQuery(sql: string, ctx: GovernContext): Promise<GovernedQuery> {
    checkText(sql);
    const catalog = CatalogClass.parse(ctx.catalog);
    const { policy } = ctx;
    const known = typeof ctx.principal === 'string' ? policy.principal(ctx.principal) : undefined;
    if (!known) throw new GovernanceError('permission_denied', 'unknown principal');
    // The policy's spelling, so current_principal() does not depend on how the caller typed it.
    const principal = known.name;
    const context = { principal, policy, catalog };
    const rawSchema = ctx.rawSchema ?? freshRawSchema();

    const statement = await this.checkStatement(sql);
    // The query as parsed, to name result columns DuckDB's way (below) after the rewrite changed them.
    const original = cloneLossless(statement);
    const walker = new QueryWalker(context, null);
    walker.visit(statement, EMPTY_SCOPE);
    aliasUnaliasedTables(walker);
    crossJoinsAsInner(statement, await this.alwaysTrue());

    const governed = new Map<string, Promise<GovernedStatement>>();
    const relations = new Map<string, string>();
    for (const table of walker.tables.values()) {
      governed.set(table.key, this.statements.get(policy, table, principal));
      relations.set(table.key, `t${relations.size}`);
    }
    // Per table read: its governed subquery as the rewritten text must parse back.
    const expected = new Map<string, LosslessObject>();
    try {
      for (const { ref, table } of walker.pending) {
        const compiled = await governed.get(table.key)!;
        const view = relations.get(table.key)!;
        ref.subquery = withRawRelation(cloneLossless(compiled.statement), rawSchema, view);
        if (!expected.has(table.key))
          expected.set(table.key, withRawRelation(cloneLossless(compiled.reparsed), rawSchema, view));
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

    const topList = (statement.node as LosslessObject).select_list;
    const topNames = walker.columnNamesToKeep.some((k) => k.list === topList)
      ? await this.topColumnNames(sql, original, walker, topList, catalog)
      : new Map<number, string>();
    for (const { list, index, original: item } of walker.columnNamesToKeep) {
      const rewrittenItem = list[index];
      if (!isJsonObject(rewrittenItem)) continue;
      const exact = list === topList ? topNames.get(index) : undefined;
      rewrittenItem.alias = exact ?? (await this.expressionText(item));
    }
    const rewritten = await this.parser.deserialize({ error: false, statements: [statement] });
    await this.verify(rewritten, context, [...expected.values()], joinShapes(statement));

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
      tables: tables.map((t) => ({
        key: t.key,
        relation: `${rawSchema}.${relations.get(t.key)!}`,
        pond: t.pond,
        major: t.major,
        table: t.name,
      })),
      columns,
    };
  }

  /**
   * DuckDB's own names for the top-level items the rewrite must alias, by their index in the select
   * list. The caller's text is bound against stand-in tables for the names; a copy of the parsed
   * query with those items marked by an alias finds their positions among the result columns
   * (a `*` before them expands to any number of columns). Items it cannot name are left out.
   */
  private async topColumnNames(
    sql: string,
    original: LosslessObject,
    walker: QueryWalker,
    topList: LosslessJson | undefined,
    catalog: Catalog,
  ): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const names = await this.columnNames.of(sql, catalog);
    const marked = cloneLossless(original);
    const list = (marked.node as LosslessObject).select_list;
    if (!names || !Array.isArray(list)) return out;
    const wanted = walker.columnNamesToKeep.filter((k) => k.list === topList).map((k) => k.index);
    for (const index of wanted) {
      const item = list[index];
      if (isJsonObject(item)) item.alias = `__duckstring_name_${index}`;
    }
    const text = await this.parser.deserialize({ error: false, statements: [marked] });
    const positions = await this.columnNames.of(text, catalog);
    if (!positions || positions.length !== names.length) return out;
    positions.forEach((name, position) => {
      const index = /^__duckstring_name_(\d+)$/.exec(name)?.[1];
      if (index !== undefined) out.set(Number(index), names[position]!);
    });
    return out;
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
    expected: readonly LosslessObject[],
    joins: readonly string[],
  ): Promise<void> {
    const reparsed = await this.parser.serialize(sql);
    let statement: LosslessObject;
    try {
      statement = singleSelect(reparsed);
      new QueryWalker(context, expected).visit(statement, EMPTY_SCOPE);
    } catch (error) {
      if (error instanceof GovernanceError && error.message === 'the query could not be governed safely')
        throw error;
      throw new GovernanceError('not_allowed', 'the query could not be governed safely');
    }
    // The text must join what the tree joined: nesting lost in writing would change the answer.
    if (JSON.stringify(joinShapes(statement)) !== JSON.stringify(joins)) {
      throw new GovernanceError(
        'not_allowed',
        'the joins of this query cannot be kept as written; give nested joins an alias or rewrite them as subqueries',
      );
    }
  }

  /** `1 = 1` as an expression node: the condition of a CROSS join written as an inner join. */
  private alwaysTrue(): Promise<LosslessObject> {
    this.alwaysTrueNode ??= this.parser.serialize('SELECT 1 = 1').then((parsed) => {
      const node = ((parsed.statements as LosslessJson[])[0] as LosslessObject).node as LosslessObject;
      return (node.select_list as LosslessObject[])[0]!;
    });
    return this.alwaysTrueNode;
  }
}
