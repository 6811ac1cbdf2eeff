/**
 * A seeded generator of random SELECT queries over the governance fixture (fixtures.ts). It tracks
 * just enough about names and types that most queries bind, so the differential check compares
 * answers rather than two identical binder errors. Every query is a pure function of its seed.
 *
 * What it never writes, so that any hidden value found in an answer or error came from the data:
 * literals containing a forbidden token (FORBIDDEN_TOKENS), and functions whose answer is not a
 * function of the data (random(), now(), any_value, unordered list/string_agg, LIMIT without a
 * total order).
 */
import { Rng } from '../../support/prng.js';

export type Ty = 'int' | 'dec' | 'str' | 'date' | 'bool' | 'dbl' | 'other';

interface Col {
  name: string;
  ty: Ty;
}

interface Rel {
  /** The qualifier the query may use for it ('' when only unqualified names work). */
  qual: string;
  cols: Col[];
  /** Columns whose values together identify a row (for row_number/lag with a total order). */
  key?: string[];
}

interface TableSpec {
  id: 'daily' | 'daily2' | 'customers' | 'salaries';
  /** Ways to write its name; the qualifier an unaliased reference gets is `qual`. */
  spellings: string[];
  qual: string;
  cols: Col[];
  key: string[];
}

const DAILY_COLS: Col[] = [
  { name: 'id', ty: 'int' },
  { name: 'region', ty: 'str' },
  { name: 'customer_email', ty: 'str' },
  { name: 'amount', ty: 'dec' },
  { name: 'day', ty: 'date' },
  { name: 'qty', ty: 'int' },
  { name: 'memo', ty: 'str' },
];

const TABLES: TableSpec[] = [
  {
    id: 'daily',
    spellings: [
      'sales.daily',
      'sales.daily',
      'SALES.Daily',
      '"sales"."daily"',
      '"sales@1".daily',
      '"SALES@1"."Daily"',
      'Sales.DAILY',
    ],
    qual: 'daily',
    cols: DAILY_COLS,
    key: ['id'],
  },
  {
    id: 'daily2',
    spellings: ['"sales@2".daily', '"sales@2"."DAILY"', '"Sales@2".Daily'],
    qual: 'daily',
    cols: DAILY_COLS,
    key: ['id'],
  },
  {
    id: 'customers',
    spellings: ['sales.customers', '"sales@1".customers', 'SALES.Customers', '"sales"."customers"'],
    qual: 'customers',
    cols: [
      { name: 'customer_email', ty: 'str' },
      { name: 'name', ty: 'str' },
      { name: 'tier', ty: 'str' },
      { name: 'region', ty: 'str' },
    ],
    key: ['customer_email', 'name'],
  },
  {
    id: 'salaries',
    spellings: ['hr.salaries', '"hr@1".salaries', 'HR.Salaries'],
    qual: 'salaries',
    cols: [
      { name: 'employee', ty: 'str' },
      { name: 'dept', ty: 'str' },
      { name: 'salary', ty: 'int' },
    ],
    key: ['employee'],
  },
];

/**
 * Substrings (compared case-insensitively) of values some principal may not see. The generator
 * never writes them, so an occurrence in an answer or error can only come from hidden data.
 */
export const FORBIDDEN_TOKENS = ['zq_user', 'hidden-', 'nm_', 'salary-secret', 'erin', 'frank'];

/** Names a CTE may take that collide with catalog names (the rewrite must refuse or scope them right). */
const SHADOWING_CTE_NAMES = [
  'daily',
  'customers',
  'salaries',
  'sales',
  'hr',
  '"sales@2"',
  '"sales@1"',
  'Daily',
];

const STR_LITERALS = [
  "'EU'",
  "'US'",
  "'APAC'",
  "'gold'",
  "'silver'",
  "'eng'",
  "'carol'",
  "'x'",
  "'***@corp.example'",
  "'visible-3'",
  "''",
];
const LIKE_PATTERNS = ["'visible%'", "'%corp%'", "'HIDDEN%'", "'***%'", "'zq%'", "'E%'", "'%.'", "'%3'"];
const SIDE_CHANNEL_CASTS = ['INTEGER', 'BIGINT', 'DATE', 'DOUBLE', 'UUID', 'BOOLEAN'];
const INT_CASTS = ['INTEGER', 'BIGINT', 'DOUBLE', 'VARCHAR', 'DECIMAL(10,1)', 'HUGEINT'];

/** Calls the rewrite must refuse (introspection, settings, files); each marks the query `mustRefuse`. */
const REFUSED_SCALARS = [
  (e: string) => `stats(${e})`,
  () => 'current_query()',
  () => "current_setting('threads')",
  () => "getvariable('x')",
  () => "getenv('HOME')",
];
const REFUSED_TABLES = [
  "read_parquet('daily.parquet')",
  "glob('*')",
  "read_csv('/etc/hostname')",
  'duckdb_tables()',
  "query('SELECT 1')",
];

const MUST_REFUSE =
  /\b(stats|current_query|current_setting|getvariable|getenv|read_parquet|glob|read_csv|duckdb_tables|query)\(/i;

export interface GeneratedQuery {
  sql: string;
  principal: string;
  /** The top level orders every row (ORDER BY ALL): compare order too. */
  ordered: boolean;
  /** The query calls something the rewrite must refuse. */
  mustRefuse: boolean;
  /** The shapes it contains (coverage accounting). */
  tags: string[];
}

interface Ctx {
  rng: Rng;
  principal: string;
  tags: Set<string>;
  mustRefuse: boolean;
  /** CTE names visible here, with their columns. */
  ctes: { name: string; cols: Col[] }[];
  depth: number;
  /** How deep subqueries may nest in this query (most queries stay small: cheaper, clearer repros). */
  maxDepth: number;
  counter: { n: number };
}

interface Built {
  sql: string;
  cols: Col[];
}

const PRINCIPALS: ReadonlyArray<readonly [string, number]> = [
  ['bob', 50],
  ['carol', 20],
  ['dashboard', 10],
  ['root', 20],
];

export function generateQuery(seed: number): GeneratedQuery {
  const rng = new Rng(seed);
  const principal = rng.weighted(PRINCIPALS);
  const ctx: Ctx = {
    rng,
    principal,
    tags: new Set(),
    mustRefuse: false,
    ctes: [],
    depth: 0,
    maxDepth: rng.weighted<number>([
      [0, 35],
      [1, 50],
      [2, 15],
    ]),
    counter: { n: 0 },
  };
  const { sql, ordered } = topLevel(ctx);
  // From the text, not from ctx.mustRefuse: a generated fragment may have been discarded.
  const mustRefuse = MUST_REFUSE.test(sql);
  return { sql, principal, ordered, mustRefuse, tags: [...ctx.tags].sort() };
}

function fresh(ctx: Ctx, prefix: string): string {
  ctx.counter.n += 1;
  return `${prefix}${ctx.counter.n}`;
}

function nested(ctx: Ctx, ctes = ctx.ctes): Ctx {
  return { ...ctx, ctes, depth: ctx.depth + 1 };
}

function topLevel(ctx: Ctx): { sql: string; ordered: boolean } {
  const { rng } = ctx;
  let withClause = '';
  if (rng.chance(0.25)) withClause = withCtes(ctx);
  const body = rng.chance(0.15) ? setOperation(ctx) : select(ctx, {});
  let sql = `${withClause}${body.sql}`;
  let ordered = false;
  const order = rng.int(0, 9);
  if (order < 3) {
    sql += ' ORDER BY ALL';
    ordered = true;
    ctx.tags.add('order-by-all');
    if (rng.chance(0.4)) {
      sql += ` LIMIT ${rng.int(0, 6)}`;
      ctx.tags.add('limit');
      if (rng.chance(0.3)) sql += ` OFFSET ${rng.int(1, 3)}`;
    }
  } else if (order === 3 && body.cols.length > 0) {
    sql += ` ORDER BY 1${rng.chance(0.5) ? ' DESC' : ''}`;
    ctx.tags.add('order-by-position');
  }
  return { sql, ordered };
}

function withCtes(ctx: Ctx): string {
  const { rng } = ctx;
  const parts: string[] = [];
  let recursive = false;
  const count = rng.int(1, 2);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.25)) {
      const r = recursiveCte(ctx);
      recursive = true;
      parts.push(r.sql);
      ctx.ctes = [...ctx.ctes, { name: r.name, cols: r.cols }];
      continue;
    }
    let name = fresh(ctx, 'cte');
    if (rng.chance(0.08)) {
      name = rng.pick(SHADOWING_CTE_NAMES);
      ctx.tags.add('cte-shadows-catalog-name');
    }
    const materialized = rng.chance(0.1) ? 'MATERIALIZED ' : '';
    const body = select(nested(ctx), { named: true });
    parts.push(`${name} AS ${materialized}(${body.sql})`);
    ctx.tags.add('cte');
    ctx.ctes = [...ctx.ctes, { name: name.replaceAll('"', ''), cols: body.cols }];
  }
  return `WITH ${recursive ? 'RECURSIVE ' : ''}${parts.join(', ')} `;
}

function recursiveCte(ctx: Ctx): { sql: string; name: string; cols: Col[] } {
  const { rng } = ctx;
  ctx.tags.add('recursive-cte');
  const name = rng.chance(0.1) ? rng.pick(SHADOWING_CTE_NAMES) : fresh(ctx, 'rec');
  if (name.startsWith('"') || SHADOWING_CTE_NAMES.includes(name)) ctx.tags.add('cte-shadows-catalog-name');
  const bare = name.replaceAll('"', '');
  const limit = rng.int(1, 5);
  const union = rng.pick(['UNION ALL', 'UNION']);
  const shape = rng.int(0, 2);
  if (shape === 0) {
    // A counter that reads a table in its step.
    const t = tableRef(ctx, 'x');
    const colTy = rng.pick(t.rel.cols);
    return {
      sql: `${name}(n, v) AS (SELECT 0, NULL::${sqlType(colTy.ty)} ${union} SELECT n + 1, (SELECT max(x.${colTy.name}) FROM ${t.sql} WHERE ${boolExpr(nested(ctx), [t.rel], 1)}) FROM ${name} WHERE n < ${limit})`,
      name: bare,
      cols: [
        { name: 'n', ty: 'int' },
        { name: 'v', ty: colTy.ty },
      ],
    };
  }
  if (shape === 1) {
    // Walks daily ids.
    const t1 = rng.pick(['sales.daily', '"sales@2".daily', 'SALES.DAILY']);
    const t2 = rng.pick(['sales.daily', '"sales@2".daily']);
    const step = rng.int(1, 4);
    return {
      sql: `${name}(id, depth, memo) AS (SELECT min(id), 0, min(memo) FROM ${t1} ${union} SELECT d.id, ${bare}.depth + 1, d.memo FROM ${bare} JOIN ${t2} d ON d.id = ${bare}.id + ${step} WHERE ${bare}.depth < ${limit})`,
      name: bare,
      cols: [
        { name: 'id', ty: 'int' },
        { name: 'depth', ty: 'int' },
        { name: 'memo', ty: 'str' },
      ],
    };
  }
  // Seeds with table rows and iterates a bounded number of times.
  const t = tableRef(ctx, 's');
  const strings = t.rel.cols.filter((x) => x.ty === 'str');
  const c = strings.length > 0 ? `s.${rng.pick(strings).name}` : "'x'";
  return {
    sql: `${name}(e, n) AS (SELECT ${c}, 0 FROM ${t.sql} ${union} SELECT e, n + 1 FROM ${bare} WHERE n < ${limit})`,
    name: bare,
    cols: [
      { name: 'e', ty: 'str' },
      { name: 'n', ty: 'int' },
    ],
  };
}

function sqlType(ty: Ty): string {
  switch (ty) {
    case 'int':
      return 'BIGINT';
    case 'dec':
      return 'DECIMAL(12,2)';
    case 'date':
      return 'DATE';
    case 'bool':
      return 'BOOLEAN';
    case 'dbl':
      return 'DOUBLE';
    default:
      return 'VARCHAR';
  }
}

function pickTable(ctx: Ctx): TableSpec {
  const hrWeight = ctx.principal === 'bob' || ctx.principal === 'dashboard' ? 2 : 12;
  return ctx.rng.weighted<TableSpec>([
    [TABLES[0]!, 45],
    [TABLES[1]!, 15],
    [TABLES[2]!, 25],
    [TABLES[3]!, hrWeight],
  ]);
}

/** A base table (or CTE) reference with an alias or none. */
function tableRef(ctx: Ctx, alias?: string): { sql: string; rel: Rel } {
  const { rng } = ctx;
  if (ctx.ctes.length > 0 && rng.chance(0.4)) {
    const cte = rng.pick(ctx.ctes);
    const a = alias ?? (rng.chance(0.5) ? fresh(ctx, 'c') : '');
    ctx.tags.add('cte-reference');
    return {
      sql: a ? `${quoteMaybe(cte.name)} ${a}` : quoteMaybe(cte.name),
      rel: { qual: a || cte.name, cols: cte.cols },
    };
  }
  const spec = pickTable(ctx);
  const spelling = rng.pick(spec.spellings);
  if (spelling !== spec.spellings[0]) ctx.tags.add('name-variant');
  if (spec.id === 'salaries') ctx.tags.add('hr');
  if (spec.id === 'daily2') ctx.tags.add('major-2');
  if (rng.chance(0.04)) {
    // A three-part name: catalogs are never ponds.
    ctx.tags.add('three-part-table');
    return { sql: `memory.${spelling}`, rel: { qual: spec.qual, cols: spec.cols, key: spec.key } };
  }
  const a = alias ?? (rng.chance(0.7) ? fresh(ctx, 't') : '');
  if (a && rng.chance(0.08)) {
    // Column aliases rename the columns positionally.
    ctx.tags.add('column-alias-list');
    const names = spec.cols.map((c, i) => (i < 2 ? `${c.name}_${i}` : c.name));
    const renamed = spec.cols.map((c, i) => ({ ...c, name: names[i]! }));
    const key = spec.key.map((k) => names[spec.cols.findIndex((c) => c.name === k)]!);
    return {
      sql: `${spelling} AS ${a}(${names.slice(0, 2).join(', ')})`,
      rel: { qual: a, cols: renamed, key },
    };
  }
  return {
    sql: a ? `${spelling}${rng.chance(0.5) ? ' AS' : ''} ${a}` : spelling,
    rel: { qual: a || spec.qual, cols: spec.cols, key: spec.key },
  };
}

function quoteMaybe(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name}"`;
}

/** One FROM item: a table, a derived table, a generator, VALUES, or a refused table function. */
function fromItem(ctx: Ctx, outer: Rel[]): { sql: string; rels: Rel[] } {
  const { rng } = ctx;
  const kind = rng.weighted<string>([
    ['table', 70],
    ['derived', ctx.depth < ctx.maxDepth ? 12 : 0],
    ['range', 4],
    ['values', 4],
    ['refused', 1.5],
  ]);
  if (kind === 'derived') {
    ctx.tags.add('derived-table');
    const inner = select(nested(ctx), { named: true, outer });
    const a = fresh(ctx, 's');
    return { sql: `(${inner.sql}) ${a}`, rels: [{ qual: a, cols: inner.cols }] };
  }
  if (kind === 'range') {
    ctx.tags.add('table-generator');
    const a = fresh(ctx, 'g');
    const fn = rng.pick([
      `range(${rng.int(0, 5)})`,
      `generate_series(0, ${rng.int(0, 4)})`,
      'unnest([1, 2, 3])',
    ]);
    return { sql: `${fn} ${a}(i)`, rels: [{ qual: a, cols: [{ name: 'i', ty: 'int' }], key: ['i'] }] };
  }
  if (kind === 'values') {
    ctx.tags.add('values');
    const a = fresh(ctx, 'v');
    return {
      sql: `(VALUES ('EU', 1), ('US', 2), ('APAC', 3)) ${a}(r, k)`,
      rels: [
        {
          qual: a,
          cols: [
            { name: 'r', ty: 'str' },
            { name: 'k', ty: 'int' },
          ],
          key: ['k'],
        },
      ],
    };
  }
  if (kind === 'refused') {
    ctx.tags.add('refused-table-function');
    ctx.mustRefuse = true;
    const a = fresh(ctx, 'f');
    return { sql: `${rng.pick(REFUSED_TABLES)} ${a}`, rels: [{ qual: a, cols: [] }] };
  }
  const t = tableRef(ctx);
  return { sql: t.sql, rels: [t.rel] };
}

/** FROM clause: one item, or a join of two or three. */
function fromClause(ctx: Ctx, outer: Rel[]): { sql: string; rels: Rel[] } {
  const { rng } = ctx;
  let { sql, rels } = fromItem(ctx, outer);
  const joins = rng.weighted<number>([
    [0, 55],
    [1, 38],
    [2, ctx.depth === 0 ? 7 : 0],
  ]);
  for (let j = 0; j < joins; j++) {
    const kind = rng.weighted<string>([
      ['inner', 30],
      ['left', 15],
      ['cross', 6],
      ['comma', 6],
      ['natural', 6],
      ['using', 12],
      ['lateral', 12],
      ['semi', 3],
      ['anti', 3],
      ['full', 3],
    ]);
    ctx.tags.add(`join-${kind}`);
    if (kind === 'lateral') {
      const inner = select(nested(ctx), { named: true, outer: [...outer, ...rels], correlate: true });
      const a = fresh(ctx, 'l');
      sql += `${rng.chance(0.5) ? ',' : ' CROSS JOIN'} LATERAL (${inner.sql}) ${a}`;
      rels = [...rels, { qual: a, cols: inner.cols }];
      continue;
    }
    const right = fromItem(ctx, outer);
    const all = [...rels, ...right.rels];
    switch (kind) {
      case 'cross':
        sql += ` CROSS JOIN ${right.sql}`;
        break;
      case 'comma':
        sql += `, ${right.sql}`;
        break;
      case 'natural':
        sql += ` NATURAL ${rng.chance(0.3) ? 'LEFT ' : ''}JOIN ${right.sql}`;
        break;
      case 'using': {
        const common = commonColumns(rels, right.rels);
        if (common.length === 0) {
          sql += ` JOIN ${right.sql} ON ${joinCondition(ctx, rels, right.rels)}`;
        } else {
          sql += ` ${rng.chance(0.3) ? 'LEFT ' : ''}JOIN ${right.sql} USING (${ctx.rng.sample(common, rng.int(1, common.length)).join(', ')})`;
        }
        break;
      }
      default: {
        const word = {
          inner: 'JOIN',
          left: 'LEFT JOIN',
          semi: 'SEMI JOIN',
          anti: 'ANTI JOIN',
          full: 'FULL JOIN',
        }[kind];
        sql += ` ${word} ${right.sql} ON ${joinCondition(ctx, rels, right.rels)}`;
      }
    }
    // SEMI and ANTI joins expose only the left side.
    rels = kind === 'semi' || kind === 'anti' ? rels : all;
  }
  return { sql, rels };
}

function commonColumns(a: Rel[], b: Rel[]): string[] {
  const left = new Set(a.flatMap((r) => r.cols.map((c) => c.name)));
  return [...new Set(b.flatMap((r) => r.cols.map((c) => c.name)).filter((n) => left.has(n)))];
}

function joinCondition(ctx: Ctx, left: Rel[], right: Rel[]): string {
  const { rng } = ctx;
  for (let attempt = 0; attempt < 6; attempt++) {
    const l = pickColumn(rng, left);
    if (!l.col) break;
    const candidates = right.flatMap((r) =>
      r.cols.filter((c) => compatible(c.ty, l.col.ty)).map((c) => ({ rel: r, col: c })),
    );
    if (candidates.length > 0) {
      const r = rng.pick(candidates);
      let cond = `${colRef(l.rel, l.col)} = ${colRef(r.rel, r.col)}`;
      if (rng.chance(0.3)) cond += ` ${rng.pick(['AND', 'OR'])} ${boolExpr(ctx, [...left, ...right], 1)}`;
      return cond;
    }
  }
  return rng.chance(0.5) ? 'true' : boolExpr(ctx, [...left, ...right], 1);
}

function compatible(a: Ty, b: Ty): boolean {
  const num = (t: Ty) => t === 'int' || t === 'dec' || t === 'dbl';
  return a === b || (num(a) && num(b));
}

function pickColumn(rng: Rng, rels: Rel[], ty?: Ty): { rel: Rel; col: Col } {
  const all = rels.flatMap((rel) =>
    rel.cols.filter((c) => !ty || compatible(c.ty, ty)).map((col) => ({ rel, col })),
  );
  if (all.length === 0) return { rel: rels[0] ?? { qual: '', cols: [] }, col: undefined as unknown as Col };
  return rng.pick(all);
}

function colRef(rel: Rel, col: Col): string {
  return rel.qual ? `${quoteMaybe(rel.qual)}.${col.name}` : col.name;
}

/** A column reference of a type, qualified or not, or a literal when no column fits. */
function column(ctx: Ctx, rels: Rel[], ty: Ty): string {
  const { rng } = ctx;
  const found = rels.flatMap((rel) => rel.cols.filter((c) => c.ty === ty).map((col) => ({ rel, col })));
  if (found.length === 0) return literal(ctx, ty);
  const { rel, col } = rng.pick(found);
  const style = rng.int(0, 19);
  if (style < 6 || !rel.qual) return col.name;
  if (style === 6) {
    ctx.tags.add('quoted-column');
    return `"${quoteMaybe(rel.qual).replaceAll('"', '')}"."${col.name}"`;
  }
  if (style === 7) {
    ctx.tags.add('upper-case-column');
    return `${quoteMaybe(rel.qual)}.${col.name.toUpperCase()}`;
  }
  return colRef(rel, col);
}

function literal(ctx: Ctx, ty: Ty): string {
  const { rng } = ctx;
  switch (ty) {
    case 'int':
      return String(rng.int(-2, 30));
    case 'dec':
      return rng.pick(['13.37', '0.5', '100', '250.00', '-1.5']);
    case 'dbl':
      return rng.pick(['0.5', '2.0e0', '1e1']);
    case 'date':
      return rng.pick(["DATE '2024-01-03'", "DATE '2025-01-02'", "'2024-01-05'::DATE"]);
    case 'bool':
      return rng.pick(['true', 'false', 'NULL::BOOLEAN']);
    default:
      return rng.pick(STR_LITERALS);
  }
}

/** A value expression of (roughly) the given type over the relations in scope. */
function expr(ctx: Ctx, rels: Rel[], ty: Ty, depth: number): string {
  const { rng } = ctx;
  if (depth <= 0 || rng.chance(0.35)) return rng.chance(0.9) ? column(ctx, rels, ty) : literal(ctx, ty);
  const sub = (t: Ty) => expr(ctx, rels, t, depth - 1);
  if (ctx.depth < ctx.maxDepth && rng.chance(0.06)) return scalarSubquery(ctx, rels, ty);
  if (rng.chance(0.05)) {
    ctx.tags.add('case');
    return `CASE WHEN ${boolExpr(ctx, rels, depth - 1)} THEN ${sub(ty)} ELSE ${sub(ty)} END`;
  }
  if (rng.chance(0.04)) {
    ctx.tags.add('coalesce');
    return `coalesce(${sub(ty)}, ${literal(ctx, ty)})`;
  }
  if (rng.chance(0.005)) {
    ctx.tags.add('refused-function');
    ctx.mustRefuse = true;
    return `${rng.pick(REFUSED_SCALARS)(sub(ty))}${ty === 'str' ? '::VARCHAR' : ''}`;
  }
  switch (ty) {
    case 'str':
      return strExpr(ctx, sub);
    case 'int':
      return intExpr(ctx, sub);
    case 'dec':
      return rng.pick([
        () => `round(${sub('dec')}, ${rng.int(-1, 1)})`,
        () => `abs(${sub('dec')})`,
        () => `(${sub('dec')} * 2)`,
        () => `(${sub('dec')} + ${sub('int')})`,
        () => `CAST(${sub('int')} AS DECIMAL(12,2))`,
      ])();
    case 'dbl':
      return rng.pick([
        () => `${sub('dec')}::DOUBLE`,
        () => `(${sub('int')} / 2)`,
        () => `sqrt(abs(${sub('int')}))`,
      ])();
    case 'date':
      return rng.pick([
        () => `(${sub('date')} + ${rng.int(0, 3)})`,
        () => `date_trunc('month', ${sub('date')})::DATE`,
      ])();
    case 'bool':
      return boolExpr(ctx, rels, depth);
    default:
      return sub('str');
  }
}

function strExpr(ctx: Ctx, sub: (t: Ty) => string): string {
  const { rng } = ctx;
  const choice = rng.int(0, 17);
  ctx.tags.add('function');
  switch (choice) {
    case 0:
      return `upper(${sub('str')})`;
    case 1:
      return `lower(${sub('str')})`;
    case 2:
      return `substr(${sub('str')}, ${rng.int(1, 4)}, ${rng.int(1, 8)})`;
    case 3:
      return `left(${sub('str')}, ${rng.int(1, 6)})`;
    case 4:
      return `concat(${sub('str')}, ${rng.pick(["'-x'", "'!'", sub('str')])})`;
    case 5:
      return `(${sub('str')} || ${rng.pick(["' '", "'.'", sub('str')])})`;
    case 6:
      return `regexp_replace(${sub('str')}, ${rng.pick(["'[aeiou]'", "'^.'", "'[0-9]+'", "'@.*'"])}, ${rng.pick(["'#'", "'?'", "''"])})`;
    case 7:
      return `md5(${sub('str')})`;
    case 8:
      ctx.tags.add('cast');
      return `CAST(${sub(rng.pick<Ty>(['int', 'dec', 'date']))} AS VARCHAR)`;
    case 9:
      ctx.tags.add('cast');
      return `${sub(rng.pick<Ty>(['int', 'dec', 'date']))}::VARCHAR`;
    case 10:
      return `reverse(${sub('str')})`;
    case 11:
      return `trim(${sub('str')})`;
    case 12:
      return `replace(${sub('str')}, ${rng.pick(["'e'", "'@'", "'-'"])}, ${rng.pick(["'E'", "'#'"])})`;
    case 13:
      return `string_split(${sub('str')}, '@')[${rng.int(1, 2)}]`;
    case 14:
      return `lpad(${sub('str')}, ${rng.int(1, 12)}, '.')`;
    case 15:
      return `split_part(${sub('str')}, ${rng.pick(["'@'", "'-'", "'.'"])}, ${rng.int(1, 2)})`;
    case 16:
      return `format('{}', ${sub('str')})`;
    default:
      return `${sub('str')} COLLATE nocase`;
  }
}

function intExpr(ctx: Ctx, sub: (t: Ty) => string): string {
  const { rng } = ctx;
  ctx.tags.add('function');
  switch (rng.int(0, 11)) {
    case 0:
      return `length(${sub('str')})`;
    case 1:
      return `abs(${sub('int')})`;
    case 2:
      return `(${sub('int')} + ${sub('int')})`;
    case 3:
      return `(${sub('int')} * ${rng.int(-2, 3)})`;
    case 4:
      return `(${sub('int')} % ${rng.int(1, 4)})`;
    case 5:
      ctx.tags.add('hash');
      return `(hash(${sub('str')}) % 1000)::BIGINT`;
    case 6:
      ctx.tags.add('cast');
      return `CAST(${sub('dec')} AS INTEGER)`;
    case 7:
      ctx.tags.add('cast');
      return `round(${sub('dec')})::BIGINT`;
    case 8:
      return `year(${sub('date')})`;
    case 9:
      return `strlen(${sub('str')})`;
    case 10:
      ctx.tags.add('try-cast');
      return `coalesce(TRY_CAST(${sub('str')} AS INTEGER), -1)`;
    default:
      return `greatest(${sub('int')}, ${sub('int')})`;
  }
}

function boolExpr(ctx: Ctx, rels: Rel[], depth: number): string {
  const { rng } = ctx;
  const leaf = depth <= 0 || rng.chance(0.4);
  if (!leaf) {
    const kind = rng.int(0, 3);
    if (kind === 0) return `(${boolExpr(ctx, rels, depth - 1)} AND ${boolExpr(ctx, rels, depth - 1)})`;
    if (kind === 1) return `(${boolExpr(ctx, rels, depth - 1)} OR ${boolExpr(ctx, rels, depth - 1)})`;
    if (kind === 2) return `NOT (${boolExpr(ctx, rels, depth - 1)})`;
  }
  const ty = rng.pick<Ty>(['int', 'str', 'str', 'dec', 'date']);
  const e = () => expr(ctx, rels, ty, rng.int(0, 1));
  const kind = rng.weighted<string>([
    ['compare', 30],
    ['in-list', 8],
    ['between', 6],
    ['like', 8],
    ['is-null', 6],
    ['in-subquery', ctx.depth < ctx.maxDepth ? 6 : 0],
    ['exists', ctx.depth < ctx.maxDepth ? 6 : 0],
    ['side-channel', 4],
    ['const', 3],
  ]);
  ctx.tags.add(`predicate-${kind}`);
  switch (kind) {
    case 'compare':
      return `${e()} ${rng.pick(['=', '<>', '<', '>=', 'IS DISTINCT FROM'])} ${rng.chance(0.6) ? literal(ctx, ty) : e()}`;
    case 'in-list':
      return `${e()} ${rng.chance(0.3) ? 'NOT ' : ''}IN (${literal(ctx, ty)}, ${literal(ctx, ty)}, ${literal(ctx, ty)})`;
    case 'between':
      return `${e()} ${rng.chance(0.3) ? 'NOT ' : ''}BETWEEN ${literal(ctx, ty)} AND ${literal(ctx, ty)}`;
    case 'like':
      return `${expr(ctx, rels, 'str', 1)} ${rng.pick(['LIKE', 'NOT LIKE', 'ILIKE'])} ${rng.pick(LIKE_PATTERNS)}`;
    case 'is-null':
      return `${e()} IS ${rng.chance(0.5) ? 'NOT ' : ''}NULL`;
    case 'in-subquery': {
      const inner = select(nested(ctx), { named: true, want: [ty], outer: rels, correlate: rng.chance(0.4) });
      return `${e()} ${rng.chance(0.3) ? 'NOT ' : ''}IN (${inner.sql})`;
    }
    case 'exists': {
      const inner = select(nested(ctx), { outer: rels, correlate: rng.chance(0.7) });
      return `${rng.chance(0.3) ? 'NOT ' : ''}EXISTS (${inner.sql})`;
    }
    case 'side-channel':
      return sideChannel(ctx, rels);
    default:
      return rng.pick(['true', 'false', '1 = 1', 'NULL IS NULL']);
  }
}

/** A predicate that raises an error quoting the value it is evaluated on. */
function sideChannel(ctx: Ctx, rels: Rel[]): string {
  const { rng } = ctx;
  const c = column(ctx, rels, 'str');
  switch (rng.int(0, 4)) {
    case 0:
      return `CAST(${c} AS ${rng.pick(SIDE_CHANNEL_CASTS)}) IS NOT NULL`;
    case 1:
      return `${c}::${rng.pick(SIDE_CHANNEL_CASTS)} IS NULL`;
    case 2:
      ctx.tags.add('error-function');
      return `CASE WHEN ${boolExpr(ctx, rels, 0)} THEN error(concat('E: ', ${c})) ELSE true END`;
    case 3:
      return `${column(ctx, rels, 'dec')}::VARCHAR::${rng.pick(INT_CASTS)} IS NOT NULL`;
    default:
      return `(${boolExpr(ctx, rels, 0)} AND CAST(${c} AS INTEGER) > 0)`;
  }
}

function scalarSubquery(ctx: Ctx, outer: Rel[], ty: Ty): string {
  ctx.tags.add('scalar-subquery');
  const inner = select(nested(ctx), {
    named: true,
    want: [ty],
    outer,
    correlate: ctx.rng.chance(0.5),
    single: true,
  });
  return `(${inner.sql})`;
}

function aggregate(ctx: Ctx, rels: Rel[]): { sql: string; ty: Ty } {
  const { rng } = ctx;
  ctx.tags.add('aggregate');
  const choice = rng.int(0, 12);
  const e = (t: Ty) => expr(ctx, rels, t, rng.int(0, 1));
  switch (choice) {
    case 0:
      return { sql: 'count(*)', ty: 'int' };
    case 1:
      return { sql: `count(${e(rng.pick<Ty>(['str', 'int']))})`, ty: 'int' };
    case 2:
      return { sql: `count(DISTINCT ${e('str')})`, ty: 'int' };
    case 3:
      return { sql: `sum(${e(rng.pick<Ty>(['int', 'dec']))})`, ty: 'dec' };
    case 4: {
      const t = rng.pick<Ty>(['str', 'int', 'dec', 'date']);
      return { sql: `${rng.pick(['min', 'max'])}(${e(t)})`, ty: t };
    }
    case 5:
      return { sql: `avg(${e('int')})`, ty: 'dbl' };
    case 6: {
      ctx.tags.add('ordered-aggregate');
      const x = e('str');
      return { sql: `string_agg(${x}, ',' ORDER BY ${x})`, ty: 'str' };
    }
    case 7: {
      ctx.tags.add('ordered-aggregate');
      const x = e(rng.pick<Ty>(['int', 'str']));
      return { sql: `list(${x} ORDER BY ${x})`, ty: 'other' };
    }
    case 8:
      return { sql: `bool_or(${boolExpr(ctx, rels, 0)})`, ty: 'bool' };
    case 9:
      ctx.tags.add('aggregate-filter');
      return { sql: `count(*) FILTER (WHERE ${boolExpr(ctx, rels, 1)})`, ty: 'int' };
    case 10:
      return { sql: `max(length(${e('str')}))`, ty: 'int' };
    case 11:
      return { sql: `arg_max(${e('int')}, ${e('int')})`, ty: 'other' };
    default:
      return { sql: `sum(DISTINCT ${e('int')})`, ty: 'dec' };
  }
}

/** A window function call whose value does not depend on how ties are broken. */
function windowCall(ctx: Ctx, rels: Rel[]): { sql: string; ty: Ty } {
  const { rng } = ctx;
  ctx.tags.add('window');
  const partition = rng.chance(0.6) ? `PARTITION BY ${column(ctx, rels, rng.pick<Ty>(['str', 'int']))}` : '';
  const keyed = rels.find((r) => r.key && r.key.length > 0);
  const total = keyed
    ? keyed.key!.map((k) => `${keyed.qual ? `${quoteMaybe(keyed.qual)}.` : ''}${k}`).join(', ')
    : '';
  const anyOrder = `ORDER BY ${column(ctx, rels, rng.pick<Ty>(['str', 'int', 'dec']))}`;
  const over = (order: string) => `OVER (${[partition, order].filter((p) => p !== '').join(' ')})`;
  const choice = rng.int(0, 7);
  if (total && choice === 0) return { sql: `row_number() ${over(`ORDER BY ${total}`)}`, ty: 'int' };
  if (total && choice === 1) {
    const c = column(ctx, rels, rng.pick<Ty>(['str', 'int']));
    return { sql: `${rng.pick(['lag', 'lead'])}(${c}) ${over(`ORDER BY ${total}`)}`, ty: 'other' };
  }
  if (choice === 2) return { sql: `rank() ${over(anyOrder)}`, ty: 'int' };
  if (choice === 3) return { sql: `dense_rank() ${over(anyOrder)}`, ty: 'int' };
  if (choice === 4) return { sql: `count(*) ${over('')}`, ty: 'int' };
  if (choice === 5) return { sql: `sum(${column(ctx, rels, 'int')}) ${over(anyOrder)}`, ty: 'dec' };
  if (choice === 6) return { sql: `max(${column(ctx, rels, 'str')}) ${over('')}`, ty: 'str' };
  return { sql: `min(${column(ctx, rels, 'int')}) ${over(anyOrder)}`, ty: 'int' };
}

interface SelectOptions {
  /** Give every output column an alias (c1, c2, …) so the caller can refer to it. */
  named?: boolean;
  /** Output exactly these types, in order. */
  want?: Ty[];
  /** Use these names for the outputs (for BY NAME set operations). */
  names?: string[];
  /** Relations of enclosing queries (for correlation). */
  outer?: Rel[];
  correlate?: boolean;
  /** At most one row (a scalar subquery). */
  single?: boolean;
}

function select(ctx: Ctx, opts: SelectOptions): Built {
  const { rng } = ctx;
  const outer = opts.outer ?? [];
  const from = rng.chance(0.03) && !opts.correlate ? { sql: '', rels: [] as Rel[] } : fromClause(ctx, outer);
  const rels = from.rels;
  const scope = opts.correlate ? [...rels, ...outer] : rels;
  const aggregated = opts.single || rng.chance(0.3);
  const items: { sql: string; ty: Ty }[] = [];
  const groupKeys: string[] = [];
  const want = opts.want ?? (opts.named || aggregated ? randomTypes(rng) : undefined);
  if (aggregated) {
    ctx.tags.add('group');
    const keyCount = opts.single ? 0 : rng.int(0, 2);
    for (let i = 0; i < (want?.length ?? 1); i++) {
      const ty = want?.[i] ?? 'int';
      // Group keys always read a column: DuckDB answers GROUP BY <constant> over no rows in a
      // correlated subquery inconsistently (a row or none, depending on the plan's shape).
      const hasColumn = rels.some((r) => r.cols.some((c) => c.ty === ty));
      if (i < keyCount && hasColumn) {
        const k = column(ctx, rels, ty);
        groupKeys.push(k);
        items.push({ sql: k, ty });
      } else {
        items.push(aggregateOfType(ctx, rels, ty));
      }
    }
  } else if (want) {
    for (const ty of want) {
      items.push(
        rng.chance(0.1) && rels.length > 0
          ? windowOfType(ctx, rels, ty)
          : { sql: expr(ctx, scope, ty, rng.int(0, 2)), ty },
      );
    }
  } else {
    const count = rng.int(1, 4);
    for (let i = 0; i < count; i++) items.push(freeItem(ctx, rels, scope));
  }
  const names = opts.names ?? items.map(() => fresh(ctx, 'c'));
  const named = opts.named || opts.names !== undefined;
  const selectList = items
    .map((item, i) =>
      named || (item.sql !== '*' && rng.chance(0.2)) ? `${item.sql} AS ${names[i]}` : item.sql,
    )
    .join(', ');
  // Not on an aggregate without GROUP BY: DuckDB drops the one row of `SELECT DISTINCT sum(…)`
  // over no rows in a correlated subquery, depending on the plan's shape.
  const distinct =
    !opts.single && !(aggregated && groupKeys.length === 0) && rng.chance(0.08) ? 'DISTINCT ' : '';
  if (distinct) ctx.tags.add('distinct');
  let sql = `SELECT ${distinct}${selectList}`;
  if (from.sql) sql += ` FROM ${from.sql}`;
  else ctx.tags.add('no-from');
  const where: string[] = [];
  if (opts.correlate && outer.length > 0 && rels.length > 0) {
    ctx.tags.add('correlated');
    const o = pickColumn(rng, outer);
    const i = o.col ? pickColumn(rng, rels, o.col.ty) : undefined;
    if (o.col && i?.col) where.push(`${colRef(i.rel, i.col)} = ${colRef(o.rel, o.col)}`);
  }
  if (rng.chance(0.5)) where.push(boolExpr(ctx, scope, rng.int(1, 2)));
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  if (aggregated && groupKeys.length > 0) {
    const style = rng.int(0, 2);
    if (style === 0) sql += ` GROUP BY ${groupKeys.join(', ')}`;
    else if (style === 1) {
      ctx.tags.add('group-by-all');
      sql += ' GROUP BY ALL';
    } else sql += ` GROUP BY ${groupKeys.map((_, i) => i + 1).join(', ')}`;
  }
  if (aggregated && !opts.single && rng.chance(0.2)) {
    ctx.tags.add('having');
    sql += ` HAVING ${aggregate(ctx, rels).sql} ${rng.pick(['>', '>=', '<>'])} ${rng.int(0, 3)}`;
  }
  if (!aggregated && rels.length > 0 && rng.chance(0.06)) {
    ctx.tags.add('qualify');
    const w = windowCall(ctx, rels);
    sql += ` QUALIFY ${w.sql} ${w.ty === 'int' ? `<= ${rng.int(1, 3)}` : 'IS NOT NULL'}`;
  }
  if (!opts.single && rng.chance(0.08)) {
    sql += ` ORDER BY ALL LIMIT ${rng.int(0, 4)}`;
    ctx.tags.add('inner-limit');
  }
  return { sql, cols: items.map((item, i) => ({ name: names[i]!, ty: item.ty })) };
}

function randomTypes(rng: Rng): Ty[] {
  const n = rng.int(1, 3);
  return Array.from({ length: n }, () => rng.pick<Ty>(['int', 'str', 'str', 'dec', 'date']));
}

function aggregateOfType(ctx: Ctx, rels: Rel[], ty: Ty): { sql: string; ty: Ty } {
  for (let i = 0; i < 4; i++) {
    const a = aggregate(ctx, rels);
    if (compatible(a.ty, ty)) return a;
  }
  const e = expr(ctx, rels, ty, 1);
  return { sql: `${ctx.rng.pick(['min', 'max'])}(${e})`, ty };
}

function windowOfType(ctx: Ctx, rels: Rel[], ty: Ty): { sql: string; ty: Ty } {
  for (let i = 0; i < 4; i++) {
    const w = windowCall(ctx, rels);
    if (compatible(w.ty, ty)) return w;
  }
  return { sql: expr(ctx, rels, ty, 1), ty };
}

/** A select item of any shape: a column, a star, an expression, a window, a packed value. */
function freeItem(ctx: Ctx, rels: Rel[], scope: Rel[]): { sql: string; ty: Ty } {
  const { rng } = ctx;
  const kind = rng.weighted<string>([
    ['column', 30],
    ['star', rels.length > 0 ? 8 : 0],
    ['qualified-star', rels.some((r) => r.qual) ? 6 : 0],
    ['expression', 30],
    ['window', rels.length > 0 ? 10 : 0],
    ['list', 4],
    ['struct', 4],
    ['whole-row', rels.some((r) => r.qual && r.cols.length > 0) ? 2 : 0],
    ['columns', rels.length > 0 ? 3 : 0],
    ['policy-function', 2],
  ]);
  ctx.tags.add(`item-${kind}`);
  const ty = rng.pick<Ty>(['int', 'str', 'str', 'dec', 'date']);
  switch (kind) {
    case 'column':
      return { sql: column(ctx, scope, ty), ty };
    case 'star':
      return {
        sql: rng.pick([
          '*',
          '*',
          `* EXCLUDE (${pickColumn(rng, rels).col?.name ?? 'id'})`,
          `* REPLACE (upper(${column(ctx, rels, 'str')}) AS ${pickColumn(rng, rels, 'str').col?.name ?? 'memo'})`,
        ]),
        ty: 'other',
      };
    case 'qualified-star': {
      const r = rng.pick(rels.filter((x) => x.qual));
      return { sql: `${quoteMaybe(r.qual)}.*`, ty: 'other' };
    }
    case 'window':
      return windowCall(ctx, rels);
    case 'list':
      return { sql: `[${expr(ctx, scope, 'str', 1)}, ${expr(ctx, scope, 'str', 1)}]`, ty: 'other' };
    case 'struct':
      return { sql: `{'a': ${expr(ctx, scope, ty, 1)}, 'b': ${expr(ctx, scope, 'str', 1)}}`, ty: 'other' };
    case 'whole-row': {
      const r = rng.pick(rels.filter((x) => x.qual && x.cols.length > 0));
      return { sql: rng.chance(0.5) ? quoteMaybe(r.qual) : `to_json(${quoteMaybe(r.qual)})`, ty: 'other' };
    }
    case 'columns':
      return {
        sql: rng.pick(["COLUMNS('.*e.*')", 'lower(COLUMNS(* EXCLUDE (id)))::VARCHAR', 'max(COLUMNS(*))']),
        ty: 'other',
      };
    case 'policy-function':
      return {
        sql: rng.pick(['current_principal()', "is_member('admins')", "is_member('eu_team')"]),
        ty: 'str',
      };
    default:
      return { sql: expr(ctx, scope, ty, rng.int(1, 2)), ty };
  }
}

/** Two selects combined by a set operation (same arity and types; BY NAME with shared names). */
function setOperation(ctx: Ctx): Built {
  const { rng } = ctx;
  const op = rng.pick([
    'UNION',
    'UNION ALL',
    'INTERSECT',
    'EXCEPT',
    'UNION BY NAME',
    'UNION ALL BY NAME',
    'INTERSECT ALL',
    'EXCEPT ALL',
  ]);
  ctx.tags.add(`set-${op.toLowerCase().replaceAll(' ', '-')}`);
  const left = select(nested(ctx), { named: true });
  const names = left.cols.map((c) => c.name);
  const types = left.cols.map((c) => c.ty);
  // BY NAME matches columns by name, so the right side may list them in another order.
  const swap = op.includes('BY NAME') && rng.chance(0.5);
  const right = select(nested(ctx), {
    want: swap ? [...types].reverse() : types,
    names: swap ? [...names].reverse() : names,
  });
  const operand = (sql: string) => (sql.includes(' LIMIT ') ? `(${sql})` : sql);
  return { sql: `${operand(left.sql)} ${op} ${operand(right.sql)}`, cols: left.cols };
}
