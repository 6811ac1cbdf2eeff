/**
 * The reliability contract: readers querying a Pond's tables while it is republished in a loop never
 * get an error or a mix of two versions.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportParquet } from '../../src/compute/parquet.js';
import { QueryExecutor } from '../../src/compute/query.js';
import {
  collectGarbage,
  publish,
  queryTablesFromManifest,
  readManifest,
  stagingPath,
} from '../../src/compute/snapshots.js';
import { openDuck, tempDir } from './helpers.js';

const PUBLISHES = 50;
const ROWS = 100_000;
const READERS = 3;
const GRACE_MS = 100;

let tmp: ReturnType<typeof tempDir>;
let executor: QueryExecutor;

beforeAll(() => {
  tmp = tempDir('torn');
  executor = new QueryExecutor({ maxConcurrent: 2 });
});
afterAll(async () => {
  await executor.close();
  tmp.cleanup();
});

interface Observation {
  seq: number;
  aMin: number;
  aMax: number;
  bMin: number;
  bMax: number;
  aRows: number;
  bRows: number;
  joined: number;
}

const READ_SQL = `
  WITH a AS (SELECT min(version) AS lo, max(version) AS hi, count(*) AS n FROM loop.a),
       b AS (SELECT min(version) AS lo, max(version) AS hi, count(*) AS n FROM loop.b),
       j AS (SELECT count(*) AS n FROM loop.a JOIN loop.b USING (id, version))
  SELECT a.lo, a.hi, b.lo, b.hi, a.n, b.n, j.n FROM a, b, j`;

it(`${READERS} readers never see an error or a mix while ${PUBLISHES} publishes replace both tables`, async () => {
  const dataDir = path.join(tmp.dir, 'ponds', 'loop', 'm1', 'data');
  const duck = await openDuck();
  const publishMs: number[] = [];
  let deleted = 0;
  let writing = true;
  let firstPublished!: () => void;
  const published = new Promise<void>((resolve) => {
    firstPublished = resolve;
  });

  async function writer(): Promise<void> {
    try {
      for (let version = 1; version <= PUBLISHES; version++) {
        const staged = [];
        for (const name of ['a', 'b']) {
          const stagedPath = await stagingPath(dataDir, name);
          await exportParquet(
            duck.connection,
            `SELECT range AS id, ${version}::BIGINT AS version, range * 7 AS payload FROM range(${ROWS})`,
            stagedPath,
          );
          staged.push({ name, stagedPath });
        }
        const started = performance.now();
        await publish(dataDir, { f: version, tables: staged }, { connection: duck.connection });
        publishMs.push(performance.now() - started);
        firstPublished();
        const gc = await collectGarbage(dataDir, { graceMs: GRACE_MS, inUse: executor.leases });
        deleted += gc.deleted.length;
      }
    } finally {
      writing = false;
      firstPublished();
    }
  }

  const errors: unknown[] = [];
  const seen: Observation[][] = Array.from({ length: READERS }, () => []);

  async function reader(index: number): Promise<void> {
    await published;
    while (writing) {
      const manifest = await readManifest(dataDir);
      if (!manifest) throw new Error('the manifest disappeared after the first publish');
      try {
        const result = await executor.execute(READ_SQL, {
          tables: queryTablesFromManifest(dataDir, manifest, ['loop']),
          limits: { threads: 1 },
        });
        const [aMin, aMax, bMin, bMax, aRows, bRows, joined] = result.rows[0] as number[];
        seen[index]!.push({ seq: manifest.seq, aMin, aMax, bMin, bMax, aRows, bRows, joined } as Observation);
      } catch (error) {
        errors.push(error);
      }
    }
  }

  try {
    await Promise.all([writer(), ...Array.from({ length: READERS }, (_, i) => reader(i))]);
  } finally {
    duck.close();
  }

  expect(errors).toEqual([]);
  const all = seen.flat();
  expect(all.length).toBeGreaterThanOrEqual(20);
  for (const o of all) {
    // One version across both tables, complete, and the join matches every row.
    expect([o.aMin, o.aMax, o.bMin, o.bMax]).toEqual([o.seq, o.seq, o.seq, o.seq]);
    expect([o.aRows, o.bRows, o.joined]).toEqual([ROWS, ROWS, ROWS]);
  }
  for (const observations of seen) {
    const versions = observations.map((o) => o.aMin);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
  }
  // The readers really overlapped with republishing, and old files really were collected.
  expect(new Set(all.map((o) => o.aMin)).size).toBeGreaterThanOrEqual(5);
  expect(deleted).toBeGreaterThan(PUBLISHES);
  expect(executor.leases.size).toBe(0);
  const final = await collectGarbage(dataDir, { now: Date.now() + GRACE_MS, graceMs: GRACE_MS });
  expect(final.kept).toEqual([]);
  expect(readdirSync(path.join(dataDir, 'a'))).toHaveLength(1);
  expect(readdirSync(path.join(dataDir, 'b'))).toHaveLength(1);
  publishMs.sort((x, y) => x - y);
  console.info(
    `torn-read: ${all.length} reads over ${PUBLISHES} publishes; publish median ${publishMs[PUBLISHES >> 1]!.toFixed(1)} ms`,
  );
});
