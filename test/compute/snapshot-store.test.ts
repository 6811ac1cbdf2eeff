/**
 * The local SnapshotStore: references instead of paths, leases that garbage collection honours, and
 * readers that never fail while a line is republished and collected under them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalQueryBackend } from '../../src/compute/local-query-backend.js';
import { LocalSnapshotStore } from '../../src/compute/local-snapshot-store.js';
import { exportParquet } from '../../src/compute/parquet.js';
import { QueryExecutor } from '../../src/compute/query.js';
import { snapshotKey } from '../../src/compute/snapshot-store.js';
import { stagingPath } from '../../src/compute/snapshots.js';
import { openDuck, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let duck: Awaited<ReturnType<typeof openDuck>>;
let store: LocalSnapshotStore;
let executor: QueryExecutor;
const line = { pond: 'loop', major: 1 };

const dataDir = (l: { pond: string; major: number }) =>
  path.join(tmp.dir, 'ponds', l.pond, `m${l.major}`, 'data');

async function republish(version: number): Promise<void> {
  const stagedPath = await stagingPath(dataDir(line), 't');
  await exportParquet(
    duck.connection,
    `SELECT range AS id, ${version}::BIGINT AS version FROM range(500)`,
    stagedPath,
  );
  await store.publish(line, { f: version, tables: [{ name: 't', stagedPath }] });
}

beforeAll(async () => {
  tmp = tempDir('snapshot-store');
  duck = await openDuck();
  store = new LocalSnapshotStore({ dataDir });
  executor = new QueryExecutor({ leases: store.leases, maxConcurrent: 2 });
});
afterAll(async () => {
  await executor.close();
  tmp.cleanup();
});

describe('LocalSnapshotStore', () => {
  it('hands out logical references and resolves them to files of their own line only', async () => {
    await republish(1);
    const snapshot = await store.resolve(line);
    const ref = snapshot!.tables[0]!.ref;
    expect(ref).toMatchObject({ pond: 'loop', major: 1, table: 't' });
    expect(ref.file).toMatch(/^t\/[^/]+\.parquet$/);
    expect(path.isAbsolute(ref.file)).toBe(false);
    expect(snapshotKey(ref)).toBe('loop@1.t');
    expect(existsSync(store.pathOf(ref))).toBe(true);
    for (const bad of [
      { ...ref, file: '../../m2/data/t/x.parquet' },
      { ...ref, file: `other/${path.basename(ref.file)}` },
      { ...ref, table: 'other' },
      { ...ref, major: -1 },
    ]) {
      expect(() => store.pathOf(bad)).toThrow(/not a snapshot reference/);
    }
    expect(await store.resolve({ pond: 'never', major: 1 })).toBeNull();
  });

  it('garbage collection keeps acquired snapshots until they are released', async () => {
    const held = await store.acquire([line, { pond: 'never', major: 1 }]);
    expect(held.lines.map((l) => `${l.pond}@${l.major}`)).toEqual(['loop@1']);
    const file = store.pathOf(held.lines[0]!.tables[0]!.ref);
    await republish(2);
    expect(await store.collect(line, { now: Date.now() + 1000, graceMs: 0 })).toEqual([]);
    expect(existsSync(file)).toBe(true);
    held.release();
    held.release();
    expect(await store.collect(line, { now: Date.now() + 1000, graceMs: 0 })).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
  });

  it('readers never fail while the line is republished and collected at once under them', async () => {
    const backend = new LocalQueryBackend(executor, store);
    let writing = true;
    let collected = 0;
    const writer = (async () => {
      try {
        for (let version = 3; version <= 40; version++) {
          await republish(version);
          collected += (await store.collect(line, { now: Date.now() + 1000, graceMs: 0 })).length;
        }
      } finally {
        writing = false;
      }
    })();
    const reader = async () => {
      const versions: number[] = [];
      while (writing) {
        const held = await store.acquire([line]);
        try {
          const ref = held.lines[0]!.tables[0]!.ref;
          const result = await backend.execute({
            sql: 'SELECT min(version), max(version), count(*) FROM "loop@1".t',
            tables: [{ relation: 'loop@1.t', snapshot: ref }],
            principal: 'reader',
            timeoutMs: 30_000,
          });
          const [lo, hi, n] = result.rows[0] as [number, number, number];
          expect(lo).toBe(hi);
          expect(n).toBe(500);
          versions.push(Number(lo));
        } finally {
          held.release();
        }
      }
      return versions;
    };
    const reads = await Promise.all([reader(), reader(), writer.then(() => [])]);
    expect(collected).toBeGreaterThan(10);
    expect(reads.flat().length).toBeGreaterThan(5);
  }, 120_000);
});
