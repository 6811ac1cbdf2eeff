/**
 * QueryExecutor.exportParquet: a governed SELECT written to a Parquet file (a Pond's input) in the
 * query sandbox — it reads only the tables it is given and writes only its destination.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryExecutor } from '../../src/compute/query.js';
import { openDuck, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let duck: Awaited<ReturnType<typeof openDuck>>;
const executor = new QueryExecutor({ maxConcurrent: 1, warmInstances: 1 });

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('export'));
  duck = await openDuck();
  await duck.connection.run(
    `COPY (SELECT range AS n, 'v' || range AS s FROM range(10)) TO '${path.join(dir, 'src.parquet')}' (FORMAT parquet)`,
  );
});

afterAll(async () => {
  duck.close();
  await executor.close();
  cleanup();
});

const tables = () => new Map([['sales@1.t', path.join(dir, 'src.parquet')]]);

describe('exportParquet', () => {
  it('writes the SELECT result to the destination and counts its rows', async () => {
    const out = path.join(dir, 'out.parquet');
    const r = await executor.exportParquet(
      'SELECT n, upper(s) AS s FROM "sales@1".t WHERE n < 4',
      { tables: tables() },
      out,
    );
    expect(r.rows).toBe(4);
    const read = await duck.connection.runAndReadAll(`SELECT n, s FROM '${out}' ORDER BY n`);
    expect(read.getRowObjectsJS()).toEqual([
      { n: 0n, s: 'V0' },
      { n: 1n, s: 'V1' },
      { n: 2n, s: 'V2' },
      { n: 3n, s: 'V3' },
    ]);
  });

  it('reads no other file and writes nowhere else', async () => {
    const out = path.join(dir, 'other.parquet');
    await expect(
      executor.exportParquet("SELECT * FROM read_csv('/etc/passwd')", { tables: tables() }, out),
    ).rejects.toMatchObject({ code: 'not_allowed' });
    // A statement smuggled after the SELECT is refused before the COPY runs.
    const stray = path.join(dir, 'stray.csv');
    await expect(
      executor.exportParquet(`SELECT 1 AS x; COPY (SELECT 1) TO '${stray}'`, { tables: tables() }, out),
    ).rejects.toMatchObject({ code: 'invalid_sql' });
    await expect(
      executor.exportParquet(
        `SELECT 1 AS x) TO '${stray}' (FORMAT csv); SELECT (1`,
        { tables: tables() },
        out,
      ),
    ).rejects.toBeTruthy();
    expect(existsSync(stray)).toBe(false);
    expect(existsSync(out)).toBe(false);
    await expect(
      executor.exportParquet('SELECT 1 AS x', { tables: tables() }, 'relative.parquet'),
    ).rejects.toMatchObject({ code: 'invalid_request' });
  });
});
