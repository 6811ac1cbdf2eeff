/**
 * The data plane end to end over real HTTP: a real Catchment (startCatchment) serving published
 * snapshots on its capability route, and the worker's HttpSnapshotSource fetching them into its
 * disk cache. The fetch the source uses is the real one, wrapped only to count requests.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linePaths } from '../../../src/catchment/store/index.js';
import {
  type CapabilityFile,
  grantSnapshotFiles,
  loadOrCreateCapabilityKey,
  mintCapability,
  SNAPSHOT_ROUTE_PREFIX,
} from '../../../src/compute/capability.js';
import { QueryError } from '../../../src/compute/query.js';
import type { SnapshotTable } from '../../../src/compute/snapshot-store.js';
import { stagingPath } from '../../../src/compute/snapshots.js';
import {
  type CheckedSnapshotFile,
  HttpSnapshotSource,
  type SnapshotFile,
  snapshotFileUrl,
} from '../../../src/compute/worker/http-snapshot-source.js';
import { removeDir, TestCatchment, tempDir, waitFor } from '../../support/runtime.js';
import { openDuck } from '../helpers.js';

let work: string;
let c: TestCatchment;
let key: Buffer;
/** Published tables by `pond.table`. */
const tables = new Map<string, SnapshotTable>();
let requests = 0;
const countingFetch: typeof fetch = (input, init) => {
  requests++;
  return fetch(input, init);
};

const SQL: Record<string, string> = {
  // Random doubles do not compress: a file of several MB, so a download outlasts socket buffers.
  'sales.orders': 'SELECT i AS id, random() AS amount, hash(i) AS h FROM range(600000) t(i)',
  'sales.customers': "SELECT i AS id, 'customer ' || i AS name FROM range(1000) t(i)",
  'payroll.salaries': 'SELECT i AS id, i * 10 AS salary FROM range(100) t(i)',
};

beforeAll(async () => {
  work = await tempDir('dataplane');
  c = await TestCatchment.start(path.join(work, 'root'));
  const duck = await openDuck();
  try {
    for (const pond of ['sales', 'payroll']) {
      const dataDir = linePaths(c.root, pond, 1).data;
      const staged = [];
      for (const [name, sql] of Object.entries(SQL)) {
        if (!name.startsWith(`${pond}.`)) continue;
        const table = name.split('.')[1]!;
        const stagedPath = await stagingPath(dataDir, table);
        await duck.connection.run(`COPY (${sql}) TO '${stagedPath}' (FORMAT parquet)`);
        staged.push({ name: table, stagedPath });
      }
      const snapshot = await c.running.data.snapshots.publish(
        { pond, major: 1 },
        { f: Date.now(), tables: staged },
      );
      for (const t of snapshot.tables) tables.set(`${pond}.${t.ref.table}`, t);
    }
  } finally {
    duck.close();
  }
  // The key the Catchment loaded at start (the same file).
  key = loadOrCreateCapabilityKey(c.root);
}, 180_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

function fileOf(name: string, relation = name.split('.')[1]!): CheckedSnapshotFile {
  const t = tables.get(name)!;
  return {
    relation,
    pond: t.ref.pond,
    major: t.ref.major,
    table: t.ref.table,
    file: t.ref.file,
    size: t.bytes,
    checksum: t.ref.checksum,
  };
}

function grant(
  files: Array<Pick<CapabilityFile, 'pond' | 'major' | 'file' | 'size' | 'checksum'>>,
  ttlMs = 60_000,
) {
  return mintCapability(key, {
    files: files.map((f) => ({
      pond: f.pond,
      major: f.major,
      file: f.file,
      size: f.size,
      checksum: f.checksum,
    })),
    expiresAt: Date.now() + ttlMs,
  });
}

function source(cacheBytes: number, dir = fs.mkdtempSync(path.join(work, 'cache-'))): HttpSnapshotSource {
  return new HttpSnapshotSource({ cacheDir: dir, cacheBytes, fetch: countingFetch });
}

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function sha(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function catchmentPath(name: string): string {
  return c.running.data.snapshots.pathOf(tables.get(name)!.ref);
}

/** A raw request to the route, answered whatever its status. */
async function get(
  f: Pick<SnapshotFile, 'pond' | 'major' | 'file'>,
  authorization?: string,
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(snapshotFileUrl(c.url, f), {
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe('the Catchment snapshot route and the HTTP snapshot source', () => {
  it('downloads on a miss, serves from disk on a hit, byte for byte the published file', async () => {
    const s = source(64 * 1024 * 1024);
    const files = [fileOf('sales.orders'), fileOf('sales.customers')];
    const ctx = { capability: grant(files), snapshotUrl: c.url };
    const before = requests;
    const first = await s.open(files, ctx);
    expect(requests - before).toBe(2);
    expect([...first.paths.keys()]).toEqual(['orders', 'customers']);
    expect(sha(first.paths.get('orders')!)).toBe(sha(catchmentPath('sales.orders')));
    expect(sha(first.paths.get('customers')!)).toBe(sha(catchmentPath('sales.customers')));
    expect(fs.statSync(first.paths.get('orders')!).size).toBeGreaterThan(2 * 1024 * 1024);
    first.release();
    // Sizes as the generated proto type carries them (bigint) name the same cached files.
    const second = await s.open(
      files.map((f) => ({ ...f, size: BigInt(f.size) })),
      ctx,
    );
    expect(requests - before).toBe(2);
    expect(second.paths).toEqual(first.paths);
    second.release();
  });

  it("opens what the Catchment grants for a query's tables, as files DuckDB reads", async () => {
    const s = source(64 * 1024 * 1024);
    const grantFor = ['sales.orders', 'payroll.salaries'].map((name) => ({
      relation: `${name.replace('.', '@1.')}`,
      snapshot: tables.get(name)!.ref,
    }));
    const granted = await grantSnapshotFiles(c.running.data.snapshots, grantFor, {
      key,
      now: Date.now(),
      ttlMs: 60_000,
    });
    expect(granted.files.map((f) => [f.relation, f.size])).toEqual([
      ['sales@1.orders', tables.get('sales.orders')!.bytes],
      ['payroll@1.salaries', tables.get('payroll.salaries')!.bytes],
    ]);
    const opened = await s.open(granted.files, { capability: granted.capability, snapshotUrl: `${c.url}/` });
    const duck = await openDuck();
    try {
      const count = async (relation: string) => {
        const reader = await duck.connection.runAndReadAll(
          `SELECT count(*)::INTEGER AS n FROM read_parquet('${opened.paths.get(relation)}')`,
        );
        return reader.getRowObjects()[0]!.n;
      };
      expect(await count('sales@1.orders')).toBe(600000);
      expect(await count('payroll@1.salaries')).toBe(100);
    } finally {
      duck.close();
      opened.release();
    }
  });

  it('shares one download between concurrent queries needing the same file', async () => {
    const s = source(64 * 1024 * 1024);
    const files = [fileOf('sales.orders')];
    const ctx = { capability: grant(files), snapshotUrl: c.url };
    const before = requests;
    const opened = await Promise.all([s.open(files, ctx), s.open(files, ctx), s.open(files, ctx)]);
    expect(requests - before).toBe(1);
    for (const o of opened) o.release();
  });

  it('evicts the least recently used file under a small cap, and downloads it again when needed', async () => {
    const orders = fileOf('sales.orders');
    const customers = fileOf('sales.customers');
    const salaries = fileOf('payroll.salaries');
    // Room for the large file, or for the two small ones, never for all three.
    const s = source(orders.size + 1);
    const ctx = { capability: grant([orders, customers, salaries]), snapshotUrl: c.url };
    const before = requests;
    (await s.open([customers], ctx)).release();
    (await s.open([salaries], ctx)).release();
    expect(s.cache.keys()).toEqual([`sales/m1/${customers.file}`, `payroll/m1/${salaries.file}`]);
    (await s.open([orders], ctx)).release();
    expect(s.cache.keys()).toEqual([`sales/m1/${orders.file}`]);
    expect(s.cache.size).toBeLessThanOrEqual(orders.size + 1);
    (await s.open([customers], ctx)).release();
    expect(s.cache.keys()).toEqual([`sales/m1/${customers.file}`]);
    expect(requests - before).toBe(4);
  });

  it('never evicts a file a running query holds', async () => {
    const orders = fileOf('sales.orders');
    const customers = fileOf('sales.customers');
    const s = source(orders.size + 1);
    const ctx = { capability: grant([orders, customers]), snapshotUrl: c.url };
    const running = await s.open([customers], ctx);
    const other = await s.open([orders], ctx);
    // Over the cap while both are held: the running query's file is still there, intact.
    expect(s.cache.size).toBe(orders.size + customers.size);
    expect(sha(running.paths.get('customers')!)).toBe(sha(catchmentPath('sales.customers')));
    other.release();
    // Releasing the large file makes it the only idle one: it goes, the held file stays.
    expect(s.cache.keys()).toEqual([`sales/m1/${customers.file}`]);
    expect(fs.existsSync(running.paths.get('customers')!)).toBe(true);
    running.release();
  });

  it('leases the file on the Catchment while it streams', async () => {
    const orders = fileOf('sales.orders');
    const leases = c.running.data.snapshots.leases;
    const res = await fetch(snapshotFileUrl(c.url, orders), {
      headers: { authorization: `Capability ${grant([orders])}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(orders.size));
    expect(res.headers.get('x-checksum')).toBe(orders.checksum);
    // The body is not read yet: the server is mid-stream and holds the lease.
    expect(leases.has(catchmentPath('sales.orders'))).toBe(true);
    await res.body!.cancel();
    await waitFor('the lease to be released', async () =>
      leases.has(catchmentPath('sales.orders')) ? undefined : true,
    );
  });

  it('keeps a file it streams through a republish and garbage collection, then lets it go', async () => {
    const line = { pond: 'events', major: 1 };
    const store = c.running.data.snapshots;
    // Twice the size of what loopback socket buffers can hold, so the stream is still reading the
    // file while its body goes unread.
    const publishLog = async (seed: number) => {
      const duck = await openDuck();
      try {
        const stagedPath = await stagingPath(linePaths(c.root, 'events', 1).data, 'log');
        await duck.connection.run(
          `SELECT setseed(${seed}); COPY (SELECT random() AS a, random() AS b FROM range(1500000) t(i)) TO '${stagedPath}' (FORMAT parquet)`,
        );
        return (await store.publish(line, { f: Date.now(), tables: [{ name: 'log', stagedPath }] }))
          .tables[0]!;
      } finally {
        duck.close();
      }
    };
    const old = await publishLog(0.1);
    const oldPath = store.pathOf(old.ref);
    const expected = sha(oldPath);
    const f = { pond: 'events', major: 1, file: old.ref.file, size: old.bytes, checksum: old.ref.checksum };
    const res = await fetch(snapshotFileUrl(c.url, f), {
      headers: { authorization: `Capability ${grant([f])}` },
    });
    expect(res.status).toBe(200);
    // Replaced and past any grace period: garbage collection would delete it, but it is being read.
    await publishLog(0.2);
    expect(await store.collect(line, { now: Date.now() + 1, graceMs: 0 })).toEqual([]);
    expect(fs.existsSync(oldPath)).toBe(true);
    // The retired file is no longer in the manifest: the checksum is the one the capability lists.
    expect(res.headers.get('x-checksum')).toBe(old.ref.checksum);
    const body = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(expected);
    await waitFor('the lease to be released', async () => (store.leases.has(oldPath) ? undefined : true));
    expect(await store.collect(line, { now: Date.now() + 1, graceMs: 0 })).toEqual([old.ref.file]);
    expect(fs.existsSync(oldPath)).toBe(false);
    // Gone now: the same capability gets the uniform 404.
    expect((await get(f, `Capability ${grant([f])}`)).status).toBe(404);
  });

  it('answers 401 to a missing, garbled, tampered, foreign or expired capability', async () => {
    const orders = fileOf('sales.orders');
    const good = grant([orders]);
    const [payload, mac] = good.split('.');
    const tamperedClaims = Buffer.from(payload!, 'base64url').toString('utf8').replace('"size":', '"size":1');
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'missing capability (send "Authorization: Capability TOKEN")'],
      [`Bearer ${c.running.adminKey}`, 'missing capability (send "Authorization: Capability TOKEN")'],
      ['Capability not-a-token', 'invalid capability: capability is not of the form <claims>.<mac>'],
      [
        `Capability ${Buffer.from(tamperedClaims).toString('base64url')}.${mac}`,
        'invalid capability: capability signature does not match',
      ],
      [
        `Capability ${mintCapability(Buffer.alloc(32, 1), { files: [orders], expiresAt: Date.now() + 60_000 })}`,
        'invalid capability: capability signature does not match',
      ],
      [`Capability ${grant([orders], -1)}`, 'invalid capability: capability has expired'],
    ];
    for (const [authorization, message] of cases) {
      const answer = await get(orders, authorization);
      expect(answer.status, String(authorization)).toBe(401);
      if (authorization) expect(answer.body).not.toContain(authorization.split(' ')[1]);
      expect(JSON.parse(answer.body), String(authorization)).toEqual({
        error: { code: 'unauthenticated', message },
      });
    }
  });

  it('answers one uniform 404 for a file not listed, listed but missing, of another size, or not a snapshot', async () => {
    const orders = fileOf('sales.orders');
    const salaries = fileOf('payroll.salaries');
    const ghost = { ...orders, file: 'orders/ghost.parquet' };
    const capability = `Capability ${grant([orders, ghost, { ...fileOf('sales.customers'), size: 1 }])}`;
    const answers = [
      // Exists, not listed (another Pond's file).
      await get(salaries, capability),
      // Exists, listed under another major / pond.
      await get({ ...orders, major: 2 }, capability),
      await get({ ...orders, pond: 'payroll' }, capability),
      // Listed, does not exist.
      await get(ghost, capability),
      // Listed with a size the file does not have.
      await get(fileOf('sales.customers'), capability),
      // Not a snapshot name at all.
      await get({ ...orders, file: 'registry.duckdb' }, capability),
      await get({ ...orders, file: `${orders.file}/..` }, capability),
    ];
    for (const a of answers) {
      expect({ status: a.status, body: JSON.parse(a.body) }).toEqual({
        status: 404,
        body: { error: { code: 'not_found', message: 'no such snapshot file under this capability' } },
      });
    }
    // The listed, existing file is served with the same capability.
    expect((await get(orders, capability)).status).toBe(200);
  });

  it('reports a refused download as snapshot_unavailable, never echoing the capability, and caches nothing', async () => {
    const orders = fileOf('sales.orders');
    const dir = fs.mkdtempSync(path.join(work, 'cache-'));
    const s = source(64 * 1024 * 1024, dir);
    const capability = grant([orders], -1);
    const error = await s.open([orders], { capability, snapshotUrl: c.url }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).code).toBe('snapshot_unavailable');
    expect((error as QueryError).message).toBe(
      `snapshot file sales@1/${orders.file}: the Catchment answered 401 (invalid capability: capability has expired)`,
    );
    expect((error as QueryError).message).not.toContain(capability);

    const ghost = { ...orders, file: 'orders/ghost.parquet' };
    const notFound = await s
      .open([ghost], { capability: grant([ghost]), snapshotUrl: c.url })
      .catch((e: unknown) => e as QueryError);
    expect(notFound).toMatchObject({
      code: 'snapshot_unavailable',
      message:
        'snapshot file sales@1/orders/ghost.parquet: the Catchment answered 404 (no such snapshot file under this capability)',
    });
    // A file announced with another checksum than the Catchment's is not taken.
    const wrong = { ...orders, checksum: 'other' };
    await expect(s.open([wrong], { capability: grant([wrong]), snapshotUrl: c.url })).rejects.toMatchObject({
      code: 'snapshot_unavailable',
      message: `snapshot file sales@1/${orders.file}: its checksum is ${JSON.stringify(orders.checksum)}, the query expects "other"`,
    });
    // Nowhere to connect: a clear error too.
    const closed = await s
      .open([orders], { capability: grant([orders]), snapshotUrl: `http://127.0.0.1:${await closedPort()}` })
      .then(
        () => null,
        (e: unknown) => e as QueryError,
      );
    expect(closed).toMatchObject({ code: 'snapshot_unavailable' });
    expect(closed?.message).toMatch(
      /^snapshot file sales@1\/orders\/.*: cannot reach the Catchment \(ECONNREFUSED\)$/,
    );
    // One failing file fails the whole open and releases the others it got.
    const customers = fileOf('sales.customers');
    await expect(
      s.open([customers, ghost], { capability: grant([customers, ghost]), snapshotUrl: c.url }),
    ).rejects.toMatchObject({ code: 'snapshot_unavailable' });
    expect(s.cache.isIdle(`sales/m1/${customers.file}`)).toBe(true);
    expect(s.cache.keys()).toEqual([`sales/m1/${customers.file}`]);
    const leftovers = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) =>
      f.endsWith('.parquet'),
    );
    expect(leftovers).toEqual([path.join('sales', 'm1', customers.file)]);
  });

  it('refuses names outside the line before any I/O', async () => {
    const orders = fileOf('sales.orders');
    const s = source(64 * 1024 * 1024);
    const ctx = { capability: grant([orders]), snapshotUrl: c.url };
    const bad: Array<[Partial<SnapshotFile>, string]> = [
      [{ file: '../../../etc/passwd' }, 'not a plain name <table>/<file>.parquet inside the line'],
      [{ file: '/etc/orders.parquet' }, 'not a plain name <table>/<file>.parquet inside the line'],
      [{ file: 'orders/../x.parquet' }, 'not a plain name <table>/<file>.parquet inside the line'],
      [{ file: 'orders\\x.parquet' }, 'not a plain name <table>/<file>.parquet inside the line'],
      [{ file: 'orders/a\\b.parquet' }, 'not a plain name <table>/<file>.parquet inside the line'],
      [{ file: 'orders/a\0.parquet' }, 'not a plain name <table>/<file>.parquet inside the line'],
      [{ file: 'customers/x.parquet' }, 'it is not a file of table orders'],
      [{ file: 'orders/..parquet' }, 'hidden names are not snapshot files'],
      [{ pond: '../sales' }, 'pond "../sales" is not a Pond name'],
      [{ major: -1 }, 'major -1 is not a major version'],
      [{ size: -5 }, 'size -5 is not a byte count'],
    ];
    const before = requests;
    for (const [change, why] of bad) {
      const f = { ...orders, ...change };
      await expect(s.open([fileOf('sales.customers'), f], ctx), JSON.stringify(change)).rejects.toMatchObject(
        {
          code: 'invalid_request',
          message: `snapshot file ${JSON.stringify(f.file)} refused: ${why}`,
        },
      );
    }
    await expect(s.open([orders], { ...ctx, snapshotUrl: 'file:///etc' })).rejects.toMatchObject({
      code: 'invalid_request',
    });
    for (const capability of ['', 'no-dot', `${ctx.capability}\r\nx-evil: 1`, `${ctx.capability} `]) {
      const error = await s.open([orders], { ...ctx, capability }).then(
        () => null,
        (e: unknown) => e as QueryError,
      );
      expect(error).toMatchObject({
        code: 'invalid_request',
        message: 'the snapshot capability is missing or malformed',
      });
    }
    expect(requests).toBe(before);
    expect(s.cache.keys()).toEqual([]);
    expect(SNAPSHOT_ROUTE_PREFIX).toBe('/internal/snapshots');
  });
});
