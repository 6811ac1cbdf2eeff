import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRipple, exportTables, RippleError } from '../../src/duck/executor.js';
import { type LoadedPond, loadPond } from '../../src/duck/loader.js';
import { retryOnConflict } from '../../src/duck/write-queue.js';
import { DuckDBInstance } from '../../src/shared/duckdb.js';
import { cleanupTempDirs, MANIFEST_WITH_SOURCES, makePond, tempDir } from './helpers.js';

let work: string;
let instance: DuckDBInstance;
const conns: DuckDBConnection[] = [];
/** `shop.orders` snapshots: v1 has 3 orders, v2 has 4. */
let ordersV1: string;
let ordersV2: string;

async function connect(): Promise<DuckDBConnection> {
  const conn = await instance.connect();
  conns.push(conn);
  return conn;
}

async function rows(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS();
}

beforeAll(async () => {
  work = await tempDir();
  instance = await DuckDBInstance.create(path.join(work, 'registry.duckdb'));
  const conn = await connect();
  ordersV1 = path.join(work, 'orders-v1.parquet');
  ordersV2 = path.join(work, 'orders-v2.parquet');
  await conn.run(
    `COPY (SELECT * FROM (VALUES (1, 'ana', 10.5), (2, 'bo', 4.0), (3, 'ana', 1.5)) t(id, customer, amount)) TO '${ordersV1}' (FORMAT parquet)`,
  );
  await conn.run(
    `COPY (SELECT * FROM (VALUES (1, 'ana', 10.5), (2, 'bo', 4.0), (3, 'ana', 1.5), (4, 'cy', 7.0)) t(id, customer, amount)) TO '${ordersV2}' (FORMAT parquet)`,
  );
});

afterAll(async () => {
  for (const c of conns) c.closeSync();
  instance.closeSync();
  await cleanupTempDirs();
});

const TS = (body: string) => `import { ripple } from 'duckstring/pond';\n${body}\n`;
const F = new Date('2024-05-01T12:00:00.000Z');
const PREVIOUS_F = new Date('2024-04-30T12:00:00.000Z');

async function shopPond(files: Record<string, string>): Promise<LoadedPond> {
  return loadPond(await makePond({ 'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"'), ...files }));
}

async function failure(promise: Promise<unknown>): Promise<RippleError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(RippleError);
    return err as RippleError;
  }
  throw new Error('expected the Ripple to fail');
}

describe('executeRipple', () => {
  it('runs a .sql Ripple: its SELECT over a Source snapshot becomes its table', async () => {
    const pond = await shopPond({
      'ripples/totals.sql':
        "SELECT customer, sum(amount) AS total, getvariable('duckstring_f') AS f FROM shop.orders GROUP BY customer ORDER BY customer -- trailing comment",
    });
    const conn = await connect();
    const result = await executeRipple({
      conn,
      pond,
      ripple: 'totals',
      f: F,
      previousF: null,
      sources: { 'shop.orders': ordersV1 },
    });
    expect(result.ripple).toBe('totals');
    expect(result.tables).toEqual([{ name: 'totals', rows: 2 }]);
    expect(result.durationMs).toBeGreaterThan(0);
    expect(await rows(conn, 'SELECT customer, total, f FROM totals ORDER BY customer')).toEqual([
      { customer: 'ana', total: 12, f: F },
      { customer: 'bo', total: 4, f: F },
    ]);
  });

  it('runs a TS Ripple with the full context', async () => {
    const pond = await shopPond({
      'data/vip.csv': 'customer\nana\n',
      'ripples/vip.ts': TS(`
import { readFileSync } from 'node:fs';
export const vip = ripple({
  name: 'vip',
  tables: ['vip_orders', 'run_info'],
  async run(ctx) {
    const orders = ctx.readTable('shop.orders');
    const vips = readFileSync(ctx.file('data/vip.csv'), 'utf8').trim().split('\\n').slice(1);
    const big = await ctx.sql('SELECT count(*) AS n FROM ' + orders + ' WHERE amount > $1', [2]);
    ctx.log.info('big orders', { n: big[0].n });
    const { rows } = await ctx.writeTable('vip_orders',
      "SELECT o.* FROM " + orders + " o JOIN read_csv('data/vip.csv') v USING (customer) WHERE o.amount >= $min ORDER BY id",
      { min: 1 });
    await ctx.writeTable('run_info', 'SELECT $pond AS pond, $ripple AS ripple, $f AS f, $prev AS previous_f, $n AS vips, $rows AS rows',
      { pond: ctx.pond, ripple: ctx.ripple, f: ctx.f, prev: ctx.previousF, n: vips.length, rows });
  },
});`),
    });
    const conn = await connect();
    const logs: string[] = [];
    const result = await executeRipple({
      conn,
      pond,
      ripple: 'vip',
      f: F,
      previousF: PREVIOUS_F,
      sources: { 'shop.orders': ordersV1 },
      log: { info: (m, f) => logs.push(`info ${m} ${String(f?.n)}`), warn() {}, error() {} },
    });
    expect(result.tables).toEqual([
      { name: 'vip_orders', rows: 2 },
      { name: 'run_info', rows: 1 },
    ]);
    expect(logs).toEqual(['info big orders 2']);
    expect(await rows(conn, 'SELECT id, customer FROM vip_orders')).toEqual([
      { id: 1, customer: 'ana' },
      { id: 3, customer: 'ana' },
    ]);
    expect(await rows(conn, 'SELECT * FROM run_info')).toEqual([
      { pond: 'demo', ripple: 'vip', f: F, previous_f: PREVIOUS_F, vips: 1, rows: 2 },
    ]);
  });

  it('leaves the connection as it found it (no Source schemas, no settings)', async () => {
    const pond = await shopPond({ 'ripples/n.sql': 'SELECT count(*) AS n FROM shop.orders' });
    const conn = await connect();
    await executeRipple({
      conn,
      pond,
      ripple: 'n',
      f: F,
      previousF: null,
      sources: { 'shop.orders': ordersV1 },
    });
    expect(
      await rows(
        conn,
        "SELECT current_setting('search_path') AS sp, current_setting('file_search_path') AS fsp",
      ),
    ).toEqual([{ sp: '', fsp: '' }]);
    expect(
      await rows(
        conn,
        "SELECT count(*) AS n FROM duckdb_databases() WHERE database_name LIKE '_duckstring%'",
      ),
    ).toEqual([{ n: 0n }]);
    await expect(conn.run('SELECT * FROM shop.orders')).rejects.toThrow(/shop/);
  });

  it("an unreadable snapshot is the runtime's error, and leaves the connection clean", async () => {
    const pond = await shopPond({ 'ripples/n.sql': 'SELECT count(*) AS n FROM shop.orders' });
    const conn = await connect();
    const missing = path.join(work, 'gone.parquet');
    const run = executeRipple({
      conn,
      pond,
      ripple: 'n',
      f: F,
      previousF: null,
      sources: { 'shop.orders': missing },
    });
    await expect(run).rejects.toThrow(`snapshot of shop.orders cannot be read (${missing}): IO Error`);
    await expect(run).rejects.not.toBeInstanceOf(RippleError);
    expect(await rows(conn, "SELECT current_setting('search_path') AS sp")).toEqual([{ sp: '' }]);
    expect(
      await rows(
        conn,
        "SELECT count(*) AS n FROM duckdb_databases() WHERE database_name LIKE '_duckstring%'",
      ),
    ).toEqual([{ n: 0n }]);
  });

  it('gives concurrent runs at different freshness their own Source snapshot', async () => {
    const pond = await shopPond({
      'ripples/count.ts': TS(`
export const count = ripple({ name: 'count', async run(ctx) {
  await new Promise((r) => setTimeout(r, 30));
  const [row] = await ctx.sql('SELECT count(*) AS n FROM shop.orders');
  ctx.log.info('n', { n: row.n });
} });`),
    });
    const seen: Record<string, unknown> = {};
    const run = async (label: string, file: string) =>
      executeRipple({
        conn: await connect(),
        pond,
        ripple: 'count',
        f: F,
        previousF: null,
        sources: { 'shop.orders': file },
        log: { info: (_m, f) => (seen[label] = f?.n), warn() {}, error() {} },
      });
    await Promise.all([run('v1', ordersV1), run('v2', ordersV2)]);
    expect(seen).toEqual({ v1: 3n, v2: 4n });
  });

  it('writeTable is atomic: a query failing midway leaves the old table', async () => {
    const pond = await shopPond({
      'ripples/big.ts': TS(`
export const big = ripple({ name: 'big', async run(ctx) {
  await ctx.writeTable('big', 'SELECT range AS i FROM range(1000)');
  if (ctx.previousF !== null) {
    await ctx.writeTable('big', "SELECT CASE WHEN range = 400000 THEN error('boom at 400000') ELSE range END AS i FROM range(1000000)");
  }
} });`),
    });
    const conn = await connect();
    await executeRipple({ conn, pond, ripple: 'big', f: F, previousF: null, sources: {} });
    await conn.run('CREATE OR REPLACE TABLE big AS SELECT range AS i FROM range(7)');
    const err = await failure(
      executeRipple({ conn, pond, ripple: 'big', f: F, previousF: PREVIOUS_F, sources: {} }).then(
        () => undefined,
      ),
    );
    expect(err.detail).toContain('boom at 400000');
    // The first write of the failed run replaced 7 rows by 1000; the failing second write left those.
    expect(await rows(conn, 'SELECT count(*) AS n FROM big')).toEqual([{ n: 1000n }]);
  });

  it('a failing .sql Ripple leaves its previous table', async () => {
    const pond = await shopPond({
      'ripples/t.sql': 'SELECT CAST(customer AS INTEGER) AS n FROM shop.orders',
    });
    const conn = await connect();
    await conn.run('CREATE OR REPLACE TABLE t AS SELECT 42 AS n');
    const err = await failure(
      executeRipple({ conn, pond, ripple: 't', f: F, previousF: null, sources: { 'shop.orders': ordersV1 } }),
    );
    expect(err.message).toMatch(
      /^Ripple "t" \(ripples\/t\.sql\) failed: Conversion Error: Could not convert string 'ana' to INT32/,
    );
    expect(await rows(conn, 'SELECT n FROM t')).toEqual([{ n: 42 }]);
  });

  it('concurrent writeTable to one table from two Ripples: both succeed', async () => {
    const pond = await shopPond({
      'ripples/writers.ts': TS(`
const write = (tag: string) => async (ctx) => {
  await ctx.writeTable('shared', "SELECT range AS i, '" + tag + "' AS writer FROM range(1500000)");
};
export const left = ripple({ name: 'left', tables: ['shared'], run: write('left') });
export const right = ripple({ name: 'right', tables: ['shared'], run: write('right') });`),
    });
    const [a, b] = [await connect(), await connect()];
    const results = await Promise.all([
      executeRipple({ conn: a, pond, ripple: 'left', f: F, previousF: null, sources: {} }),
      executeRipple({ conn: b, pond, ripple: 'right', f: F, previousF: null, sources: {} }),
    ]);
    expect(results.map((r) => r.tables)).toEqual([
      [{ name: 'shared', rows: 1_500_000 }],
      [{ name: 'shared', rows: 1_500_000 }],
    ]);
    const final = await rows(a, 'SELECT count(*) AS n, count(DISTINCT writer) AS writers FROM shared');
    expect(final).toEqual([{ n: 1_500_000n, writers: 1n }]);
  });

  it("DuckDB's own write-write conflict is retried until both writers succeed", async () => {
    const [a, b] = [await connect(), await connect()];
    const ctas = (conn: DuckDBConnection) => () =>
      conn.run('CREATE OR REPLACE TABLE raced AS SELECT range AS i, random() AS v FROM range(2000000)');
    // Without retry one of these fails with "Catalog write-write conflict" (checked first).
    const raw = await Promise.allSettled([ctas(a)(), ctas(b)()]);
    expect(
      raw.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
    ).toEqual([expect.stringMatching(/write-write conflict/)]);
    const retried = await Promise.allSettled([retryOnConflict(ctas(a)), retryOnConflict(ctas(b))]);
    expect(retried.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
  });

  it('a Ripple that throws → RippleError with message and a stack pointing at its .ts file', async () => {
    const pond = await shopPond({
      'ripples/boom.ts': TS(`
function check(n: number): void {
  if (n > 1) throw new Error('too many orders: ' + n);
}
export const boom = ripple({ name: 'boom', async run(ctx) {
  const [row] = await ctx.sql('SELECT count(*)::INT AS n FROM shop.orders');
  check(row.n as number);
} });`),
    });
    const err = await failure(
      executeRipple({
        conn: await connect(),
        pond,
        ripple: 'boom',
        f: F,
        previousF: null,
        sources: { 'shop.orders': ordersV1 },
      }),
    );
    expect(err.message).toBe('Ripple "boom" (ripples/boom.ts) failed: too many orders: 3');
    expect(err.ripple).toBe('boom');
    expect(err.detail).toBe('too many orders: 3');
    expect(err.rippleStack).toMatch(/ripples\/boom\.ts:4/);
  });

  it('a throw of a non-Error value is still reported', async () => {
    const pond = await shopPond({
      'ripples/odd.ts': TS("export const odd = ripple({ name: 'odd', run() { throw 'just a string'; } });"),
    });
    const err = await failure(
      executeRipple({ conn: await connect(), pond, ripple: 'odd', f: F, previousF: null, sources: {} }),
    );
    expect(err.message).toBe('Ripple "odd" (ripples/odd.ts) failed: threw a non-Error value: just a string');
  });

  it('readTable explains undeclared Sources, unpublished Sources and missing tables', async () => {
    const cases: Array<[string, string]> = [
      ['nope.x', 'readTable("nope.x"): "nope" is not a Source of this Pond (declared: shop, stock)'],
      ['stock.items', 'readTable("stock.items"): Source "stock" has no published snapshot'],
      [
        'shop.customers',
        'readTable("shop.customers"): Source "shop" has no published table "customers" (published: orders)',
      ],
      ['orders', 'readTable("orders"): expected "source.table"'],
    ];
    // One Ripple per case: Ripple code sees none of the Duck's environment, so it cannot be steered by it.
    const pond = await loadPond(
      await makePond({
        'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"\nstock = "1.0.0?"'),
        'ripples/r.ts': TS(
          cases
            .map(
              ([ref], i) =>
                `export const r${i} = ripple({ name: 'r${i}', run(ctx) { ctx.readTable(${JSON.stringify(ref)}); } });`,
            )
            .join('\n'),
        ),
      }),
    );
    for (const [i, [, message]] of cases.entries()) {
      const err = await failure(
        executeRipple({
          conn: await connect(),
          pond,
          ripple: `r${i}`,
          f: F,
          previousF: null,
          sources: { 'shop.orders': ordersV1 },
        }),
      );
      expect(err.message).toBe(`Ripple "r${i}" (ripples/r.ts) failed: ${message}`);
    }
  });

  it('a .sql Ripple reading an unpublished Source table fails before running', async () => {
    const pond = await shopPond({ 'ripples/c.sql': 'SELECT * FROM shop.customers' });
    const err = await failure(
      executeRipple({
        conn: await connect(),
        pond,
        ripple: 'c',
        f: F,
        previousF: null,
        sources: { 'shop.orders': ordersV1 },
      }),
    );
    expect(err.message).toBe(
      'Ripple "c" (ripples/c.sql) failed: reads shop.customers, but Source "shop" has no published table "customers" (published: orders)',
    );
  });

  it('writeTable refuses undeclared tables; a forgotten await still fails the Ripple', async () => {
    const pond = await shopPond({
      'ripples/w.ts': TS(`
export const w = ripple({ name: 'w', async run(ctx) { ctx.writeTable('other', 'SELECT 1'); } });
export const x = ripple({ name: 'x', async run(ctx) { ctx.writeTable('x', 'SELECT * FROM missing_table'); } });`),
    });
    const w = await failure(
      executeRipple({ conn: await connect(), pond, ripple: 'w', f: F, previousF: null, sources: {} }),
    );
    expect(w.detail).toBe(
      'writeTable("other"): Ripple "w" does not declare table "other" (tables: w); add it to tables in ripple({...})',
    );
    const x = await failure(
      executeRipple({ conn: await connect(), pond, ripple: 'x', f: F, previousF: null, sources: {} }),
    );
    expect(x.detail).toMatch(/Table with name missing_table does not exist/);
  });
});

describe('exportTables', () => {
  it('writes Parquet with rows and columns per table', async () => {
    const conn = await connect();
    await conn.run(
      "CREATE OR REPLACE TABLE export_me AS SELECT range AS id, 'x' || range AS label FROM range(5)",
    );
    await conn.run('CREATE OR REPLACE TABLE export_empty (d DATE, amount DECIMAL(10,2))');
    const out = await tempDir();
    const exported = await exportTables(conn, ['export_me', 'export_empty'], out);
    expect(exported).toEqual([
      {
        table: 'export_me',
        file: path.join(out, 'export_me.parquet'),
        rows: 5,
        columns: [
          { name: 'id', type: 'BIGINT' },
          { name: 'label', type: 'VARCHAR' },
        ],
      },
      {
        table: 'export_empty',
        file: path.join(out, 'export_empty.parquet'),
        rows: 0,
        columns: [
          { name: 'd', type: 'DATE' },
          { name: 'amount', type: 'DECIMAL(10,2)' },
        ],
      },
    ]);
    expect(
      await rows(conn, `SELECT sum(id) AS s FROM read_parquet('${path.join(out, 'export_me.parquet')}')`),
    ).toEqual([{ s: 10n }]);
  });

  it('refuses missing tables and reserved column names, writing nothing for them', async () => {
    const conn = await connect();
    const out = await tempDir();
    await expect(exportTables(conn, ['no_such_table'], out)).rejects.toThrow(
      'cannot export table "no_such_table": it does not exist in the registry',
    );
    await conn.run('CREATE OR REPLACE TABLE sneaky AS SELECT 1 AS _duckstring_f');
    await expect(exportTables(conn, ['sneaky'], out)).rejects.toThrow(
      'cannot export table "sneaky": column "_duckstring_f" uses the reserved prefix _duckstring_',
    );
    expect(existsSync(path.join(out, 'sneaky.parquet'))).toBe(false);
  });
});
