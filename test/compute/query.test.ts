import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportParquet } from '../../src/compute/parquet.js';
import { QueryError, QueryExecutor, type QueryRequest } from '../../src/compute/query.js';
import {
  collectGarbage,
  type Manifest,
  publish,
  queryTablesFromManifest,
  stagingPath,
} from '../../src/compute/snapshots.js';
import { openDuck, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let executor: QueryExecutor;
let m1Dir: string;
let m2Dir: string;
let m1: Manifest;
let m2: Manifest;
/** The selected major of "sales" is 1; major 2 runs side by side. */
let tables: Map<string, string>;

async function publishTables(
  dataDir: string,
  f: number,
  selects: Record<string, string>,
  duck: Awaited<ReturnType<typeof openDuck>>,
): Promise<Manifest> {
  const staged = [];
  for (const [name, sql] of Object.entries(selects)) {
    const stagedPath = await stagingPath(dataDir, name);
    await exportParquet(duck.connection, sql, stagedPath);
    staged.push({ name, stagedPath });
  }
  return publish(dataDir, { f, tables: staged }, { connection: duck.connection });
}

beforeAll(async () => {
  tmp = tempDir('query');
  m1Dir = path.join(tmp.dir, 'ponds', 'sales', 'm1', 'data');
  m2Dir = path.join(tmp.dir, 'ponds', 'sales', 'm2', 'data');
  const duck = await openDuck();
  try {
    m1 = await publishTables(
      m1Dir,
      1000,
      {
        orders: `SELECT range AS id, range % 10 AS customer_id, (range * 1.5)::DECIMAL(12,2) AS amount,
          TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(range) AS placed_at FROM range(1000)`,
        customers: `SELECT range AS id, 'customer ' || range AS name FROM range(10)`,
        typed: `SELECT 9007199254740993::BIGINT AS big, 99999999999999999999999999999999999999::HUGEINT AS huge,
          [1, NULL]::INTEGER[] AS l, {'a': NULL, 'b': [NULL::VARCHAR, 'x']} AS s, MAP {'k': NULL::INTEGER} AS m,
          TIMESTAMPTZ '2024-05-06 07:08:09.123456+00' AS tz, DATE '2024-05-06' AS d, NULL::DOUBLE AS nothing,
          'NaN'::DOUBLE AS nan, '\\x01\\x02'::BLOB AS bytes, INTERVAL '36 hours' AS iv`,
      },
      duck,
    );
    m2 = await publishTables(m2Dir, 2000, { orders: 'SELECT range AS id, 2 AS major FROM range(5)' }, duck);
  } finally {
    duck.close();
  }
  tables = new Map([
    ...queryTablesFromManifest(m1Dir, m1, ['sales', 'sales@1']),
    ...queryTablesFromManifest(m2Dir, m2, ['sales@2']),
  ]);
  executor = new QueryExecutor({ maxConcurrent: 2 });
});

afterAll(async () => {
  await executor.close();
  tmp.cleanup();
});

async function failure(sql: string, request: QueryRequest = { tables }): Promise<QueryError> {
  const error = await executor.execute(sql, request).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected "${sql}" to fail`).toBeInstanceOf(QueryError);
  return error as QueryError;
}

describe('QueryExecutor: reading published snapshots', () => {
  it('answers with columns, rows and row_count', async () => {
    const result = await executor.execute(
      'SELECT count(*) AS n, sum(id) AS total, max(amount) AS top, max(placed_at) AS latest FROM sales.orders',
      { tables },
    );
    expect(result).toEqual({
      columns: [
        { name: 'n', type: 'BIGINT' },
        { name: 'total', type: 'HUGEINT' },
        { name: 'top', type: 'DECIMAL(12,2)' },
        { name: 'latest', type: 'TIMESTAMP' },
      ],
      rows: [[1000, 499500, '1498.50', '2024-01-01T00:00:00.000999Z']],
      row_count: 1,
      truncated: false,
    });
  });

  it('exposes the selected major as pond.table and every major as "pond@N".table', async () => {
    const sql = `SELECT (SELECT count(*) FROM sales.orders) AS selected, (SELECT count(*) FROM "sales@1".orders) AS one,
      (SELECT count(*) FROM "sales@2".orders) AS two, (SELECT max(major) FROM "sales@2".orders) AS major`;
    const result = await executor.execute(sql, { tables });
    expect(result.rows).toEqual([[1000, 1000, 5, 2]]);
  });

  it('joins tables of one Pond', async () => {
    const result = await executor.execute(
      `SELECT c.name, count(*) AS orders FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id
       GROUP BY ALL ORDER BY c.name LIMIT 2`,
      { tables },
    );
    expect(result.rows).toEqual([
      ['customer 0', 100],
      ['customer 1', 100],
    ]);
  });

  it('keeps types through Parquet and the sandbox', async () => {
    const result = await executor.execute('SELECT * FROM sales.typed', { tables });
    expect(Object.fromEntries(result.columns.map((c, i) => [c.name, result.rows[0]![i]]))).toEqual({
      big: '9007199254740993',
      // Parquet has no 128-bit integer: exportParquet stores HUGEINT as exact DECIMAL(38,0).
      huge: '99999999999999999999999999999999999999',
      l: [1, null],
      s: { a: null, b: [null, 'x'] },
      m: [{ key: 'k', value: null }],
      tz: '2024-05-06T07:08:09.123456Z',
      d: '2024-05-06',
      nothing: null,
      nan: 'NaN',
      bytes: Buffer.from([1, 2]).toString('base64'),
      iv: 'PT36H',
    });
  });

  it('truncates at maxRows and says so', async () => {
    const result = await executor.execute('SELECT id FROM sales.orders ORDER BY id', {
      tables,
      limits: { maxRows: 10 },
    });
    expect(result.row_count).toBe(10);
    expect(result.truncated).toBe(true);
    expect(result.rows.map((r) => r[0])).toEqual([...Array(10).keys()]);
  });

  it('runs queries concurrently beyond the slot count', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        executor.execute(`SELECT count(*) FROM sales.orders WHERE customer_id = ${i}`, { tables }),
      ),
    );
    expect(results.map((r) => r.rows[0]![0])).toEqual([100, 100, 100, 100, 100, 100]);
  });

  it('leases the snapshot files for exactly the duration of the query', async () => {
    // Its own Pond: this test retires and deletes files.
    const dataDir = path.join(tmp.dir, 'ponds', 'leased', 'm1', 'data');
    const duck = await openDuck();
    let before: Manifest;
    try {
      before = await publishTables(dataDir, 1, { t: 'SELECT range AS id FROM range(1000)' }, duck);
      await publishTables(dataDir, 2, { t: 'SELECT 1 AS id' }, duck);
    } finally {
      duck.close();
    }
    // A query still using the old version, whose file is retired; the grace period is zero, so
    // only the lease protects the file.
    const old = queryTablesFromManifest(dataDir, before, ['leased']);
    const file = old.get('leased.t')!;
    const running = executor.execute(
      'SELECT sum(hash(t.id + r.range)) > 0 AS ok FROM leased.t, range(20000) r',
      {
        tables: old,
      },
    );
    expect(executor.leases.has(file)).toBe(true);
    const gc = await collectGarbage(dataDir, { graceMs: 0, inUse: executor.leases });
    expect(gc.kept).toEqual([path.relative(dataDir, file)]);
    expect(existsSync(file)).toBe(true);
    expect((await running).rows).toEqual([[true]]);
    expect(executor.leases.size).toBe(0);

    const after = await collectGarbage(dataDir, { graceMs: 0, inUse: executor.leases });
    expect(after.deleted).toEqual([path.relative(dataDir, file)]);
    // A query still holding the old mapping now gets a clean error, and holds no lease.
    const gone = await failure('SELECT count(*) FROM leased.t', { tables: old });
    expect(gone.code).toBe('snapshot_unavailable');
    expect(gone.message).toBe('the published snapshot of "leased.t" is no longer available');
    expect(executor.leases.size).toBe(0);
  });
});

describe('QueryExecutor: clean failures', () => {
  it('bad SQL → invalid_sql with DuckDB’s message', async () => {
    const error = await failure('SELEC 1');
    expect(error.code).toBe('invalid_sql');
    expect(error.message).toMatch(/Parser Error: syntax error at or near "SELEC"/);

    const binder = await failure('SELECT nope FROM sales.customers');
    expect(binder.code).toBe('invalid_sql');
    expect(binder.message).toMatch(/Binder Error: Referenced column "nope" not found/);
  });

  it('errors raised while executing → execution_failed (they may quote row values)', async () => {
    const constant = await failure(`SELECT 'x'::INTEGER FROM sales.customers`);
    expect(constant.code).toBe('execution_failed');
    expect(constant.message).toMatch(/Conversion Error/);
    const runtime = await failure(`SELECT name::INTEGER FROM sales.customers`);
    expect(runtime.code).toBe('execution_failed');
    expect(runtime.message).toMatch(/Conversion Error/);
  });

  it('empty input and several statements → invalid_sql', async () => {
    expect((await failure('   ')).message).toBe('SQL is empty');
    expect((await failure('-- just a comment')).message).toBe('SQL contains no statement');
    const many = await failure('SELECT 1; SELECT 2');
    expect(many.code).toBe('invalid_sql');
    expect(many.message).toBe('expected exactly one SQL statement, got 2');
  });

  it('unknown table → unknown_table naming it', async () => {
    const missing = await failure('SELECT * FROM sales.nope');
    expect(missing.code).toBe('unknown_table');
    expect(missing.message).toMatch(/^unknown table sales\.nope/);
    const otherPond = await failure('SELECT * FROM hr.people');
    expect(otherPond.code).toBe('unknown_table');
    expect(otherPond.message).toMatch(/^unknown table hr\.people/);
    // Tables of an earlier query are not visible to the next one.
    const isolated = await failure('SELECT * FROM sales.customers', { tables: new Map() });
    expect(isolated.code).toBe('unknown_table');
  });

  it.each([
    [`SELECT * FROM read_parquet('/etc/passwd')`, /Permission Error/],
    [`SELECT * FROM read_csv('/etc/passwd')`, /Permission Error/],
    [`SELECT * FROM read_text('/etc/passwd')`, /Permission Error/],
    [`SELECT * FROM glob('/etc/*')`, /Permission Error/],
    [`COPY (SELECT 1) TO '/tmp/duckstring-should-not-exist.csv'`, /Permission Error: Cannot access file/],
    [`COPY sales.orders TO '/tmp/duckstring-should-not-exist.csv'`, /Permission Error: Cannot access file/],
    [`ATTACH '/tmp/duckstring-should-not-exist.db' AS x`, /only SELECT queries can run here \(got a ATTACH/],
    [`ATTACH ':memory:' AS x`, /only SELECT/],
    [`SET enable_external_access = true`, /only SELECT/],
    [`INSTALL httpfs`, /only SELECT/],
    [`LOAD httpfs`, /only SELECT/],
    [`CREATE TABLE t AS SELECT 1`, /only SELECT/],
    [`EXPLAIN SELECT 1`, /only SELECT/],
    [`PRAGMA memory_limit = '10GB'`, /only SELECT/],
    [`CALL pragma_version()`, /only SELECT/],
  ])('refuses %s', async (sql, message) => {
    const error = await failure(sql);
    expect(error.code).toBe('not_allowed');
    expect(error.message).toMatch(message);
    expect(existsSync('/tmp/duckstring-should-not-exist.csv')).toBe(false);
    expect(existsSync('/tmp/duckstring-should-not-exist.db')).toBe(false);
  });

  it('treats a file path used as a table as an unknown table', async () => {
    const error = await failure(`SELECT * FROM '/etc/passwd'`);
    expect(error.code).toBe('unknown_table');
    expect(error.message).toMatch(/^unknown table \/etc\/passwd/);
  });

  it('cannot read a published file it was not given', async () => {
    const otherMajor = tables.get('sales@2.orders')!;
    const onlyM1 = new Map([...tables].filter(([key]) => !key.startsWith('sales@2.')));
    const error = await failure(`SELECT * FROM read_parquet('${otherMajor}')`, { tables: onlyM1 });
    expect(error.code).toBe('not_allowed');
    expect(error.message).toMatch(/Permission Error: Cannot access file/);
  });

  it('enforces the time limit', async () => {
    const started = performance.now();
    const error = await failure('SELECT sum(hash(range)) FROM range(10000000000)', {
      tables,
      limits: { timeoutMs: 200, threads: 1 },
    });
    expect(error.code).toBe('timeout');
    expect(error.message).toBe('query exceeded its time limit of 200 ms');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('enforces the memory limit', async () => {
    const error = await failure('SELECT count(DISTINCT range::VARCHAR) FROM range(50000000)', {
      tables,
      limits: { memoryLimit: '32MiB', threads: 1 },
    });
    expect(error.code).toBe('resource_limit');
    expect(error.message).toMatch(/Out of Memory Error/);
  });

  it('rejects malformed requests without running anything', async () => {
    const file = tables.get('sales.orders')!;
    const cases: [QueryRequest, RegExp][] = [
      [{ tables: new Map([['orders', file]]) }, /"orders" is not of the form pond.table/],
      [{ tables: new Map([['a.b.c', file]]) }, /"a.b.c" is not of the form/],
      [{ tables: new Map([['main.orders', file]]) }, /"main" is reserved/],
      [{ tables: new Map([['sales.x', 'relative.parquet']]) }, /must be an absolute path to a .parquet file/],
      [
        {
          tables: new Map([
            ['sales.x', file],
            ['SALES.X', file],
          ]),
        },
        /given twice/,
      ],
      [{ tables, limits: { maxRows: 0 } }, /maxRows/],
      [{ tables, limits: { memoryLimit: 'lots' } }, /memoryLimit is a size/],
      [{ tables, limits: { threads: 1, bogus: 1 } as never }, /Unrecognized key/],
    ];
    for (const [request, message] of cases) {
      const error = await failure('SELECT 1', request);
      expect(error.code).toBe('invalid_request');
      expect(error.message).toMatch(message);
    }
    expect(executor.leases.size).toBe(0);
  });
});
