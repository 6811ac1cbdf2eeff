/**
 * Ducks in http storage mode (issue 12, data plane) with real parts: two Catchments on 127.0.0.1,
 * Duck processes spawned from the built CLI, the demo pipeline of examples/ponds. One Catchment runs
 * every Duck the usual way, the other launches them in http mode with work directories outside its
 * root; both must publish the same tables. Then the working database moving with the line, and the
 * data plane's refusals, each attack before the request that shows the route works.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPLOAD_CONTENT_TYPE } from '../../src/api/duck-data.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/ponds/', import.meta.url));
const DEMO = ['transactions', 'products', 'sales', 'reports'];
const UPLOAD_LIMIT = 4 * 1024 * 1024;

let work: string;
let ponds: string;
let local: TestCatchment | undefined;
let remote: TestCatchment;
let remoteRoot: string;
let workDirs: string;

beforeAll(async () => {
  work = await tempDir('remote-duck');
  ponds = path.join(work, 'ponds');
  await cp(EXAMPLES, ponds, { recursive: true });
  // Enough rows to span every month and product, few enough to keep the test quick.
  const generator = path.join(ponds, 'transactions', 'data', 'generator.json');
  const settings = JSON.parse(await readFile(generator, 'utf8'));
  await writeFile(generator, JSON.stringify({ ...settings, rows: 20_000 }));
  remoteRoot = path.join(work, 'remote-root');
  workDirs = path.join(work, 'duck-work');
  remote = await TestCatchment.start(remoteRoot, {
    duckStorage: 'http',
    duckWorkDir: workDirs,
    duckUploadMaxBytes: UPLOAD_LIMIT,
  });
}, 60_000);

afterAll(async () => {
  await local?.close();
  await remote?.close();
  if (!process.env.KEEP_WORK) await removeDir(work);
  else console.log('kept', work);
});

async function runDemo(c: TestCatchment): Promise<void> {
  for (const name of DEMO) expect((await c.deploy(path.join(ponds, name))).status).toBe(201);
  expect((await c.api('POST', '/api/ponds/reports/pulse', {})).status).toBe(200);
  await waitFor('reports to complete', async () => (await c.status('reports')).runs.completed === 1, 120_000);
}

/** Every published table of the demo: columns with their types, and all rows in a stable order. */
async function tables(c: TestCatchment): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const pond of DEMO) {
    const listed = await c.api('GET', `/api/ponds/${pond}/tables`);
    expect(listed.status).toBe(200);
    for (const { name } of listed.body.tables as { name: string }[]) {
      const q = await c.api('POST', '/api/query', { sql: `SELECT * FROM ${pond}.${name} ORDER BY ALL` });
      expect(q.status).toBe(200);
      out[`${pond}.${name}`] = { columns: q.body.columns, rows: q.body.rows };
    }
  }
  return out;
}

describe('the demo pipeline with every Duck in http mode', () => {
  it('publishes tables identical, rows and types, to an all-local run', async () => {
    local = await TestCatchment.start(path.join(work, 'local-root'));
    await runDemo(local);
    const expected = await tables(local);
    await local.close();
    local = undefined;

    await runDemo(remote);
    const actual = await tables(remote);
    expect(Object.keys(actual).sort()).toEqual(
      [
        'products.product',
        'reports.monthly_summary',
        'sales.daily_sales',
        'sales.price_tiers',
        'sales.sale_line',
        'transactions.transaction',
      ].sort(),
    );
    expect(actual).toEqual(expected);
    expect((actual['transactions.transaction'] as { rows: unknown[] }).rows).toHaveLength(20_000);

    // The Ducks kept their lines in their own work directories, never under the root.
    for (const name of DEMO) {
      expect(existsSync(path.join(remoteRoot, 'ponds', name, 'm1', 'registry.duckdb'))).toBe(false);
      expect(existsSync(path.join(workDirs, `${name}@1`, 'line', 'registry.duckdb'))).toBe(true);
      expect(await readdir(path.join(workDirs, `${name}@1`, 'code'))).toHaveLength(1);
    }
    // sales read its inputs from its own cache, downloaded by immutable name.
    const cached = await readdir(path.join(workDirs, 'sales@1', 'line', 'inputs'));
    expect(cached.sort()).toEqual(['products@1', 'transactions@1']);
    // The latest run's inputs stay cached for the next run over the same snapshot; none is partial.
    for (const source of cached)
      expect(await readdir(path.join(workDirs, 'sales@1', 'line', 'inputs', source))).toEqual([
        expect.stringMatching(/^(product|transaction)-[0-9a-f]{20}\.parquet$/),
      ]);
  }, 240_000);
});

describe('the working database moves with the line', () => {
  it('an incremental Ripple over previousF gives the same result after the work dir is deleted', async () => {
    const dir = await writePond(work, {
      name: 'tally',
      files: {
        'ripples/tally.ts': `import { ripple } from 'duckstring/pond';
export const tally = ripple({
  name: 'tally',
  async run(ctx) {
    if (ctx.previousF === null) {
      await ctx.writeTable('tally', "SELECT 1::BIGINT AS runs, TIMESTAMP '2024-01-02 03:04:05' AS first_at, 1.5::DECIMAL(10,2) AS amount");
    } else {
      await ctx.writeTable('tally', 'SELECT runs + 1 AS runs, first_at, amount * 2 AS amount FROM tally');
    }
  },
});
`,
      },
    });
    expect((await remote.deploy(dir)).status).toBe(201);
    const line = 'tally@1';
    const query = async () =>
      (await remote.api('POST', '/api/query', { sql: 'SELECT runs, first_at, amount FROM tally.tally' }))
        .body;
    expect((await remote.api('POST', '/api/ponds/tally/pulse', {})).status).toBe(200);
    await waitFor('run 1', async () => (await remote.status('tally')).runs.completed === 1);
    expect((await query()).rows).toEqual([[1, expect.stringMatching(/^2024-01-02T03:04:05/), '1.50']]);

    // The Duck goes away, and so does everything it kept: a fresh machine, as far as it knows.
    const supervisor = remote.running.catchment.supervisor;
    expect(supervisor.pid(line)).toBeDefined();
    supervisor.terminate(line);
    await waitFor('the Duck to exit', async () => !supervisor.live().some((d) => d.line === line));
    await rm(path.join(workDirs, line), { recursive: true, force: true });

    expect((await remote.api('POST', '/api/ponds/tally/pulse', {})).status).toBe(200);
    await waitFor('run 2', async () => (await remote.status('tally')).runs.completed === 2);
    const second = await query();
    // Without the rebuild the Ripple would fail (no table tally) and run 2 would not complete.
    expect(second.rows).toEqual([[2, expect.stringMatching(/^2024-01-02T03:04:05/), '3.00']]);
    expect(second.columns.map((c: { type: string }) => c.type)).toEqual([
      'BIGINT',
      'TIMESTAMP',
      'DECIMAL(18,2)',
    ]);
    expect(existsSync(path.join(workDirs, line, 'line', 'registry.rebuilt'))).toBe(true);
    expect(existsSync(path.join(workDirs, line, 'line', 'rebuild'))).toBe(false);
  }, 120_000);
});

interface Raw {
  status: number;
  body: any;
}

/** A request exactly as written (no URL normalisation: `..` reaches the server as sent). */
function raw(
  method: string,
  route: string,
  opts: {
    token?: string;
    headers?: Record<string, string>;
    body?: Buffer | (() => AsyncIterable<Buffer>);
  } = {},
): Promise<Raw> {
  const url = new URL(remote.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        // A connection per request: a refused upload leaves its connection's framing behind.
        agent: false,
        method,
        path: route,
        headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    // The server may answer and close before it has read a refused body.
    req.on('error', (err) => reject(err));
    const body = opts.body;
    if (typeof body === 'function') {
      void (async () => {
        for await (const chunk of body())
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch(() => {});
    } else req.end(body);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the data plane refuses bad input, publishing nothing', () => {
  it('answers each attack precisely and leaves the published set unchanged', async () => {
    const store = remote.running.catchment.store;
    // Fresh tokens for two lines (the demo's Ducks are idle by now; these replace theirs).
    const mint = (pond: string) =>
      store.registerDuck({ pond, major: 1, pid: null, state: 'starting', atMs: Date.now() }).token;
    const sales = mint('sales');
    const reports = mint('reports');
    const manifestOf = async (pond: string, token: string) =>
      (await raw('GET', `/api/duck/${pond}/1/manifest`, { token })).body.manifest;
    const before = await manifestOf('sales', sales);
    expect(before.tables.sale_line).toBeDefined();
    const stagingDir = path.join(remoteRoot, 'ponds', 'sales', 'm1', 'data', '.staging');
    const staged = async () =>
      (await readdir(stagingDir, { recursive: true }).catch(() => [] as string[])).filter((n) =>
        String(n).endsWith('.parquet'),
      );
    const file = before.tables.sale_line.file as string;
    const uploadPath = (f: number, table: string) => `/api/duck/sales/1/uploads/${f}/${table}`;
    const f = before.f + 1;

    // Another Duck's token: 401 for everything of this line, whatever exists.
    for (const [method, route] of [
      ['GET', '/api/duck/sales/1/manifest'],
      ['GET', `/api/duck/sales/1/snapshots/${file}`],
      ['GET', '/api/duck/sales/1/source/0000000000000000000000000000000000000000000000000000000000000000'],
      ['PUT', uploadPath(f, 'sale_line')],
    ] as const) {
      const r = await raw(
        method,
        route,
        method === 'PUT'
          ? {
              token: reports,
              headers: { 'content-type': UPLOAD_CONTENT_TYPE, 'x-sha256': sha(Buffer.from('x')) },
              body: Buffer.from('x'),
            }
          : { token: reports },
      );
      expect(r.status, `${method} ${route}`).toBe(401);
      expect(r.body.error.code).toBe('unauthenticated');
    }
    const notPublished = await raw('POST', '/api/duck/sales/1/publish', {
      token: reports,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ f, tables: {} })),
    });
    expect(notPublished.status).toBe(401);

    // A path with `..` or a file of another line: one 404, nothing about what exists.
    const reportsFile = (await manifestOf('reports', reports)).tables.monthly_summary.file as string;
    for (const route of [
      `/api/duck/sales/1/inputs/transactions@1/../../registry.duckdb`,
      `/api/duck/sales/1/inputs/..%2F..%2Fregistry.duckdb`,
      `/api/duck/sales/1/snapshots/../current.json`,
      `/api/duck/sales/1/snapshots/${reportsFile}`,
      `/api/duck/sales/1/snapshots/sale_line/..%2F..%2F..%2F..%2Freports%2Fm1%2Fdata%2F${reportsFile.replace('/', '%2F')}`,
    ]) {
      const r = await raw('GET', route, { token: sales });
      expect(r.status, route).toBe(404);
      expect(r.body.error.code, route).toBe('not_found');
    }
    // The Pond's source by a checksum that is not its selected version's.
    const wrongSource = await raw('GET', `/api/duck/sales/1/source/${sha(Buffer.from('other'))}`, {
      token: sales,
    });
    expect(wrongSource.status).toBe(404);

    // The real bytes of a published file, to upload back as run f.
    const download = await fetch(`${remote.url}/api/duck/sales/1/snapshots/${file}`, {
      headers: { authorization: `Bearer ${sales}` },
    });
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(before.tables.sale_line.bytes);

    // Wrong checksum: 400, nothing staged; a publish naming it finds no such upload.
    const wrongSum = await raw('PUT', uploadPath(f, 'sale_line'), {
      token: sales,
      headers: { 'content-type': UPLOAD_CONTENT_TYPE, 'x-sha256': sha(Buffer.from('not these bytes')) },
      body: bytes,
    });
    expect(wrongSum.status).toBe(400);
    expect(wrongSum.body.error.code).toBe('checksum_mismatch');
    expect(await staged()).toEqual([]);
    const publishWrong = await raw('POST', '/api/duck/sales/1/publish', {
      token: sales,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(
        JSON.stringify({ f, tables: { sale_line: { sha256: sha(Buffer.from('not these bytes')) } } }),
      ),
    });
    expect(publishWrong.status).toBe(409);
    expect(publishWrong.body.error.code).toBe('upload_missing');

    // A table this Pond does not write (reports'), or a name that is no table: 403, before any byte is kept.
    for (const table of ['monthly_summary', '..', 'current.json']) {
      const r = await raw('PUT', uploadPath(f, encodeURIComponent(table)), {
        token: sales,
        headers: { 'content-type': UPLOAD_CONTENT_TYPE, 'x-sha256': sha(bytes) },
        body: bytes,
      });
      expect(r.status, table).toBe(403);
      expect(r.body.error.message).toBe(`sales@1 does not write a table "${table}"`);
    }

    // Oversized: declared too large (refused before reading), or streamed past the limit.
    const declaredTooBig = await raw('PUT', uploadPath(f, 'sale_line'), {
      token: sales,
      headers: {
        'content-type': UPLOAD_CONTENT_TYPE,
        'x-sha256': sha(bytes),
        'content-length': String(UPLOAD_LIMIT + 1),
      },
      body: async function* () {
        yield Buffer.alloc(1024);
      },
    }).catch((err: Error) => ({ status: -1, body: err.message }));
    expect(declaredTooBig.status).toBe(413);
    expect(declaredTooBig.body.error.code).toBe('upload_too_large');
    const streamedTooBig = await raw('PUT', uploadPath(f, 'sale_line'), {
      token: sales,
      headers: {
        'content-type': UPLOAD_CONTENT_TYPE,
        'x-sha256': sha(bytes),
      },
      body: async function* () {
        for (let sent = 0; sent <= UPLOAD_LIMIT; sent += 256 * 1024) yield Buffer.alloc(256 * 1024);
      },
    }).catch((err: Error) => ({ status: -1, body: err.message }));
    expect(streamedTooBig.status).toBe(413);
    expect(streamedTooBig.body.error.message).toMatch(/at most 4194304 bytes/);
    expect(await staged()).toEqual([]);

    // Nothing of all that changed the published set.
    expect(await manifestOf('sales', sales)).toEqual(before);

    // The same route with good input works: so the refusals above were refusals.
    const good = await raw('PUT', uploadPath(f, 'sale_line'), {
      token: sales,
      headers: { 'content-type': UPLOAD_CONTENT_TYPE, 'x-sha256': sha(bytes) },
      body: bytes,
    });
    expect(good.status).toBe(201);
    expect(good.body).toEqual({ sha256: sha(bytes), bytes: bytes.length });
    const published = await raw('POST', '/api/duck/sales/1/publish', {
      token: sales,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ f, tables: { sale_line: { sha256: sha(bytes) } } })),
    });
    expect(published.status).toBe(200);
    expect(published.body.manifest.seq).toBe(before.seq + 1);
    expect(published.body.manifest.f).toBe(f);
    // A publish older than the set now published: 409, unchanged.
    const older = await raw('POST', '/api/duck/sales/1/publish', {
      token: sales,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ f: before.f, tables: {} })),
    });
    expect(older.status).toBe(409);
    expect((await manifestOf('sales', sales)).seq).toBe(before.seq + 1);
  }, 60_000);
});
