import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { DuckDBInstance } from '../../src/shared/duckdb.js';
import { cleanupTempDirs, MANIFEST_WITH_SOURCES, makePond, tempDir, writeFiles } from './helpers.js';

afterAll(cleanupTempDirs);

const EXAMPLES = fileURLToPath(new URL('../../examples/ponds/', import.meta.url));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

describe('duckstring pond init / check / run', () => {
  it('init scaffolds a Pond that passes check and run', async () => {
    const dir = path.join(await tempDir(), 'weather');
    const init = await cli('pond', 'init', 'weather', '--dir', dir);
    expect(init).toMatchObject({ code: 0, err: '' });
    for (const f of [
      'pond.toml',
      'ripples/cities.sql',
      'ripples/countries.ts',
      'data/cities.csv',
      'sample/README.md',
      'README.md',
    ]) {
      expect(existsSync(path.join(dir, f))).toBe(true);
    }
    expect(await readFile(path.join(dir, 'pond.toml'), 'utf8')).toContain('name = "weather"');

    const check = await cli('pond', 'check', dir);
    expect(check.code).toBe(0);
    expect(check.out).toContain('Pond weather 0.1.0 (major 0): valid');
    expect(check.out).toMatch(
      /countries\s+ts\s+ripples\/countries\.ts\s+parents: cities\s+writes: countries/,
    );

    const run = await cli('pond', 'run', dir);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toMatch(/cities\s+\d+ ms\s+5 rows {2}→ cities \(5\)/);
    expect(run.out).toMatch(/countries\s+\d+ ms\s+3 rows {2}→ countries \(3\)/);
    expect(run.out).toContain('[countries] info: countries written {"rows":3}');
    expect(run.out).toMatch(/ok: 2 Ripples in \d+\.\d\d s, 8 rows written \(fresh registry, discarded\)/);
  });

  it('init refuses to overwrite a Pond and rejects bad names (exit 2, nothing written)', async () => {
    const root = await tempDir();
    const dir = path.join(root, 'p');
    expect((await cli('pond', 'init', 'p', '--dir', dir)).code).toBe(0);
    const before = await readFile(path.join(dir, 'pond.toml'), 'utf8');
    expect(await cli('pond', 'init', 'p', '--dir', dir)).toEqual({
      code: 2,
      out: '',
      err: `error: ${dir} already holds a Pond (pond.toml exists)\n`,
    });
    expect(await readFile(path.join(dir, 'pond.toml'), 'utf8')).toBe(before);
    const bad = await cli('pond', 'init', 'My-Pond', '--dir', path.join(root, 'q'));
    expect(bad).toMatchObject({
      code: 2,
      err: 'error: Pond name "My-Pond" is not a valid name (lowercase letters, digits and _, starting with a letter)\n',
    });
    expect(existsSync(path.join(root, 'q'))).toBe(false);
  });

  it('check lists every problem and exits 2', async () => {
    const dir = await makePond({
      'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"'),
      'ripples/a.sql': 'SELECT * FROM nope.t',
      'ripples/b.sql': 'SELECT * FROM c',
      'ripples/c.sql': 'SELECT * FROM b',
    });
    const result = await cli('pond', 'check', dir);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      `error: 2 problems in Pond ${dir}:\n` +
        '  ripples/a.sql: reads "nope.t" but "nope" is not a Source of this Pond (declared: shop)\n' +
        '  ripples/b.sql: ripple cycle in pond "demo": b → c → b\n',
    );
    const single = await cli(
      'pond',
      'check',
      await makePond({ 'pond.toml': '[pond]\nname = "x"\nversion = "2"\n' }),
    );
    expect(single).toMatchObject({
      code: 2,
      err: 'error: pond.version: "2" is not a semver version (expected MAJOR.MINOR.PATCH)\n',
    });
  });

  it('run stops at a failing Ripple with its error (exit 1)', async () => {
    const dir = await makePond({
      'ripples/first.sql': 'SELECT 1 AS x',
      'ripples/second.ts':
        "import { ripple } from 'duckstring/pond';\nexport const second = ripple({ name: 'second', parents: ['first'], async run(ctx) {\n  throw new Error('second is broken');\n} });\n",
      'ripples/third.sql': 'SELECT * FROM second',
    });
    const result = await cli('pond', 'run', dir);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/first\s+\d+ ms\s+1 rows/);
    expect(result.out).not.toContain('third');
    expect(result.err).toContain('Error: second is broken\n    at ');
    expect(result.err).toContain('ripples/second.ts:3');
    expect(result.err.trimEnd().split('\n').at(-1)).toBe(
      'error: Ripple "second" (ripples/second.ts) failed: second is broken',
    );
  });

  it('run reads sample data (.csv, .json, .parquet), keeps a registry and exports tables on request', async () => {
    const root = await tempDir();
    const dir = await makePond({
      'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"\ncrm = "1.0.0?"'),
      'sample/shop/orders.csv': 'id,customer,amount\n1,ana,10\n2,bo,5\n3,ana,1\n',
      'sample/shop/refunds.json': '[{"id": 3, "amount": 1}]',
      'ripples/net.sql':
        'SELECT o.customer, sum(o.amount) - coalesce(sum(r.amount), 0) AS net FROM shop.orders o LEFT JOIN shop.refunds r USING (id) GROUP BY ALL ORDER BY ALL',
    });
    const registry = path.join(root, 'reg.duckdb');
    const out = path.join(root, 'out');
    const result = await cli('pond', 'run', dir, '--registry', registry, '--out', out);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain('note: no sample data for Source "crm"');
    expect(result.out).toContain(`exported 1 table to ${out}`);
    expect(
      await query(`SELECT * FROM read_parquet('${path.join(out, 'net.parquet')}') ORDER BY customer`),
    ).toEqual([
      { customer: 'ana', net: 10 },
      { customer: 'bo', net: 5 },
    ]);
    expect(await query(`ATTACH '${registry}' AS r (READ_ONLY); SELECT count(*) AS n FROM r.net`)).toEqual([
      { n: 2n },
    ]);

    // The exported Parquet serves as sample data for a downstream Pond.
    const downstream = await makePond({
      'pond.toml': MANIFEST_WITH_SOURCES('demo_up = "1.0.0"').replace('name = "demo"', 'name = "down"'),
      'ripples/top.sql': 'SELECT customer FROM demo_up.net ORDER BY net DESC LIMIT 1',
    });
    await writeFiles(root, {});
    const copyDir = path.join(root, 'samples', 'demo_up');
    await writeFiles(copyDir, { 'net.parquet': await readFile(path.join(out, 'net.parquet')) });
    const down = await cli('pond', 'run', downstream, '--sample', path.join(root, 'samples'));
    expect(down.code).toBe(0);
    expect(down.out).toMatch(/top\s+\d+ ms\s+1 rows/);
  });

  it('run rejects bad sample data with exit 2', async () => {
    const dir = await makePond({
      'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"'),
      'sample/shop/orders.xlsx': 'binary',
      'sample/shop/Bad Name.csv': 'a\n1\n',
      'ripples/a.sql': 'SELECT 1 AS x',
    });
    const result = await cli('pond', 'run', dir);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      `error: 2 problems in Pond ${dir}:\n` +
        `  ${path.join(dir, 'sample/shop/Bad Name.csv')}: table "Bad Name" is not a valid name (lowercase letters, digits and _, starting with a letter)\n` +
        `  ${path.join(dir, 'sample/shop/orders.xlsx')}: unsupported sample file (expected <table>.parquet, .csv or .json)\n`,
    );
  });
});

describe('demo Ponds', () => {
  it('all pass pond check', async () => {
    for (const name of ['transactions', 'products', 'sales', 'reports']) {
      const result = await cli('pond', 'check', path.join(EXAMPLES, name));
      expect(result.err).toBe('');
      expect(result.out).toContain(`Pond ${name} 1.0.0 (major 1): valid`);
    }
  });

  it('sales and reports run on their shipped sample data', async () => {
    const sales = await cli('pond', 'run', path.join(EXAMPLES, 'sales'));
    expect(sales.code).toBe(0);
    expect(sales.out).toMatch(/join_lines\s+\d+ ms\s+10 rows {2}→ sale_line \(10\)/);
    expect(sales.out).toContain(
      'daily sales for products missing from the catalog were dropped {"lines":"1"}',
    );
    const reports = await cli('pond', 'run', path.join(EXAMPLES, 'reports'));
    expect(reports.code).toBe(0);
    expect(reports.out).toMatch(/monthly_summary\s+\d+ ms\s+7 rows/);
  });

  it('run as a chain on 1 M transactions: transactions, products → sales → reports', async () => {
    const root = await tempDir();
    const timings: Record<string, number> = {};
    const step = async (name: string, ...extra: string[]) => {
      const t0 = performance.now();
      const result = await cli(
        'pond',
        'run',
        path.join(EXAMPLES, name),
        '--out',
        path.join(root, name),
        ...extra,
      );
      timings[name] = Math.round(performance.now() - t0);
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      return result.out;
    };
    expect(await step('transactions')).toMatch(
      /ingest\s+\d+ ms\s+1,000,000 rows {2}→ transaction \(1,000,000\)/,
    );
    expect(await step('products')).toMatch(/→ product \(20\)/);
    expect(await step('sales', '--sample', root)).toMatch(/→ sale_line \(36,600\)/);
    expect(await step('reports', '--sample', root)).toMatch(/→ monthly_summary \(60\)/);
    console.log(`pond run timings (ms, incl. load): ${JSON.stringify(timings)}`);

    // Every unit sold reaches the report (all generated product ids are in the catalog).
    const file = (pond: string, table: string) => `'${path.join(root, pond, `${table}.parquet`)}'`;
    const [check] = await query(
      `SELECT (SELECT sum(quantity) FROM ${file('transactions', 'transaction')}) AS sold,
              (SELECT sum(units_sold) FROM ${file('reports', 'monthly_summary')}) AS reported,
              (SELECT sum(tx_count) FROM ${file('reports', 'monthly_summary')}) AS tx,
              (SELECT count(DISTINCT category) FROM ${file('reports', 'monthly_summary')}) AS categories,
              (SELECT sum(revenue) FROM ${file('sales', 'sale_line')}) = (SELECT sum(total_revenue) FROM ${file('reports', 'monthly_summary')}) AS revenue_matches`,
    );
    expect(check).toMatchObject({ tx: 1_000_000n, categories: 5n, revenue_matches: true });
    expect(check?.reported).toBe(check?.sold);
  });
});
