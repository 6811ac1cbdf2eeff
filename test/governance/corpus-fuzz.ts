/**
 * Bypass-corpus entries grown from the differential fuzzer (test/governance/fuzz-*.test.ts): each is
 * a minimised real finding (`finding` names it, see fuzz/known-findings.ts) or a representative of
 * a shape class the generator exercises. Same contract as CORPUS (corpus.ts), for bob: the governed
 * answer equals the answer over bob's physically filtered and masked copy, and nothing hidden
 * appears in rows or errors. Entries with a `finding` reproduced that finding before it was fixed.
 */
import type { CorpusQuery } from './corpus.js';

export interface FuzzCorpusQuery extends CorpusQuery {
  /** The shape class (or finding) this entry stands for. */
  shape: string;
  /** The fuzzer finding this entry reproduced (see fuzz/known-findings.ts), now a regression test. */
  finding?: string;
}

const D = 'sales.daily';
const C = 'sales.customers';

export const FUZZ_CORPUS: FuzzCorpusQuery[] = [
  // Findings (wrong answers, not leaks), minimised.
  {
    shape: 'cross join followed by another join',
    finding: 'cross-join-becomes-comma',
    sql: `SELECT count(*) FROM ${D} a CROSS JOIN ${C} b JOIN "sales@2".daily c USING (region)`,
  },
  {
    shape: 'cross join followed by a natural join',
    finding: 'cross-join-becomes-comma',
    sql: `SELECT count(*) FROM ${D} a CROSS JOIN ${C} b NATURAL JOIN "sales@2".daily c`,
  },
  {
    shape: 'lateral cross join followed by USING',
    finding: 'cross-join-becomes-comma',
    sql: `SELECT t.id, l.n FROM ${D} t CROSS JOIN LATERAL (SELECT count(*) AS n FROM ${D} x WHERE x.qty = t.qty) l JOIN "sales@2".daily u USING (qty)`,
  },
  {
    shape: 'unaliased subquery item: DuckDB names it itself',
    finding: 'kept-column-name-differs',
    sql: `SELECT (SELECT max(x.day::DATE) FROM ${D} x) FROM ${C} LIMIT 1`,
  },
  {
    shape: 'unaliased subquery item with a cross join inside',
    finding: 'kept-column-name-differs',
    sql: `SELECT (SELECT max(x.day) FROM ${D} x CROSS JOIN ${C} y)`,
  },
  {
    shape: 'unaliased subquery item with a DECIMAL cast inside',
    finding: 'kept-column-name-differs',
    sql: `SELECT (SELECT max(id::DECIMAL(12,2)) FROM ${D})`,
  },
  {
    shape: 'unaliased subquery item next to a star',
    finding: 'kept-column-name-differs',
    sql: `SELECT (SELECT max('2024-01-05'::DATE) FROM ${D}), * FROM ${C}`,
  },
  {
    shape: 'same table name from two majors, unaliased',
    finding: 'same-table-name-twice',
    sql: `SELECT customer_email FROM "sales@2".daily NATURAL JOIN ${D}`,
  },
  {
    shape: 'nested lateral joins over VALUES with windows and QUALIFY',
    finding: 'internal-error-on-governed-plan',
    sql: `SELECT l4.c3, [l8.c6, left(l8.c7, 4)], count(*) OVER (PARTITION BY k) FROM (VALUES ('EU', 1), ('US', 2), ('APAC', 3)) v1(r, k), LATERAL (SELECT (hash(r) % 1000)::BIGINT AS c3 FROM ${D} t2 WHERE t2.qty = v1.k) l4 CROSS JOIN LATERAL (SELECT max(customer_email) OVER (PARTITION BY t5.id) AS c6, t5.region AS c7 FROM Sales.DAILY AS t5 WHERE t5.id = v1.k QUALIFY count(*) OVER () <= 3) l8 WHERE v1.r >= 'APAC' ORDER BY 1`,
  },
  // Representative shapes the generator exercises.
  { shape: 'name variants', sql: `SELECT count(*) FROM "SALES@1"."Daily" JOIN Sales.DAILY d2 USING (id)` },
  {
    shape: 'three-part column through a name variant',
    sql: `SELECT daily.customer_email, "Daily".memo FROM SALES.Daily`,
  },
  {
    shape: 'column alias list over a masked column',
    sql: `SELECT x.id_0, x.customer_email FROM ${D} AS x(id_0, region_1) WHERE x.region_1 <> 'US'`,
  },
  {
    shape: 'CTE named like a pond, table read through the pond',
    sql: `WITH sales AS (SELECT 1 AS one) SELECT count(*), min(customer_email) FROM ${D}, sales`,
  },
  {
    shape: 'CTE named like a table',
    sql: `WITH daily AS (SELECT id, memo FROM "sales@2".daily) SELECT d.memo, c.memo FROM daily d JOIN ${D} c USING (id)`,
  },
  {
    shape: 'recursive CTE reading a table in its step',
    sql: `WITH RECURSIVE r(n, v) AS (SELECT 0, NULL::VARCHAR UNION ALL SELECT n + 1, (SELECT max(x.memo) FROM ${D} x WHERE x.qty = n) FROM r WHERE n < 4) SELECT * FROM r`,
  },
  {
    shape: 'recursive CTE walking ids across majors',
    sql: `WITH RECURSIVE r(id, depth, memo) AS (SELECT min(id), 0, min(memo) FROM ${D} UNION SELECT d.id, r.depth + 1, d.memo FROM r JOIN "sales@2".daily d ON d.id = r.id + 3 WHERE r.depth < 5) SELECT * FROM r`,
  },
  {
    shape: 'recursive CTE seeded by masked values',
    sql: `WITH RECURSIVE r(e, n) AS (SELECT s.customer_email, 0 FROM ${C} s UNION SELECT e, n + 1 FROM r WHERE n < 2) SELECT e, max(n) FROM r GROUP BY e`,
  },
  {
    shape: 'lateral subquery correlated on a masked column',
    sql: `SELECT t.id, l.c FROM ${D} t, LATERAL (SELECT count(*) AS c FROM ${C} x WHERE x.customer_email = t.customer_email) l`,
  },
  {
    shape: 'correlated EXISTS and IN together',
    sql: `SELECT c.name FROM ${C} c WHERE EXISTS (SELECT 1 FROM ${D} d WHERE d.region = c.region) AND c.tier IN (SELECT tier FROM ${C} x WHERE x.name = c.name)`,
  },
  {
    shape: 'set operation by name with reordered columns',
    sql: `SELECT id AS a, memo AS b FROM ${D} UNION ALL BY NAME SELECT memo AS b, id AS a FROM "sales@2".daily`,
  },
  {
    shape: 'INTERSECT ALL across tables on masked values',
    sql: `SELECT customer_email FROM ${D} INTERSECT ALL SELECT customer_email FROM ${C}`,
  },
  {
    shape: 'window with QUALIFY and a total order',
    sql: `SELECT id, region FROM ${D} QUALIFY row_number() OVER (PARTITION BY qty ORDER BY id) <= 1`,
  },
  {
    shape: 'GROUP BY ALL with HAVING over a masked column',
    sql: `SELECT customer_email, count(DISTINCT memo) FROM ${D} GROUP BY ALL HAVING count(*) >= 1`,
  },
  {
    shape: 'ordered aggregate and ORDER BY ALL with LIMIT',
    ordered: true,
    sql: `SELECT qty, string_agg(memo, ',' ORDER BY memo) FROM ${D} GROUP BY qty ORDER BY ALL LIMIT 2`,
  },
  {
    shape: 'struct and list packing of masked values',
    sql: `SELECT {'a': amount, 'b': upper(customer_email)}, [memo, regexp_replace(customer_email, '[aeiou]', '#')] FROM ${D}`,
  },
  {
    shape: 'hash and md5 of masked values',
    sql: `SELECT (hash(customer_email) % 1000)::BIGINT, md5(memo) FROM ${D}`,
  },
  {
    shape: 'policy functions in a derived table',
    sql: `SELECT s.me, count(*) FROM (SELECT current_principal() AS me, is_member('eu_team') AS eu FROM ${D}) s GROUP BY ALL`,
  },
  // Side channels: errors raised on rows must never quote a hidden row or unmasked value.
  {
    shape: 'failing cast in a derived table joined later',
    sideChannel: true,
    sql: `SELECT count(*) FROM (SELECT region FROM ${D} WHERE CAST(memo AS INTEGER) > 0) s JOIN ${C} c ON s.region = c.tier`,
  },
  {
    shape: 'failing cast inside a correlated EXISTS',
    sideChannel: true,
    sql: `SELECT count(*) FROM ${C} c WHERE EXISTS (SELECT 1 FROM ${D} d WHERE d.qty = length(c.tier) AND CAST(d.customer_email AS INTEGER) > 0)`,
  },
  {
    shape: 'error() guarded by a predicate on hidden rows, in a lateral',
    sideChannel: true,
    sql: `SELECT l.* FROM ${C} c, LATERAL (SELECT CASE WHEN d.region = 'US' THEN error(concat('E: ', d.memo)) ELSE true END AS ok FROM ${D} d WHERE d.qty = 1) l`,
  },
  {
    shape: 'failing cast of a masked name in a recursive CTE',
    sideChannel: true,
    sql: `WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < (SELECT count(*) FROM ${C} WHERE name::INTEGER > 0)) SELECT * FROM r`,
  },
  {
    shape: 'failing cast on a set operation branch',
    sideChannel: true,
    sql: `SELECT memo FROM ${D} WHERE memo::DATE IS NULL UNION SELECT customer_email FROM "sales@2".daily`,
  },
];
