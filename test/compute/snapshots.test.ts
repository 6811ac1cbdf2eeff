import { existsSync, promises as fsp, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotLeases } from '../../src/compute/leases.js';
import { exportParquet } from '../../src/compute/parquet.js';
import {
  collectGarbage,
  describeTables,
  MANIFEST_FORMAT,
  type Manifest,
  publish,
  queryTablesFromManifest,
  readManifest,
  SnapshotError,
  stagingPath,
  tableFilePath,
} from '../../src/compute/snapshots.js';
import { openDuck, tempDir } from './helpers.js';

let duck: Awaited<ReturnType<typeof openDuck>>;
let tmp: ReturnType<typeof tempDir>;
let dataDir: string;

beforeAll(async () => {
  duck = await openDuck();
});
afterAll(() => duck.close());
beforeEach(() => {
  tmp = tempDir('snapshots');
  dataDir = path.join(tmp.dir, 'ponds', 'sales', 'm1', 'data');
});
afterEach(() => tmp.cleanup());

async function stage(table: string, rows: number, version = 1): Promise<string> {
  const target = await stagingPath(dataDir, table);
  await exportParquet(
    duck.connection,
    `SELECT range AS id, ${version}::INTEGER AS version, 'row ' || range AS label FROM range(${rows})`,
    target,
  );
  return target;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(current: string): Promise<void> {
    for (const entry of await fsp.readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out.push(path.relative(dir, full));
    }
  }
  await walk(dir);
  return out.sort();
}

async function expectSnapshotError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SnapshotError);
  expect((error as SnapshotError).code).toBe(code);
  expect((error as SnapshotError).message).toMatch(message);
}

describe('publish and readManifest', () => {
  it('returns null before the first publish', async () => {
    expect(await readManifest(dataDir)).toBeNull();
    expect(await describeTables(dataDir)).toEqual({
      f: null,
      freshness: null,
      publishedAt: null,
      tables: [],
    });
  });

  it('moves staged files under immutable names and switches the pointer', async () => {
    const stagedA = await stage('a', 10);
    const stagedB = await stage('b', 3);
    const manifest = await publish(
      dataDir,
      {
        f: 1_700_000_000_000,
        tables: [
          { name: 'a', stagedPath: stagedA },
          { name: 'b', stagedPath: stagedB },
        ],
      },
      { now: 1_700_000_000_500, connection: duck.connection },
    );
    expect(manifest.format).toBe(MANIFEST_FORMAT);
    expect(manifest.seq).toBe(1);
    expect(manifest.f).toBe(1_700_000_000_000);
    expect(manifest.publishedAt).toBe(1_700_000_000_500);
    expect(manifest.tables.a).toMatchObject({
      rows: 10,
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'version', type: 'INTEGER' },
        { name: 'label', type: 'VARCHAR' },
      ],
    });
    expect(manifest.tables.a!.file).toMatch(/^a\/1700000000000-1700000000500-[0-9a-f]+\.parquet$/);
    expect(manifest.tables.b!.rows).toBe(3);
    expect(manifest.tables.b!.bytes).toBe(statSync(tableFilePath(dataDir, manifest.tables.b!)).size);
    expect(existsSync(stagedA)).toBe(false);
    expect(existsSync(stagedB)).toBe(false);
    expect(await readManifest(dataDir)).toEqual(manifest);
    const files = await listFiles(dataDir);
    expect(files).toEqual(['current.json', manifest.tables.a!.file, manifest.tables.b!.file].sort());
  });

  it('works without a caller-provided connection', async () => {
    const manifest = await publish(dataDir, {
      f: 5,
      tables: [{ name: 'a', stagedPath: await stage('a', 7) }],
    });
    expect(manifest.tables.a!.rows).toBe(7);
  });

  it('replaces named tables, carries the others forward, and retires replaced files', async () => {
    const first = await publish(
      dataDir,
      {
        f: 100,
        tables: [
          { name: 'a', stagedPath: await stage('a', 5) },
          { name: 'b', stagedPath: await stage('b', 5) },
        ],
      },
      { now: 1000, connection: duck.connection },
    );
    const second = await publish(
      dataDir,
      { f: 200, tables: [{ name: 'a', stagedPath: await stage('a', 6, 2) }] },
      { now: 2000, connection: duck.connection },
    );
    expect(second.seq).toBe(2);
    expect(second.f).toBe(200);
    expect(second.tables.b).toEqual(first.tables.b);
    expect(second.tables.a!.file).not.toBe(first.tables.a!.file);
    expect(second.tables.a!.rows).toBe(6);
    expect(second.retired).toEqual([{ file: first.tables.a!.file, at: 2000 }]);
    // The replaced file is still there for readers that resolved the old manifest.
    expect(existsSync(tableFilePath(dataDir, first.tables.a!))).toBe(true);

    const third = await publish(dataDir, { f: 200, tables: [], drop: ['b'] }, { now: 3000 });
    expect(Object.keys(third.tables)).toEqual(['a']);
    expect(third.retired).toContainEqual({ file: first.tables.b!.file, at: 3000 });
  });

  it('serialises concurrent publishes of one directory', async () => {
    const stagedA = await stage('a', 1);
    const stagedB = await stage('b', 1);
    const [x, y] = await Promise.all([
      publish(dataDir, { f: 10, tables: [{ name: 'a', stagedPath: stagedA }] }),
      publish(dataDir, { f: 20, tables: [{ name: 'b', stagedPath: stagedB }] }),
    ]);
    expect([x.seq, y.seq]).toEqual([1, 2]);
    const final = await readManifest(dataDir);
    expect(final?.f).toBe(20);
    expect(Object.keys(final!.tables).sort()).toEqual(['a', 'b']);
  });

  describe('rejects bad publishes and leaves everything unchanged', () => {
    let before: Manifest;
    let filesBefore: string[];
    let pendingA: string;
    let pendingB: string;

    beforeEach(async () => {
      before = await publish(
        dataDir,
        { f: 500, tables: [{ name: 'a', stagedPath: await stage('a', 4) }] },
        { connection: duck.connection },
      );
      pendingA = await stage('a', 9, 2);
      pendingB = await stage('b', 9, 2);
      filesBefore = await listFiles(dataDir);
    });

    afterEach(async () => {
      expect(await readManifest(dataDir)).toEqual(before);
      expect(await listFiles(dataDir)).toEqual(filesBefore);
    });

    it('freshness going backwards', async () => {
      await expectSnapshotError(
        publish(dataDir, { f: 499, tables: [{ name: 'a', stagedPath: pendingA }] }),
        'freshness_regression',
        /f=499 is older than the published f=500/,
      );
    });

    it('a missing staged file (and the valid one is not moved)', async () => {
      await expectSnapshotError(
        publish(dataDir, {
          f: 600,
          tables: [
            { name: 'a', stagedPath: pendingA },
            { name: 'b', stagedPath: path.join(tmp.dir, 'nope.parquet') },
          ],
        }),
        'staged_file_missing',
        /staged file for "b" not found/,
      );
    });

    it('a staged file that is not Parquet', async () => {
      const bogus = path.join(path.dirname(pendingB), 'bogus.parquet');
      writeFileSync(bogus, 'not parquet at all');
      filesBefore = await listFiles(dataDir);
      await expectSnapshotError(
        publish(dataDir, {
          f: 600,
          tables: [
            { name: 'a', stagedPath: pendingA },
            { name: 'b', stagedPath: bogus },
          ],
        }),
        'invalid_parquet',
        /"b" is not a readable Parquet file/,
      );
    });

    it('invalid input', async () => {
      await expectSnapshotError(
        publish(dataDir, {
          f: 600,
          tables: [
            { name: 'a', stagedPath: pendingA },
            { name: 'A', stagedPath: pendingB },
          ],
        }),
        'invalid_input',
        /table "A" is listed twice/,
      );
      await expectSnapshotError(
        publish(dataDir, { f: 600, tables: [{ name: '../evil', stagedPath: pendingA }] }),
        'invalid_input',
        /tables\.0\.name: table names are identifiers/,
      );
      await expectSnapshotError(
        publish(dataDir, { f: 1.5, tables: [{ name: 'a', stagedPath: pendingA }] }),
        'invalid_input',
        /f is epoch milliseconds/,
      );
      await expectSnapshotError(
        publish(dataDir, { f: 600, tables: [], drop: ['zzz'] }),
        'invalid_input',
        /cannot drop table "zzz": it is not published/,
      );
      await expectSnapshotError(
        publish(dataDir, { f: 600, tables: [{ name: 'a', stagedPath: pendingA }], drop: ['a'] }),
        'invalid_input',
        /both published and dropped/,
      );
    });

    const otherDevice = (() => {
      try {
        return statSync('/dev/shm').dev !== statSync(os.tmpdir()).dev;
      } catch {
        return false;
      }
    })();

    it.skipIf(!otherDevice)('a staged file on another filesystem', async () => {
      const shm = mkdtempSync('/dev/shm/duckstring-');
      try {
        const foreign = path.join(shm, 'a.parquet');
        await exportParquet(duck.connection, 'SELECT 1 AS x', foreign);
        await expectSnapshotError(
          publish(dataDir, {
            f: 600,
            tables: [
              { name: 'a', stagedPath: pendingA },
              { name: 'b', stagedPath: foreign },
            ],
          }),
          'cross_device',
          /on another filesystem/,
        );
        // The first file was moved and then moved back.
        expect(existsSync(pendingA)).toBe(true);
        expect(existsSync(foreign)).toBe(true);
      } finally {
        rmSync(shm, { recursive: true, force: true });
      }
    });
  });

  it('reports a corrupt manifest precisely', async () => {
    await fsp.mkdir(dataDir, { recursive: true });
    writeFileSync(path.join(dataDir, 'current.json'), '{"format": "something-else"}');
    await expectSnapshotError(
      readManifest(dataDir),
      'corrupt_manifest',
      /is not a snapshot manifest: format/,
    );
    writeFileSync(path.join(dataDir, 'current.json'), '{oops');
    await expectSnapshotError(readManifest(dataDir), 'corrupt_manifest', /is not valid JSON/);
  });
});

describe('collectGarbage', () => {
  it('deletes retired files only after the grace period and never a leased or published one', async () => {
    const v1 = await publish(
      dataDir,
      {
        f: 1,
        tables: [
          { name: 'a', stagedPath: await stage('a', 2) },
          { name: 'b', stagedPath: await stage('b', 2) },
        ],
      },
      { now: 10_000, connection: duck.connection },
    );
    const v2 = await publish(
      dataDir,
      { f: 2, tables: [{ name: 'a', stagedPath: await stage('a', 2, 2) }] },
      { now: 20_000, connection: duck.connection },
    );
    const oldA = tableFilePath(dataDir, v1.tables.a!);
    const leases = new SnapshotLeases();

    // Inside the grace period: kept.
    let gc = await collectGarbage(dataDir, { now: 20_000 + 999, graceMs: 1000, inUse: leases });
    expect(gc).toEqual({ deleted: [], kept: [v1.tables.a!.file] });

    // Past the grace period but leased: kept.
    const release = leases.acquire([oldA]);
    gc = await collectGarbage(dataDir, { now: 20_000 + 1000, graceMs: 1000, inUse: leases });
    expect(gc.deleted).toEqual([]);
    expect(existsSync(oldA)).toBe(true);

    // Released: deleted. Published files survive even with a zero grace far in the future.
    release();
    gc = await collectGarbage(dataDir, { now: 10 ** 13, graceMs: 0, inUse: leases });
    expect(gc.deleted).toEqual([v1.tables.a!.file]);
    expect(existsSync(oldA)).toBe(false);
    for (const entry of Object.values(v2.tables))
      expect(existsSync(tableFilePath(dataDir, entry))).toBe(true);

    // A later publish forgets retirements whose files are gone.
    const v3 = await publish(dataDir, { f: 3, tables: [], drop: ['b'] }, { now: 30_000 });
    expect(v3.retired).toEqual([{ file: v1.tables.b!.file, at: 30_000 }]);
    gc = await collectGarbage(dataDir, { now: 31_000, graceMs: 1000 });
    expect(gc.deleted).toEqual([v1.tables.b!.file]);
    expect(existsSync(path.join(dataDir, 'b'))).toBe(false);
  });

  it('measures grace from retirement, not from when the file was written', async () => {
    const v1 = await publish(
      dataDir,
      { f: 1, tables: [{ name: 'a', stagedPath: await stage('a', 1) }] },
      { now: 1_000, connection: duck.connection },
    );
    await publish(
      dataDir,
      { f: 2, tables: [{ name: 'a', stagedPath: await stage('a', 1, 2) }] },
      { now: 1_000_000, connection: duck.connection },
    );
    const gc = await collectGarbage(dataDir, { now: 1_000_500, graceMs: 1000 });
    expect(gc).toEqual({ deleted: [], kept: [v1.tables.a!.file] });
  });

  it('ages orphans by modification time and leaves foreign files alone', async () => {
    await publish(dataDir, { f: 1, tables: [{ name: 'a', stagedPath: await stage('a', 1) }] });
    const oldStaged = await stage('b', 1);
    const freshStaged = await stage('c', 1);
    const tempManifest = path.join(dataDir, 'current.json.tmp-abc');
    const orphanInTable = path.join(dataDir, 'a', 'crashed.parquet');
    writeFileSync(tempManifest, '{}');
    writeFileSync(orphanInTable, 'x');
    const foreign = [path.join(dataDir, 'README.txt'), path.join(dataDir, 'a', 'notes.txt')];
    for (const f of foreign) writeFileSync(f, 'keep me');
    const longAgo = new Date(Date.now() - 3_600_000);
    for (const f of [oldStaged, tempManifest, orphanInTable, ...foreign])
      await fsp.utimes(f, longAgo, longAgo);

    const gc = await collectGarbage(dataDir, { graceMs: 60_000 });
    expect(gc.deleted.sort()).toEqual(
      [path.relative(dataDir, oldStaged), 'a/crashed.parquet', 'current.json.tmp-abc'].sort(),
    );
    expect(gc.kept).toEqual([path.relative(dataDir, freshStaged)]);
    for (const f of foreign) expect(existsSync(f)).toBe(true);
  });

  it('rejects a negative grace period', async () => {
    await expectSnapshotError(collectGarbage(dataDir, { graceMs: -1 }), 'invalid_input', /graceMs/);
  });
});

describe('leases', () => {
  it('counts references per file', () => {
    const leases = new SnapshotLeases();
    const one = leases.acquire(['/x/a.parquet', '/x/b.parquet']);
    const two = leases.acquire(['/x/./a.parquet']);
    expect(leases.size).toBe(2);
    one();
    one();
    expect(leases.has('/x/a.parquet')).toBe(true);
    expect(leases.has('/x/b.parquet')).toBe(false);
    two();
    expect(leases.size).toBe(0);
  });
});

describe('describeTables and queryTablesFromManifest', () => {
  it('describes the published set and maps qualified names to files', async () => {
    const manifest = await publish(
      dataDir,
      {
        f: Date.UTC(2024, 0, 2),
        tables: [
          { name: 'zeta', stagedPath: await stage('zeta', 3) },
          { name: 'alpha', stagedPath: await stage('alpha', 2) },
        ],
      },
      { now: Date.UTC(2024, 0, 2, 0, 0, 1), connection: duck.connection },
    );
    const described = await describeTables(dataDir);
    expect(described.f).toBe(Date.UTC(2024, 0, 2));
    expect(described.freshness).toBe('2024-01-02T00:00:00.000Z');
    expect(described.publishedAt).toBe('2024-01-02T00:00:01.000Z');
    expect(described.tables.map((t) => [t.name, t.rows])).toEqual([
      ['alpha', 2],
      ['zeta', 3],
    ]);
    expect(described.tables[0]!.columns.map((c) => c.name)).toEqual(['id', 'version', 'label']);

    const tables = queryTablesFromManifest(dataDir, manifest, ['sales', 'sales@1']);
    expect([...tables.keys()].sort()).toEqual(['sales.alpha', 'sales.zeta', 'sales@1.alpha', 'sales@1.zeta']);
    expect(tables.get('sales@1.zeta')).toBe(path.resolve(dataDir, manifest.tables.zeta!.file));
    expect(queryTablesFromManifest(dataDir, null, ['sales']).size).toBe(0);
  });
});
