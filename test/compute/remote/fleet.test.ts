/**
 * The topology with real processes: a Catchment routing governed queries to `duckstring worker
 * start` processes reading its root (--shared-root). A routed answer equals the local one (values,
 * types, header, audit); kill -9 mid-load with fallback on fails no caller, with fallback off gives
 * a clear 503 and the Catchment stays up; a worker restarted on its address is used again; a wrong
 * token shows as "authentication" and never leaks; URL and token edits apply without a restart;
 * the canary audience is what the audit log says ran remotely.
 */
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/main.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../../support/runtime.js';
import { spawnWorker, type WorkerProcess } from '../worker/support.js';

const TOKEN = 'fleet-worker-token-7f3a9c0d51e2';
const WRONG = 'not-the-token-1b2c3d4e5f60';
const ON = { FEATURE_REMOTE_ROUTING: 'on', FEATURE_INTERNAL_GRPC: 'on' };

const POLICY = `
groups:
  - name: analysts
  - name: beta
    members: [analysts]
principals:
  - name: alice
  - name: bob
  - name: carol
    groups: [analysts]
grants:
  - to: alice
    privileges: [SELECT]
    on: sales
  - to: bob
    privileges: [SELECT]
    on: sales
  - to: analysts
    privileges: [SELECT]
    on: sales
row_filters:
  - on: sales.orders
    where: "is_member('admins') OR region = 'EMEA'"
column_masks:
  - on: sales.orders
    column: email
    as: "CASE WHEN is_member('admins') THEN email ELSE '***' END"
`;

// Types the JSON mapping treats specially: exact integers beyond 2^53, decimals, timestamps,
// intervals, lists, structs, maps, blobs and NULL at every depth.
const TYPED_SQL = `SELECT id, region, email, amount, amount * 3 AS tripled,
  id::HUGEINT * 10000000000000000000 AS huge, 9007199254740993::BIGINT + id AS big,
  TIMESTAMP '2024-01-02 03:04:05.123456' + to_days(id::INTEGER) AS ts, to_days(id::INTEGER) + to_hours(5) AS iv,
  [id, NULL] AS l, {'a': id, 'b': region} AS s, MAP {'k': id} AS m, '\\xAA\\xBB'::BLOB AS b,
  CASE WHEN id = 1 THEN NULL ELSE id END AS maybe
  FROM sales.orders ORDER BY id`;

let work: string;
let root: string;
let c: TestCatchment;
const keys: Record<string, string> = {};
const workers: WorkerProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function startWorker(port: number, token = TOKEN): Promise<WorkerProcess> {
  const w = await spawnWorker(
    { AGENT_TOKEN: token, GRPC_LISTEN_ADDR: `127.0.0.1:${port}`, MAX_MEMORY_GB: '1' },
    ['--shared-root', root],
  );
  workers.push(w);
  return w;
}

async function query(who: string, sql: string) {
  const answer = await c.client.send('POST', '/api/query', { body: { sql }, key: keys[who] ?? null });
  return {
    status: answer.status,
    body: answer.body as any,
    on: answer.headers.get('x-duckstring-executed-on'),
  };
}

/** The answer's bytes as the caller receives them (a remote answer is spliced from the worker's). */
async function rawQuery(who: string, sql: string) {
  const res = await fetch(`${c.url}/api/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys[who]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sql }),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function admin(method: string, route: string, body?: unknown) {
  return c.api(method, route, body);
}

async function lastQueryAudit(principal: string) {
  const { body } = await admin('GET', `/api/audit?kind=query&principal=${principal}&limit=1`);
  return body.entries[0].detail as Record<string, unknown>;
}

async function status() {
  return (await admin('GET', '/api/compute/status')).body as any;
}

async function startCatchment(env: Record<string, string>) {
  c = await TestCatchment.start(root, { env, computeHealthIntervalMs: 200 });
  keys.admin = c.running.adminKey;
}

let port: number;
let worker: WorkerProcess;

beforeAll(async () => {
  work = await tempDir('fleet');
  root = path.join(work, 'root');
  await startCatchment(ON);
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/orders.sql': `SELECT * FROM (VALUES (1, 'EMEA', 'ann@a.example', 10.50::DECIMAL(10,2)),
        (2, 'US', 'hidden@b.example', 20.25::DECIMAL(10,2)), (3, 'EMEA', NULL, NULL)) t(id, region, email, amount)`,
      'ripples/numbers.sql': 'SELECT range AS i, range::VARCHAR AS s FROM range(200000)',
    },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  await admin('POST', '/api/ponds/sales/pulse', {});
  await waitFor('sales to publish', async () => (await c.status('sales')).runs.completed >= 1);
  const applied = await admin('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const name of ['alice', 'bob', 'carol']) {
    const k = await admin('POST', '/api/keys', { principal: name });
    keys[name] = k.body.key;
  }
  port = await freePort();
  worker = await startWorker(port);
}, 120_000);

afterAll(async () => {
  await c?.close();
  for (const w of workers)
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await removeDir(work);
});

describe('queries routed to a real worker', () => {
  let local: Awaited<ReturnType<typeof query>>;

  it('runs locally with no assignment, then remotely with the same answer, header and audit', async () => {
    const localBytes = await rawQuery('alice', TYPED_SQL);
    local = await query('alice', TYPED_SQL);
    expect(local.status, JSON.stringify(local.body)).toBe(200);
    const big = 'SELECT i, s FROM sales.numbers ORDER BY i';
    const localBig = await query('alice', big);
    expect(localBig.on).toBe('local');
    expect(local.on).toBe('local');
    expect(await lastQueryAudit('alice')).toMatchObject({ placement: 'local' });

    const created = await admin('POST', '/api/compute/endpoints', {
      name: 'w1',
      url: `grpc://127.0.0.1:${port}`,
      token: TOKEN,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const assigned = await admin('POST', '/api/compute/assignments', {
      endpoint: 'w1',
      everyone: true,
      fallback_local: true,
    });
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(201);
    await waitFor('w1 healthy', async () => (await status()).endpoints[0]?.last_check_at !== null);

    const remote = await query('alice', TYPED_SQL);
    expect(remote.status, JSON.stringify(remote.body)).toBe(200);
    expect(remote.on).toBe('remote:w1');
    expect(remote.body).toEqual(local.body);
    // Byte for byte, not only the same value: field order, number and string spelling.
    const remoteBytes = await rawQuery('alice', TYPED_SQL);
    expect(remoteBytes).toEqual(localBytes);
    expect(remoteBytes.type).toBe('application/json; charset=utf-8');
    // The rewrite stayed in the Catchment: the worker saw only filtered, masked rows.
    expect(remote.body.rows.map((r: unknown[]) => r[1])).toEqual(['EMEA', 'EMEA']);
    expect(remote.body.rows.map((r: unknown[]) => r[2])).toEqual(['***', '***']);
    expect(await lastQueryAudit('alice')).toMatchObject({ placement: 'remote:w1' });

    // A result of many batches (past the row limit) assembles to the local answer too.
    const remoteBig = await query('alice', big);
    expect(remoteBig.on).toBe('remote:w1');
    expect(remoteBig.body.truncated).toBe(true);
    expect(remoteBig.body.rows.length).toBe(100_000);
    expect(remoteBig.body.rows[99_999]).toEqual([99_999, '99999']);
    expect(remoteBig.body).toEqual(localBig.body);

    const forbidden = await c.api('GET', '/api/compute/status', undefined, keys.alice!);
    expect(forbidden.status).toBe(403);
    const s = await status();
    expect(s.routing_enabled).toBe(true);
    expect(s.endpoints[0]).toMatchObject({ name: 'w1', healthy: true, breaker: 'closed', failures: {} });
    expect(s.endpoints[0].calls).toBeGreaterThanOrEqual(2);
    expect(s.endpoints[0].p50_ms).toBeGreaterThan(0);
    // `compute endpoint health` reads the same background checks.
    const health = await admin('GET', '/api/compute/endpoints/w1/health');
    expect(health.body.health).toMatchObject({ state: 'healthy', reason: null });
    expect(typeof health.body.health.since).toBe('string');

    const out: string[] = [];
    const code = await runCli(['compute', 'status', '--catchment', c.url, '--key', keys.admin!], {
      stdout: (t) => out.push(t),
      stderr: (t) => out.push(t),
    });
    expect(code).toBe(0);
    const printed = out.join('');
    expect(printed).toContain('remote routing on for everyone');
    expect(printed).toMatch(/^w1 {2}grpc:\/\/127\.0\.0\.1:\d+ {2}active {2}healthy since /m);
    expect(printed).toMatch(/p50 [\d.]+ms {2}p95 [\d.]+ms/);
  });

  it("surfaces the query's own errors as locally, refusals included", async () => {
    const bad = await query('alice', 'SELECT nope FROM sales.orders');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_sql');
    const denied = await query('alice', 'SELECT * FROM secret.things');
    expect(denied.status).toBe(404);
    const metrics = await c.client.send('GET', '/metrics', { key: keys.admin! });
    expect(metrics.text).toContain('duckstring_queries_by_route_total{route="remote",endpoint="w1"}');
    expect(metrics.text).toContain('duckstring_endpoint_healthy{endpoint="w1"} 1');
  });

  it('kill -9 while queries stream, fallback on: no caller sees an error', async () => {
    const inFlight = Array.from({ length: 6 }, (_, i) =>
      query(i % 2 ? 'alice' : 'bob', 'SELECT i, s FROM sales.numbers ORDER BY i DESC'),
    );
    await waitFor('queries in flight on w1', async () => (await status()).endpoints[0].in_flight > 0, 10_000);
    worker.child.kill('SIGKILL');
    const answers = await Promise.all(inFlight);
    for (const a of answers) expect(a.status, JSON.stringify(a.body).slice(0, 300)).toBe(200);
    expect(answers.some((a) => a.on === 'fallback:w1')).toBe(true);
    const after = await query('alice', TYPED_SQL);
    expect(after.status).toBe(200);
    expect(after.on).toBe('fallback:w1');
    expect(after.body).toEqual(local.body);
    expect(await lastQueryAudit('alice')).toMatchObject({ placement: 'fallback:w1' });
    expect((await lastQueryAudit('alice')).fallback_reason).toMatch(/^(unavailable|circuit_open)$/);
    const s = await status();
    expect(s.endpoints[0].healthy).toBe(false);
    expect(Object.keys(s.endpoints[0].fallbacks).length).toBeGreaterThan(0);
  });

  it('fallback off: a clear 503 naming the endpoint; the Catchment stays up', async () => {
    const list = await admin('GET', '/api/compute/assignments');
    const id = list.body.assignments[0].id;
    expect((await admin('DELETE', `/api/compute/assignments/${id}`)).status).toBe(200);
    expect(
      (
        await admin('POST', '/api/compute/assignments', {
          endpoint: 'w1',
          everyone: true,
          fallback_local: false,
        })
      ).status,
    ).toBe(201);
    const refused = await query('alice', TYPED_SQL);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('compute_unavailable');
    expect(refused.body.error.message).toMatch(/"w1".*fallback to local execution is off/);
    expect(refused.on).toBe('remote:w1');
    expect((await c.api('GET', '/health', undefined, null)).status).toBe(200);
  });

  it('a worker restarted on the same address is used again without restarting the Catchment', async () => {
    worker = await startWorker(port);
    await waitFor('w1 healthy again', async () => (await status()).endpoints[0].healthy, 20_000);
    const again = await query('alice', TYPED_SQL);
    expect(again.on).toBe('remote:w1');
    expect(again.body).toEqual(local.body);
  });

  it('a wrong token: unhealthy "authentication", a clear 503 (fallback off), the token nowhere', async () => {
    expect((await admin('PUT', '/api/compute/endpoints/w1', { token: WRONG })).status).toBe(200);
    await waitFor(
      'w1 unhealthy',
      async () => (await status()).endpoints[0].reason === 'authentication',
      20_000,
    );
    const refused = await query('alice', TYPED_SQL);
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toContain('refused the endpoint token');
    const texts = [
      JSON.stringify(refused.body),
      JSON.stringify(await status()),
      JSON.stringify((await admin('GET', '/api/audit?limit=200')).body),
      JSON.stringify((await admin('GET', '/api/compute/endpoints')).body),
      (await c.client.send('GET', '/metrics', { key: keys.admin! })).text,
      worker.stderr(),
      worker.stdout.join('\n'),
    ];
    for (const text of texts) {
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain(TOKEN);
    }
    // Putting the right token back takes effect without a restart.
    expect((await admin('PUT', '/api/compute/endpoints/w1', { token: TOKEN })).status).toBe(200);
    await waitFor('w1 healthy with its token', async () => (await status()).endpoints[0].healthy, 20_000);
    expect((await query('alice', TYPED_SQL)).on).toBe('remote:w1');
  });

  it("an endpoint's URL change takes effect without a restart", async () => {
    const otherPort = await freePort();
    const other = await startWorker(otherPort);
    expect(
      (await admin('PUT', '/api/compute/endpoints/w1', { url: `grpc://127.0.0.1:${otherPort}` })).status,
    ).toBe(200);
    worker.child.kill('SIGKILL');
    await worker.exited;
    await waitFor('w1 healthy at its new address', async () => {
      const e = (await status()).endpoints[0];
      return e.url.endsWith(`:${otherPort}`) && e.healthy && e.last_check_at !== null;
    });
    const moved = await query('alice', TYPED_SQL);
    expect(moved.on).toBe('remote:w1');
    worker = other;
  });
});

describe('canary', () => {
  it('with REMOTE_CANARY_USERS=alice,group:beta, alice and beta members run remotely, others locally (per the audit log)', async () => {
    await c.close();
    await startCatchment({ ...ON, REMOTE_CANARY_USERS: 'alice,group:beta' });
    const list = await admin('GET', '/api/compute/assignments');
    for (const a of list.body.assignments) await admin('DELETE', `/api/compute/assignments/${a.id}`);
    await admin('POST', '/api/compute/assignments', {
      endpoint: 'w1',
      everyone: true,
      fallback_local: false,
    });
    await waitFor(
      'w1 checked',
      async () => (await status()).endpoints[0]?.healthy && (await status()).endpoints[0].last_check_at,
    );
    for (const who of ['alice', 'bob', 'carol'])
      expect((await query(who, 'SELECT id FROM sales.orders')).status).toBe(200);
    expect((await lastQueryAudit('alice')).placement).toBe('remote:w1');
    // carol is in analysts, which beta contains.
    expect((await lastQueryAudit('carol')).placement).toBe('remote:w1');
    expect((await lastQueryAudit('bob')).placement).toBe('local');
  });

  it('a malformed flag stops the Catchment at start, naming the variable', async () => {
    await c.close();
    await expect(
      TestCatchment.start(root, { env: { ...ON, FEATURE_INTERNAL_GRPC: 'maybe' } }),
    ).rejects.toThrow(/^FEATURE_INTERNAL_GRPC: "maybe" is not a switch value/);
    await expect(
      TestCatchment.start(root, { env: { ...ON, REMOTE_CANARY_USERS: 'alice,group:' } }),
    ).rejects.toThrow(/^REMOTE_CANARY_USERS: "group:"/);
    await startCatchment(ON);
  });
});
