/**
 * Every corpus query runs twice through the real QueryExecutor over real Parquet snapshots:
 * (a) governed: rewritten for bob, reading the raw snapshots;
 * (b) reference: the user's own text over bob's physically filtered and masked copies.
 * They must agree; and no governed output or error may contain a value bob cannot see.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryExecutor, type QueryResult } from '../../src/compute/query.js';
import { GovernanceError } from '../../src/governance/errors.js';
import { type GovernedQuery, Governor } from '../../src/governance/rewrite.js';
import { sanitizeExecutionError } from '../../src/governance/sanitize.js';
import { tempDir } from '../compute/helpers.js';
import { CORPUS, type CorpusQuery } from './corpus.js';
import { NAMES_CORPUS } from './corpus-names.js';
import { FORBIDDEN_FOR_BOB, type Snapshots, writeSnapshots } from './fixtures.js';
import { type Outcome, openReference, type ReferenceDatabase } from './reference.js';

let tmp: ReturnType<typeof tempDir>;
let snapshots: Snapshots;
let governor: Governor;
let executor: QueryExecutor;
/** Principal → reference database over what that principal must see. */
const references = new Map<string, ReferenceDatabase>();

beforeAll(async () => {
  tmp = tempDir('governance');
  snapshots = await writeSnapshots(tmp.dir);
  governor = await Governor.create();
  executor = new QueryExecutor({ maxConcurrent: 2 });
  await governor.validatePolicy(snapshots.policy, snapshots.catalog);
  references.set('bob', await openReference(snapshots.bobReference));
  references.set('carol', await openReference(snapshots.carolReference));
  references.set('root', await openReference(snapshots.rawByQueryName));
});

afterAll(async () => {
  await executor?.close();
  governor?.close();
  for (const reference of references.values()) reference.close();
  tmp?.cleanup();
});

async function run(sql: string, tables: ReadonlyMap<string, string>): Promise<Outcome> {
  try {
    return { ok: true, result: await executor.execute(sql, { tables }) };
  } catch (error) {
    const detail = (error as { detail?: string }).detail;
    return { ok: false, message: `${(error as Error).message}${detail ? `\n${detail}` : ''}` };
  }
}

function govern(sql: string, principal: string): Promise<GovernedQuery> {
  return governor.governQuery(sql, { principal, policy: snapshots.policy, catalog: snapshots.catalog });
}

/** The raw snapshot files a governed query reads, under the names the rewritten SQL uses. */
function rawTables(governed: GovernedQuery): Map<string, string> {
  return new Map(governed.tables.map((t) => [t.relation, snapshots.raw.get(t.key)!]));
}

function canonicalRows(result: QueryResult, ordered: boolean): string[] {
  const rows = result.rows.map((r) => JSON.stringify(r));
  return ordered ? rows : rows.sort();
}

function assertNothingForbidden(text: string, sql: string): void {
  for (const token of FORBIDDEN_FOR_BOB) {
    expect(
      text.includes(token),
      `governed output of\n  ${sql}\ncontains "${token}":\n${text.slice(0, 400)}`,
    ).toBe(false);
  }
}

/** Runs the corpus entry governed (executor, raw files) and as reference (`sees`: whose copy). */
async function compare(entry: CorpusQuery, principal: string, sees = principal): Promise<void> {
  if (entry.refused) {
    const error = await govern(entry.sql, principal).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error, `not refused: ${entry.sql}`).toBeInstanceOf(GovernanceError);
    expect((error as GovernanceError).message, entry.sql).toMatch(entry.refused);
    assertNothingForbidden((error as GovernanceError).message, entry.sql);
    return;
  }
  const governed = await govern(entry.sql, principal);
  const [got, want] = await Promise.all([
    run(governed.sql, rawTables(governed)),
    references.get(sees)!.run(entry.sql),
  ]);
  if (entry.sideChannel) {
    const text = got.ok ? JSON.stringify(got.result.rows) : got.message;
    if (principal === 'bob') assertNothingForbidden(text, entry.sql);
    if (!(got.ok && want.ok)) return;
  }
  if (!want.ok) {
    expect(
      got.ok,
      `reference failed (${want.message.split('\n')[0]}) but governed succeeded for\n  ${entry.sql}`,
    ).toBe(false);
    return;
  }
  expect(
    got.ok,
    `governed failed for\n  ${entry.sql}\n  ${got.ok ? '' : got.message}\n  rewritten: ${governed.sql}`,
  ).toBe(true);
  if (!got.ok) return;
  expect(got.result.columns, entry.sql).toEqual(want.result.columns);
  expect(canonicalRows(got.result, entry.ordered === true), entry.sql).toEqual(
    canonicalRows(want.result, entry.ordered === true),
  );
  if (principal === 'bob') assertNothingForbidden(JSON.stringify(got.result.rows), entry.sql);
}

describe('bypass corpus: governed = physically filtered and masked', () => {
  it('has at least 150 queries, all distinct', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(150);
    expect(new Set(CORPUS.map((q) => q.sql)).size).toBe(CORPUS.length);
  });

  it('returns exactly the reference rows for every corpus query (bob)', async () => {
    const failures: string[] = [];
    // A few at a time: the executor runs two at once (one per core) and queues the rest.
    for (let i = 0; i < CORPUS.length; i += 4) {
      await Promise.all(
        CORPUS.slice(i, i + 4).map((entry) =>
          compare(entry, 'bob').catch((error: unknown) => {
            failures.push(
              `${entry.sql}\n    ${(error as Error).message.split('\n').slice(0, 6).join('\n    ')}`,
            );
          }),
        ),
      );
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('resolves names exactly as DuckDB does: CTEs, scoping, lateral joins, three-part columns', async () => {
    const failures: string[] = [];
    for (const entry of NAMES_CORPUS) {
      await compare(entry, 'bob').catch((error: unknown) => {
        failures.push(`${entry.sql}\n    ${(error as Error).message.split('\n').slice(0, 6).join('\n    ')}`);
      });
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('reference data really differs from raw data (the corpus can catch leaks)', async () => {
    const raw = await references
      .get('root')!
      .run(`SELECT count(*), count(DISTINCT customer_email) FROM sales.daily`);
    const ref = await references
      .get('bob')!
      .run(`SELECT count(*), count(DISTINCT customer_email) FROM sales.daily`);
    expect(raw.ok && ref.ok).toBe(true);
    if (raw.ok && ref.ok) {
      expect(raw.result.rows).toEqual([[48, 14]]);
      expect(ref.result.rows).toEqual([[16, 2]]);
    }
  });

  it('an admin exempt through is_member(admins) sees every row and raw value', async () => {
    const queries = [
      `SELECT * FROM sales.daily`,
      `SELECT customer_email, count(*) FROM sales.daily GROUP BY ALL`,
      `SELECT c.name, d.memo FROM sales.customers c JOIN sales.daily d USING (customer_email)`,
      `SELECT * FROM "sales@2".daily UNION ALL SELECT * FROM sales.daily`,
      `SELECT * FROM hr.salaries`,
    ];
    for (const sql of queries) await compare({ sql }, 'root');
    const governed = await govern(`SELECT count(*) FROM sales.daily WHERE memo LIKE 'HIDDEN%'`, 'root');
    const got = await run(governed.sql, rawTables(governed));
    expect(got.ok && got.result.rows).toEqual([[32]]);
  });

  it('a row filter on current_principal() shows carol her own salary only', async () => {
    for (const sql of [
      `SELECT * FROM hr.salaries`,
      `SELECT sum(salary), count(*) FROM hr.salaries WHERE true OR employee <> 'carol'`,
      `SELECT (SELECT max(salary) FROM hr.salaries), current_date IS NOT NULL`,
    ]) {
      await compare({ sql }, 'carol');
    }
    const governed = await govern(
      `SELECT current_principal() AS me, is_member('analysts') AS a, is_member('admins') AS b`,
      'carol',
    );
    const got = await run(governed.sql, new Map());
    expect(got.ok && got.result.rows).toEqual([['carol', true, false]]);
  });

  it('a Tap principal is governed like anyone (nested group grant, same filter and masks)', async () => {
    for (const sql of [
      `SELECT * FROM sales.daily`,
      `SELECT lower(customer_email), amount FROM sales.daily`,
    ]) {
      await compare({ sql }, 'dashboard', 'bob');
    }
  });

  it('errors raised on rows are sanitized for the caller and kept whole for the audit log', async () => {
    const governed = await govern(`SELECT CAST(memo AS INTEGER) FROM sales.daily`, 'bob');
    const error = await executor.execute(governed.sql, { tables: rawTables(governed) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const sanitized = sanitizeExecutionError(error);
    expect(sanitized.publicMessage).toMatch(/^the query failed while executing \(error id [0-9a-f-]{36}\)$/);
    expect(sanitized.publicMessage).toContain(sanitized.errorId);
    expect(sanitized.detail).toMatch(/Conversion Error/);
    assertNothingForbidden(sanitized.detail, 'CAST(memo AS INTEGER)');
    expect(sanitized.detail).toMatch(/visible-/);
  });
});

describe('what the rewrite reports', () => {
  it('lists every table read once, under the name the executor must be given', async () => {
    const governed = await govern(
      `SELECT d.id, (SELECT count(*) FROM "sales@2".daily) FROM sales.daily d JOIN sales.customers c USING (customer_email) WHERE d.id IN (SELECT id FROM sales.daily)`,
      'bob',
    );
    expect(governed.tables.map((t) => t.key)).toEqual([
      'sales@1.customers',
      'sales@1.daily',
      'sales@2.daily',
    ]);
    expect(governed.tables[1]).toEqual({
      key: 'sales@1.daily',
      relation: expect.stringMatching(/^raw_[0-9a-f]{32}\.t\d$/),
      pond: 'sales',
      major: 1,
      table: 'daily',
    });
    // One unguessable schema per query, one view per table; a second query gets another schema.
    const schemas = new Set(governed.tables.map((t) => t.relation.split('.')[0]));
    expect(schemas.size).toBe(1);
    expect(new Set(governed.tables.map((t) => t.relation)).size).toBe(3);
    const again = await govern(`SELECT 1 FROM sales.daily`, 'bob');
    expect(schemas.has(again.tables[0]!.relation.split('.')[0]!)).toBe(false);
    expect(governed.columns).toContain('sales@1.daily.id');
    expect(governed.columns).toContain('sales@1.daily.customer_email');
    expect(governed.columns).toContain('sales@1.customers.customer_email');
    expect(governed.columns).not.toContain('sales@1.daily.memo');
    expect(governed.columns).not.toContain('sales@1.customers.tier');
    // The rewritten text never names a table outside a governed subquery.
    expect(governed.sql).not.toMatch(/\bsales\.daily\b/i);
  });

  it('names unaliased columns holding rewritten parts as DuckDB names them', async () => {
    const governed = await govern(
      `SELECT current_principal(), is_member('eu_team'), (SELECT max(x.day::DATE) FROM sales.daily x)`,
      'bob',
    );
    const result = await executor.execute(governed.sql, { tables: rawTables(governed) });
    expect(result.columns.map((c) => c.name)).toEqual([
      'current_principal()',
      "is_member('eu_team')",
      '(SELECT max(CAST(x."day" AS "DATE")) FROM sales.daily AS x)',
    ]);
    expect(result.rows).toEqual([['bob', true, '2024-01-10']]);
  });

  it('reports every column for * and whole-row references', async () => {
    const governed = await govern(`SELECT d FROM sales.daily d`, 'bob');
    expect(governed.columns).toHaveLength(7);
  });

  it('keeps a masked column’s name and position under SELECT *', async () => {
    const governed = await govern(`SELECT * FROM sales.daily`, 'bob');
    const result = await executor.execute(governed.sql, { tables: rawTables(governed) });
    expect(result.columns.map((c) => c.name)).toEqual([
      'id',
      'region',
      'customer_email',
      'amount',
      'day',
      'qty',
      'memo',
    ]);
    expect(result.columns[3]).toEqual({ name: 'amount', type: 'DECIMAL(12,2)' });
    expect(new Set(result.rows.map((r) => r[2]))).toEqual(new Set(['***@corp.example', '***@mail.example']));
  });
});

interface Denied {
  sql: string;
  code: GovernanceError['code'];
  message?: RegExp;
  principal?: string;
}

const DENIED: Denied[] = [
  // not a single SELECT
  { sql: `COPY (SELECT 1) TO '__CANARY__'`, code: 'not_allowed' },
  { sql: `COPY (SELECT * FROM sales.daily) TO '__CANARY__' (FORMAT csv)`, code: 'not_allowed' },
  { sql: `EXPORT DATABASE '__CANARY_DIR__'`, code: 'not_allowed' },
  { sql: `ATTACH '__CANARY__' AS x`, code: 'not_allowed' },
  { sql: `DETACH x`, code: 'not_allowed' },
  { sql: `PRAGMA database_list`, code: 'not_allowed' },
  { sql: `SET threads = 1`, code: 'not_allowed' },
  { sql: `RESET threads`, code: 'not_allowed' },
  { sql: `INSTALL httpfs`, code: 'not_allowed' },
  { sql: `LOAD httpfs`, code: 'not_allowed' },
  { sql: `CALL duckdb_settings()`, code: 'not_allowed' },
  { sql: `CREATE TABLE t AS SELECT * FROM sales.daily`, code: 'not_allowed' },
  { sql: `CREATE VIEW v AS SELECT 1`, code: 'not_allowed' },
  { sql: `INSERT INTO x VALUES (1)`, code: 'not_allowed' },
  { sql: `DELETE FROM sales.daily`, code: 'not_allowed' },
  { sql: `UPDATE sales.daily SET memo = 'x'`, code: 'not_allowed' },
  { sql: `DROP TABLE sales.daily`, code: 'not_allowed' },
  { sql: `EXPLAIN SELECT * FROM sales.daily`, code: 'not_allowed' },
  { sql: `USE sales`, code: 'not_allowed' },
  { sql: `CHECKPOINT`, code: 'not_allowed' },
  { sql: `BEGIN TRANSACTION`, code: 'not_allowed' },
  { sql: `PIVOT sales.daily ON region USING count(*)`, code: 'not_allowed' },
  { sql: `DESCRIBE sales.daily`, code: 'not_allowed' },
  { sql: `SUMMARIZE sales.daily`, code: 'not_allowed' },
  { sql: `SHOW TABLES`, code: 'not_allowed' },
  { sql: `SELECT 1; SELECT 2`, code: 'invalid_sql' },
  { sql: `SELECT 1; DROP TABLE x`, code: 'not_allowed' },
  { sql: `SELEC 1`, code: 'invalid_sql' },
  { sql: ``, code: 'invalid_sql' },
  { sql: `-- only a comment`, code: 'invalid_sql' },
  { sql: `SELECT $1`, code: 'invalid_sql' },
  // table functions and files
  { sql: `SELECT * FROM read_parquet('__RAW__')`, code: 'not_allowed' },
  { sql: `SELECT * FROM parquet_scan('__RAW__')`, code: 'not_allowed' },
  { sql: `SELECT * FROM read_csv('/etc/passwd')`, code: 'not_allowed' },
  { sql: `SELECT * FROM read_text('/etc/hostname')`, code: 'not_allowed' },
  { sql: `SELECT * FROM glob('/*')`, code: 'not_allowed' },
  { sql: `SELECT * FROM query('SELECT * FROM sales.daily')`, code: 'not_allowed' },
  { sql: `SELECT * FROM query_table('sales.daily')`, code: 'not_allowed' },
  { sql: `SELECT * FROM sniff_csv('/etc/hostname')`, code: 'not_allowed' },
  { sql: `SELECT * FROM parquet_metadata('__RAW__')`, code: 'not_allowed' },
  { sql: `SELECT * FROM json_execute_serialized_sql('{}')`, code: 'not_allowed' },
  { sql: `SELECT * FROM '__RAW__'`, code: 'not_allowed' },
  { sql: `SELECT * FROM 'sales.daily'`, code: 'not_allowed' },
  { sql: `SELECT * FROM "/tmp/x.parquet"`, code: 'not_allowed' },
  { sql: `SELECT (SELECT count(*) FROM read_parquet('__RAW__'))`, code: 'not_allowed' },
  {
    sql: `SELECT * FROM sales.daily WHERE id IN (SELECT 1 FROM read_csv('/etc/passwd'))`,
    code: 'not_allowed',
  },
  { sql: `WITH x AS (SELECT * FROM read_parquet('__RAW__')) SELECT 1`, code: 'not_allowed' },
  { sql: `SELECT * FROM sales.daily d, LATERAL (SELECT * FROM query('SELECT 1'))`, code: 'not_allowed' },
  // metadata, settings and system objects
  { sql: `SELECT * FROM information_schema.tables`, code: 'not_allowed' },
  { sql: `SELECT * FROM information_schema.columns WHERE table_name = 'daily'`, code: 'not_allowed' },
  { sql: `SELECT * FROM system.information_schema.tables`, code: 'not_allowed' },
  { sql: `SELECT * FROM pg_catalog.pg_class`, code: 'not_allowed' },
  { sql: `SELECT * FROM duckdb_tables()`, code: 'not_allowed' },
  { sql: `SELECT * FROM duckdb_views()`, code: 'not_allowed' },
  { sql: `SELECT * FROM duckdb_tables`, code: 'not_allowed' },
  { sql: `SELECT * FROM sqlite_master`, code: 'not_allowed' },
  { sql: `SELECT * FROM pragma_table_info('sales@1.daily')`, code: 'not_allowed' },
  { sql: `SELECT * FROM main.daily`, code: 'not_allowed' },
  { sql: `SELECT * FROM memory.main.x`, code: 'not_allowed' },
  { sql: `SELECT * FROM temp.main.x`, code: 'not_allowed' },
  { sql: `SELECT current_setting('allowed_paths')`, code: 'not_allowed' },
  { sql: `SELECT getvariable('x')`, code: 'not_allowed' },
  { sql: `SELECT id FROM sales.daily WHERE current_setting('threads') IS NOT NULL`, code: 'not_allowed' },
  { sql: `SELECT other.lower('x')`, code: 'not_allowed' },
  { sql: `SELECT system.main.query('x')`, code: 'not_allowed' },
  { sql: `SELECT pg_get_viewdef('x')`, code: 'not_allowed' },
  { sql: `SELECT has_table_privilege('x', 'select')`, code: 'not_allowed' },
  { sql: `SELECT * FROM sales.daily AT (VERSION => 1)`, code: 'not_allowed' },
  // privileges and unknown names
  {
    sql: `SELECT * FROM hr.salaries`,
    code: 'unknown_table',
    message: /^table hr\.salaries does not exist or you may not read it$/,
  },
  { sql: `SELECT (SELECT max(salary) FROM hr.salaries)`, code: 'unknown_table' },
  {
    sql: `SELECT * FROM sales.daily WHERE id IN (SELECT salary FROM hr.salaries)`,
    code: 'unknown_table',
  },
  { sql: `SELECT 1 ORDER BY (SELECT count(*) FROM hr.salaries)`, code: 'unknown_table' },
  {
    sql: `SELECT * FROM sales.daily JOIN sales.customers ON (SELECT 1 FROM hr.salaries LIMIT 1) = 1`,
    code: 'unknown_table',
  },
  { sql: `WITH x AS (SELECT * FROM hr.salaries) SELECT 1`, code: 'unknown_table' },
  { sql: `SELECT * FROM "hr@1".salaries`, code: 'unknown_table' },
  {
    sql: `SELECT * FROM hr.nope`,
    code: 'unknown_table',
    message: /^table hr\.nope does not exist or you may not read it$/,
  },
  { sql: `SELECT * FROM nope.daily`, code: 'unknown_table' },
  { sql: `SELECT * FROM sales.nope`, code: 'unknown_table', message: /^table sales\.nope does not exist or/ },
  { sql: `SELECT * FROM "sales@9".daily`, code: 'unknown_table' },
  { sql: `SELECT * FROM daily`, code: 'unknown_table', message: /pond\.table/ },
  { sql: `SELECT * FROM sales.daily`, code: 'unknown_table', principal: 'nobody' },
  { sql: `SELECT 1`, code: 'permission_denied', principal: 'mallory' },
  // policy functions
  { sql: `SELECT is_member(current_principal())`, code: 'not_allowed' },
  { sql: `SELECT is_member('a', 'b')`, code: 'not_allowed' },
  { sql: `SELECT * FROM sales.daily WHERE is_member(region)`, code: 'not_allowed' },
  { sql: `SELECT current_principal('x')`, code: 'invalid_sql' },
];

describe('denied forms', () => {
  it('covers at least 80 denied queries', () => {
    expect(DENIED.length).toBeGreaterThanOrEqual(80);
  });

  it('refuses each with the right code before anything executes', async () => {
    const canary = path.join(tmp.dir, 'canary.csv');
    const canaryDir = path.join(tmp.dir, 'canary-dir');
    const problems: string[] = [];
    for (const entry of DENIED) {
      const sql = entry.sql
        .replaceAll('__CANARY__', canary)
        .replaceAll('__CANARY_DIR__', canaryDir)
        .replaceAll('__RAW__', snapshots.raw.get('sales@1.daily')!);
      const error = await govern(sql, entry.principal ?? 'bob').then(
        (g) => g,
        (e: unknown) => e,
      );
      if (!(error instanceof GovernanceError)) {
        problems.push(
          `${sql}: not refused (${error instanceof Error ? error.message : JSON.stringify(error)})`,
        );
        continue;
      }
      if (error.code !== entry.code)
        problems.push(`${sql}: ${error.code} (${error.message}), expected ${entry.code}`);
      if (entry.message && !entry.message.test(error.message))
        problems.push(`${sql}: message "${error.message}"`);
      expect(error.status).toBe({ invalid_sql: 400, unknown_table: 404 }[error.code as string] ?? 403);
      // Refusals name only what the caller wrote: never a snapshot path or a hidden value.
      expect(error.message).not.toContain(`${tmp.dir.replace(/\/$/, '')}/raw`);
      assertNothingForbidden(error.message, sql);
    }
    expect(problems, problems.join('\n')).toEqual([]);
    expect(existsSync(canary)).toBe(false);
    expect(existsSync(canaryDir)).toBe(false);
  });

  it('answers an unknown table exactly like a forbidden one, whichever part of the name is wrong', async () => {
    const answer = async (sql: string, principal = 'bob') => {
      const error = await govern(sql, principal).then(
        () => null,
        (e: unknown) => e as GovernanceError,
      );
      return error && { code: error.code, status: error.status, message: error.message };
    };
    const same = (written: string) => ({
      code: 'unknown_table',
      status: 404,
      message: `table ${written} does not exist or you may not read it`,
    });
    // bob reads sales (every major) but nothing of hr.
    for (const written of [
      'hr.salaries', // exists, forbidden
      'hr.salaries_2', // unknown table in a forbidden pond
      '"hr@1".salaries', // exists, forbidden, by major
      '"hr@7".salaries', // unknown major of a forbidden pond
      'nopond.salaries', // unknown pond
      'sales.nope', // unknown table of a readable pond
      '"sales@7".daily', // unknown major of a readable pond
      '"sales@0".daily', // major 0 that does not exist
    ]) {
      expect(await answer(`SELECT * FROM ${written}`), written).toEqual(same(written.replaceAll('"', '')));
    }
    // carol may read hr.salaries only (a table grant): its sibling answers like an unknown table.
    expect(await answer('SELECT * FROM hr.nothing', 'carol')).toEqual(same('hr.nothing'));
    expect(await answer('SELECT * FROM hr.salaries', 'carol')).toBeNull();
    // A CTE may take any name, hidden ones included: refusing it would tell that the name exists.
    for (const name of ['salaries', 'hr', 'daily', 'sales', 'duckdb_tables']) {
      expect(await answer(`WITH ${name} AS (SELECT 1 AS x) SELECT * FROM ${name}`), name).toBeNull();
    }
  });

  it('refuses a policy whose filter no longer fits the catalog instead of running unfiltered', async () => {
    const { Policy } = await import('../../src/governance/policy.js');
    const broken = Policy.parse({
      principals: [{ name: 'bob', kind: 'user' }],
      grants: [{ to: 'bob', privilege: 'SELECT', on: '*' }],
      rowFilters: [{ table: 'sales.daily', filter: "no_such_column = 'x'" }],
    });
    const error = await governor
      .governQuery(`SELECT * FROM sales.daily`, {
        principal: 'bob',
        policy: broken,
        catalog: snapshots.catalog,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GovernanceError);
    expect((error as GovernanceError).code).toBe('not_allowed');
    // Tables without a policy are unaffected.
    const fine = await governor.governQuery(`SELECT * FROM sales.customers`, {
      principal: 'bob',
      policy: broken,
      catalog: snapshots.catalog,
    });
    expect(fine.tables.map((t) => t.key)).toEqual(['sales@1.customers']);
  });
});
