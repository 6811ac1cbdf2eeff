/**
 * Pond Runs routed to a worker (issue 12, routing slice) with real parts: a `duckstring worker
 * start` process, a Catchment with remote routing on, Ducks spawned from the built CLI. A `pond_run`
 * assignment moves one Pond's Duck under the worker (its parent process is the worker) while the
 * same pipeline routed nowhere runs locally; both publish the same tables. Then the worker is killed
 * outright mid-run: with fallback the run fails once and its retry runs and publishes locally;
 * without, the run fails with a reason naming the endpoint. Assignments naming no deployed Pond are
 * refused and store nothing.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckState } from '../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import { spawnWorker, type WorkerProcess, workerClient } from '../compute/worker/support.js';
import { removeDir, sleepyRipple, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

const TOKEN = 'remote-fleet-worker-token';
const ON = { FEATURE_REMOTE_ROUTING: 'on', FEATURE_INTERNAL_GRPC: 'on' };

let work: string;
let c: TestCatchment;
let worker: WorkerProcess | undefined;
/** Duck pids seen on the worker: a Duck orphaned by the kill -9 is ended here if still alive. */
const workerDucks = new Set<number>();

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

/** Running (a zombie nobody reaped yet counts as ended). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The parent pid of `pid`, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function ducksOnWorker() {
  const client = workerClient(worker!.grpcUrl, TOKEN);
  const { ducks } = await client.listDucks({});
  for (const d of ducks) workerDucks.add(d.pid);
  return ducks;
}

/** A source Pond and a Pond reading it, named with `suffix` so two copies can run side by side. */
async function deployPipeline(suffix: string): Promise<void> {
  const numbers = `numbers${suffix}`;
  expect(
    (
      await c.deploy(
        await writePond(work, {
          name: numbers,
          files: {
            [`ripples/${numbers}.sql`]: 'SELECT n::BIGINT AS n, n % 3 AS bucket FROM range(500) t(n)',
          },
        }),
      )
    ).status,
  ).toBe(201);
  expect(
    (
      await c.deploy(
        await writePond(work, {
          name: `stats${suffix}`,
          sources: { [numbers]: '1.0.0' },
          files: {
            'ripples/by_bucket.sql': `SELECT bucket, count(*) AS c, sum(n) AS total, avg(n)::DECIMAL(12,3) AS mean FROM ${numbers}.${numbers} GROUP BY bucket`,
            'ripples/summary.sql':
              "SELECT sum(c) AS rows, max(total) AS biggest, TIMESTAMP '2024-01-02 03:04:05' AS at FROM by_bucket",
          },
        }),
      )
    ).status,
  ).toBe(201);
}

async function table(sql: string) {
  const q = await c.api('POST', '/api/query', { sql });
  expect(q.status).toBe(200);
  return { columns: q.body.columns, rows: q.body.rows };
}

beforeAll(async () => {
  work = await tempDir('remote-fleet');
  c = await TestCatchment.start(path.join(work, 'root'), { env: ON, computeHealthIntervalMs: 200 });
  const port = await freePort();
  worker = await spawnWorker(
    { AGENT_TOKEN: TOKEN, GRPC_LISTEN_ADDR: `127.0.0.1:${port}`, MAX_MEMORY_GB: '1' },
    ['--data-dir', path.join(work, 'worker-data')],
  );
  const created = await c.api('POST', '/api/compute/endpoints', {
    name: 'w1',
    url: worker.grpcUrl,
    token: TOKEN,
  });
  expect(created.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await c?.close();
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill('SIGTERM');
    await worker.exited;
  }
  for (const pid of workerDucks) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (!process.env.KEEP_WORK) await removeDir(work);
});

describe('a pond_run assignment', () => {
  it('runs that Pond’s Duck under the worker, publishing the same tables as a local run', async () => {
    await deployPipeline('');
    await deployPipeline('_r');
    const assigned = await c.api('POST', '/api/compute/assignments', { endpoint: 'w1', pond: 'stats_r' });
    expect(assigned.status).toBe(201);
    expect(assigned.body).toMatchObject({
      subject: { kind: 'pond', name: 'stats_r' },
      job_kinds: ['pond_run'],
      fallback_local: true,
    });

    for (const pond of ['stats', 'stats_r'])
      expect((await c.api('POST', `/api/ponds/${pond}/pulse`, {})).status).toBe(200);
    await waitFor('both pipelines to complete', async () => {
      const [a, b] = [await c.status('stats'), await c.status('stats_r')];
      return a.runs.completed === 1 && b.runs.completed === 1;
    });

    // stats_r's Duck runs under the worker; everything else is local.
    const onWorker = await ducksOnWorker();
    expect(onWorker.map((d) => [d.line, d.state])).toEqual([['stats_r@1', DuckState.RUNNING]]);
    expect(parentOf(onWorker[0]!.pid)).toBe(worker!.child.pid);
    expect((await c.status('stats_r')).duck).toMatchObject({ runs_on: 'remote:w1', pid: null });
    expect((await c.status('stats')).duck.runs_on).toBe('local');
    expect((await c.status('numbers_r')).duck.runs_on).toBe('local');
    const status = await c.api('GET', '/api/compute/status');
    expect(status.body.ducks).toEqual(
      expect.arrayContaining([
        { line: 'stats_r@1', runs_on: 'remote:w1', pid: null },
        { line: 'stats@1', runs_on: 'local', pid: expect.any(Number) },
      ]),
    );

    for (const t of ['by_bucket', 'summary']) {
      const local = await table(`SELECT * FROM stats.${t} ORDER BY ALL`);
      expect(local.rows.length).toBeGreaterThan(0);
      expect(await table(`SELECT * FROM stats_r.${t} ORDER BY ALL`)).toEqual(local);
    }
  });

  it('naming no deployed Pond is refused with a precise message and stores nothing', async () => {
    const before = (await c.api('GET', '/api/compute/assignments')).body.assignments;
    const cases: Array<[unknown, number, RegExp]> = [
      [{ endpoint: 'w1', pond: 'ghost' }, 404, /^no Pond "ghost" is deployed$/],
      [{ endpoint: 'w1', pond: 'stats_r@7' }, 404, /^Pond "stats_r" has no major line 7 \(deployed: 1\)$/],
      [{ endpoint: 'w1', pond: 'stats', job_kinds: ['interactive'] }, 400, /pond_run only, not interactive/],
      [{ endpoint: 'w1', everyone: true, job_kinds: ['pond_run'] }, 400, /pond_run assignments target Ponds/],
    ];
    for (const [body, code, message] of cases) {
      const r = await c.api('POST', '/api/compute/assignments', body);
      expect(r.status, JSON.stringify(body)).toBe(code);
      expect(r.body.error.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await c.api('GET', '/api/compute/assignments')).body.assignments).toEqual(before);
  });
});

describe('the worker killed outright mid-run', () => {
  it('with fallback on: the run fails once through the fault path and the retry publishes locally', async () => {
    const slow = await writePond(work, {
      name: 'slow',
      files: { 'ripples/slow.ts': sleepyRipple('slow', 6000) },
    });
    expect((await c.deploy(slow)).status).toBe(201);
    expect((await c.api('POST', '/api/compute/assignments', { endpoint: 'w1', pond: 'slow@1' })).status).toBe(
      201,
    );
    expect((await c.api('POST', '/api/ponds/slow/pulse', {})).status).toBe(200);
    const duck = await waitFor('the slow Duck on the worker', async () =>
      (await ducksOnWorker()).find((d) => d.line === 'slow@1' && d.state === DuckState.RUNNING),
    );
    expect((await c.status('slow')).duck.runs_on).toBe('remote:w1');
    // Mid-run: the Duck has dialled in and holds the run.
    await waitFor('the run to be under way', async () => (await c.runs('slow'))[0]?.attempts?.length > 0);

    worker!.child.kill('SIGKILL');
    await worker!.exited;
    // Its Duck does not outlive it (it would keep polling with the line's old token).
    await waitFor('the orphaned Duck to end', async () => !alive(duck.pid), 10_000);

    const failed = await waitFor('the run to fail', async () => {
      const st = await c.status('slow');
      return st.status === 'failed' && st;
    });
    expect(failed.faults).toMatchObject({ failed: true, failures: 1 });
    const [lost] = await c.runs('slow');
    expect(lost.status).toBe('failed');
    expect(lost.error).toMatch(
      /^Duck process exited \(compute endpoint "w1" unreachable: .*\) during a run$/,
    );

    // The retry: cleared, triggered again, it runs locally (w1 is unhealthy, fallback is allowed).
    expect((await c.api('POST', '/api/ponds/slow/clear', {})).status).toBe(200);
    expect((await c.api('POST', '/api/ponds/slow/pulse', {})).status).toBe(200);
    await waitFor(
      'the retry to publish',
      async () => (await c.runs('slow'))[0]?.status === 'succeeded',
      60_000,
    );
    const runs = await c.runs('slow');
    expect(runs.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'failed']);
    expect((await c.status('slow')).duck.runs_on).toBe('fallback:w1');
    expect((await table('SELECT answer FROM slow.slow')).rows).toEqual([[42]]);
    expect(duck.pid).not.toBe((await c.status('slow')).duck.pid);
  });

  it('with fallback off: the run fails with a reason naming the endpoint', async () => {
    const pinned = await writePond(work, {
      name: 'pinned',
      files: { 'ripples/pinned.sql': 'SELECT 1 AS one' },
    });
    expect((await c.deploy(pinned)).status).toBe(201);
    const assigned = await c.api('POST', '/api/compute/assignments', {
      endpoint: 'w1',
      pond: 'pinned',
      fallback_local: false,
    });
    expect(assigned.status).toBe(201);
    expect((await c.api('POST', '/api/ponds/pinned/pulse', {})).status).toBe(200);
    const attention = await waitFor(
      'the line to need attention',
      async () => (await c.status('pinned')).attention,
    );
    expect(attention.reason).toMatch(/compute endpoint "w1"/);
    expect(attention.reason).toMatch(/allows no local fallback/);
    expect((await c.status('pinned')).runs.completed).toBe(0);
    const [run] = await c.runs('pinned');
    expect(run.status).toBe('failed');
  });
});
