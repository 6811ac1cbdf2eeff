/**
 * Name resolution attacks and shapes: CTEs named after tables, Ponds and majors (hidden ones
 * included), CTE scoping (a nested CTE reading an outer one of the same name, recursive CTEs),
 * lateral joins, and three-part column references. Each must give exactly the reference answer:
 * a name resolves in the governed query as DuckDB resolves it over the physically governed copy.
 */
import type { CorpusQuery } from './corpus.js';

export const NAMES_CORPUS: CorpusQuery[] = [
  { sql: `WITH daily AS (SELECT 1 AS id) SELECT * FROM daily` },
  { sql: `WITH customers AS (SELECT * FROM sales.customers) SELECT * FROM customers` },
  { sql: `WITH sales AS (SELECT 1 AS x) SELECT count(*) FROM sales.daily` },
  { sql: `WITH "sales@2" AS (SELECT 2 AS x) SELECT * FROM "sales@2"` },
  { sql: `WITH salaries AS (SELECT 'no one' AS employee) SELECT * FROM salaries` },
  { sql: `WITH hr AS (SELECT 1 AS x) SELECT * FROM hr` },
  { sql: `SELECT * FROM (WITH DAILY AS (SELECT 1 AS id) SELECT * FROM daily)` },
  { sql: `WITH daily AS (SELECT * FROM sales.daily WHERE region = 'US') SELECT count(*) FROM daily` },
  {
    sql: `WITH t AS (SELECT id FROM sales.daily) SELECT * FROM (WITH t AS (SELECT * FROM t WHERE id > 5) SELECT count(*) FROM t)`,
  },
  {
    sql: `WITH a AS (SELECT id FROM sales.daily), b AS (SELECT id FROM a WHERE id % 2 = 0) SELECT count(*), sum(id) FROM b`,
  },
  {
    sql: `WITH RECURSIVE salaries AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM salaries WHERE n < 3) SELECT * FROM salaries`,
    ordered: false,
  },
  {
    sql: `WITH RECURSIVE r AS (SELECT min(id) AS id FROM sales.daily UNION ALL SELECT d.id FROM sales.daily d JOIN r ON d.id = r.id + 3) SELECT count(*), max(id) FROM r`,
  },
  {
    sql: `WITH RECURSIVE daily AS (SELECT 0 AS k UNION ALL SELECT k + 1 FROM daily WHERE k < (SELECT count(*) FROM sales.daily)) SELECT max(k) FROM daily`,
  },
  {
    sql: `SELECT d.id, x.n FROM sales.daily d, LATERAL (SELECT count(*) AS n FROM sales.customers c WHERE c.region = d.region) x`,
  },
  {
    sql: `SELECT d.id, x.e FROM sales.daily d, LATERAL (SELECT d.customer_email AS e) x`,
  },
  { sql: `SELECT sales.daily.memo FROM sales.daily` },
  { sql: `SELECT "sales@1".daily.memo, "sales@1".daily.customer_email FROM "sales@1".daily` },
  { sql: `SELECT sales.customers.name FROM sales.customers WHERE sales.customers.tier = 'gold'` },
  { sql: `SELECT SALES.DAILY.AMOUNT FROM Sales.Daily` },
  { sql: `SELECT "sales@2".daily.id FROM "sales@2".daily ORDER BY 1`, ordered: true },
  { sql: `SELECT count(*) FROM sales.daily JOIN "sales@2".daily USING (region)` },
  { sql: `SELECT d.memo FROM sales.daily AS d WHERE sales.daily.id > 0` },
  // Tables of one name side by side in one FROM (fuzzer finding F3).
  { sql: `SELECT customer_email FROM "sales@2".daily NATURAL JOIN sales.daily` },
  {
    sql: `SELECT sales.daily.id, "sales@2".daily.id FROM sales.daily, "sales@2".daily ORDER BY 1, 2`,
    ordered: true,
  },
  { sql: `SELECT count(*) FROM sales.daily, (SELECT daily.id FROM "sales@2".daily) x WHERE x.id > daily.id` },
  // CROSS joins nested in other joins keep their place (fuzzer finding F1).
  {
    sql: `SELECT count(*) FROM sales.daily a CROSS JOIN sales.customers b NATURAL JOIN "sales@2".daily c`,
  },
  {
    sql: `SELECT count(*) FROM sales.daily a CROSS JOIN sales.customers b JOIN "sales@2".daily c USING (region)`,
  },
  { sql: `SELECT count(*) FROM sales.daily a, sales.customers b JOIN "sales@2".daily c USING (region)` },
  {
    sql: `SELECT count(*) FROM sales.daily a CROSS JOIN LATERAL (SELECT a.amount, a.qty) l JOIN "sales@2".daily USING (amount, qty)`,
  },
  { sql: `SELECT count(*) FROM sales.daily a, LATERAL (SELECT a.id + 1 AS n) l, sales.customers c` },
  // Unaliased items holding a subquery keep DuckDB's own column name (fuzzer finding F2).
  { sql: `SELECT (SELECT max(x.day::DATE) FROM sales.daily x) FROM sales.customers LIMIT 1` },
  { sql: `SELECT (SELECT max(x.day) FROM sales.daily x CROSS JOIN sales.customers y)` },
  { sql: `SELECT (SELECT max('2024-01-05'::DATE) FROM sales.daily), * FROM sales.customers` },
  {
    sql: `SELECT c.*, (SELECT max(d.day::DATE) FROM sales.daily d WHERE d.region = c.region) FROM sales.customers c`,
  },
];
