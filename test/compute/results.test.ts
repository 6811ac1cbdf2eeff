import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConvertedResult, readResult } from '../../src/compute/results.js';
import { openDuck } from './helpers.js';

let duck: Awaited<ReturnType<typeof openDuck>>;
let connection: DuckDBConnection;

beforeAll(async () => {
  duck = await openDuck();
  connection = duck.connection;
  await connection.run(`CREATE TYPE mood AS ENUM ('sad', 'ok')`);
});
afterAll(() => duck.close());

async function query(sql: string, rowCountLimit?: number): Promise<ConvertedResult> {
  return readResult(await connection.stream(sql), rowCountLimit === undefined ? {} : { rowCountLimit });
}

/** One row as {column: value}, for readable assertions. */
async function row(sql: string): Promise<Record<string, unknown>> {
  const result = await query(sql);
  expect(result.row_count).toBe(1);
  return Object.fromEntries(result.columns.map((c, i) => [c.name, result.rows[0]![i]]));
}

async function types(sql: string): Promise<Record<string, string>> {
  const result = await query(sql);
  return Object.fromEntries(result.columns.map((c) => [c.name, c.type]));
}

describe('readResult: integers stay exact', () => {
  it('maps 64/128-bit integers to numbers when safe and decimal strings otherwise', async () => {
    const values = await row(`SELECT
      9007199254740991::BIGINT AS max_safe, -9007199254740991::BIGINT AS min_safe,
      9007199254740993::BIGINT AS over, -9007199254740993::BIGINT AS under,
      9223372036854775807::BIGINT AS big_max, 18446744073709551615::UBIGINT AS ubig_max,
      170141183460469231731687303715884105727::HUGEINT AS huge, 42::HUGEINT AS small_huge,
      340282366920938463463374607431768211455::UHUGEINT AS uhuge,
      12::TINYINT AS ti, -300::SMALLINT AS si, 2147483647::INTEGER AS i, 4294967295::UINTEGER AS ui`);
    expect(values).toEqual({
      max_safe: 9007199254740991,
      min_safe: -9007199254740991,
      over: '9007199254740993',
      under: '-9007199254740993',
      big_max: '9223372036854775807',
      ubig_max: '18446744073709551615',
      huge: '170141183460469231731687303715884105727',
      small_huge: 42,
      uhuge: '340282366920938463463374607431768211455',
      ti: 12,
      si: -300,
      i: 2147483647,
      ui: 4294967295,
    });
    expect(await types('SELECT 1::BIGINT AS b, 1::HUGEINT AS h, 1::UBIGINT AS u')).toEqual({
      b: 'BIGINT',
      h: 'HUGEINT',
      u: 'UBIGINT',
    });
  });
});

describe('readResult: numbers, decimals, text', () => {
  it('keeps floats, labels non-finite values, and writes decimals exactly', async () => {
    const values = await row(`SELECT 1.5::DOUBLE AS d, 'NaN'::DOUBLE AS nan, 'inf'::DOUBLE AS pinf,
      '-inf'::DOUBLE AS ninf, 1.1::FLOAT AS f, 'NaN'::FLOAT AS fnan,
      12.30::DECIMAL(10,2) AS dec2, -0.05::DECIMAL(4,2) AS neg, 7::DECIMAL(5,0) AS whole,
      123456789012345678901234567.891::DECIMAL(38,3) AS wide,
      true AS yes, 'héllo ☃' AS txt, '{"a": 1}'::JSON AS js, 'ok'::mood AS e`);
    expect(values).toEqual({
      d: 1.5,
      nan: 'NaN',
      pinf: 'Infinity',
      ninf: '-Infinity',
      f: 1.1,
      fnan: 'NaN',
      dec2: '12.30',
      neg: '-0.05',
      whole: '7',
      wide: '123456789012345678901234567.891',
      yes: true,
      txt: 'héllo ☃',
      js: '{"a": 1}',
      e: 'ok',
    });
    expect(
      await types(`SELECT 1.5::DECIMAL(10,2) AS x, '{}'::JSON AS j, 'ok'::mood AS e, 1::FLOAT AS f`),
    ).toEqual({
      x: 'DECIMAL(10,2)',
      j: 'JSON',
      e: "ENUM('sad', 'ok')",
      f: 'FLOAT',
    });
  });
});

describe('readResult: temporal types as ISO-8601', () => {
  it('formats dates and timestamps in UTC with Z and full precision', async () => {
    const values = await row(`SELECT DATE '2024-01-02' AS d, DATE '1969-12-31' AS d_pre,
      'infinity'::DATE AS d_inf, '-infinity'::DATE AS d_ninf,
      TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, TIMESTAMP '1969-12-31 23:59:59.999999' AS ts_pre,
      TIMESTAMP '2500-06-15 12:00:00.000001' AS ts_far, 'infinity'::TIMESTAMP AS ts_inf,
      TIMESTAMPTZ '2024-01-02 03:04:05.5+02' AS tstz,
      '2024-01-02 03:04:05.123'::TIMESTAMP_MS AS ts_ms, '2024-01-02 03:04:05'::TIMESTAMP_S AS ts_s,
      '2024-01-02 03:04:05.123456789'::TIMESTAMP_NS AS ts_ns`);
    expect(values).toEqual({
      d: '2024-01-02',
      d_pre: '1969-12-31',
      d_inf: 'infinity',
      d_ninf: '-infinity',
      ts: '2024-01-02T03:04:05.123456Z',
      ts_pre: '1969-12-31T23:59:59.999999Z',
      ts_far: '2500-06-15T12:00:00.000001Z',
      ts_inf: 'infinity',
      tstz: '2024-01-02T01:04:05.500000Z',
      ts_ms: '2024-01-02T03:04:05.123Z',
      ts_s: '2024-01-02T03:04:05Z',
      ts_ns: '2024-01-02T03:04:05.123456789Z',
    });
    // A client can parse what we emit back to the same instant (millisecond part).
    expect(new Date(values.ts as string).toISOString()).toBe('2024-01-02T03:04:05.123Z');
  });

  it('formats times and intervals', async () => {
    const values = await row(`SELECT TIME '12:34:56.5' AS t, TIME '00:00:00' AS midnight,
      TIMETZ '12:34:56-03:30' AS ttz,
      INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.789 seconds' AS iv,
      INTERVAL '-1 day' AS neg_day, INTERVAL '0 seconds' AS zero, INTERVAL '-90 minutes' AS neg_time,
      INTERVAL '14 months' AS months, INTERVAL '0.000001 seconds' AS micro`);
    expect(values).toEqual({
      t: '12:34:56.500000',
      midnight: '00:00:00.000000',
      ttz: '12:34:56.000000-03:30',
      iv: 'P1Y2M3DT4H5M6.789S',
      neg_day: 'P-1D',
      zero: 'PT0S',
      neg_time: 'PT-1H-30M',
      months: 'P1Y2M',
      micro: 'PT0.000001S',
    });
  });
});

describe('readResult: binary, ids, nested', () => {
  it('encodes blobs in base64 and keeps uuids, bits, unions', async () => {
    const values = await row(`SELECT '\\xAA\\x00'::BLOB AS b, ''::BLOB AS empty,
      '550e8400-e29b-41d4-a716-446655440000'::UUID AS u, '101'::BIT AS bits,
      union_value(num := 2) AS un`);
    expect(values).toEqual({
      b: Buffer.from([0xaa, 0x00]).toString('base64'),
      empty: '',
      u: '550e8400-e29b-41d4-a716-446655440000',
      bits: '101',
      un: { tag: 'num', value: 2 },
    });
  });

  it('maps lists, arrays, structs and maps recursively with NULLs at any depth', async () => {
    const values = await row(`SELECT [1, NULL, 3] AS l, [[1], [NULL], NULL] AS ll,
      [9007199254740993::BIGINT, NULL] AS big_list, [1, 2, 3]::INTEGER[3] AS arr,
      {'a': NULL, 'b': [NULL, 2], 'c': {'d': NULL, 'e': DATE '2024-01-02'}} AS s,
      NULL::STRUCT(a INTEGER) AS null_struct, [NULL::STRUCT(a INTEGER), {'a': 1}] AS struct_list,
      MAP {'k': 1, 'j': NULL} AS m, MAP {1: [TIMESTAMP '2024-01-02 00:00:00']} AS m2,
      [12.5::DECIMAL(5,2)] AS dec_list, []::INTEGER[] AS empty_list`);
    expect(values).toEqual({
      l: [1, null, 3],
      ll: [[1], [null], null],
      big_list: ['9007199254740993', null],
      arr: [1, 2, 3],
      s: { a: null, b: [null, 2], c: { d: null, e: '2024-01-02' } },
      null_struct: null,
      struct_list: [null, { a: 1 }],
      m: [
        { key: 'k', value: 1 },
        { key: 'j', value: null },
      ],
      m2: [{ key: 1, value: ['2024-01-02T00:00:00.000000Z'] }],
      dec_list: ['12.50'],
      empty_list: [],
    });
  });

  it('returns null for a NULL of every type', async () => {
    const casts = [
      'BIGINT',
      'HUGEINT',
      'UBIGINT',
      'INTEGER',
      'DOUBLE',
      'FLOAT',
      'DECIMAL(10,2)',
      'BOOLEAN',
      'VARCHAR',
      'DATE',
      'TIMESTAMP',
      'TIMESTAMPTZ',
      'TIME',
      'INTERVAL',
      'BLOB',
      'UUID',
      'INTEGER[]',
      'INTEGER[2]',
      'STRUCT(a INTEGER)',
      'MAP(VARCHAR, INTEGER)',
      'mood',
    ];
    const result = await query(`SELECT ${casts.map((t, i) => `NULL::${t} AS c${i}`).join(', ')}`);
    expect(result.rows).toEqual([casts.map(() => null)]);
  });

  it('produces output that JSON.stringify accepts and round-trips', async () => {
    const result =
      await query(`SELECT 9223372036854775807::BIGINT AS b, [1::HUGEINT] AS h, INTERVAL '1 day' AS i,
      {'x': 'NaN'::DOUBLE} AS s`);
    const text = JSON.stringify(result);
    expect(JSON.parse(text)).toEqual(result);
  });
});

describe('readResult: row count limit', () => {
  it('stops at the limit and flags truncation, including at a chunk boundary', async () => {
    const sql = 'SELECT range AS i FROM range(5000)';
    const cut = await query(sql, 3000);
    expect(cut.row_count).toBe(3000);
    expect(cut.truncated).toBe(true);
    expect(cut.rows[2999]).toEqual([2999]);

    const boundary = await query(sql, 2048);
    expect(boundary.row_count).toBe(2048);
    expect(boundary.truncated).toBe(true);

    const exact = await query(sql, 5000);
    expect(exact.row_count).toBe(5000);
    expect(exact.truncated).toBe(false);

    const all = await query(sql);
    expect(all.row_count).toBe(5000);
    expect(all.truncated).toBe(false);
    expect(all.rows.map((r) => r[0])).toEqual([...Array(5000).keys()]);
  });

  it('describes columns of an empty result', async () => {
    const empty = await query('SELECT 1::BIGINT AS a, 2.5::DOUBLE AS b WHERE false');
    expect(empty).toEqual({
      columns: [
        { name: 'a', type: 'BIGINT' },
        { name: 'b', type: 'DOUBLE' },
      ],
      rows: [],
      row_count: 0,
      truncated: false,
    });
  });
});
