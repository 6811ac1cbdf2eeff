import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPond } from '../../src/duck/loader.js';
import { PondError } from '../../src/pond/manifest.js';
import { cleanupTempDirs, MANIFEST_WITH_SOURCES, makePond, tempDir } from './helpers.js';

afterAll(cleanupTempDirs);

async function problems(files: Record<string, string>): Promise<string[]> {
  const dir = await makePond(files);
  try {
    await loadPond(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(PondError);
    return (err as PondError).issues;
  }
  throw new Error('expected loadPond to fail');
}

const TS_RIPPLE = (body: string) => `import { ripple } from 'duckstring/pond';\n${body}\n`;

describe('loadPond: the Ripple graph', () => {
  it('infers .sql parents from the tables they read and orders Ripples topologically', async () => {
    const dir = await makePond({
      'pond.toml': MANIFEST_WITH_SOURCES('transactions = "1.0.0"\nproducts = "2.0.0?"'),
      'ripples/base.sql': '-- reads a Source\nSELECT * FROM transactions.transaction',
      'ripples/enrich.ts': TS_RIPPLE(
        "export const enrich = ripple({ name: 'enrich', parents: ['base'], tables: ['enriched', 'extra'], run() {} });",
      ),
      // A CTE named like a table is not a parent; `extra` is written by the TS Ripple `enrich`.
      'ripples/report.sql':
        "WITH base AS (SELECT 1 AS id) SELECT * FROM base JOIN extra USING (id), products.product, read_csv('data/x.csv')",
      'ripples/zfiles.sql': "SELECT * FROM 'data/x.csv' JOIN base USING (id)",
    });
    const pond = await loadPond(dir);
    expect(pond.dir).toBe(path.resolve(dir));
    expect(pond.ripples.map((r) => [r.name, r.kind, r.parents, r.tables, r.sourceReads])).toEqual([
      ['base', 'sql', [], ['base'], ['transactions.transaction']],
      ['enrich', 'ts', ['base'], ['enriched', 'extra'], []],
      ['zfiles', 'sql', ['base'], ['zfiles'], []],
      ['report', 'sql', ['enrich'], ['report'], ['products.product']],
    ]);
    expect(pond.tables).toEqual(['base', 'enriched', 'extra', 'report', 'zfiles']);
    expect(pond.rippleSpecs).toEqual([
      { name: 'base', parents: [] },
      { name: 'enrich', parents: [{ name: 'base', optional: false }] },
      { name: 'report', parents: [{ name: 'enrich', optional: false }] },
      { name: 'zfiles', parents: [{ name: 'base', optional: false }] },
    ]);
  });

  it('accepts parents given as ripple objects, a recursive CTE, and helper modules inside the Pond', async () => {
    const pond = await loadPond(
      await makePond({
        'lib/util.ts': 'export const label = (s: string): string => s.toUpperCase();',
        'ripples/a.ts': TS_RIPPLE(
          "import { label } from '../lib/util.js';\nexport const a = ripple({ name: 'a', run(ctx) { ctx.log.info(label('x')); } });\nexport const b = ripple({ name: 'b', parents: [a], run() {} });",
        ),
        'ripples/c.sql':
          'WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, b',
      }),
    );
    expect(pond.ripples.map((r) => `${r.name}<-${r.parents.join('+')}`)).toEqual(['a<-', 'b<-a', 'c<-b']);
  });
});

describe('loadPond: bad input, one clear message each', () => {
  it('a directory without pond.toml', async () => {
    const dir = await tempDir();
    await expect(loadPond(dir)).rejects.toThrow(`${dir}: not a Pond (no pond.toml in it)`);
    await expect(loadPond(path.join(dir, 'nope'))).rejects.toThrow(
      `${path.join(dir, 'nope')}: not a Pond (directory does not exist)`,
    );
  });

  it('a Pond without Ripples', async () => {
    expect(await problems({ 'ripples/README.md': 'nothing here' })).toEqual([
      'a Pond needs at least one Ripple (add ripples/NAME.sql or a ripples/*.ts exporting ripple(...))',
    ]);
  });

  it('a TypeScript syntax error fails at load time with file:line:column', async () => {
    expect(
      await problems({
        'ripples/ok.sql': 'SELECT 1 AS x',
        'ripples/bad.ts': TS_RIPPLE("export const bad = ripple({ name: 'bad', run() { const x = ; } });"),
      }),
    ).toEqual(['ripples/bad.ts:2:60: Unexpected ";"']);
  });

  it('a .sql syntax error, with line:column', async () => {
    expect(await problems({ 'ripples/a.sql': 'SELECT 1\nFROM t WHERE' })).toEqual([
      'ripples/a.sql: 2:13: syntax error at end of input',
    ]);
  });

  it('a .sql Ripple that is not one SELECT', async () => {
    expect(
      await problems({
        'ripples/a.sql': 'CREATE TABLE x (a INT)',
        'ripples/b.sql': 'SELECT 1; SELECT 2',
        'ripples/c.sql': '-- nothing',
      }),
    ).toEqual([
      'ripples/a.sql: must be a SELECT statement (a .sql Ripple is one query whose result becomes its table)',
      'ripples/b.sql: holds 2 statements (expected exactly one SELECT statement)',
      'ripples/c.sql: is empty (expected one SELECT statement)',
    ]);
  });

  it('an unknown Source', async () => {
    expect(await problems({ 'ripples/a.sql': 'SELECT * FROM nope.t' })).toEqual([
      'ripples/a.sql: reads "nope.t" but "nope" is not a Source of this Pond (pond.toml declares no Sources)',
    ]);
    expect(
      await problems({
        'pond.toml': MANIFEST_WITH_SOURCES('transactions = "1.0.0"'),
        'ripples/a.sql': 'SELECT * FROM transaction.t',
      }),
    ).toEqual([
      'ripples/a.sql: reads "transaction.t" but "transaction" is not a Source of this Pond (declared: transactions)',
    ]);
  });

  it('a table no Ripple writes, and three-part names', async () => {
    expect(
      await problems({ 'ripples/a.sql': 'SELECT * FROM ghost', 'ripples/b.sql': 'SELECT * FROM x.y.z' }),
    ).toEqual([
      'ripples/a.sql: reads table "ghost", which no Ripple of this Pond writes (tables: a, b); read a Source\'s table as source.table',
      'ripples/b.sql: "x.y.z": three-part names are not allowed (read a Source as source.table)',
    ]);
  });

  it('reserved table names', async () => {
    expect(
      await problems({
        'ripples/a.ts': TS_RIPPLE(
          "export const a = ripple({ name: 'a', tables: ['main', '_scratch', 'information_schema'], run() {} });",
        ),
      }),
    ).toEqual([
      'ripples/a.ts: table name "main" is reserved (reserved: duckstring, information_schema, pg_catalog, main, temp, system, memory, and any name starting with _)',
      'ripples/a.ts: table name "_scratch" is reserved (names starting with _ belong to the runtime)',
      'ripples/a.ts: table name "information_schema" is reserved (reserved: duckstring, information_schema, pg_catalog, main, temp, system, memory, and any name starting with _)',
    ]);
    expect(await problems({ 'ripples/temp.sql': 'SELECT 1' })).toEqual([
      'ripples/temp.sql: table name "temp" is reserved (reserved: duckstring, information_schema, pg_catalog, main, temp, system, memory, and any name starting with _)',
    ]);
  });

  it('invalid Ripple names', async () => {
    expect(await problems({ 'ripples/Daily-Sales.sql': 'SELECT 1' })).toEqual([
      'ripples/Daily-Sales.sql: Ripple "Daily-Sales" is not a valid name (lowercase letters, digits and _, starting with a letter)',
      'ripples/Daily-Sales.sql: "Daily-Sales" is not a valid name (lowercase letters, digits and _, starting with a letter)',
    ]);
  });

  it('Ripple cycles', async () => {
    expect(
      await problems({
        'ripples/a.sql': 'SELECT * FROM b',
        'ripples/b.sql': 'SELECT * FROM c',
        'ripples/c.sql': 'SELECT * FROM a',
      }),
    ).toEqual(['ripples/a.sql: ripple cycle in pond "demo": a → b → c → a']);
    expect(await problems({ 'ripples/self.sql': 'SELECT * FROM self' })).toEqual([
      'ripples/self.sql: ripple cycle in pond "demo": self → self',
    ]);
  });

  it('unknown parents and duplicate names', async () => {
    expect(
      await problems({
        'ripples/a.ts': TS_RIPPLE(
          "export const a = ripple({ name: 'a', parents: ['zz'], tables: ['t1'], run() {} });\nexport const a2 = ripple({ name: 'a', tables: ['t2'], run() {} });",
        ),
      }),
    ).toEqual([
      'ripples/a.ts: duplicate ripple name "a" in pond "demo"',
      'ripples/a.ts: unknown parent ripple "zz" in pond "demo"',
    ]);
  });

  it('a table with two writers makes both parents of its readers', async () => {
    const pond = await loadPond(
      await makePond({
        'ripples/w.ts': TS_RIPPLE(
          "export const a = ripple({ name: 'a', tables: ['shared'], run() {} });\nexport const b = ripple({ name: 'b', tables: ['shared'], run() {} });",
        ),
        'ripples/reader.sql': 'SELECT * FROM shared',
      }),
    );
    expect(pond.ripples.find((r) => r.name === 'reader')?.parents).toEqual(['a', 'b']);
    expect(pond.tables).toEqual(['reader', 'shared']);
  });

  it('imports that a deployed Pond could not satisfy', async () => {
    expect(
      await problems({
        'ripples/a.ts': TS_RIPPLE(
          "import _ from 'lodash';\nexport const a = ripple({ name: 'a', run() { _.noop(); } });",
        ),
        'ripples/b.ts': TS_RIPPLE(
          "import { x } from '../../outside.js';\nexport const b = ripple({ name: 'b', run() { x; } });",
        ),
      }),
    ).toEqual([
      'ripples/a.ts:2:15: cannot import "lodash": a Ripple may import only duckstring/pond, Node built-ins and files inside the Pond',
      'ripples/b.ts:2:19: cannot import "../../outside.js": it is outside the Pond directory',
    ]);
  });

  it('a ripple() given values its types forbid', async () => {
    expect(
      await problems({
        'ripples/a.ts': TS_RIPPLE("export const a = ripple({ name: 'a', tables: [], run: 5 } as never);"),
      }),
    ).toEqual([
      'ripples/a.ts: export "a": tables must name at least one table',
      'ripples/a.ts: export "a": run must be a function',
    ]);
  });

  it('an invalid pond.toml stops loading with its own message', async () => {
    expect(
      await problems({
        'pond.toml': '[pond]\nname = "demo"\nversion = "1.0"\n',
        'ripples/a.sql': 'SELECT 1',
      }),
    ).toEqual(['pond.version: "1.0" is not a semver version (expected MAJOR.MINOR.PATCH)']);
  });
});
