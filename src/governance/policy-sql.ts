/**
 * Row filters and masks as SQL: parsing each policy expression with DuckDB's parser (one
 * expression, nothing else), checking what it may contain, binding it against the table's columns,
 * and compiling a table's governed subquery:
 *
 *   SELECT "a", CAST((<mask of b>) AS <type of b>) AS "b", … FROM "pond@N"."t"
 *   WHERE (<row filter>) LIMIT 9223372036854775807
 *
 * The LIMIT is an optimisation barrier: DuckDB does not push filters through a LIMIT, so the
 * user's predicates run only on rows the row filter kept (without it, a predicate such as
 * `name::INT > 0` may run on hidden rows first and quote them in its error). It is added only
 * when a row filter exists. Expressions are spliced in as AST nodes, never as text.
 */

import type { CatalogTable } from './catalog.js';
import { GovernanceError, PolicyError } from './errors.js';
import { functionCallProblem } from './function-allowlist.js';
import {
  cloneLossless,
  isJsonObject,
  JsonNumber,
  type LosslessJson,
  type LosslessObject,
} from './lossless-json.js';
import type { Policy } from './policy.js';
import type { DuckSqlParser } from './sql-parser.js';
import {
  CURRENT_PRINCIPAL,
  expressionKindProblem,
  IS_MEMBER,
  isAuxiliaryNode,
  isQualifiedFunction,
} from './sql-rules.js';

const BARRIER_LIMIT = '9223372036854775807';

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A VARCHAR or BOOLEAN constant node, as json_serialize_sql writes them. */
export function constantNode(value: string | boolean, like: LosslessObject): LosslessObject {
  return {
    class: 'CONSTANT',
    type: 'VALUE_CONSTANT',
    alias: like.alias ?? '',
    query_location: like.query_location ?? new JsonNumber('18446744073709551615'),
    value: {
      type: { id: typeof value === 'string' ? 'VARCHAR' : 'BOOLEAN', type_info: null },
      is_null: false,
      value,
    },
  };
}

/** The literal string argument of `is_member('g')`, or null when it is anything else. */
function literalArgument(fn: LosslessObject): string | null {
  const children = fn.children;
  if (!Array.isArray(children) || children.length !== 1) return null;
  const arg = children[0];
  if (!isJsonObject(arg) || arg.class !== 'CONSTANT' || !isJsonObject(arg.value)) return null;
  const type = arg.value.type;
  if (!isJsonObject(type) || type.id !== 'VARCHAR' || arg.value.is_null !== false) return null;
  return typeof arg.value.value === 'string' ? arg.value.value : null;
}

/**
 * If `fn` is current_principal() or is_member('g'), the constant that replaces it for `principal`;
 * null for any other function. Throws for malformed calls.
 */
export function policyFunctionConstant(
  fn: LosslessObject,
  principal: string,
  policy: Policy,
): LosslessObject | null {
  const name = String(fn.function_name).toLowerCase();
  if (name !== CURRENT_PRINCIPAL && name !== IS_MEMBER) return null;
  if (isQualifiedFunction(fn.schema, fn.catalog)) {
    throw new GovernanceError('not_allowed', `${name}() cannot be qualified with a schema`);
  }
  if (fn.distinct === true || fn.filter !== null || fn.export_state === true) {
    throw new GovernanceError('invalid_sql', `${name}() is not an aggregate`);
  }
  if (name === CURRENT_PRINCIPAL) {
    if (Array.isArray(fn.children) && fn.children.length > 0) {
      throw new GovernanceError('invalid_sql', 'current_principal() takes no arguments');
    }
    return constantNode(principal, fn);
  }
  const group = literalArgument(fn);
  if (group === null) {
    throw new GovernanceError(
      'not_allowed',
      "is_member() takes exactly one string literal, e.g. is_member('analysts')",
    );
  }
  return constantNode(policy.isMember(principal, group), fn);
}

/** Replaces current_principal() / is_member('g') everywhere in an AST (in place). */
export function substitutePolicyFunctions(
  value: LosslessJson,
  principal: string,
  policy: Policy,
): LosslessJson {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = substitutePolicyFunctions(value[i]!, principal, policy);
    return value;
  }
  if (!isJsonObject(value)) return value;
  if (value.class === 'FUNCTION') {
    const constant = policyFunctionConstant(value, principal, policy);
    if (constant) return constant;
  }
  for (const key of Object.keys(value))
    value[key] = substitutePolicyFunctions(value[key]!, principal, policy);
  return value;
}

/**
 * Whether two trees are the same apart from their query_location fields (source positions): the
 * same keys in the same order, the same strings, booleans and number texts. It runs on every
 * subquery of every rewritten query, so it compares in place and stops at the first difference.
 */
export function sameTreeIgnoringLocations(a: LosslessJson, b: LosslessJson): boolean {
  if (a === b) return true;
  if (a instanceof JsonNumber) return b instanceof JsonNumber && a.text === b.text;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameTreeIgnoringLocations(a[i]!, b[i]!)) return false;
    return true;
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  const aKeys = Object.keys(a).filter((k) => k !== 'query_location');
  const bKeys = Object.keys(b).filter((k) => k !== 'query_location');
  if (aKeys.length !== bKeys.length) return false;
  for (let i = 0; i < aKeys.length; i++) {
    const key = aKeys[i]!;
    if (key !== bKeys[i] || !sameTreeIgnoringLocations(a[key]!, b[key]!)) return false;
  }
  return true;
}

/** Parses `text` as exactly one scalar expression; anything else (a clause, a second item) fails. */
async function parseExpression(parser: DuckSqlParser, text: string, what: string): Promise<LosslessObject> {
  const parsed = await parser.serialize(`SELECT (\n${text}\n)`);
  if (parsed.error !== false) {
    throw new PolicyError([`${what}: not a valid SQL expression (${String(parsed.error_message)})`]);
  }
  const statements = parsed.statements;
  const node =
    Array.isArray(statements) && statements.length === 1 && isJsonObject(statements[0])
      ? statements[0].node
      : null;
  const from = isJsonObject(node) ? node.from_table : null;
  if (
    !isJsonObject(node) ||
    node.type !== 'SELECT_NODE' ||
    !Array.isArray(node.select_list) ||
    node.select_list.length !== 1 ||
    !isJsonObject(from) ||
    from.type !== 'EMPTY' ||
    node.where_clause !== null ||
    node.having !== null ||
    node.qualify !== null ||
    (Array.isArray(node.group_expressions) && node.group_expressions.length > 0) ||
    (Array.isArray(node.modifiers) && node.modifiers.length > 0) ||
    (isJsonObject(node.cte_map) && Array.isArray(node.cte_map.map) && node.cte_map.map.length > 0)
  ) {
    throw new PolicyError([`${what}: must be a single SQL expression`]);
  }
  const expression = node.select_list[0]!;
  if (!isJsonObject(expression)) throw new PolicyError([`${what}: must be a single SQL expression`]);
  expression.alias = '';
  return expression;
}

/**
 * What a policy expression may contain: column references to the table's own columns, constants,
 * operators and scalar functions of the allow-list (function-allowlist.ts); no subqueries, tables,
 * parameters, stars, aggregates or windows, and is_member() only with a literal naming a known
 * group.
 */
function checkPolicyExpression(
  expression: LosslessObject,
  table: CatalogTable,
  policy: Policy,
  what: string,
): void {
  const columns = new Set(table.columns.map((c) => c.name.toLowerCase()));
  const issues: string[] = [];
  const visit = (value: LosslessJson): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (!isJsonObject(value)) return;
    const cls = value.class;
    if (typeof cls === 'string') {
      const unknownKind = expressionKindProblem(cls, value.type);
      if (unknownKind) issues.push(unknownKind);
      if (cls === 'SUBQUERY') issues.push('subqueries are not allowed (a policy reads only its own table)');
      if (cls === 'PARAMETER') issues.push('parameters are not allowed');
      if (cls === 'STAR') issues.push('* is not allowed');
      if (cls === 'WINDOW') issues.push('window functions are not allowed');
      if (cls === 'LAMBDA') issues.push('lambdas are not allowed');
      if (cls === 'COLUMN_REF') {
        const parts = (value.column_names as LosslessJson[]).map((p) => String(p).toLowerCase());
        const qualifierOk = parts.length === 1 || (parts.length === 2 && parts[0] === table.name);
        if (!qualifierOk || !columns.has(parts[parts.length - 1]!)) {
          issues.push(`column ${parts.join('.')} is not a column of ${table.key}`);
        }
      }
      if (cls === 'FUNCTION' || cls === 'WINDOW') {
        const name = String(value.function_name).toLowerCase();
        // Scalar functions only: a filter or mask is evaluated row by row.
        const problem = functionCallProblem(value, 'policy');
        if (problem) issues.push(problem);
        if (name === IS_MEMBER) {
          const group = literalArgument(value);
          if (group === null)
            issues.push("is_member() takes exactly one string literal, e.g. is_member('analysts')");
          else if (!policy.hasGroup(group)) issues.push(`is_member('${group}'): no such group`);
        }
        if (name === CURRENT_PRINCIPAL && Array.isArray(value.children) && value.children.length > 0) {
          issues.push('current_principal() takes no arguments');
        }
      }
    } else if (typeof value.type === 'string' && !isAuxiliaryNode(value.type)) {
      issues.push(`unsupported construct ${value.type}`);
    }
    Object.values(value).forEach(visit);
  };
  visit(expression);
  if (issues.length > 0) throw new PolicyError([...new Set(issues)].map((i) => `${what}: ${i}`));
}

interface CompiledExpressions {
  filter?: LosslessObject;
  masks: Map<string, LosslessObject>;
  /** Problems found; the expressions above are the ones that passed. */
  issues: string[];
}

async function compileExpressions(
  parser: DuckSqlParser,
  policy: Policy,
  table: CatalogTable,
): Promise<CompiledExpressions> {
  const filterText = policy.rowFilter(table.pond, table.major, table.name);
  const out: CompiledExpressions = { masks: new Map(), issues: [] };
  const issues = out.issues;
  const attempt = async (text: string, what: string): Promise<LosslessObject | undefined> => {
    try {
      const expression = await parseExpression(parser, text, what);
      checkPolicyExpression(expression, table, policy, what);
      return expression;
    } catch (error) {
      if (error instanceof PolicyError) issues.push(...error.issues);
      else throw error;
      return undefined;
    }
  };
  if (filterText !== undefined) out.filter = await attempt(filterText, `row filter of ${table.key}`);
  const columns = new Set(table.columns.map((c) => c.name.toLowerCase()));
  for (const [column, text] of policy.columnMasks(table.pond, table.major, table.name)) {
    if (!columns.has(column)) {
      issues.push(`mask of ${table.key}.${column}: the table has no such column`);
      continue;
    }
    const mask = await attempt(text, `mask of ${table.key}.${column}`);
    if (mask) out.masks.set(column, mask);
  }
  return out;
}

/** The governed subquery of one table, before principal substitution. */
async function compileTemplate(
  parser: DuckSqlParser,
  policy: Policy,
  table: CatalogTable,
): Promise<LosslessObject> {
  const expressions = await compileExpressions(parser, policy, table);
  if (expressions.issues.length > 0) throw new PolicyError(expressions.issues);
  const items = table.columns.map((c) =>
    expressions.masks.has(c.name.toLowerCase())
      ? `CAST(NULL AS ${c.type}) AS ${quoteIdentifier(c.name)}`
      : quoteIdentifier(c.name),
  );
  // The raw relation gets its per-query name later (withRawRelation): never a name a user can write.
  const from = `${quoteIdentifier(RAW_PLACEHOLDER_SCHEMA)}.${quoteIdentifier(table.key)}`;
  const tail = expressions.filter ? ` WHERE TRUE LIMIT ${BARRIER_LIMIT}` : '';
  const parsed = await parser.serialize(`SELECT ${items.join(', ')} FROM ${from}${tail}`);
  const statement = Array.isArray(parsed.statements) ? parsed.statements[0] : undefined;
  const node = isJsonObject(statement) ? statement.node : undefined;
  const selectList = isJsonObject(node) ? node.select_list : undefined;
  if (
    parsed.error !== false ||
    !isJsonObject(statement) ||
    !isJsonObject(node) ||
    !Array.isArray(selectList) ||
    selectList.length !== table.columns.length ||
    (parsed.statements as LosslessJson[]).length !== 1
  ) {
    throw new PolicyError([`catalog: the columns of ${table.key} cannot be governed (check their types)`]);
  }
  table.columns.forEach((c, i) => {
    const mask = expressions.masks.get(c.name.toLowerCase());
    const item = selectList[i];
    if (!mask) return;
    if (!isJsonObject(item) || item.class !== 'CAST') {
      throw new PolicyError([`catalog: type ${c.type} of ${table.key}.${c.name} is not a DuckDB type`]);
    }
    item.child = mask;
  });
  if (expressions.filter) node.where_clause = expressions.filter;
  return statement;
}

export interface GovernedStatement {
  /** The statement to splice in as a SUBQUERY table reference (clone before mutating). */
  statement: LosslessObject;
  /**
   * The same statement after a round trip through SQL text: with its raw relation named
   * (withRawRelation), it is what the post-rewrite check expects to find (sameTreeIgnoringLocations).
   */
  reparsed: LosslessObject;
}

/** Schema of the raw relation in a governed template, replaced per query. */
const RAW_PLACEHOLDER_SCHEMA = '__governed_raw__';

/**
 * Names the raw relation a governed statement reads (in place): the per-query schema and view the
 * executor creates over the snapshot. Fails closed if the statement is not of the template's shape.
 */
export function withRawRelation(statement: LosslessObject, schema: string, name: string): LosslessObject {
  const node = statement.node;
  const from = isJsonObject(node) ? node.from_table : undefined;
  if (!isJsonObject(from) || from.type !== 'BASE_TABLE' || from.schema_name !== RAW_PLACEHOLDER_SCHEMA) {
    throw new Error('a governed statement does not read its raw relation where expected');
  }
  from.schema_name = schema;
  from.table_name = name;
  return statement;
}

/**
 * Compiles and caches governed subqueries per policy, table and principal. A Policy is immutable,
 * so its compiled templates live exactly as long as it does.
 */
export class GovernedStatements {
  private readonly templates = new WeakMap<Policy, Map<string, Promise<LosslessObject>>>();
  private readonly perPrincipal = new WeakMap<Policy, Map<string, Promise<GovernedStatement>>>();

  constructor(private readonly parser: DuckSqlParser) {}

  get(policy: Policy, table: CatalogTable, principal: string): Promise<GovernedStatement> {
    const signature = tableSignature(table);
    let cache = this.perPrincipal.get(policy);
    if (!cache) {
      cache = new Map();
      this.perPrincipal.set(policy, cache);
    }
    const key = `${principal.toLowerCase()}\0${signature}`;
    let entry = cache.get(key);
    if (!entry) {
      entry = this.build(policy, table, principal, signature);
      cache.set(key, entry);
      entry.catch(() => cache.delete(key));
    }
    return entry;
  }

  private async build(
    policy: Policy,
    table: CatalogTable,
    principal: string,
    signature: string,
  ): Promise<GovernedStatement> {
    let templates = this.templates.get(policy);
    if (!templates) {
      templates = new Map();
      this.templates.set(policy, templates);
    }
    let template = templates.get(signature);
    if (!template) {
      template = compileTemplate(this.parser, policy, table);
      templates.set(signature, template);
      const cache = templates;
      template.catch(() => cache.delete(signature));
    }
    const statement = substitutePolicyFunctions(
      cloneLossless(await template),
      principal,
      policy,
    ) as LosslessObject;
    const sql = await this.parser.deserialize({ error: false, statements: [statement] });
    const reparsed = await this.parser.serialize(sql);
    const again = Array.isArray(reparsed.statements) ? reparsed.statements[0] : undefined;
    if (reparsed.error !== false || again === undefined) {
      throw new Error(`the governed subquery of ${table.key} does not survive a round trip: ${sql}`);
    }
    if (!isJsonObject(again)) throw new Error(`the governed subquery of ${table.key} did not parse back`);
    return { statement, reparsed: again };
  }
}

/** Identity of a table's shape: a catalog change (new column or type) compiles afresh. */
function tableSignature(table: CatalogTable): string {
  return `${table.key}\0${table.columns.map((c) => `${c.name}\0${c.type}`).join('\0')}`;
}

/**
 * Checks every row filter and mask of `policy` against the tables of the catalog they apply to:
 * each parses as one expression, uses only allowed constructs, names only the table's columns,
 * and binds: a filter to BOOLEAN, a mask to its column's type. Throws PolicyError listing all issues.
 */
export async function validatePolicySql(
  parser: DuckSqlParser,
  policy: Policy,
  tables: readonly CatalogTable[],
): Promise<void> {
  const issues: string[] = [];
  for (const table of tables) {
    const filter = policy.rowFilter(table.pond, table.major, table.name);
    const masks = policy.columnMasks(table.pond, table.major, table.name);
    if (filter === undefined && masks.size === 0) continue;
    const expressions = await compileExpressions(parser, policy, table);
    issues.push(...expressions.issues);
    const source = `(SELECT ${table.columns
      .map((c) => `CAST(NULL AS ${c.type}) AS ${quoteIdentifier(c.name)}`)
      .join(', ')}) AS ${quoteIdentifier(table.name)}`;
    const probes: { what: string; expression: LosslessObject; expected: string }[] = [];
    if (expressions.filter) {
      probes.push({
        what: `row filter of ${table.key}`,
        expression: expressions.filter,
        expected: 'BOOLEAN',
      });
    }
    for (const [column, mask] of expressions.masks) {
      const type = table.columns.find((c) => c.name.toLowerCase() === column)!.type;
      probes.push({ what: `mask of ${table.key}.${column}`, expression: mask, expected: type });
    }
    for (const probe of probes) {
      // A bare NULL fits any column (it binds as INTEGER, and the CAST gives it the column's type).
      if (
        probe.expression.class === 'CONSTANT' &&
        isJsonObject(probe.expression.value) &&
        probe.expression.value.is_null === true
      ) {
        continue;
      }
      // Bind with placeholder constants: the type does not depend on who asks.
      const expression = substitutePolicyFunctions(
        cloneLossless(probe.expression),
        '',
        policy,
      ) as LosslessObject;
      const parsed = await parser.serialize(`SELECT NULL AS v FROM ${source}`);
      const statement = (parsed.statements as LosslessJson[])[0] as LosslessObject;
      ((statement.node as LosslessObject).select_list as LosslessJson[])[0] = { ...expression, alias: 'v' };
      try {
        const sql = await parser.deserialize({ error: false, statements: [statement] });
        const [column] = await parser.describe(sql);
        const type = column?.type ?? '';
        const nullOk = type === '"NULL"' || type === 'NULL';
        if (!nullOk && normalizeType(type) !== normalizeType(probe.expected)) {
          issues.push(`${probe.what}: yields ${type}, expected ${probe.expected}`);
        }
      } catch (error) {
        issues.push(`${probe.what}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  if (issues.length > 0) throw new PolicyError(issues);
}

function normalizeType(type: string): string {
  return type.replace(/\s+/g, ' ').trim().toUpperCase();
}
