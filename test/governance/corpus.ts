/**
 * The bypass corpus: queries bob may run, each of which must return exactly what the same text
 * returns over bob's physically filtered and masked copy of the data. Many are written to leak
 * under a naive rewrite (see governance-reference.md §1.14): unparenthesised OR, subqueries,
 * masks dodged by expressions, stars, packing, windows, set operations, recursion.
 *
 * `ordered`: compare row order too (the query fixes a total order).
 * `sideChannel`: the query is built to raise errors on hidden rows; the governed run may fail or
 * succeed, but nothing it returns (rows or error text) may contain a hidden or unmasked value,
 * and when both runs succeed they must agree.
 * `refused`: governing must refuse the query (a GovernanceError whose message matches), before
 * anything runs.
 */
export interface CorpusQuery {
  sql: string;
  ordered?: boolean;
  sideChannel?: boolean;
  refused?: RegExp;
}

const D = 'sales.daily';
const C = 'sales.customers';

const plain: string[] = [
  // basics and the prior art's precedence leak
  `SELECT * FROM ${D}`,
  `SELECT id, region, memo FROM ${D}`,
  `SELECT count(*) FROM ${D}`,
  `SELECT * FROM ${D} WHERE region = 'US'`,
  `SELECT * FROM ${D} WHERE region = 'US' OR true`,
  `SELECT * FROM ${D} WHERE amount > 0 OR region <> 'EU'`,
  `SELECT * FROM ${D} WHERE 1 = 1 OR region = 'US'`,
  `SELECT * FROM ${D} WHERE NOT (region = 'EU') OR id > 0`,
  `SELECT * FROM ${D} WHERE region = 'EU' OR region = 'US' OR region = 'APAC'`,
  `SELECT * FROM ${D} WHERE true OR false AND region = 'US'`,
  `SELECT * FROM ${D} WHERE memo LIKE 'HIDDEN%' OR memo LIKE 'visible%'`,
  `SELECT count(*) FROM ${D} WHERE id IN (1, 2, 3, 4, 5, 6) OR qty = 0`,
  `SELECT * FROM ${D} WHERE region IS DISTINCT FROM 'EU'`,
  `SELECT * FROM ${D} WHERE coalesce(region, 'x') <> 'nope'`,
  `SELECT max(id), min(id), sum(amount), avg(qty) FROM ${D}`,
  `FROM ${D}`,
  `FROM ${D} SELECT id, customer_email WHERE qty > 1`,
  `SELECT DISTINCT region FROM ${D}`,
  `SELECT DISTINCT ON (region) region, id FROM ${D} ORDER BY region, id`,
  `SELECT * FROM ${D} WHERE id BETWEEN 1 AND 30 OR id NOT BETWEEN 1 AND 30`,
  // aliases and names
  `SELECT d.id, d.customer_email FROM ${D} AS d`,
  `SELECT d.id FROM ${D} d WHERE d.region = 'US' OR d.id > 0`,
  `SELECT x.a, x.c FROM ${D} AS x(a, b, c)`,
  `SELECT "e"."customer_email" AS "Mail" FROM ${D} "e"`,
  `SELECT daily.customer_email FROM ${D}`,
  `SELECT customer_email AS e, amount AS a FROM SALES.DAILY`,
  `SELECT id FROM "sales".daily`,
  `SELECT id, customer_email FROM "sales@1".daily`,
  `SELECT id, customer_email, amount FROM "sales@2".daily`,
  `SELECT a.id, b.id FROM ${D} a JOIN "sales@1".daily b ON a.id = b.id`,
  // masks dodged by expressions, casts and functions
  `SELECT lower(customer_email) FROM ${D}`,
  `SELECT upper(customer_email), length(customer_email) FROM ${D}`,
  `SELECT CAST(customer_email AS VARCHAR) FROM ${D}`,
  `SELECT customer_email::BLOB FROM ${D}`,
  `SELECT customer_email || '' FROM ${D}`,
  `SELECT substr(customer_email, 1, 8) FROM ${D}`,
  `SELECT regexp_extract(customer_email, '^([^@]+)', 1) FROM ${D}`,
  `SELECT md5(customer_email), hash(customer_email) FROM ${D}`,
  `SELECT string_split(customer_email, '@') FROM ${D}`,
  `SELECT concat_ws('|', customer_email, memo) FROM ${D}`,
  `SELECT * FROM ${D} WHERE customer_email LIKE 'zq_%'`,
  `SELECT * FROM ${D} WHERE customer_email = 'zq_user1@mail.example'`,
  `SELECT * FROM ${D} WHERE starts_with(customer_email, 'zq')`,
  `SELECT amount, amount * 100, CAST(amount AS DOUBLE) FROM ${D}`,
  `SELECT * FROM ${D} WHERE amount = 13.37`,
  `SELECT sum(amount::DOUBLE) FROM ${D}`,
  `SELECT TRY_CAST(customer_email AS INTEGER) FROM ${D}`,
  `SELECT customer_email COLLATE nocase FROM ${D}`,
  `SELECT printf('%s', customer_email) FROM ${D}`,
  `SELECT to_json(customer_email), format('{}', customer_email) FROM ${D}`,
  // stars and COLUMNS
  `SELECT COLUMNS(*) FROM ${D}`,
  `SELECT COLUMNS('cust.*') FROM ${D}`,
  `SELECT COLUMNS(c -> c LIKE '%mail%') FROM ${D}`,
  `SELECT lower(COLUMNS('customer_email')) FROM ${D}`,
  `SELECT d.* FROM ${D} d`,
  `SELECT daily.* FROM ${D}`,
  `SELECT * EXCLUDE (region) FROM ${D}`,
  `SELECT * REPLACE (upper(customer_email) AS customer_email) FROM ${D}`,
  `SELECT d FROM ${D} d`,
  `SELECT to_json(d) FROM ${D} d`,
  `SELECT max(COLUMNS(*)) FROM ${D}`,
  `SELECT * FROM (SELECT * FROM ${D}) s`,
  `SELECT s.* FROM (SELECT customer_email AS m FROM ${D}) s`,
  // struct and list packing
  `SELECT struct_pack(e := customer_email, a := amount) FROM ${D}`,
  `SELECT {'e': customer_email, 'm': memo} FROM ${D}`,
  `SELECT [customer_email, memo] FROM ${D}`,
  `SELECT list(customer_email ORDER BY id) FROM ${D}`,
  `SELECT string_agg(customer_email, ',' ORDER BY id) FROM ${D}`,
  `SELECT array_agg(amount ORDER BY id) FROM ${D}`,
  `SELECT map([customer_email], [amount]) FROM ${D}`,
  `SELECT list_transform(list(customer_email ORDER BY id), x -> upper(x)) FROM ${D}`,
  `SELECT unnest(list(customer_email)) FROM ${D}`,
  `SELECT row(id, customer_email) FROM ${D}`,
  `SELECT histogram(customer_email) FROM ${D}`,
  // windows
  `SELECT id, row_number() OVER (PARTITION BY region ORDER BY id) FROM ${D}`,
  `SELECT id, first_value(customer_email) OVER (ORDER BY id) FROM ${D}`,
  `SELECT id, lag(customer_email) OVER (ORDER BY id), lead(memo) OVER (ORDER BY id) FROM ${D}`,
  `SELECT id, sum(amount) OVER (), count(*) OVER () FROM ${D}`,
  `SELECT id, customer_email FROM ${D} QUALIFY row_number() OVER (PARTITION BY customer_email ORDER BY id) = 1`,
  `SELECT id, ntile(3) OVER (ORDER BY id) FROM ${D}`,
  `SELECT id, nth_value(customer_email, 2) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM ${D}`,
  `SELECT id, rank() OVER (ORDER BY customer_email, id) FROM ${D}`,
  `SELECT id, max(memo) OVER (PARTITION BY day) FROM ${D}`,
  `SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM ${D}`,
  // grouping and ordering on masked columns
  `SELECT customer_email, count(*) FROM ${D} GROUP BY customer_email`,
  `SELECT customer_email, sum(amount) FROM ${D} GROUP BY ALL`,
  `SELECT region, customer_email, count(*) FROM ${D} GROUP BY GROUPING SETS ((region), (customer_email), ())`,
  `SELECT region, customer_email, count(*) FROM ${D} GROUP BY ROLLUP (region, customer_email)`,
  `SELECT customer_email FROM ${D} GROUP BY customer_email HAVING count(*) > 1`,
  `SELECT count(DISTINCT customer_email), count(DISTINCT memo) FROM ${D}`,
  `SELECT min(customer_email), max(customer_email) FROM ${D}`,
  `SELECT arg_max(customer_email, amount), arg_min(memo, id) FROM ${D}`,
  `SELECT mode(customer_email) FROM ${D}`,
  `SELECT amount, count(*) FROM ${D} GROUP BY amount`,
  `SELECT day, sum(amount), count(*) FROM ${D} GROUP BY day`,
  `SELECT qty, list(id ORDER BY id) FROM ${D} GROUP BY qty`,
  // set operations
  `SELECT customer_email FROM ${D} UNION SELECT customer_email FROM ${C}`,
  `SELECT id, memo FROM ${D} UNION ALL SELECT id, memo FROM "sales@2".daily`,
  `SELECT region FROM ${D} INTERSECT SELECT region FROM ${C}`,
  `SELECT region FROM ${C} EXCEPT SELECT region FROM ${D}`,
  `SELECT customer_email FROM ${C} EXCEPT ALL SELECT customer_email FROM ${D}`,
  `SELECT customer_email FROM ${C} INTERSECT ALL SELECT customer_email FROM ${D}`,
  `SELECT id, memo FROM ${D} UNION ALL BY NAME SELECT memo, id FROM "sales@2".daily`,
  `(SELECT id FROM ${D} UNION SELECT id FROM "sales@2".daily) EXCEPT SELECT id FROM ${D} WHERE qty = 0`,
  `SELECT 'x' AS k UNION ALL SELECT memo FROM ${D}`,
  `SELECT count(*) FROM (SELECT * FROM ${D} UNION ALL SELECT * FROM "sales@2".daily)`,
  // CTEs
  `WITH t AS (SELECT * FROM ${D}) SELECT * FROM t`,
  `WITH t AS (SELECT * FROM ${D}), u AS (SELECT region, count(*) AS n FROM t GROUP BY region) SELECT * FROM u`,
  `WITH t AS MATERIALIZED (SELECT customer_email FROM ${D}) SELECT count(*), min(customer_email) FROM t`,
  `WITH t AS (SELECT id FROM ${D}) SELECT a.id FROM t a JOIN t b ON a.id = b.id`,
  `SELECT * FROM (WITH inner_cte AS (SELECT memo FROM ${D}) SELECT * FROM inner_cte) s`,
  `WITH d2 AS (SELECT * FROM "sales@2".daily) SELECT d2.id, x.id FROM d2 JOIN ${D} x ON d2.qty = x.qty`,
  `WITH t AS (SELECT customer_email AS e FROM ${D}) SELECT e, (SELECT count(*) FROM t t2 WHERE t2.e = t.e) FROM t`,
  `WITH x AS (SELECT 1 AS one) SELECT * FROM x, ${D} WHERE x.one = 1`,
  // recursive CTEs
  `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n, (SELECT count(*) FROM ${D} WHERE qty = n % 5) FROM r`,
  `WITH RECURSIVE r(id, depth) AS (SELECT min(id), 0 FROM ${D} UNION ALL SELECT d.id, r.depth + 1 FROM r JOIN ${D} d ON d.id = r.id + 3 WHERE r.depth < 20) SELECT * FROM r`,
  `WITH RECURSIVE r(e, n) AS (SELECT customer_email, 0 FROM ${D} UNION SELECT e, n + 1 FROM r WHERE n < 2) SELECT e, max(n) FROM r GROUP BY e`,
  `WITH RECURSIVE chain(id, path) AS (SELECT id, [memo] FROM ${D} WHERE id = 3 UNION ALL SELECT d.id, list_append(chain.path, d.memo) FROM chain JOIN ${D} d ON d.id = chain.id + 1 WHERE len(chain.path) < 4) SELECT * FROM chain`,
  `WITH RECURSIVE r(n) AS (SELECT count(*) FROM ${D} UNION ALL SELECT n - 1 FROM r WHERE n > 0) SELECT sum(n) FROM r`,
  // LATERAL and correlated subqueries
  `SELECT d.id, l.m FROM ${D} d, LATERAL (SELECT max(memo) AS m FROM ${D} x WHERE x.region = d.region) l`,
  `SELECT d.id, l.n FROM ${D} d, LATERAL (SELECT count(*) AS n FROM "sales@2".daily x WHERE x.qty = d.qty) l`,
  `SELECT d.id, l.* FROM ${D} d, LATERAL (SELECT c.name, c.tier FROM ${C} c WHERE c.customer_email = d.customer_email LIMIT 1) l`,
  `SELECT c.name, l.e FROM ${C} c, LATERAL (SELECT string_agg(customer_email, ',') AS e FROM ${D} d WHERE d.region = c.region) l`,
  `SELECT * FROM range(3) r(i), LATERAL (SELECT count(*) FROM ${D} WHERE qty = r.i)`,
  `SELECT id, (SELECT count(*) FROM ${D} x WHERE x.id < d.id) FROM ${D} d`,
  `SELECT id, (SELECT max(memo) FROM ${D} x WHERE x.qty = d.qty) FROM ${D} d`,
  `SELECT c.name, (SELECT sum(amount) FROM ${D} d WHERE d.customer_email = c.customer_email) FROM ${C} c`,
  `SELECT * FROM ${D} d WHERE amount > (SELECT avg(amount) FROM ${D} x WHERE x.region = d.region)`,
  `SELECT (SELECT string_agg(memo, ',' ORDER BY memo) FROM ${D})`,
  `SELECT (SELECT customer_email FROM ${D} ORDER BY id LIMIT 1)`,
  `SELECT (SELECT count(*) FROM ${D} WHERE region = 'US')`,
  `SELECT 1 ORDER BY (SELECT count(*) FROM ${D})`,
  // EXISTS / IN / ANY / ALL
  `SELECT * FROM ${C} c WHERE EXISTS (SELECT 1 FROM ${D} d WHERE d.customer_email = c.customer_email)`,
  `SELECT * FROM ${C} c WHERE NOT EXISTS (SELECT 1 FROM ${D} d WHERE d.region = c.region)`,
  `SELECT * FROM ${C} WHERE region IN (SELECT region FROM ${D})`,
  `SELECT * FROM ${C} WHERE region NOT IN (SELECT region FROM ${D})`,
  `SELECT * FROM ${D} WHERE id = ANY (SELECT id FROM "sales@2".daily WHERE id < 200)`,
  `SELECT * FROM ${D} WHERE amount >= ALL (SELECT amount FROM ${D})`,
  `SELECT EXISTS (SELECT 1 FROM ${D} WHERE region = 'US')`,
  `SELECT 'US' IN (SELECT region FROM ${D}), 'zq_user1@mail.example' IN (SELECT customer_email FROM ${D})`,
  `SELECT count(*) FROM ${D} WHERE memo IN (SELECT memo FROM ${D} WHERE memo LIKE 'HIDDEN%')`,
  // joins and self-joins
  `SELECT a.id, b.id FROM ${D} a JOIN ${D} b ON a.customer_email = b.customer_email AND a.id < b.id`,
  `SELECT a.id, b.memo FROM ${D} a LEFT JOIN ${D} b ON b.id = a.id + 1`,
  `SELECT a.region, count(*) FROM ${D} a, ${D} b WHERE a.region = b.region GROUP BY a.region`,
  `SELECT d.id, c.name, c.tier FROM ${D} d JOIN ${C} c USING (customer_email)`,
  `SELECT d.id, c.name FROM ${D} d LEFT JOIN ${C} c ON c.customer_email = d.customer_email AND c.region = d.region`,
  `SELECT c.name, d.id FROM ${D} d RIGHT JOIN ${C} c ON c.region = d.region`,
  `SELECT c.name, d.id FROM ${D} d FULL OUTER JOIN ${C} c ON c.region = d.region AND d.qty = 1`,
  `SELECT * FROM ${C} c SEMI JOIN ${D} d ON c.region = d.region`,
  `SELECT * FROM ${C} c ANTI JOIN ${D} d ON c.region = d.region`,
  `SELECT d.id, c.name FROM ${D} d NATURAL JOIN ${C} c`,
  `SELECT count(*) FROM ${D} CROSS JOIN ${C}`,
  `SELECT * FROM ${D} d JOIN ${C} c ON d.customer_email = c.customer_email WHERE c.tier = 'gold' OR true`,
  `SELECT d.id, x.id FROM ${D} d JOIN "sales@2".daily x ON x.customer_email = d.customer_email`,
  `SELECT * FROM ${D} d JOIN ${C} c ON c.region = (SELECT max(region) FROM ${D})`,
  `SELECT d.id, s.n FROM ${D} d JOIN (SELECT region, count(*) AS n FROM ${D} GROUP BY region) s ON s.region = d.region`,
  // other clauses with subqueries
  `SELECT id FROM ${D} GROUP BY id, (SELECT count(*) FROM ${C}) HAVING count(*) > 0`,
  `SELECT id FROM ${D} LIMIT (SELECT count(*) FROM "sales@2".daily)`,
  `SELECT id, qty FROM ${D} QUALIFY qty = (SELECT max(qty) FROM ${D})`,
  `SELECT * FROM (VALUES (1), (2)) v(x) WHERE x <= (SELECT count(*) FROM ${D})`,
  `SELECT * FROM (VALUES ('EU'), ('US')) v(r) JOIN ${D} d ON d.region = v.r`,
  `SELECT g.x, (SELECT count(*) FROM ${D} WHERE qty = g.x) FROM generate_series(0, 4) g(x)`,
  `SELECT * FROM unnest([1, 2, 3]) u(x) WHERE x IN (SELECT qty FROM ${D})`,
  `SELECT * FROM ${D} UNPIVOT (v FOR k IN (memo, customer_email))`,
  `SELECT 1/0, 1//0, 1%0 FROM ${D}`,
  `SELECT id / qty, id // qty, id % qty FROM ${D}`,
  `SELECT CASE WHEN region = 'US' THEN 1/0 ELSE 1 END FROM ${D}`,
  `SELECT count(*) FILTER (WHERE region = 'US'), count(*) FILTER (WHERE memo LIKE 'HIDDEN%') FROM ${D}`,
  `SELECT (SELECT list(d) FROM ${D} d)`,
  `SELECT typeof(customer_email), typeof(amount) FROM ${D} LIMIT 1`,
];

const ordered: string[] = [
  `SELECT id, customer_email FROM ${D} ORDER BY id`,
  `SELECT id, customer_email FROM ${D} ORDER BY customer_email, id`,
  `SELECT id FROM ${D} ORDER BY id DESC LIMIT 3 OFFSET 1`,
  `SELECT customer_email, count(*) AS n FROM ${D} GROUP BY customer_email ORDER BY n DESC, customer_email`,
  `SELECT id, memo FROM ${D} ORDER BY (SELECT count(*) FROM ${C}), id`,
  `SELECT id FROM ${D} ORDER BY amount DESC, id LIMIT 5`,
  `SELECT id FROM ${D} UNION SELECT id FROM "sales@2".daily ORDER BY id`,
  `SELECT name FROM ${C} ORDER BY name, tier`,
];

/** Built to raise errors on hidden rows; governed runs must never quote them. */
const sideChannel: string[] = [
  `SELECT * FROM ${D} WHERE memo::INTEGER > 0`,
  `SELECT * FROM ${D} WHERE id = 2 AND memo::INTEGER > 0`,
  `SELECT * FROM ${D} WHERE region = 'US' AND memo::INTEGER > 0`,
  `SELECT * FROM ${D} WHERE error('LEAK ' || memo) IS NULL AND region = 'US'`,
  `SELECT * FROM ${D} WHERE CASE WHEN region = 'US' THEN error('LEAK ' || memo) ELSE true END`,
  `SELECT * FROM ${D} WHERE id IN (1, 2) AND CAST(memo AS INTEGER) > 0`,
  `SELECT count(*) FROM ${D} WHERE region <> 'EU' AND customer_email::INTEGER > 0`,
  `SELECT * FROM ${D} d JOIN (SELECT 2 AS k) k ON d.id = k.k WHERE d.memo::INTEGER > 0`,
  `SELECT * FROM ${D} WHERE memo::INTEGER > 0 OR true`,
  `SELECT * FROM ${D} WHERE (SELECT memo::INTEGER) > 0`,
  `SELECT CAST(customer_email AS INTEGER) FROM ${D}`,
  `SELECT * FROM ${D} WHERE qty = 0 AND 1 / (id - 2) > 0 AND memo::INTEGER > 0`,
  `SELECT * FROM ${C} WHERE name::INTEGER > 0`,
  `SELECT * FROM ${D} WHERE amount::VARCHAR::INTEGER > 0 AND region = 'US'`,
];

// ───── function allow-list attacks (issue 7, item 1; src/governance/function-allowlist.ts) ─────
/**
 * Functions that read outside the governed rows (statistics of the whole Parquet column, the
 * rewritten query text, settings, variables, catalog and version metadata, the engine's user),
 * sleep, change state or run SQL given as text: each is refused before anything runs, wherever it
 * stands. Allowed look-alikes (the clock, aggregates by name, generators) must still agree.
 */
const functionAttacks: CorpusQuery[] = [
  {
    sql: `SELECT stats(memo) FROM ${D}`,
    refused: /^function stats\(\) is not allowed: it reveals statistics/,
  },
  {
    sql: `SELECT DISTINCT stats(customer_email) FROM ${D} WHERE region = 'EU'`,
    refused: /stats\(\) is not allowed/,
  },
  { sql: `SELECT id FROM ${D} WHERE stats(memo) LIKE '%HIDDEN%'`, refused: /stats\(\) is not allowed/ },
  { sql: `SELECT max(id) OVER (PARTITION BY stats(amount)) FROM ${D}`, refused: /stats\(\) is not allowed/ },
  { sql: `SELECT list_transform([memo], x -> stats(x)) FROM ${D}`, refused: /stats\(\) is not allowed/ },
  {
    sql: `SELECT list_aggregate(list(memo), 'stats') FROM ${D}`,
    refused: /list_aggregate\(\) is not allowed with 'stats'/,
  },
  { sql: `SELECT vector_type(memo) FROM ${D}`, refused: /vector_type\(\) is not allowed/ },
  { sql: `SELECT * FROM summary((SELECT memo FROM ${D}))`, refused: /summary\(\) is not allowed/ },
  {
    sql: `SELECT current_query()`,
    refused: /current_query\(\) is not allowed: it reveals the text of the query/,
  },
  { sql: `SELECT id, current_query() FROM ${D}`, refused: /current_query\(\) is not allowed/ },
  { sql: `SELECT * FROM range(length(current_query()))`, refused: /current_query\(\) is not allowed/ },
  { sql: `SELECT current_setting('allowed_paths') FROM ${D}`, refused: /current_setting\(\) is not allowed/ },
  { sql: `SELECT getvariable('secret')`, refused: /getvariable\(\) is not allowed/ },
  { sql: `SELECT version(), current_database(), current_schema()`, refused: /version\(\) is not allowed/ },
  { sql: `SELECT current_schemas(true)`, refused: /current_schemas\(\) is not allowed/ },
  { sql: `SELECT current_user, current_catalog`, refused: /current_user calls DuckDB's current_user\(\)/ },
  { sql: `SELECT "user", session_user FROM ${D}`, refused: /user calls DuckDB's user\(\)/ },
  {
    sql: `SELECT current_connection_id(), current_query_id(), txid_current()`,
    refused: /current_connection_id\(\) is not allowed/,
  },
  {
    sql: `SELECT in_search_path('main', 'main'), get_block_size('memory')`,
    refused: /in_search_path\(\) is not allowed/,
  },
  { sql: `SELECT * FROM duckdb_settings()`, refused: /duckdb_settings\(\) is not allowed/ },
  { sql: `SELECT * FROM duckdb_databases()`, refused: /duckdb_databases\(\) is not allowed/ },
  { sql: `SELECT * FROM duckdb_functions()`, refused: /duckdb_functions\(\) is not allowed/ },
  { sql: `SELECT * FROM pragma_version()`, refused: /pragma_version\(\) is not allowed/ },
  { sql: `SELECT * FROM pg_timezone_names()`, refused: /pg_timezone_names\(\) is not allowed/ },
  {
    sql: `SELECT json_serialize_plan('SELECT * FROM "sales@1".daily')`,
    refused: /json_serialize_plan\(\) is not allowed/,
  },
  { sql: `SELECT json_serialize_sql('SELECT 1')`, refused: /json_serialize_sql\(\) is not allowed/ },
  {
    sql: `SELECT * FROM histogram(${D}, memo)`,
    refused: /histogram\(\) is not allowed: as a table function/,
  },
  { sql: `SELECT * FROM histogram_values(${D}, amount)`, refused: /histogram_values\(\) is not allowed/ },
  { sql: `SELECT sleep_ms(60000)`, refused: /sleep_ms\(\) is not allowed/ },
  { sql: `SELECT id FROM ${D} WHERE pg_sleep(1) IS NULL`, refused: /pg_sleep\(\) is not allowed/ },
  { sql: `SELECT write_log(memo) FROM ${D}`, refused: /write_log\(\) is not allowed/ },
  { sql: `SELECT setseed(0.1), random()`, refused: /setseed\(\) is not allowed/ },
  { sql: `SELECT finalize(sum(id) EXPORT_STATE) FROM ${D}`, refused: /finalize\(\) is not allowed/ },
  { sql: `SELECT * FROM test_all_types()`, refused: /test_all_types\(\) is not allowed/ },
  { sql: `SELECT STATS(memo) FROM ${D}`, refused: /stats\(\) is not allowed/ },
  { sql: `SELECT pg_catalog.pg_size_pretty(count(*)) FROM ${D}`, refused: /cannot be qualified/ },
  { sql: `SELECT row_number() FROM ${D}`, refused: /row_number\(\) is a window function/ },
  { sql: `SELECT * FROM lower('x')`, refused: /lower\(\) cannot be used as a table function/ },
  // allowed look-alikes: the same answer as over the filtered copy
  { sql: `SELECT count(*), current_date IS NOT NULL, current_timestamp IS NOT NULL FROM ${D}` },
  { sql: `SELECT list_aggregate(list(qty), 'sum'), list_aggregate(list(memo), 'max') FROM ${D}` },
  {
    sql: `SELECT x.key, count(*) FROM ${D} d, json_each(to_json({'m': d.memo, 'r': d.region})) x GROUP BY ALL`,
  },
  { sql: `SELECT * FROM repeat_row(1, num_rows := 2), (SELECT count(*) FROM ${D})` },
];

export const CORPUS: CorpusQuery[] = [
  ...plain.map((sql) => ({ sql })),
  ...ordered.map((sql) => ({ sql, ordered: true })),
  ...sideChannel.map((sql) => ({ sql, sideChannel: true })),
  ...functionAttacks,
];
