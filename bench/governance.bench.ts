/**
 * Governance benchmark, in one run:
 *
 * 1. Policy overhead: `Governor.governQuery` alone (parse + walk + rewrite + post-rewrite check) on
 *    50 representative analytic queries for a non-admin principal under a row filter and two masks;
 *    warm caches (the steady state of a running Catchment), 20 rounds; median / p90 / p99; then
 *    the same through the governor worker pool, as the Catchment runs it.
 * 2. Governed vs raw on a 10 M-row Parquet snapshot (generated here, not timed), 10 analytic
 *    queries, every variant through the same QueryExecutor (same sandbox cost):
 *    - raw:        the user's text over the unfiltered snapshot (context only; it reads more rows);
 *    - equivalent: the hand-written query returning what the principal may see (filter + mask
 *                  written inline): the baseline, so the ratio measures the rewrite, not the filter;
 *    - governed:   governQuery + execute of the rewritten SQL;
 *    - no-barrier: the rewritten SQL without its `LIMIT 9223372036854775807` (diagnostic only: shows
 *                  how much of the overhead is the side-channel barrier; never safe to run for real).
 *    Variants alternate within each repetition; medians of 5. Targets: governed / equivalent ≤ 1.10×
 *    and < 3 ms added, at the median over the 10 queries. (3. diagnoses the barrier's share.)
 * 4. Load: through GovernanceService.query (limits, worker pool, fair slots, default executor), the
 *    latency of a small query of one principal, unloaded and while another principal sends its
 *    largest allowed queries (maxSqlBytes of SQL, a full scan) back to back from as many clients as
 *    it may have queries in progress; the ratio of medians (target < 2×) and the event loop delay
 *    meanwhile (what /health waits for).
 *
 * Run: npm run bench:governance (add -- --only=load for the snapshot and part 4 alone)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { CatchmentStore } from '../src/catchment/store/index.js';
import { exportParquet } from '../src/compute/parquet.js';
import { QueryExecutor, type QueryResult } from '../src/compute/query.js';
import { localRouter } from '../src/compute/remote/router.js';
import { type SnapshotRef, snapshotKey } from '../src/compute/snapshot-store.js';
import { GovernorPool } from '../src/governance/governor-pool.js';
import {
  Catalog,
  type CatalogInput,
  Governor,
  Policy,
  type PolicyDocumentInput,
  policyDocumentSchema,
} from '../src/governance/index.js';
import { GovernanceService, type Identity } from '../src/governance/service.js';
import { DuckSqlParser } from '../src/governance/sql-parser.js';
import { GovernanceStore } from '../src/governance/store.js';
import { resolveQueryLimits } from '../src/query/limits.js';
import { QueryService } from '../src/query/query-service.js';

const ROWS = 10_000_000;
const OVERHEAD_ROUNDS = 20;
const OVERHEAD_WARMUP_ROUNDS = 3;
const REPETITIONS = 5;
const TARGET_RATIO = 1.1;
const TARGET_ADDED_MS = 3;
const BARRIER = / LIMIT 9223372036854775807/g;
const PRINCIPAL = 'analyst';
/** `--only=load`: generate the snapshot and run part 4 alone. */
const ONLY_LOAD = process.argv.includes('--only=load');

const EMAIL_MASK = "regexp_replace(customer_email, '^[^@]+', '***')";
const NAME_MASK = "left(name, 1) || '.'";

const POLICY: PolicyDocumentInput = {
  principals: [
    { name: PRINCIPAL, kind: 'user' },
    { name: 'root', kind: 'user' },
  ],
  groups: [
    { name: 'admins', members: ['root'] },
    { name: 'analysts', members: [PRINCIPAL] },
  ],
  admins: ['admins'],
  grants: [{ to: 'analysts', privilege: 'SELECT', on: 'sales' }],
  rowFilters: [{ table: 'sales.daily', filter: "region IN ('EMEA', 'APAC') OR is_member('admins')" }],
  columnMasks: [
    {
      table: 'sales.daily',
      column: 'customer_email',
      mask: `CASE WHEN is_member('admins') THEN customer_email ELSE ${EMAIL_MASK} END`,
    },
    {
      table: 'sales.customers',
      column: 'name',
      mask: `CASE WHEN is_member('admins') THEN name ELSE ${NAME_MASK} END`,
    },
  ],
};

const column = (name: string, type: string) => ({ name, type });

/** The generated snapshots below must have exactly these types (checked after generation). */
const CATALOG: CatalogInput = {
  tables: [
    {
      pond: 'sales',
      major: 1,
      name: 'daily',
      columns: [
        column('day', 'DATE'),
        column('region', 'VARCHAR'),
        column('customer_email', 'VARCHAR'),
        column('product', 'VARCHAR'),
        column('amount', 'DECIMAL(12,2)'),
        column('quantity', 'INTEGER'),
      ],
    },
    {
      pond: 'sales',
      major: 1,
      name: 'products',
      columns: [
        column('product', 'VARCHAR'),
        column('category', 'VARCHAR'),
        column('list_price', 'DECIMAL(10,2)'),
      ],
    },
    {
      pond: 'sales',
      major: 1,
      name: 'customers',
      columns: [
        column('customer_email', 'VARCHAR'),
        column('name', 'VARCHAR'),
        column('segment', 'VARCHAR'),
        column('country', 'VARCHAR'),
      ],
    },
    {
      pond: 'sales',
      major: 1,
      name: 'regions',
      columns: [column('region', 'VARCHAR'), column('manager', 'VARCHAR')],
    },
  ],
  selected: { sales: 1 },
};

const D = 'sales.daily';
const P = 'sales.products';
const C = 'sales.customers';
const R = 'sales.regions';

/** Part 1: what analysts write: joins, aggregates, windows, CTEs, subqueries, set operations. */
const OVERHEAD_QUERIES: string[] = [
  // aggregates and filters
  `SELECT count(*) FROM ${D}`,
  `SELECT region, sum(amount) AS revenue FROM ${D} GROUP BY region ORDER BY revenue DESC`,
  `SELECT product, sum(quantity) AS units, avg(amount) AS avg_amount FROM ${D} GROUP BY product ORDER BY units DESC LIMIT 20`,
  `SELECT sum(amount) FROM ${D} WHERE day BETWEEN DATE '2024-03-01' AND DATE '2024-03-31' AND quantity >= 5`,
  `SELECT date_trunc('month', day) AS month, count(*), sum(amount) FROM ${D} GROUP BY ALL ORDER BY ALL`,
  `SELECT region, product, count(*) FILTER (WHERE quantity > 5) AS big, count(*) AS n FROM ${D} GROUP BY ALL HAVING count(*) > 100`,
  `SELECT region, count(DISTINCT customer_email) AS customers FROM ${D} GROUP BY region`,
  `SELECT approx_count_distinct(customer_email), min(day), max(day) FROM ${D} WHERE region = 'EMEA'`,
  `SELECT region, quantile_cont(amount, 0.5) AS median, stddev(amount) FROM ${D} GROUP BY region`,
  `SELECT region, product, sum(amount) FROM ${D} GROUP BY ROLLUP (region, product)`,
  `SELECT DISTINCT region FROM ${D} ORDER BY region`,
  `SELECT customer_email, sum(amount) AS spend FROM ${D} GROUP BY customer_email ORDER BY spend DESC LIMIT 10`,
  `FROM ${D} SELECT day, amount WHERE amount > 900 ORDER BY amount DESC LIMIT 100`,
  `SELECT day, region, customer_email, amount FROM ${D} ORDER BY amount DESC LIMIT 10`,
  `SELECT extract(dow FROM day) AS dow, avg(amount) FROM ${D} GROUP BY dow ORDER BY dow`,
  // joins
  `SELECT p.category, sum(d.amount) AS revenue FROM ${D} d JOIN ${P} p USING (product) GROUP BY p.category`,
  `SELECT d.region, p.category, avg(d.amount) FROM ${D} d JOIN ${P} p ON p.product = d.product WHERE p.list_price > 500 GROUP BY ALL ORDER BY ALL`,
  `SELECT c.segment, count(*) AS orders, sum(d.amount) FROM ${D} d JOIN ${C} c ON c.customer_email = d.customer_email GROUP BY c.segment`,
  `SELECT c.name, c.country, sum(d.amount) AS spend FROM ${C} c LEFT JOIN ${D} d ON d.customer_email = c.customer_email GROUP BY ALL ORDER BY spend DESC NULLS LAST LIMIT 25`,
  `SELECT r.manager, sum(d.amount) FROM ${D} d JOIN ${R} r ON r.region = d.region GROUP BY r.manager`,
  `SELECT r.manager, p.category, count(*) FROM ${D} d JOIN ${P} p ON p.product = d.product JOIN ${R} r ON r.region = d.region GROUP BY ALL`,
  `SELECT p.product FROM ${P} p ANTI JOIN ${D} d ON d.product = p.product`,
  `SELECT c.country, count(*) FROM ${C} c SEMI JOIN ${D} d ON d.customer_email = c.customer_email GROUP BY c.country`,
  `SELECT a.day, a.revenue, b.revenue AS prev FROM (SELECT day, sum(amount) AS revenue FROM ${D} GROUP BY day) a LEFT JOIN (SELECT day, sum(amount) AS revenue FROM ${D} GROUP BY day) b ON b.day = a.day - 1`,
  `SELECT d.region, count(*) FROM ${D} d, ${R} r WHERE d.region = r.region AND r.manager LIKE 'A%' GROUP BY d.region`,
  // windows
  `SELECT day, revenue, avg(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg7 FROM (SELECT day, sum(amount) AS revenue FROM ${D} GROUP BY day) ORDER BY day`,
  `SELECT region, day, sum(amount) OVER (PARTITION BY region ORDER BY day) AS running FROM ${D} QUALIFY row_number() OVER (PARTITION BY region ORDER BY day DESC) = 1`,
  `SELECT product, revenue, rank() OVER (ORDER BY revenue DESC) AS rnk FROM (SELECT product, sum(amount) AS revenue FROM ${D} GROUP BY product) QUALIFY rnk <= 10`,
  `SELECT customer_email, day, amount, lag(amount) OVER (PARTITION BY customer_email ORDER BY day) AS previous FROM ${D} WHERE quantity > 8`,
  `SELECT region, product, sum(amount) AS revenue, sum(amount) / sum(sum(amount)) OVER (PARTITION BY region) AS share FROM ${D} GROUP BY region, product`,
  `SELECT day, count(*) AS n, ntile(4) OVER (ORDER BY count(*)) AS quartile FROM ${D} GROUP BY day`,
  `SELECT customer_email, first_value(product) OVER w AS first_product, last_value(product) OVER w AS last_product FROM ${D} WINDOW w AS (PARTITION BY customer_email ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`,
  // CTEs
  `WITH monthly AS (SELECT date_trunc('month', day) AS month, region, sum(amount) AS revenue FROM ${D} GROUP BY ALL) SELECT month, region, revenue, revenue / sum(revenue) OVER (PARTITION BY month) AS share FROM monthly ORDER BY month, region`,
  `WITH spend AS (SELECT customer_email, sum(amount) AS total FROM ${D} GROUP BY customer_email), ranked AS (SELECT *, ntile(10) OVER (ORDER BY total) AS decile FROM spend) SELECT decile, count(*), avg(total) FROM ranked GROUP BY decile ORDER BY decile`,
  `WITH top_products AS (SELECT product FROM ${D} GROUP BY product ORDER BY sum(amount) DESC LIMIT 10) SELECT d.region, d.product, sum(d.amount) FROM ${D} d JOIN top_products t USING (product) GROUP BY ALL`,
  `WITH firsts AS (SELECT customer_email, min(day) AS first_day FROM ${D} GROUP BY customer_email) SELECT date_trunc('month', first_day) AS cohort, count(*) FROM firsts GROUP BY cohort ORDER BY cohort`,
  `WITH cat AS (SELECT p.category, d.day, d.amount FROM ${D} d JOIN ${P} p USING (product)) SELECT category, max(amount), min(day) FROM cat GROUP BY category`,
  `WITH a AS (SELECT region, sum(amount) AS r FROM ${D} GROUP BY region), b AS (SELECT region, manager FROM ${R}) SELECT b.manager, a.r FROM a JOIN b USING (region)`,
  `WITH RECURSIVE months(m) AS (SELECT DATE '2024-01-01' UNION ALL SELECT m + INTERVAL 1 MONTH FROM months WHERE m < DATE '2024-12-01') SELECT m, (SELECT sum(amount) FROM ${D} WHERE date_trunc('month', day) = m) FROM months`,
  // subqueries
  `SELECT product, sum(amount) FROM ${D} WHERE amount > (SELECT avg(amount) FROM ${D}) GROUP BY product ORDER BY 2 DESC LIMIT 5`,
  `SELECT * FROM ${C} c WHERE EXISTS (SELECT 1 FROM ${D} d WHERE d.customer_email = c.customer_email AND d.amount > 950)`,
  `SELECT * FROM ${P} WHERE product IN (SELECT product FROM ${D} WHERE quantity = 10 AND region = 'APAC')`,
  `SELECT region, (SELECT manager FROM ${R} r WHERE r.region = d.region) AS manager, count(*) FROM ${D} d GROUP BY region`,
  `SELECT d.product, d.amount FROM ${D} d WHERE d.amount >= (SELECT max(x.amount) FROM ${D} x WHERE x.product = d.product)`,
  `SELECT c.name, l.total FROM ${C} c, LATERAL (SELECT sum(amount) AS total FROM ${D} d WHERE d.customer_email = c.customer_email) l`,
  `SELECT category, (SELECT count(*) FROM ${D} d JOIN ${P} q USING (product) WHERE q.category = p.category) FROM (SELECT DISTINCT category FROM ${P}) p`,
  // set operations
  `SELECT region FROM ${D} UNION SELECT region FROM ${R}`,
  `SELECT customer_email FROM ${C} EXCEPT SELECT customer_email FROM ${D}`,
  `SELECT 'daily' AS source, count(*) FROM ${D} UNION ALL SELECT 'customers', count(*) FROM ${C} UNION ALL SELECT 'products', count(*) FROM ${P}`,
  `SELECT product FROM ${D} WHERE region = 'EMEA' INTERSECT SELECT product FROM ${D} WHERE region = 'APAC'`,
];

interface AnalyticQuery {
  name: string;
  /** What the principal submits. */
  sql: string;
  /** The same result written by hand: the row filter and the mask inline. */
  equivalent: string;
}

/** Part 3 re-runs these outside the sandbox to split the barrier's cost. */
const DIAGNOSED = new Set([
  'group by product',
  'filtered sum (1 month)',
  'point lookup (1 day)',
  'join dimension',
]);

const VISIBLE = "region IN ('EMEA', 'APAC')";
const VISIBLE_DAILY = `(SELECT * FROM ${D} WHERE ${VISIBLE})`;

/** Part 2: ten analytic queries over the 10 M-row snapshot. */
const ANALYTIC_QUERIES: AnalyticQuery[] = [
  {
    name: 'group by region',
    sql: `SELECT region, count(*) AS n, sum(amount) AS revenue FROM ${D} GROUP BY region ORDER BY region`,
    equivalent: `SELECT region, count(*) AS n, sum(amount) AS revenue FROM ${D} WHERE ${VISIBLE} GROUP BY region ORDER BY region`,
  },
  {
    name: 'group by product',
    sql: `SELECT product, sum(quantity) AS units, sum(amount) AS revenue FROM ${D} GROUP BY product ORDER BY revenue DESC, product LIMIT 20`,
    equivalent: `SELECT product, sum(quantity) AS units, sum(amount) AS revenue FROM ${D} WHERE ${VISIBLE} GROUP BY product ORDER BY revenue DESC, product LIMIT 20`,
  },
  {
    name: 'filtered sum (1 month)',
    sql: `SELECT sum(amount) AS revenue, count(*) AS n FROM ${D} WHERE day BETWEEN DATE '2024-03-01' AND DATE '2024-03-31' AND quantity >= 5`,
    equivalent: `SELECT sum(amount) AS revenue, count(*) AS n FROM ${D} WHERE day BETWEEN DATE '2024-03-01' AND DATE '2024-03-31' AND quantity >= 5 AND ${VISIBLE}`,
  },
  {
    name: 'point lookup (1 day)',
    sql: `SELECT count(*) AS n, sum(amount) AS revenue FROM ${D} WHERE day = DATE '2024-07-04' AND region = 'EMEA'`,
    equivalent: `SELECT count(*) AS n, sum(amount) AS revenue FROM ${D} WHERE day = DATE '2024-07-04' AND region = 'EMEA' AND ${VISIBLE}`,
  },
  {
    name: 'top-10 (masked col)',
    sql: `SELECT day, region, customer_email, amount FROM ${D} ORDER BY amount DESC, day, region, customer_email LIMIT 10`,
    equivalent: `SELECT day, region, ${EMAIL_MASK} AS customer_email, amount FROM ${D} WHERE ${VISIBLE} ORDER BY amount DESC, day, region, customer_email LIMIT 10`,
  },
  {
    name: 'window over days',
    sql: `SELECT day, revenue, avg(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg7 FROM (SELECT day, sum(amount) AS revenue FROM ${D} GROUP BY day) ORDER BY day`,
    equivalent: `SELECT day, revenue, avg(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg7 FROM (SELECT day, sum(amount) AS revenue FROM ${D} WHERE ${VISIBLE} GROUP BY day) ORDER BY day`,
  },
  {
    name: 'count distinct product',
    sql: `SELECT date_trunc('month', day) AS month, count(DISTINCT product) AS products FROM ${D} GROUP BY month ORDER BY month`,
    equivalent: `SELECT date_trunc('month', day) AS month, count(DISTINCT product) AS products FROM ${D} WHERE ${VISIBLE} GROUP BY month ORDER BY month`,
  },
  {
    name: 'count distinct (masked)',
    sql: `SELECT region, count(DISTINCT customer_email) AS customers FROM ${D} GROUP BY region ORDER BY region`,
    equivalent: `SELECT region, count(DISTINCT ${EMAIL_MASK}) AS customers FROM ${D} WHERE ${VISIBLE} GROUP BY region ORDER BY region`,
  },
  {
    name: 'join dimension',
    sql: `SELECT p.category, sum(d.amount) AS revenue, sum(d.quantity) AS units FROM ${D} d JOIN ${P} p USING (product) GROUP BY p.category ORDER BY p.category`,
    equivalent: `SELECT p.category, sum(d.amount) AS revenue, sum(d.quantity) AS units FROM ${VISIBLE_DAILY} d JOIN ${P} p USING (product) GROUP BY p.category ORDER BY p.category`,
  },
  {
    name: 'CTE + share window',
    sql: `WITH monthly AS (SELECT date_trunc('month', d.day) AS month, d.region, sum(d.amount) AS revenue FROM ${D} d JOIN ${P} p ON p.product = d.product WHERE p.list_price > 500 GROUP BY ALL) SELECT month, region, revenue, revenue / sum(revenue) OVER (PARTITION BY month) AS share FROM monthly ORDER BY month, region`,
    equivalent: `WITH monthly AS (SELECT date_trunc('month', d.day) AS month, d.region, sum(d.amount) AS revenue FROM ${VISIBLE_DAILY} d JOIN ${P} p ON p.product = d.product WHERE p.list_price > 500 GROUP BY ALL) SELECT month, region, revenue, revenue / sum(revenue) OVER (PARTITION BY month) AS share FROM monthly ORDER BY month, region`,
  },
];

/**
 * Written in day order, as a daily snapshot would be: row-group zone maps on `day` are then
 * selective. Regions, customers and products are spread pseudo-randomly (hash) so the row filter
 * keeps about half of every row group.
 */
const DAILY_SQL = `SELECT
    (DATE '2024-01-01' + (range * 366 // ${ROWS})::INTEGER)::DATE AS day,
    ['EMEA', 'APAC', 'AMER', 'LATAM'][(hash(range) % 4)::INTEGER + 1] AS region,
    'user' || (hash(range * 3 + 1) % 200000) || '@' || ['corp.example', 'mail.example', 'shop.example'][(hash(range * 5 + 2) % 3)::INTEGER + 1] AS customer_email,
    'P' || lpad((hash(range * 7 + 3) % 500)::VARCHAR, 3, '0') AS product,
    ((hash(range * 11 + 4) % 100000) / 100)::DECIMAL(12,2) AS amount,
    (1 + hash(range * 13 + 5) % 10)::INTEGER AS quantity
  FROM range(${ROWS})`;

const PRODUCTS_SQL = `SELECT
    'P' || lpad(range::VARCHAR, 3, '0') AS product,
    ['tools', 'garden', 'kitchen', 'toys', 'books', 'sports', 'office', 'audio'][(range % 8)::INTEGER + 1] AS category,
    ((range * 37) % 1000 + 0.99)::DECIMAL(10,2) AS list_price
  FROM range(500)`;

const CUSTOMERS_SQL = `SELECT
    'user' || range || '@corp.example' AS customer_email,
    'Name ' || range AS name,
    ['retail', 'smb', 'enterprise'][(range % 3)::INTEGER + 1] AS segment,
    ['DE', 'FR', 'JP', 'US', 'BR'][(range % 5)::INTEGER + 1] AS country
  FROM range(2000)`;

const REGIONS_SQL = `SELECT * FROM (VALUES ('EMEA', 'Ana'), ('APAC', 'Bo'), ('AMER', 'Cy'), ('LATAM', 'Di')) AS r(region, manager)`;

// ───────────── statistics and printing ─────────────

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (value: number, digits = 2) => value.toFixed(digits);
const pad = (text: string, width: number) => text.padStart(width);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function time<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

// ───────────── part 1: policy overhead ─────────────

async function policyOverhead(governor: Governor, policy: Policy, catalog: Catalog): Promise<void> {
  console.log(`\n== 1. policy overhead: governQuery only, ${OVERHEAD_QUERIES.length} queries ==`);
  const parseTimes: number[] = [];
  for (let i = 0; i < 20; i++) parseTimes.push((await time(async () => Policy.parse(POLICY))).ms);
  console.log(`Policy.parse (once per policy revision): median ${ms(median(parseTimes), 3)} ms`);

  // A fresh Policy object has no compiled templates yet: the first query per table pays for them.
  const fresh = Policy.parse(POLICY);
  const cold = await time(() =>
    governor.governQuery(OVERHEAD_QUERIES[20]!, { principal: PRINCIPAL, policy: fresh, catalog }),
  );
  console.log(`first query on a new policy (compiles 3 governed subqueries): ${ms(cold.ms)} ms`);

  const ctx = { principal: PRINCIPAL, policy, catalog };
  for (let round = 0; round < OVERHEAD_WARMUP_ROUNDS; round++) {
    for (const sql of OVERHEAD_QUERIES) await governor.governQuery(sql, ctx);
  }
  const all: number[] = [];
  const perQuery = OVERHEAD_QUERIES.map(() => [] as number[]);
  for (let round = 0; round < OVERHEAD_ROUNDS; round++) {
    for (let i = 0; i < OVERHEAD_QUERIES.length; i++) {
      const { ms: elapsed } = await time(() => governor.governQuery(OVERHEAD_QUERIES[i]!, ctx));
      all.push(elapsed);
      perQuery[i]!.push(elapsed);
    }
  }
  all.sort((a, b) => a - b);
  console.log(
    `warm, ${all.length} samples: median ${ms(median(all))} ms, p90 ${ms(quantile(all, 0.9))} ms, ` +
      `p99 ${ms(quantile(all, 0.99))} ms, max ${ms(all[all.length - 1]!)} ms`,
  );
  const slowest = perQuery
    .map((times, i) => ({ i, median: median(times) }))
    .sort((a, b) => b.median - a.median)
    .slice(0, 3);
  for (const { i, median: m } of slowest) {
    console.log(`  slowest: q${i + 1} ${ms(m)} ms  ${OVERHEAD_QUERIES[i]!.slice(0, 90)}…`);
  }

  // The floor set by DuckDB's parser: governQuery makes (at least) these three calls per query.
  const parser = await DuckSqlParser.create();
  try {
    const floor: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const sql of OVERHEAD_QUERIES) {
        const { ms: elapsed } = await time(async () => {
          const tree = await parser.serialize(sql);
          await parser.serialize(await parser.deserialize(tree));
        });
        floor.push(elapsed);
      }
    }
    console.log(
      `  of which DuckDB parser round trips (serialize + deserialize + serialize again, no walk): median ${ms(median(floor))} ms`,
    );
  } finally {
    parser.close();
  }

  // What a caller pays when it hands governQuery a plain catalog description (zod per query).
  const plain: number[] = [];
  for (let round = 0; round < 3; round++) {
    for (const sql of OVERHEAD_QUERIES) {
      plain.push(
        (await time(() => governor.governQuery(sql, { principal: PRINCIPAL, policy, catalog: CATALOG }))).ms,
      );
    }
  }
  console.log(`same with a plain catalog object (validated per call): median ${ms(median(plain))} ms`);

  // What a query pays in the Catchment: governing happens on the worker pool (a message round trip,
  // the catalog rebuilt from its description in the worker).
  const pool = new GovernorPool({ threads: 1 });
  try {
    const document = policyDocumentSchema.parse(POLICY);
    const govern = (sql: string) =>
      pool.govern({ sql, principal: PRINCIPAL, policy: { revision: 1, document }, catalog }, 30_000);
    for (let round = 0; round < OVERHEAD_WARMUP_ROUNDS; round++) {
      for (const sql of OVERHEAD_QUERIES) await govern(sql);
    }
    const pooled: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const sql of OVERHEAD_QUERIES) pooled.push((await time(() => govern(sql))).ms);
    }
    pooled.sort((a, b) => a - b);
    console.log(
      `on the governor worker pool (as the Catchment runs it), ${pooled.length} samples: median ${ms(median(pooled))} ms, p99 ${ms(quantile(pooled, 0.99))} ms`,
    );
  } finally {
    await pool.close();
  }
}

// ───────────── part 2: governed vs raw on 10 M rows ─────────────

interface Snapshot {
  dir: string;
  /** Query name ('sales.daily') → Parquet file, for the raw runs. */
  byQueryName: Map<string, string>;
  /** Executor key ('sales@1.daily') → Parquet file, for the governed runs. */
  byKey: Map<string, string>;
}

async function writeSnapshot(dir: string): Promise<Snapshot> {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(availableParallelism()) });
  const connection = await instance.connect();
  try {
    const byQueryName = new Map<string, string>();
    const byKey = new Map<string, string>();
    const sources: Record<string, string> = {
      daily: DAILY_SQL,
      products: PRODUCTS_SQL,
      customers: CUSTOMERS_SQL,
      regions: REGIONS_SQL,
    };
    for (const [name, sql] of Object.entries(sources)) {
      const file = path.join(dir, `${name}.parquet`);
      await exportParquet(connection, sql, file, { compression: 'zstd' });
      const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
      const actual = described.getRows().map((r) => `${String(r[0])} ${String(r[1])}`);
      const expected = CATALOG.tables.find((t) => t.name === name)!.columns.map((c) => `${c.name} ${c.type}`);
      if (actual.join(', ') !== expected.join(', ')) {
        throw new Error(
          `generated ${name} has columns ${actual.join(', ')}; the catalog says ${expected.join(', ')}`,
        );
      }
      byQueryName.set(`sales.${name}`, file);
      byKey.set(`sales@1.${name}`, file);
    }
    return { dir, byQueryName, byKey };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

type Variant = 'raw' | 'equivalent' | 'governed' | 'noBarrier';

interface Measured {
  name: string;
  raw: number[];
  equivalent: number[];
  governed: number[];
  governOnly: number[];
  noBarrier: number[];
  rowsMatch: boolean;
  visibleRows: number;
}

const canonicalRows = (result: QueryResult) => result.rows.map((row) => JSON.stringify(row)).sort();

async function governedVsRaw(governor: Governor, policy: Policy, catalog: Catalog, snapshot: Snapshot) {
  console.log(
    `\n== 2. governed vs raw, ${ROWS.toLocaleString('en')} rows, ${ANALYTIC_QUERIES.length} queries ==`,
  );
  const executor = new QueryExecutor({ maxConcurrent: 1, defaults: { memoryLimit: '4GiB' } });
  const ctx = { principal: PRINCIPAL, policy, catalog };
  const results: Measured[] = [];
  try {
    // Compile every governed subquery once, as a running Catchment would have.
    for (const query of ANALYTIC_QUERIES) await governor.governQuery(query.sql, ctx);
    for (const query of ANALYTIC_QUERIES) {
      const measured: Measured = {
        name: query.name,
        raw: [],
        equivalent: [],
        governed: [],
        governOnly: [],
        noBarrier: [],
        rowsMatch: false,
        visibleRows: 0,
      };
      let lastGoverned: QueryResult | undefined;
      let lastEquivalent: QueryResult | undefined;
      const run = async (variant: Variant): Promise<number> => {
        switch (variant) {
          case 'raw':
            return (await time(() => executor.execute(query.sql, { tables: snapshot.byQueryName }))).ms;
          case 'equivalent': {
            const t = await time(() => executor.execute(query.equivalent, { tables: snapshot.byQueryName }));
            lastEquivalent = t.value;
            return t.ms;
          }
          case 'governed': {
            const start = performance.now();
            const governed = await governor.governQuery(query.sql, ctx);
            measured.governOnly.push(performance.now() - start);
            const tables = new Map(governed.tables.map((t) => [t.relation, snapshot.byKey.get(t.key)!]));
            lastGoverned = await executor.execute(governed.sql, { tables });
            return performance.now() - start;
          }
          case 'noBarrier': {
            const governed = await governor.governQuery(query.sql, ctx);
            const tables = new Map(governed.tables.map((t) => [t.relation, snapshot.byKey.get(t.key)!]));
            return (await time(() => executor.execute(governed.sql.replace(BARRIER, ''), { tables }))).ms;
          }
        }
      };
      const orders: Variant[][] = [
        ['equivalent', 'governed', 'raw', 'noBarrier'],
        ['governed', 'equivalent', 'noBarrier', 'raw'],
      ];
      // Warm-up (first query only): file cache, sandbox pool, JIT.
      if (results.length === 0) for (const variant of orders[0]!) await run(variant);
      for (let rep = 0; rep < REPETITIONS; rep++) {
        for (const variant of orders[rep % 2]!) {
          const elapsed = await run(variant);
          if (variant !== 'governed') measured[variant].push(elapsed);
          else measured.governed.push(elapsed);
        }
      }
      const governedRows = canonicalRows(lastGoverned!);
      const equivalentRows = canonicalRows(lastEquivalent!);
      measured.rowsMatch = JSON.stringify(governedRows) === JSON.stringify(equivalentRows);
      measured.visibleRows = governedRows.length;
      results.push(measured);
    }
  } finally {
    await executor.close();
  }

  const header = [
    pad('query', 24),
    pad('raw', 8),
    pad('equiv', 8),
    pad('governed', 9),
    pad('(govern)', 9),
    pad('no-barr', 8),
    pad('ratio', 7),
    pad('added', 8),
    pad('rows ok', 8),
  ].join(' ');
  console.log(`${header}\n${'-'.repeat(header.length)}`);
  const ratios: number[] = [];
  const added: number[] = [];
  for (const m of results) {
    const equivalent = median(m.equivalent);
    const governed = median(m.governed);
    ratios.push(governed / equivalent);
    added.push(governed - equivalent);
    console.log(
      [
        pad(m.name, 24),
        pad(ms(median(m.raw), 1), 8),
        pad(ms(equivalent, 1), 8),
        pad(ms(governed, 1), 9),
        pad(ms(median(m.governOnly), 2), 9),
        pad(ms(median(m.noBarrier), 1), 8),
        pad(`${ratios.at(-1)!.toFixed(2)}x`, 7),
        pad(ms(added.at(-1)!, 1), 8),
        pad(m.rowsMatch ? 'yes' : 'NO', 8),
      ].join(' '),
    );
  }
  console.log(
    '(ms, medians of 5; raw = unfiltered text, context only; equiv = hand-written filtered+masked query, the baseline;',
  );
  console.log(
    ' governed = governQuery + execute; (govern) = its governQuery part; no-barrier = rewritten SQL minus its LIMIT barrier, diagnostic)',
  );
  const medianRatio = median(ratios);
  const medianAdded = median(added);
  const ratioOk = medianRatio <= TARGET_RATIO;
  const addedOk = medianAdded < TARGET_ADDED_MS;
  console.log(
    `median ratio governed/equivalent: ${medianRatio.toFixed(3)}x (target ≤ ${TARGET_RATIO}x: ${ratioOk ? 'met' : 'MISSED'})`,
  );
  console.log(
    `median added: ${ms(medianAdded)} ms (target < ${TARGET_ADDED_MS} ms: ${addedOk ? 'met' : 'MISSED'})`,
  );
  const mismatches = results.filter((m) => !m.rowsMatch).map((m) => m.name);
  if (mismatches.length > 0) {
    console.log(`WARNING: governed and hand-written results differ for: ${mismatches.join(', ')}`);
  }
}

/**
 * Where the execution overhead comes from, on a plain (unsandboxed) DuckDB with the executor's
 * views: the rewritten SQL with and without its LIMIT barrier, with DuckDB's default
 * preserve_insertion_order = true (a LIMIT must then keep scan order, so the scan below it runs
 * on one thread) and with it off (the limit streams in parallel). Lost filter pushdown (no zone-map
 * pruning, no late materialisation) is what remains at preserve_insertion_order = false.
 */
async function diagnoseBarrier(governor: Governor, policy: Policy, catalog: Catalog, snapshot: Snapshot) {
  console.log('\n== 3. barrier diagnosis (plain DuckDB, threads = 2, median of 3) ==');
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const connection = await instance.connect();
  try {
    // The rewritten SQL reads each table as `raw.tN` (its raw relation, named per query).
    await connection.run('CREATE SCHEMA raw');
    const picked = ANALYTIC_QUERIES.filter((q) => DIAGNOSED.has(q.name));
    console.log(
      `${pad('query', 24)} ${pad('barrier', 9)} ${pad('no-barr', 9)} ${pad('barrier', 9)} ${pad('no-barr', 9)}`,
    );
    console.log(
      `${pad('preserve_insertion_order', 24)} ${pad('true', 9)} ${pad('true', 9)} ${pad('false', 9)} ${pad('false', 9)}`,
    );
    for (const query of picked) {
      const governed = await governor.governQuery(query.sql, {
        principal: PRINCIPAL,
        policy,
        catalog,
        rawSchema: 'raw',
      });
      for (const t of governed.tables) {
        const file = snapshot.byKey.get(t.key)!;
        await connection.run(`CREATE OR REPLACE VIEW ${t.relation} AS SELECT * FROM read_parquet('${file}')`);
      }
      const cells: string[] = [];
      for (const preserve of [true, false]) {
        await connection.run(`SET preserve_insertion_order = ${preserve}`);
        for (const sql of [governed.sql, governed.sql.replace(BARRIER, '')]) {
          const times: number[] = [];
          await connection.runAndReadAll(sql);
          for (let i = 0; i < 3; i++) times.push((await time(() => connection.runAndReadAll(sql))).ms);
          cells.push(pad(ms(median(times), 1), 9));
        }
      }
      console.log(`${pad(query.name, 24)} ${cells.join(' ')}`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

// ───────────── part 4: one principal's load vs another's small query ─────────────

const HEAVY = 'heavy';
const SMALL_QUERY = `SELECT manager FROM ${R} WHERE region = 'EMEA'`;
const LOAD_WARMUP = 3;
const LOAD_SAMPLES = 15;
const TARGET_LOAD_RATIO = 2;

/**
 * The heaviest query the limits let through in size: exactly up to maxSqlBytes of SQL, a full scan
 * of the 10 M-row table with a long NOT IN list (costly to parse, rewrite and run).
 */
function largestAllowedQuery(maxBytes: number): string {
  const head = `SELECT product, count(*) AS n, sum(amount) AS total FROM ${D} WHERE quantity NOT IN (`;
  const tail = ') GROUP BY product ORDER BY product';
  const items: string[] = [];
  let size = head.length + tail.length;
  for (let i = 100; ; i++) {
    const next = (items.length > 0 ? 2 : 0) + String(i).length;
    if (size + next > maxBytes) break;
    items.push(String(i));
    size += next;
  }
  return `${head}${items.join(', ')}${tail}`;
}

/** A GovernanceService over the bench snapshot, as a Catchment runs it (same executor defaults). */
async function governedService(snapshot: Snapshot, catalog: Catalog) {
  const store = CatchmentStore.open(path.join(snapshot.dir, 'catchment'));
  const document = policyDocumentSchema.parse({
    ...POLICY,
    principals: [...POLICY.principals!, { name: 'admin', kind: 'user' }, { name: HEAVY, kind: 'user' }],
    groups: POLICY.groups!.map((g) =>
      g.name === 'admins'
        ? { ...g, members: [...(g.members ?? []), 'admin'] }
        : g.name === 'analysts'
          ? { ...g, members: [...(g.members ?? []), HEAVY] }
          : g,
    ),
  });
  new GovernanceStore(store.db).saveDocument(document, 0, Date.now());
  const service = new GovernanceService(new GovernanceStore(store.db), {
    adminKey: 'bench-admin-key-0123456789',
    catalog: async () => catalog,
  });
  const executor = new QueryExecutor();
  // The bench's files are not laid out as a line's data directory: references resolve through its map.
  const refs = new Map<string, SnapshotRef>(
    [...snapshot.byKey.keys()].map((key) => {
      const table = key.slice(key.indexOf('.') + 1);
      return [key, { pond: 'sales', major: 1, table, file: `${table}/bench.parquet`, checksum: '' }];
    }),
  );
  const queries = new QueryService({
    governance: service,
    snapshots: { snapshot: async () => ({ catalog, refs, release: () => {} }) },
    router: localRouter({
      execute: (request) =>
        executor.execute(request.sql, {
          tables: new Map(
            request.tables.map((t) => [t.relation, snapshot.byKey.get(snapshotKey(t.snapshot))!]),
          ),
          principal: request.principal,
          limits: { timeoutMs: request.timeoutMs },
        }),
    }),
    limits: resolveQueryLimits(),
  });
  return {
    service: queries,
    async close() {
      await service.close();
      await executor.close();
      store.close();
    },
  };
}

async function loadFairness(snapshot: Snapshot, catalog: Catalog): Promise<void> {
  const limits = resolveQueryLimits();
  const heavySql = largestAllowedQuery(limits.maxSqlBytes);
  const clients = limits.maxQueriesPerPrincipal;
  console.log(
    `\n== 4. a small query of one principal while another sends its largest allowed queries back to back ==`,
  );
  console.log(
    `heavy: ${clients} clients (its limit of queries in progress), each sending a ${heavySql.length.toLocaleString('en')}-byte query (limit ${limits.maxSqlBytes.toLocaleString('en')}) scanning ${ROWS.toLocaleString('en')} rows, back to back`,
  );
  console.log(`small: ${SMALL_QUERY}`);
  const { service, close } = await governedService(snapshot, catalog);
  const analyst: Identity = { principal: PRINCIPAL, keyId: null };
  const heavy: Identity = { principal: HEAVY, keyId: null };
  const small = async () => (await time(() => service.query(analyst, SMALL_QUERY))).ms;
  try {
    for (let i = 0; i < LOAD_WARMUP; i++) await small();
    const unloaded: number[] = [];
    for (let i = 0; i < LOAD_SAMPLES; i++) unloaded.push(await small());

    let stop = false;
    const heavyTimes: number[] = [];
    const heavyErrors = new Map<string, number>();
    let firstDone: () => void;
    const warmedUp = new Promise<void>((resolve) => {
      firstDone = resolve;
    });
    const loops = Array.from({ length: clients }, async () => {
      while (!stop) {
        const started = performance.now();
        try {
          await service.query(heavy, heavySql);
          heavyTimes.push(performance.now() - started);
        } catch (error) {
          const code = (error as { code?: string }).code ?? (error as Error).message.slice(0, 60);
          heavyErrors.set(code, (heavyErrors.get(code) ?? 0) + 1);
        }
        firstDone();
      }
    });
    // Measure once the heavy pipeline is full: every stage holds heavy work from now on.
    await warmedUp;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const loaded: number[] = [];
    for (let i = 0; i < LOAD_SAMPLES; i++) loaded.push(await small());
    delay.disable();
    stop = true;
    await Promise.all(loops);

    const sortedUnloaded = [...unloaded].sort((a, b) => a - b);
    const sortedLoaded = [...loaded].sort((a, b) => a - b);
    const ratio = median(loaded) / median(unloaded);
    console.log(
      `small, unloaded: median ${ms(median(unloaded), 1)} ms, p90 ${ms(quantile(sortedUnloaded, 0.9), 1)} ms`,
    );
    console.log(
      `small, under load: median ${ms(median(loaded), 1)} ms, p90 ${ms(quantile(sortedLoaded, 0.9), 1)} ms, max ${ms(sortedLoaded[sortedLoaded.length - 1]!, 1)} ms`,
    );
    console.log(
      `ratio (median under load / unloaded): ${ratio.toFixed(2)}× (target < ${TARGET_LOAD_RATIO}×) ${ratio < TARGET_LOAD_RATIO ? 'OK' : 'MISSED'}`,
    );
    console.log(
      `heavy: ${heavyTimes.length} completed, median ${ms(median(heavyTimes), 0)} ms each` +
        (heavyErrors.size > 0
          ? `; refused or failed: ${[...heavyErrors].map(([c, n]) => `${c} ×${n}`).join(', ')}`
          : ''),
    );
    console.log(
      `event loop delay while loaded (what /health waits for): p99 ${ms(delay.percentile(99) / 1e6, 1)} ms, max ${ms(delay.max / 1e6, 1)} ms`,
    );
  } finally {
    await close();
  }
}

async function main(): Promise<void> {
  console.log(`governance bench: node ${process.version}, ${availableParallelism()} cores, load ${load()}`);
  const policy = Policy.parse(POLICY);
  const catalog = Catalog.parse(CATALOG);
  const governor = await Governor.create();
  const dir = await mkdtemp(path.join(tmpdir(), 'duckstring-governance-bench-'));
  try {
    await governor.validatePolicy(policy, catalog);
    if (!ONLY_LOAD) await policyOverhead(governor, policy, catalog);

    const generated = await time(() => writeSnapshot(dir));
    console.log(
      `\nsnapshot: ${ROWS.toLocaleString('en')} rows of sales.daily + 3 small tables → Parquet zstd in ${ms(generated.ms / 1000, 1)} s (not measured)`,
    );
    console.log(`load average: ${load()}`);
    if (!ONLY_LOAD) {
      await governedVsRaw(governor, policy, catalog, generated.value);
      await diagnoseBarrier(governor, policy, catalog, generated.value);
    }
    console.log(`load average: ${load()}`);
    await loadFairness(generated.value, catalog);
  } finally {
    governor.close();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nload average at end: ${load()}`);
}

await main();
