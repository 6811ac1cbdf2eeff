/**
 * Async queries routed to real `duckstring worker start` processes (issue 11 §2–§4): a job of the
 * `async` kind runs on the assigned worker and its pages, fetched from the worker, equal the
 * interactive answer; kill -9 of the worker running a job → the attempt fails and the job completes
 * through fallback with its attempt history visible; fallback off → FAILED naming the endpoint;
 * cancel reaches the worker; a worker holding a finished result that cannot be reached → 503.
 *
 * Synchronised on states (the job's, the worker's own GetJob), never on sleeps.
 */
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../../src/api/index.js';
import { runCli } from '../../src/cli/main.js';
import { JobState } from '../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import { spawnWorker, type WorkerProcess, workerClient } from '../compute/worker/support.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

const TOKEN = 'async-remote-token-5d1e7a90c3b2';
const ENV = {
  FEATURE_REMOTE_ROUTING: 'on',
  FEATURE_INTERNAL_GRPC: 'on',
  FEATURE_ASYNC_QUEUE: 'on',
  FEATURE_CURSOR_MODE: 'on',
};

const POLICY = `
principals:
  - name: alice
grants:
  - to: alice
    privileges: [SELECT]
    on: sales
`;

const TYPED = `SELECT n, k, s, d, n::HUGEINT * 100000000000000000000 AS huge, n::DECIMAL(18,2) AS dec,
  [n, NULL] AS l, {'k': k, 's': s} AS st, 'ab'::BLOB AS b, CASE WHEN n % 3 = 0 THEN NULL ELSE n END AS maybe
  FROM sales.numbers ORDER BY n`;
/** Streams rows for seconds on a worker (JSON lines), so a test can act while it is RUNNING there. */
const SLOW = 'SELECT range AS i, md5(range::VARCHAR) AS h FROM range(3000000) ORDER BY i';

let work: string;
/** A job whose result stayed on the worker the kill -9 test kills. */
let kept: string;
let root: string;
let c: TestCatchment;
let port: number;
let worker: WorkerProcess;
const workers: WorkerProcess[] = [];
const keys: Record<string, string> = {};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

async function startWorker(ttl = '1h'): Promise<WorkerProcess> {
  const w = await spawnWorker(
    {
      AGENT_TOKEN: TOKEN,
      GRPC_LISTEN_ADDR: `127.0.0.1:${port}`,
      MAX_MEMORY_GB: '1',
      MAX_CONCURRENT_QUERIES: '4',
      // Longer than the Catchment's default TTL: the worker's copy outlives the job.
      QUERY_RESULT_TTL: ttl,
    },
    ['--shared-root', root],
  );
  workers.push(w);
  return w;
}

async function as<T = any>(method: string, route: string, body?: unknown) {
  return c.api<T>(method, route, body, keys.alice!);
}

async function submit(sql: string): Promise<string> {
  const answer = await as('POST', '/api/queries', { sql });
  expect(answer.status, JSON.stringify(answer.body)).toBe(202);
  return answer.body.job.id;
}

async function job(id: string): Promise<any> {
  const { status, body } = await as('GET', `/api/queries/${id}`);
  expect(status).toBe(200);
  return body;
}

async function finished(id: string): Promise<any> {
  return waitFor(
    `job ${id} to finish`,
    async () => {
      const body = await job(id);
      return ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(body.state) ? body : undefined;
    },
    60_000,
  );
}

/** The worker's own view of the job the Catchment submitted for attempt `attempt`. */
async function workerJob(w: WorkerProcess, id: string, attempt = 1) {
  const workerId = await waitFor(`job ${id} submitted to the worker`, async () => {
    const body = await job(id);
    return body.attempt_log.find((a: any) => a.attempt === attempt)?.remote_job_id ?? undefined;
  });
  const client = workerClient(w.grpcUrl, TOKEN);
  return { workerId, get: () => client.getJob({ jobId: workerId }) };
}

async function runningOnWorker(w: WorkerProcess, id: string) {
  const remote = await workerJob(w, id);
  await waitFor(
    `job ${id} RUNNING on the worker`,
    async () => (await remote.get()).state === JobState.RUNNING,
    20_000,
  );
  return remote;
}

async function allPages(id: string, maxRows: number) {
  const rows: unknown[] = [];
  let columns: unknown;
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `max_rows=${maxRows}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await as('GET', `/api/queries/${id}/results?${query}`);
    expect(page.status, JSON.stringify(page.body).slice(0, 300)).toBe(200);
    columns = page.body.columns;
    rows.push(...page.body.rows);
    cursor = page.body.next_cursor;
    pages++;
  } while (cursor);
  expect(pages).toBe(Math.max(1, Math.ceil(rows.length / maxRows)));
  return { columns, rows };
}

async function endpointStatus() {
  return (await c.api('GET', '/api/compute/status')).body.endpoints[0] as any;
}

async function assign(fallback: boolean) {
  const list = await c.api('GET', '/api/compute/assignments');
  for (const a of list.body.assignments) await c.api('DELETE', `/api/compute/assignments/${a.id}`);
  const created = await c.api('POST', '/api/compute/assignments', {
    endpoint: 'w1',
    everyone: true,
    fallback_local: fallback,
    job_kinds: ['async'],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

beforeAll(async () => {
  work = await tempDir('async-remote');
  root = path.join(work, 'root');
  c = await TestCatchment.start(root, {
    env: ENV,
    computeHealthIntervalMs: 200,
    queries: { timeoutMs: 60_000 },
  });
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/numbers.sql':
        "SELECT range AS n, range % 7 AS k, 'row ' || range AS s, DATE '2026-01-01' + (range % 300)::INTEGER AS d FROM range(2500)",
    },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await waitFor('sales to publish', async () => (await c.status('sales')).runs.completed >= 1);
  expect((await c.api('POST', '/api/policy/apply', { file: POLICY })).status).toBe(200);
  keys.alice = (await c.api('POST', '/api/keys', { principal: 'alice' })).body.key;
  port = await freePort();
  worker = await startWorker();
  const created = await c.api('POST', '/api/compute/endpoints', {
    name: 'w1',
    url: `grpc://127.0.0.1:${port}`,
    token: TOKEN,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  await assign(true);
  await waitFor('w1 checked', async () => (await endpointStatus())?.last_check_at !== null);
}, 120_000);

afterAll(async () => {
  await c?.close();
  for (const w of workers)
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await removeDir(work);
});

describe('async jobs on a worker', () => {
  it('runs remotely; its pages, fetched from the worker, equal the interactive answer; delete reaches the worker', async () => {
    const id = await submit(TYPED);
    const done = await finished(id);
    expect(done.state, JSON.stringify(done.error)).toBe('SUCCEEDED');
    expect(done.placement).toBe('remote:w1');
    expect(done.attempts).toBe(1);
    expect(done.attempt_log).toEqual([
      expect.objectContaining({ attempt: 1, target: 'remote:w1', outcome: 'succeeded', reason: null }),
    ]);
    const remote = await workerJob(worker, id);
    expect((await remote.get()).state).toBe(JobState.SUCCEEDED);

    // Interactive queries are not assigned to w1: the comparison is against a local answer.
    const interactive = await c.client.exchange(
      api.query.query,
      { body: { sql: TYPED } },
      { key: keys.alice! },
    );
    expect(interactive.status).toBe(200);
    const paged = await allPages(id, 700);
    expect(paged.columns).toEqual(interactive.body.columns);
    expect(paged.rows).toEqual(interactive.body.rows);
    expect(paged.rows.length).toBe(2500);

    // The query's own audit entry is the one a local run leaves, naming where it ran.
    const audit = await c.api('GET', '/api/audit?kind=query&principal=alice&limit=5');
    const entry = audit.body.entries.find((e: any) => e.detail.async_job === id);
    expect(entry).toMatchObject({ decision: 'allowed', detail: { placement: 'remote:w1', rows: 2500 } });

    expect((await as('DELETE', `/api/queries/${id}`)).status).toBe(200);
    await waitFor('the worker to drop the result', async () => {
      try {
        await remote.get();
        return false;
      } catch (error) {
        return /no job/.test((error as Error).message);
      }
    });
  });

  it('a query error on the worker fails the job with the same code as a local run', async () => {
    const id = await submit('SELECT nope FROM sales.numbers');
    const done = await finished(id);
    expect(done.state).toBe('FAILED');
    expect(done.error.code).toBe('invalid_sql');
    expect(done.attempt_log).toEqual([
      expect.objectContaining({ target: 'remote:w1', outcome: 'failed', reason: 'invalid_sql' }),
    ]);
  });

  it('cancel of a job running on the worker cancels it there; it counts as outstanding meanwhile', async () => {
    const id = await submit(SLOW);
    const remote = await runningOnWorker(worker, id);
    expect((await endpointStatus()).in_flight).toBe(1);
    const canceled = await as('POST', `/api/queries/${id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body.state).toBe('CANCELED');
    await waitFor('the worker to cancel', async () => (await remote.get()).state === JobState.CANCELED);
    await waitFor('nothing outstanding on w1', async () => (await endpointStatus()).in_flight === 0);
    const after = await job(id);
    expect(after.state).toBe('CANCELED');
    expect(after.attempt_log.at(-1)).toMatchObject({ target: 'remote:w1', outcome: 'canceled' });
  });

  it("remote jobs hold no local slot: the endpoint's capacity bounds them, and past it a job falls back", async () => {
    expect((await c.api('PUT', '/api/compute/endpoints/w1', { capacity: 2 })).status).toBe(200);
    // One principal may hold one of the two local slots: only jobs on the worker run side by side.
    const a = await submit(SLOW);
    const b = await submit(SLOW);
    await runningOnWorker(worker, a);
    await runningOnWorker(worker, b);
    expect((await endpointStatus()).in_flight).toBe(2);
    const third = await submit('SELECT n FROM sales.numbers ORDER BY n');
    const done = await finished(third);
    expect(done.state, JSON.stringify(done.error)).toBe('SUCCEEDED');
    expect(done.placement).toBe('fallback:w1');
    expect(done.attempt_log).toEqual([
      expect.objectContaining({ attempt: 1, target: 'fallback:w1', outcome: 'succeeded' }),
    ]);
    for (const id of [a, b]) expect((await as('POST', `/api/queries/${id}/cancel`)).status).toBe(200);
    await waitFor('nothing outstanding on w1', async () => (await endpointStatus()).in_flight === 0);
    expect((await c.api('PUT', '/api/compute/endpoints/w1', { capacity: null })).status).toBe(200);
  });

  it('kill -9 of the worker running a job: completes through fallback with its attempts; a result on the dead worker answers 503', async () => {
    kept = await submit('SELECT n, s FROM sales.numbers ORDER BY n');
    const keptJob = await finished(kept);
    expect(keptJob.placement).toBe('remote:w1');
    // The worker keeps results longer than the Catchment: the job's own TTL (10 min) applies.
    expect(Date.parse(keptJob.expires_at) - Date.parse(keptJob.finished_at)).toBe(600_000);

    const id = await submit(SLOW);
    await runningOnWorker(worker, id);
    worker.child.kill('SIGKILL');
    await worker.exited;
    const done = await finished(id);
    expect(done.state, JSON.stringify(done.error)).toBe('SUCCEEDED');
    expect(done.placement).toBe('fallback:w1');
    expect(done.attempts).toBe(2);
    expect(done.row_count).toBe(3_000_000);
    expect(done.attempt_log).toEqual([
      expect.objectContaining({
        attempt: 1,
        target: 'remote:w1',
        outcome: 'failed',
        reason: expect.stringMatching(/^unavailable/),
      }),
      expect.objectContaining({ attempt: 2, target: 'fallback:w1', outcome: 'succeeded' }),
    ]);
    const first = await as('GET', `/api/queries/${id}/results?max_rows=2`);
    expect(first.body.rows).toEqual([
      [0, 'cfcd208495d565ef66e7dff9f98764da'],
      [1, 'c4ca4238a0b923820dcc509a6f75849b'],
    ]);

    const out: string[] = [];
    const code = await runCli(['queries', 'show', id, '--catchment', c.url, '--key', keys.alice!], {
      stdout: (t) => out.push(t),
      stderr: (t) => out.push(t),
    });
    expect(code).toBe(0);
    expect(out.join('')).toMatch(/#1 {2}remote:w1 {2}failed {2}\(unavailable: the worker is unreachable\)/);
    expect(out.join('')).toMatch(/#2 {2}fallback:w1 {2}succeeded/);

    const unreachable = await as('GET', `/api/queries/${kept}/results`);
    expect(unreachable.status).toBe(503);
    expect(unreachable.body.error.code).toBe('remote_result_unavailable');
    expect(unreachable.body.error.message).toContain('"w1"');
    expect((await job(kept)).state).toBe('SUCCEEDED');
  });

  it('fallback off: a worker killed mid-job fails it, naming the endpoint, with every attempt recorded', async () => {
    worker = await startWorker();
    await waitFor('w1 healthy again', async () => (await endpointStatus()).healthy, 20_000);
    await assign(false);
    const id = await submit(SLOW);
    await runningOnWorker(worker, id);
    worker.child.kill('SIGKILL');
    await worker.exited;
    const done = await finished(id);
    expect(done.state).toBe('FAILED');
    expect(done.error.code).toBe('compute_unavailable');
    expect(done.error.message).toContain('"w1"');
    expect(done.attempt_log[0]).toMatchObject({ target: 'remote:w1', outcome: 'failed' });
    expect(done.attempt_log.length).toBeGreaterThanOrEqual(2);
    expect(done.attempt_log.length).toBeLessThanOrEqual(3);
    expect(done.attempt_log.every((a: any) => a.outcome === 'failed' && a.target === 'remote:w1')).toBe(true);
    expect((await c.api('GET', '/health', undefined, null)).status).toBe(200);
  });

  it("a worker that restarted lost its results (410); a worker TTL shorter than the Catchment's bounds the job's", async () => {
    worker = await startWorker('5m');
    await waitFor('w1 healthy again', async () => (await endpointStatus()).healthy, 20_000);
    await assign(true);
    const gone = await as('GET', `/api/queries/${kept}/results`);
    expect(gone.status).toBe(410);
    expect(gone.body.error.code).toBe('remote_result_gone');
    expect(gone.body.error.message).toContain('"w1"');
    const id = await submit('SELECT n FROM sales.numbers ORDER BY n');
    const done = await finished(id);
    expect(done.placement).toBe('remote:w1');
    const ttl = Date.parse(done.expires_at) - Date.parse(done.finished_at);
    expect(ttl).toBe(300_000 - 2_000);
  });
});
