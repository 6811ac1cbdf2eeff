/**
 * The function allow-list (src/governance/function-allowlist.ts) against the bundled DuckDB:
 * every function DuckDB has is either allowed for a use that fits its kind or refused with a
 * reason; refused functions are refused by the Governor with a message naming them and why,
 * wherever they stand in a query or policy; allowed ones of each kind run governed and return what
 * the same query returns over bob's physically filtered and masked copy.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryExecutor } from '../../src/compute/query.js';
import { GovernanceError, PolicyError } from '../../src/governance/errors.js';
import {
  allowedCategories,
  type FunctionCategory,
  functionUseProblem,
  type RefusalCategory,
  refusalOf,
  reviewedFunctions,
} from '../../src/governance/function-allowlist.js';
import { Policy } from '../../src/governance/policy.js';
import { type GovernedQuery, Governor } from '../../src/governance/rewrite.js';
import { expressionKindProblem, isAuxiliaryNode } from '../../src/governance/sql-rules.js';
import { DuckDBInstance } from '../../src/shared/duckdb.js';
import { tempDir } from '../compute/helpers.js';
import { FORBIDDEN_FOR_BOB, POLICY_DOCUMENT, type Snapshots, writeSnapshots } from './fixtures.js';
import { openReference, type ReferenceDatabase } from './reference.js';

let tmp: ReturnType<typeof tempDir>;
let snapshots: Snapshots;
let governor: Governor;
let executor: QueryExecutor;
let reference: ReferenceDatabase;

beforeAll(async () => {
  tmp = tempDir('allowlist');
  snapshots = await writeSnapshots(tmp.dir);
  governor = await Governor.create();
  executor = new QueryExecutor({ maxConcurrent: 2 });
  reference = await openReference(snapshots.bobReference);
});

afterAll(async () => {
  await executor?.close();
  governor?.close();
  reference?.close();
  tmp?.cleanup();
});

function govern(sql: string, principal = 'bob'): Promise<GovernedQuery> {
  return governor.governQuery(sql, { principal, policy: snapshots.policy, catalog: snapshots.catalog });
}

async function refusal(sql: string): Promise<GovernanceError> {
  const outcome = await govern(sql).then(
    (g) => g,
    (e: unknown) => e,
  );
  if (!(outcome instanceof GovernanceError)) {
    throw new Error(`not refused: ${sql}\n  ${outcome instanceof Error ? outcome.message : 'governed'}`);
  }
  return outcome;
}

/** Which of our categories fit each function_type of duckdb_functions(). */
const FITS_TYPE: Record<string, readonly FunctionCategory[]> = {
  scalar: ['scalar', 'set_returning'],
  macro: ['scalar', 'aggregate', 'set_returning'],
  aggregate: ['aggregate', 'window'],
  table: ['generator'],
  table_macro: ['generator'],
  pragma: [],
};

/** Names that are on the allow-list without being in duckdb_functions(). */
const SPECIAL_FORMS = new Set(['unnest', 'unlist', 'current_principal', 'is_member']);

describe('every function of the bundled DuckDB is reviewed', () => {
  let functions: { name: string; type: string }[];

  beforeAll(async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const result = await connection.runAndReadAll(
        'SELECT DISTINCT function_name, function_type FROM duckdb_functions() ORDER BY ALL',
      );
      functions = result.getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) }));
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('finds hundreds of functions of every kind', () => {
    expect(functions.length).toBeGreaterThan(900);
    const types = new Set(functions.map((f) => f.type));
    for (const type of Object.keys(FITS_TYPE)) expect(types, type).toContain(type);
  });

  it('allows each for a use that fits its kind, or refuses it with a reason', () => {
    const unreviewed: string[] = [];
    for (const { name, type } of functions) {
      const fits = FITS_TYPE[type];
      if (fits === undefined) {
        unreviewed.push(`${name} (${type}): a function type the allow-list does not know`);
        continue;
      }
      const categories = allowedCategories(name);
      if (fits.some((c) => categories.has(c))) continue;
      const reason = refusalOf(name);
      if (reason === undefined || reason.category === 'unknown' || reason.why.length < 10) {
        unreviewed.push(`${name} (${type})`);
      }
    }
    expect(unreviewed, `not reviewed in function-allowlist.ts:\n${unreviewed.join('\n')}`).toEqual([]);
  });

  it('lists no allowed name DuckDB does not have (a typo would hide a missing review)', () => {
    const known = new Set(functions.map((f) => f.name.toLowerCase()));
    const stray = [...reviewedFunctions().allowed.keys()].filter(
      (n) => !known.has(n) && !SPECIAL_FORMS.has(n),
    );
    expect(stray).toEqual([]);
  });

  it('refuses a name it has never seen, as not reviewed', () => {
    for (const use of ['query', 'window', 'table', 'policy'] as const) {
      expect(functionUseProblem('duckdb_next_great_leak', use)).toMatch(
        /^function duckdb_next_great_leak\(\) is not allowed: it is not on the list of reviewed functions/,
      );
    }
  });

  it('gives a never-seen name the reason "not reviewed"', () => {
    expect(refusalOf('duckdb_next_great_leak')?.category).toBe('unknown');
    expect(refusalOf('lower')).toBeUndefined();
    expect(refusalOf('STATS')?.category).toBe('introspection');
  });

  it('keeps every refusal category in use', () => {
    const used = new Set([...reviewedFunctions().refused.values()].map((r) => r.category));
    const expected: RefusalCategory[] = [
      'introspection',
      'file_or_network',
      'sleep',
      'side_effect',
      'sql_as_text',
      'pragma',
      'internal',
    ];
    for (const category of expected) expect(used, category).toContain(category);
  });
});

describe('AST node kinds are allow-lists too', () => {
  it('names an unknown expression class or type, and an unknown type description', () => {
    expect(expressionKindProblem('OPERATOR', 'OPERATOR_NOT')).toBeUndefined();
    expect(expressionKindProblem('OPERATOR', 'OPERATOR_FROM_THE_FUTURE')).toBe(
      'unsupported SQL expression (OPERATOR OPERATOR_FROM_THE_FUTURE)',
    );
    expect(expressionKindProblem('BOUND_REF', 'BOUND_REF')).toBe('unsupported SQL expression (BOUND_REF)');
    expect(isAuxiliaryNode('DECIMAL_TYPE_INFO')).toBe(true);
    expect(isAuxiliaryNode('SECRET_TYPE_INFO')).toBe(false);
  });

  it('knows the type descriptions of every cast the parser writes', async () => {
    const governed = await govern(
      `SELECT CAST('POINT (1 2)' AS GEOMETRY) IS NOT NULL, CAST(1 AS VARIANT), CAST('101' AS BIT), CAST(1 AS UNION(a INTEGER)), MAP {1: 2}::MAP(INTEGER, INTEGER), CAST('a' AS ENUM('a', 'b')), TIMESTAMPTZ '2024-01-01 00:00:00+00' IS NOT NULL, INTERVAL 1 DAY, CAST('00000000-0000-0000-0000-000000000000' AS UUID), 'a'::BLOB, '{}'::JSON, 'a'::VARCHAR COLLATE nocase, [1]::INTEGER[1], 1::DECIMAL(38, 2), {'a': [1]}::STRUCT(a INTEGER[])`,
    );
    const result = await executor.execute(governed.sql, { tables: new Map() });
    expect(result.rows).toHaveLength(1);
  });

  it('refuses an expression kind outside the list with a message naming it', async () => {
    const error = await refusal(`SELECT DEFAULT`);
    expect(error.code).toBe('not_allowed');
    expect(error.message).toBe('unsupported SQL expression (DEFAULT)');
  });
});

/** [category, query, expected message] — each must be refused by governQuery with that message. */
const REFUSED: [RefusalCategory | 'usage', string, RegExp][] = [
  // introspection: statistics, query text, settings, variables, metadata, environment
  [
    'introspection',
    `SELECT stats(memo) FROM sales.daily`,
    /^function stats\(\) is not allowed: it reveals statistics of rows the policy hides; use min\(\)/,
  ],
  ['introspection', `SeLeCt StAtS(memo) FROM sales.daily`, /function stats\(\) is not allowed/],
  ['introspection', `SELECT "stats"(customer_email) FROM sales.daily`, /function stats\(\) is not allowed/],
  [
    'introspection',
    `SELECT current_query()`,
    /function current_query\(\) is not allowed: it reveals the text/,
  ],
  [
    'introspection',
    `SELECT current_setting('allowed_paths')`,
    /current_setting\(\) is not allowed: it reads settings/,
  ],
  [
    'introspection',
    `SELECT getvariable('x')`,
    /getvariable\(\) is not allowed: it reads settings or variables/,
  ],
  ['introspection', `SELECT version()`, /function version\(\) is not allowed: .*version metadata/],
  ['introspection', `SELECT current_database()`, /current_database\(\) is not allowed: .*catalog/],
  ['introspection', `SELECT current_schemas(true)`, /current_schemas\(\) is not allowed/],
  ['introspection', `SELECT current_user`, /current_user calls DuckDB's current_user\(\).*qualify it/],
  [
    'introspection',
    `SELECT "user"`,
    /user calls DuckDB's user\(\).*use current_principal|user calls DuckDB's user\(\)/,
  ],
  ['introspection', `SELECT current_catalog`, /current_catalog calls DuckDB's current_catalog\(\)/],
  ['introspection', `SELECT vector_type(memo) FROM sales.daily`, /vector_type\(\) is not allowed/],
  ['introspection', `SELECT txid_current()`, /txid_current\(\) is not allowed: it reveals internal state/],
  ['introspection', `SELECT * FROM duckdb_settings()`, /duckdb_settings\(\) is not allowed/],
  ['introspection', `SELECT * FROM pragma_version()`, /pragma_version\(\) is not allowed/],
  ['introspection', `SELECT * FROM summary((SELECT 1))`, /summary\(\) is not allowed: it reveals statistics/],
  ['introspection', `SELECT inet_server_addr()`, /inet_server_addr\(\) is not allowed: .*environment/],
  // file or network access
  [
    'file_or_network',
    `SELECT * FROM read_parquet('/etc/x.parquet')`,
    /read_parquet\(\) is not allowed: it reads files/,
  ],
  ['file_or_network', `SELECT * FROM glob('/*')`, /glob\(\) is not allowed: it reads files or the network/],
  ['file_or_network', `SELECT * FROM parquet_metadata('x')`, /parquet_metadata\(\) is not allowed/],
  // sleeping
  ['sleep', `SELECT sleep_ms(1000)`, /sleep_ms\(\) is not allowed: it blocks a query slot/],
  ['sleep', `SELECT pg_sleep(1)`, /pg_sleep\(\) is not allowed: it blocks/],
  // side effects and sequences
  ['side_effect', `SELECT nextval('s')`, /nextval\(\) is not allowed: it reads or advances a sequence/],
  ['side_effect', `SELECT setseed(0.5)`, /setseed\(\) is not allowed: it changes the state/],
  ['side_effect', `SELECT write_log('x')`, /write_log\(\) is not allowed/],
  ['side_effect', `SELECT * FROM checkpoint()`, /checkpoint\(\) is not allowed/],
  // SQL given as text
  [
    'sql_as_text',
    `SELECT * FROM query('SELECT 1')`,
    /query\(\) is not allowed: it runs, parses or plans SQL/,
  ],
  ['sql_as_text', `SELECT * FROM query_table('sales.daily')`, /query_table\(\) is not allowed/],
  ['sql_as_text', `SELECT json_serialize_plan('SELECT 1')`, /json_serialize_plan\(\) is not allowed/],
  [
    'sql_as_text',
    `SELECT * FROM json_execute_serialized_sql('x')`,
    /json_execute_serialized_sql\(\) is not allowed/,
  ],
  [
    'sql_as_text',
    `SELECT * FROM histogram("sales@1".daily, memo)`,
    /histogram\(\) is not allowed: as a table function/,
  ],
  // pragmas
  ['pragma', `SELECT * FROM database_list()`, /database_list\(\) is not allowed: it is a PRAGMA/],
  ['pragma', `SELECT * FROM table_info('x')`, /table_info\(\) is not allowed: it is a PRAGMA/],
  // internals
  [
    'internal',
    `SELECT finalize(sum(id) EXPORT_STATE) FROM sales.daily`,
    /finalize\(\) is not allowed: it is an internal/,
  ],
  ['internal', `SELECT * FROM test_all_types()`, /test_all_types\(\) is not allowed/],
  // never reviewed
  [
    'unknown',
    `SELECT no_such_function(memo) FROM sales.daily`,
    /no_such_function\(\) is not allowed: it is not on the list/,
  ],
  // a refused function anywhere in the query
  ['usage', `SELECT id FROM sales.daily WHERE stats(memo) LIKE '%HIDDEN%'`, /stats\(\) is not allowed/],
  ['usage', `SELECT id FROM sales.daily ORDER BY stats(memo)`, /stats\(\) is not allowed/],
  ['usage', `SELECT list_transform([memo], x -> stats(x)) FROM sales.daily`, /stats\(\) is not allowed/],
  [
    'usage',
    `WITH s AS (SELECT stats(memo) AS s FROM sales.daily) SELECT * FROM s`,
    /stats\(\) is not allowed/,
  ],
  ['usage', `SELECT (SELECT max(stats(memo)) FROM sales.daily)`, /stats\(\) is not allowed/],
  ['usage', `SELECT * FROM range(length(current_query()))`, /current_query\(\) is not allowed/],
  ['usage', `SELECT max(memo) OVER (PARTITION BY stats(memo)) FROM sales.daily`, /stats\(\) is not allowed/],
  [
    'usage',
    `SELECT * FROM sales.daily a JOIN sales.daily b ON stats(a.memo) = b.memo`,
    /stats\(\) is not allowed/,
  ],
  // the use must fit the kind
  ['usage', `SELECT row_number() FROM sales.daily`, /row_number\(\) is a window function: it needs OVER/],
  [
    'usage',
    `SELECT lower(memo) OVER () FROM sales.daily`,
    /lower\(\) is not an aggregate or window function/,
  ],
  [
    'usage',
    `SELECT * FROM lower('x')`,
    /lower\(\) cannot be used as a table function: only value generators/,
  ],
  ['usage', `SELECT * FROM sum(1)`, /sum\(\) cannot be used as a table function/],
  ['usage', `SELECT json_each('{}')`, /json_each\(\) is a table function: use it in FROM/],
  [
    'usage',
    `SELECT list_aggregate(list(memo), 'stats') FROM sales.daily`,
    /list_aggregate\(\) is not allowed with 'stats'/,
  ],
  [
    'usage',
    `SELECT list_aggr([1], region) FROM sales.daily`,
    /list_aggr\(\) is allowed only with the aggregate named by a string literal/,
  ],
  ['usage', `SELECT pg_catalog.pg_size_pretty(1)`, /pg_size_pretty\(\) cannot be qualified/],
];

describe('refused functions', () => {
  it('covers every refusal category', () => {
    const categories = new Set(REFUSED.map(([c]) => c));
    for (const c of [
      'introspection',
      'file_or_network',
      'sleep',
      'side_effect',
      'sql_as_text',
      'pragma',
      'internal',
      'unknown',
    ]) {
      expect(categories, c).toContain(c);
    }
  });

  it('are refused by governQuery with a message naming the function and why', async () => {
    const problems: string[] = [];
    for (const [, sql, expected] of REFUSED) {
      try {
        const error = await refusal(sql);
        if (error.code !== 'not_allowed') problems.push(`${sql}: code ${error.code}`);
        if (error.status !== 403) problems.push(`${sql}: status ${error.status}`);
        if (!expected.test(error.message)) problems.push(`${sql}: "${error.message}"`);
        for (const token of FORBIDDEN_FOR_BOB)
          if (error.message.includes(token)) problems.push(`${sql}: leaks ${token}`);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('in a row filter or mask: only scalar functions of the allow-list', async () => {
    const cases: [string, RegExp][] = [
      [`stats(region) IS NOT NULL`, /function stats\(\) is not allowed: it reveals statistics/],
      [`current_query() <> ''`, /current_query\(\) is not allowed/],
      [`count(*) > 0`, /count\(\*\) is an aggregate: a row filter or mask is evaluated row by row/],
      [`max(region) = 'EU'`, /max\(\) is an aggregate/],
      [`unnest([region]) = 'EU'`, /unnest\(\) returns rows: a row filter or mask/],
      [`sleep_ms(1) IS NULL`, /sleep_ms\(\) is not allowed/],
      [
        `lower(region) = main.lower('EU') AND pg_catalog.lower(region) = 'eu'`,
        /lower\(\) cannot be qualified/,
      ],
      [`no_such_function(region)`, /no_such_function\(\) is not allowed: it is not on the list/],
    ];
    for (const [filter, expected] of cases) {
      const policy = Policy.parse({
        ...POLICY_DOCUMENT,
        rowFilters: [{ table: 'sales.daily', filter }],
      });
      const error = await governor.validatePolicy(policy, snapshots.catalog).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, filter).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).issues.join('\n'), filter).toMatch(expected);
    }
  });

  it('a policy may call scalar functions and the policy functions', async () => {
    const policy = Policy.parse({
      ...POLICY_DOCUMENT,
      rowFilters: [
        {
          table: 'sales.daily',
          filter: `is_member('admins') OR (lower(region) = 'eu' AND regexp_matches(memo, '^[a-z]') AND current_principal() <> '')`,
        },
      ],
    });
    await governor.validatePolicy(policy, snapshots.catalog);
  });
});

/** Allowed functions of each kind, run governed and over bob's copy: the same answer. */
const ALLOWED: string[] = [
  // scalar
  `SELECT id, lower(memo), upper(region), length(customer_email), regexp_replace(memo, '[0-9]+', '#') FROM sales.daily`,
  `SELECT id, date_trunc('month', day), day + INTERVAL 1 DAY, strftime(day, '%Y') FROM sales.daily`,
  `SELECT id, list_transform([id, qty], x -> x * 2), {'a': id, 'm': memo}, [memo, region][1] FROM sales.daily`,
  `SELECT id, json_extract(to_json({'m': memo}), '$.m'), hash(memo) = hash(memo), md5(memo) FROM sales.daily`,
  `SELECT id, greatest(id, qty), abs(-qty), round(amount, 0), coalesce(NULL, memo), nullif(qty, 0) FROM sales.daily`,
  `SELECT id, memo COLLATE de, icu_collate_de(memo) IS NOT NULL FROM sales.daily`,
  `SELECT current_date IS NOT NULL, now() IS NOT NULL, typeof(1), list_aggregate([1, 2, 3], 'sum')`,
  // set-returning
  `SELECT unnest(generate_series(1, 3)), unnest(range(3))`,
  `SELECT id, regexp_split_to_table(memo, '-') FROM sales.daily`,
  // aggregate
  `SELECT region, sum(qty), string_agg(memo, ',' ORDER BY memo), count(DISTINCT memo) FROM sales.daily GROUP BY region`,
  `SELECT approx_count_distinct(memo), histogram(region), json_array_length(json_group_array(memo)), list_sort(list(id)) FROM sales.daily`,
  `SELECT arg_max(memo, id), min_by(id, memo), bool_or(qty > 2), bit_or(qty) FROM sales.daily`,
  // window
  `SELECT id, row_number() OVER (ORDER BY id), lag(memo) OVER (ORDER BY id), ntile(4) OVER (ORDER BY id) FROM sales.daily`,
  `SELECT id, cume_dist() OVER (ORDER BY id), sum(qty) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM sales.daily`,
  // table generators
  `SELECT * FROM range(3) r(i), generate_series(1, 2) g(j)`,
  `SELECT * FROM unnest([1, 2, 3]) u(x) WHERE x IN (SELECT qty FROM sales.daily)`,
  `SELECT * FROM repeat('ab', 2) t(x), repeat_row(1, 'y', num_rows := 2) s(a, b)`,
  `SELECT key, value FROM json_each('{"a": 1, "b": [2]}')`,
  `SELECT d.id, j.key FROM sales.daily d, json_each(to_json({'m': d.memo})) j`,
];

describe('allowed functions', () => {
  it('run governed and return what the same query returns over the filtered copy', async () => {
    const problems: string[] = [];
    for (const sql of ALLOWED) {
      let governed: GovernedQuery;
      try {
        governed = await govern(sql);
      } catch (error) {
        problems.push(`${sql}: refused (${(error as Error).message})`);
        continue;
      }
      const tables = new Map(governed.tables.map((t) => [t.relation, snapshots.raw.get(t.key)!]));
      const [got, want] = await Promise.all([
        executor.execute(governed.sql, { tables }).then(
          (result) => ({ ok: true as const, result }),
          (e: unknown) => ({ ok: false as const, message: (e as Error).message }),
        ),
        reference.run(sql),
      ]);
      if (!want.ok) {
        problems.push(`${sql}: the reference fails (${want.message.split('\n')[0]})`);
        continue;
      }
      if (!got.ok) {
        problems.push(`${sql}: governed run failed (${got.message.split('\n')[0]})`);
        continue;
      }
      const rows = (r: { rows: unknown[][] }) => r.rows.map((x) => JSON.stringify(x)).sort();
      if (JSON.stringify(rows(got.result)) !== JSON.stringify(rows(want.result))) {
        problems.push(`${sql}: governed rows differ from the reference`);
      }
      const text = JSON.stringify(got.result.rows);
      for (const token of FORBIDDEN_FOR_BOB)
        if (text.includes(token)) problems.push(`${sql}: leaks ${token}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('keeps the constructs the parser writes for {...}, [...], MAP, row values and operators', async () => {
    const governed = await govern(
      `SELECT {'a': 1}, [1, 2][1], MAP {'k': 1}, (1, 'x'), 'a' LIKE 'a%', 'a' ILIKE 'A', 'a' GLOB '*', 'ab' ^@ 'a', 5 // 2, 2 ** 3, 3!, EXTRACT(year FROM DATE '2024-01-02'), TRIM(' x '), POSITION('b' IN 'abc'), 'x' SIMILAR TO 'x', [x FOR x IN [1, 2] IF x > 1]`,
    );
    const result = await executor.execute(governed.sql, { tables: new Map() });
    expect(result.rows).toHaveLength(1);
  });

  it('knows every expression kind the parser writes for ordinary SQL', async () => {
    const governed = await govern(
      `SELECT id NOT BETWEEN 1 AND 5, (qty > 1) IS TRUE, qty IS NOT NULL, NOT (qty IS NULL), ARRAY[1, 2], qty IN (1, 2), qty NOT IN (3), qty = ANY (SELECT 1), try(CAST(memo AS INTEGER)), ifnull(qty, 0), coalesce(NULL, qty), if(qty > 1, 'a', 'b'), CASE WHEN qty = 1 THEN 'x' END, memo COLLATE nocase, CAST(qty AS DECIMAL(4, 1)), CAST([qty] AS INTEGER[]), CAST({'a': qty} AS STRUCT(a BIGINT)), CAST([qty] AS INTEGER[1]), list_filter([1, 2], (x, i) -> x > i), to_json({'m': memo})->>'m', {'a': 1}.a, [1, 2, 3][1:2], (SELECT 1), EXISTS (SELECT 1), id IS DISTINCT FROM qty, region LIKE 'E%' OR region ILIKE 'u%', #1 FROM sales.daily`,
    );
    const tables = new Map(governed.tables.map((t) => [t.relation, snapshots.raw.get(t.key)!]));
    const [got, want] = await Promise.all([
      executor.execute(governed.sql, { tables }),
      reference.run(
        `SELECT id NOT BETWEEN 1 AND 5, (qty > 1) IS TRUE, qty IS NOT NULL, NOT (qty IS NULL), ARRAY[1, 2], qty IN (1, 2), qty NOT IN (3), qty = ANY (SELECT 1), try(CAST(memo AS INTEGER)), ifnull(qty, 0), coalesce(NULL, qty), if(qty > 1, 'a', 'b'), CASE WHEN qty = 1 THEN 'x' END, memo COLLATE nocase, CAST(qty AS DECIMAL(4, 1)), CAST([qty] AS INTEGER[]), CAST({'a': qty} AS STRUCT(a BIGINT)), CAST([qty] AS INTEGER[1]), list_filter([1, 2], (x, i) -> x > i), to_json({'m': memo})->>'m', {'a': 1}.a, [1, 2, 3][1:2], (SELECT 1), EXISTS (SELECT 1), id IS DISTINCT FROM qty, region LIKE 'E%' OR region ILIKE 'u%', #1 FROM sales.daily`,
      ),
    ]);
    expect(want.ok).toBe(true);
    if (want.ok) expect(got.rows.length).toBe(want.result.rows.length);
  });
});
