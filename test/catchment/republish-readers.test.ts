/**
 * Readers never fail during a republish (issue 8, item 6): a query resolves the published manifests
 * through `DataService.snapshot(leased)`, and garbage collection — here with no grace period at all,
 * so only the leases protect a reader — must never delete a file a resolved snapshot names before
 * the reader releases it. Each reader holds its snapshot across at least one publish and collection,
 * so without the lease the file would be gone. The Catchment is real and in-process; this test plays the Duck, publishing
 * and collecting as fast as it can while readers resolve and open what they were given.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportParquet } from '../../src/compute/parquet.js';
import { publish, stagingPath } from '../../src/compute/snapshots.js';
import { openDuck } from '../compute/helpers.js';
import { removeDir, TestCatchment, tempDir, writePond } from '../support/runtime.js';

const PUBLISHES = 60;

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
const READERS = 4;

let work: string;
let c: TestCatchment;

beforeAll(async () => {
  work = await tempDir('republish-readers');
  c = await TestCatchment.start(path.join(work, 'root'), { snapshotGraceMs: 0 });
  const pond = await writePond(work, { name: 'loop', files: { 'ripples/t.sql': 'SELECT 1 AS v' } });
  expect((await c.deploy(pond)).status).toBe(201);
});

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

it(`${READERS} readers never lose a leased snapshot file while ${PUBLISHES} publishes are collected at once`, async () => {
  const data = c.running.data;
  const dataDir = path.join(c.root, 'ponds', 'loop', 'm1', 'data');
  const duck = await openDuck();
  let writing = true;
  let deleted = 0;
  // Resolves after the next publish and collection: a reader holds its snapshot at least that long.
  let collected = signal();
  const writer = async () => {
    try {
      for (let version = 1; version <= PUBLISHES; version++) {
        const stagedPath = await stagingPath(dataDir, 't');
        await exportParquet(duck.connection, `SELECT ${version}::BIGINT AS v`, stagedPath);
        await publish(
          dataDir,
          { f: version, tables: [{ name: 't', stagedPath }] },
          { connection: duck.connection },
        );
        deleted += (await data.collect('loop', 1, Date.now())).length;
        const done = collected;
        collected = signal();
        done.resolve();
      }
    } finally {
      writing = false;
      collected.resolve();
    }
  };
  const lost: string[] = [];
  let reads = 0;
  const reader = async () => {
    while (writing) {
      const snapshot = await data.snapshot(true);
      try {
        // As a slow query would: the snapshot's files are superseded and collected meanwhile.
        await collected.promise;
        for (const file of snapshot.files.values()) {
          await access(file).catch(() => lost.push(file));
        }
        if (snapshot.files.size > 0) reads++;
      } finally {
        snapshot.release();
      }
    }
  };
  try {
    await Promise.all([writer(), ...Array.from({ length: READERS }, reader)]);
  } finally {
    duck.close();
  }
  expect(lost, `files deleted under a lease (of ${reads} reads)`).toEqual([]);
  // The readers really raced the collector: files were deleted while they read.
  expect(reads).toBeGreaterThan(PUBLISHES / 2);
  expect(deleted).toBeGreaterThan(PUBLISHES / 2);
  expect(data.executor.leases.size).toBe(0);
});
