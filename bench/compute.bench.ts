/**
 * Compute topology benchmark, in one run:
 *
 * 1. Routing decision cost: ComputeRouter.plan (flags, canary, directory resolution, health,
 *    least outstanding) per query with 1,000 assignments over 100 nested groups and 2,000
 *    principals; median and p99 per decision over every principal, cold (first resolution of each
 *    principal) and warm. Target < 50 µs.
 * 2. Remote vs local, same run, same data, through the same code paths the Catchment uses (the
 *    QueryExecutor locally; RemoteQueryBackend to a real `duckstring worker start --shared-root`
 *    process): a 1 M-row result streamed to the caller (target ≥ 0.8× local throughput) and a small
 *    aggregate over 10 M rows (target < 3 ms added at the median). Alternating, medians of 5.
 * 3. Fallback: kill -9 of the only worker, then the next query through the router with fallback
 *    on: it must succeed; the time it takes against a local query's median (target < 100 ms added).
 * 4. Async queries, through a real Catchment over HTTP (FEATURE_ASYNC_QUEUE, FEATURE_CURSOR_MODE on):
 *    - queue: 200 concurrent submissions of a small aggregate by 5 principals; p95 time QUEUED
 *      (target < 50 ms) and end to end, from the jobs' own times, against one interactive query of
 *      the same aggregate;
 *    - paging: a 1 M-row result paged 10 000 rows at a time, rows/s against one interactive query of
 *      the same SQL in the same run (target ≥ 0.8×). An interactive answer stops at the executor's
 *      100 000-row cap, so the rates are compared, not the times.
 *
 * Run: npm run bench:compute; `npm run bench:compute -- --only stream` (or routing, aggregate,
 * fallback, queue, paging; comma-separated) runs only those cases.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DuckDBInstance } from '@duckdb/node-api';
import { type ResolvableAssignment, RouteResolver } from '../src/catchment/compute/resolution.js';
import { dataDirRel } from '../src/catchment/store/layout.js';
import { QueryExecutor, type QueryResult } from '../src/compute/query.js';
import type { QueryBackend, QueryBackendRequest } from '../src/compute/query-backend.js';
import { WorkerClientPool } from '../src/compute/remote/client-pool.js';
import { readRemoteRoutingFlags } from '../src/compute/remote/flags.js';
import { createRemoteRouting } from '../src/compute/remote/index.js';
import { passthroughAnswer } from '../src/compute/remote/passthrough-result.js';
import { RemoteQueryBackend } from '../src/compute/remote/remote-backend.js';
import type { SnapshotRef } from '../src/compute/snapshot-store.js';
import type { ComputeDirectory, EndpointTarget } from '../src/compute/topology.js';
import { Policy } from '../src/governance/policy.js';
import { systemClock } from '../src/shared/clock.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../test/support/runtime.js';

const TOKEN = 'bench-compute-token-0123456789abcdef';
const CASES = ['routing', 'stream', 'aggregate', 'fallback', 'queue', 'paging'] as const;
const only = (() => {
  const at = process.argv.indexOf('--only');
  if (at < 0) return new Set<string>(CASES);
  const picked = (process.argv[at + 1] ?? '').split(',').filter(Boolean);
  const unknown = picked.filter((c) => !(CASES as readonly string[]).includes(c));
  if (picked.length === 0 || unknown.length > 0)
    throw new Error(`--only takes a comma-separated list of ${CASES.join(', ')}`);
  return new Set<string>(picked);
})();
const ROWS_1M = 1_000_000;
const ROWS_10M = 10_000_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

function directoryOver(resolver: () => RouteResolver, endpoints: () => EndpointTarget[]): ComputeDirectory {
  return {
    route: (principal, kind) => resolver().route(principal, kind),
    endpoints,
    subscribe: () => () => {},
  };
}

const localOnly: QueryBackend = {
  execute: async () => ({ columns: [], rows: [], row_count: 0, truncated: false }),
};

// ───────────── 1. routing decision ─────────────
async function routingDecision(): Promise<void> {
  const groups = Array.from({ length: 100 }, (_, i) => `g${i}`);
  const principals = Array.from({ length: 2000 }, (_, i) => `p${i}`);
  // Groups nest in chains of ten (g0 ⊃ g1 ⊃ … ⊃ g9); each principal is a direct member of two groups.
  const policy = Policy.parse({
    principals: principals.map((name) => ({ name, kind: 'user' })),
    groups: groups.map((name, i) => ({
      name,
      members: [
        ...(i % 10 !== 9 ? [groups[i + 1]!] : []),
        ...principals.filter((_, p) => p % 100 === i || (p * 7) % 100 === i),
      ],
    })),
  });
  const endpoints: EndpointTarget[] = Array.from({ length: 20 }, (_, i) => ({
    name: `w${i}`,
    url: `grpc://127.0.0.1:${10_000 + i}`,
    token: 't',
    status: 'active',
    capacity: null,
    revision: 1,
  }));
  const assignments: ResolvableAssignment[] = Array.from({ length: 1000 }, (_, i) => ({
    id: i + 1,
    subject:
      i % 4 === 0
        ? { kind: 'group', name: groups[i % 100]! }
        : i === 999
          ? { kind: 'everyone' }
          : { kind: 'principal', name: principals[(i * 13) % principals.length]! },
    endpoint: endpoints[i % endpoints.length]!.name,
    isDefault: i % 3 === 0,
    fallbackLocal: true,
    jobKinds: ['interactive', 'async'],
  }));
  let resolver = new RouteResolver(endpoints, assignments, policy);
  const routing = createRemoteRouting({
    directory: directoryOver(
      () => resolver,
      () => endpoints,
    ),
    flags: readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: '1', FEATURE_INTERNAL_GRPC: '1' }),
    isMember: (p, g) => policy.isMember(p, g),
    local: localOnly,
    clock: systemClock,
    grant: { sizeOf: () => 0, capability: () => '', snapshotUrl: () => '' },
  });
  const time = () =>
    principals.map((p) => {
      const t0 = performance.now();
      routing.router.plan(p, 'interactive');
      return performance.now() - t0;
    });
  for (let i = 0; i < 3; i++) time(); // JIT warm-up (and memo)
  resolver = new RouteResolver(endpoints, assignments, policy); // a fresh resolver: cold memo
  const cold = time();
  const warm = time();
  const canary = createRemoteRouting({
    directory: directoryOver(
      () => resolver,
      () => endpoints,
    ),
    flags: readRemoteRoutingFlags({
      FEATURE_REMOTE_ROUTING: '1',
      FEATURE_INTERNAL_GRPC: '1',
      REMOTE_CANARY_USERS: 'p1,p2,group:g5,group:g42',
    }),
    isMember: (p, g) => policy.isMember(p, g),
    local: localOnly,
    clock: systemClock,
    grant: { sizeOf: () => 0, capability: () => '', snapshotUrl: () => '' },
  });
  const withCanary = principals.map((p) => {
    const t0 = performance.now();
    canary.router.plan(p, 'interactive');
    return performance.now() - t0;
  });
  console.log('1. Routing decision (1,000 assignments, 100 nested groups, 2,000 principals)');
  console.log(`   cold: median ${fmt(median(cold))}, p99 ${fmt(quantile(cold, 0.99))}`);
  console.log(`   warm: median ${fmt(median(warm))}, p99 ${fmt(quantile(warm, 0.99))}`);
  console.log(
    `   with a canary list: median ${fmt(median(withCanary))}, p99 ${fmt(quantile(withCanary, 0.99))}`,
  );
  console.log(`   target < 50 µs: ${median(cold) < 0.05 && median(warm) < 0.05 ? 'met' : 'MISSED'}`);
  await routing.stop();
  await canary.stop();
}

// ───────────── worker process ─────────────
interface Worker {
  child: ChildProcess;
  grpcUrl: string;
  exited: Promise<unknown>;
}

async function startWorker(root: string): Promise<Worker> {
  const child = spawn(
    process.execPath,
    // The built CLI (npm run build), as an operator runs it.
    [path.resolve('bin/duckstring.js'), 'worker', 'start', '--shared-root', root],
    {
      env: {
        ...process.env,
        AGENT_TOKEN: TOKEN,
        LISTEN_ADDR: '127.0.0.1:0',
        GRPC_LISTEN_ADDR: '127.0.0.1:0',
        MAX_MEMORY_GB: '4',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const grpcUrl = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; grpc_url: string };
      if (event.event === 'listening') resolve(event.grpc_url);
    });
    void exited.then(() => reject(new Error('the worker exited before listening')));
  });
  return { child, grpcUrl, exited };
}

async function writeTable(root: string, ref: SnapshotRef, select: string): Promise<string> {
  const target = path.join(root, dataDirRel(ref.pond, ref.major), ref.file);
  mkdirSync(path.dirname(target), { recursive: true });
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run(`COPY (${select}) TO '${target}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
  return target;
}

// ───────────── 4. async queries ─────────────
const SUBMISSIONS = 200;
const PRINCIPALS = ['p1', 'p2', 'p3', 'p4', 'p5'];
const PAGE_ROWS = 10_000;
const SMALL_AGGREGATE = 'SELECT k, count(*) AS n, sum(v) AS total FROM b.small GROUP BY k ORDER BY k';
const WIDE = 'SELECT * FROM b.wide';

async function asyncQueries(): Promise<void> {
  const work = await tempDir('bench-async');
  const c = await TestCatchment.start(path.join(work, 'root'), {
    env: { FEATURE_ASYNC_QUEUE: 'on', FEATURE_CURSOR_MODE: 'on' },
    queries: { timeoutMs: 120_000 },
  });
  try {
    const pond = await writePond(work, {
      name: 'b',
      files: {
        'ripples/wide.sql': `SELECT range AS id, 'name-' || range AS name, range * 1.5 AS amount, range % 7 = 0 AS flag FROM range(${ROWS_1M})`,
        'ripples/small.sql': 'SELECT range % 10 AS k, range * 0.5 AS v FROM range(10000)',
      },
    });
    if ((await c.deploy(pond)).status !== 201) throw new Error('the bench Pond did not deploy');
    await c.api('POST', '/api/ponds/b/pulse', {});
    await waitFor(
      'the bench Pond to publish',
      async () => (await c.status('b')).runs.completed >= 1,
      120_000,
    );
    const keys: Record<string, string> = {};
    for (const name of PRINCIPALS) {
      await c.api('POST', '/api/principals', { name });
      await c.api('POST', '/api/grants', { to: name, privileges: ['SELECT'], on: 'b' });
      keys[name] = (await c.api('POST', '/api/keys', { principal: name })).body.key;
    }
    const call = async (who: string, method: string, route: string, body?: unknown) => {
      const res = await fetch(`${c.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${keys[who]}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${text}`);
      return JSON.parse(text);
    };
    const timedInteractive = async (sql: string) => {
      const t0 = performance.now();
      const answer = await call('p1', 'POST', '/api/query', { sql });
      return { ms: performance.now() - t0, rows: answer.row_count as number };
    };
    const ms = (iso: string | null) => (iso === null ? Number.NaN : Date.parse(iso));

    if (only.has('queue')) {
      // Warm-up: governor workers, snapshot leases, the first Parquet write.
      for (const who of PRINCIPALS)
        await call(who, 'POST', '/api/queries', { sql: SMALL_AGGREGATE, wait: 30 });
      const interactive: number[] = [];
      for (let i = 0; i < 9; i++) interactive.push((await timedInteractive(SMALL_AGGREGATE)).ms);
      const t0 = performance.now();
      const answers = await Promise.all(
        Array.from({ length: SUBMISSIONS }, (_, i) =>
          call(PRINCIPALS[i % PRINCIPALS.length]!, 'POST', '/api/queries', {
            sql: SMALL_AGGREGATE,
            wait: 30,
          }),
        ),
      );
      const wall = performance.now() - t0;
      const jobs = answers.map(
        (a) => a.job as { state: string; created_at: string; started_at: string; finished_at: string | null },
      );
      const unfinished = jobs.filter((j) => j.state !== 'SUCCEEDED');
      if (unfinished.length > 0) throw new Error(`${unfinished.length} jobs did not succeed within 30 s`);
      const queued = jobs.map((j) => ms(j.started_at) - ms(j.created_at));
      const e2e = jobs.map((j) => ms(j.finished_at) - ms(j.created_at));
      const status = await c.api('GET', '/api/compute/status');
      const local = (status.body.async_queries?.targets ?? []).find(
        (t: { target: string }) => t.target === 'local',
      );
      console.log(
        `\n4. Async queries over HTTP (${SUBMISSIONS} concurrent submissions by ${PRINCIPALS.length} principals)`,
      );
      console.log(
        `   time QUEUED: p50 ${fmt(quantile(queued, 0.5))}, p95 ${fmt(quantile(queued, 0.95))} — target < 50 ms: ${quantile(queued, 0.95) < 50 ? 'met' : 'MISSED'}`,
      );
      console.log(
        `   end to end: p50 ${fmt(quantile(e2e, 0.5))}, p95 ${fmt(quantile(e2e, 0.95))}; all ${SUBMISSIONS} done in ${fmt(wall)}; one interactive query of the same aggregate ${fmt(median(interactive))} (p95 end to end = ${(quantile(e2e, 0.95) / median(interactive)).toFixed(1)}× it)`,
      );
      console.log(
        `   compute status agrees: local queue p95 ${local?.queue_p95_ms ?? '—'} ms, end to end p95 ${local?.e2e_p95_ms ?? '—'} ms over ${local?.finished ?? 0} jobs`,
      );
      // A burst larger than capacity waits for capacity whatever the queue does: the last job starts
      // after the others' work (Little's law). The queue's own cost shows at a load it can serve, so
      // the same 200 jobs also go in paced at half the throughput the burst reached.
      const throughput = SUBMISSIONS / wall;
      const gapMs = 2 / throughput;
      console.log(
        `   the burst drains at ${(throughput * 1000).toFixed(0)} jobs/s in ${fmt(wall)}: the 95th-percentile job waits for ~95% of the others' work, so ~${fmt(0.95 * wall)} QUEUED whatever the queue does`,
      );
      const paced: Array<Promise<{ job: { created_at: string; started_at: string; state: string } }>> = [];
      for (let i = 0; i < SUBMISSIONS; i++) {
        paced.push(
          call(PRINCIPALS[i % PRINCIPALS.length]!, 'POST', '/api/queries', {
            sql: SMALL_AGGREGATE,
            wait: 30,
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
      const pacedJobs = (await Promise.all(paced)).map((a) => a.job);
      if (pacedJobs.some((j) => j.state !== 'SUCCEEDED')) throw new Error('a paced job did not succeed');
      const pacedQueued = pacedJobs.map((j) => ms(j.started_at) - ms(j.created_at));
      console.log(
        `   paced at one job every ${fmt(gapMs)} (half that throughput): time QUEUED p50 ${fmt(quantile(pacedQueued, 0.5))}, p95 ${fmt(quantile(pacedQueued, 0.95))} — target < 50 ms: ${quantile(pacedQueued, 0.95) < 50 ? 'met' : 'MISSED'}`,
      );
    }

    if (only.has('paging')) {
      const submitted = await call('p1', 'POST', '/api/queries', { sql: WIDE, wait: 30 });
      const job = submitted.job as { id: string; state: string; row_count: number };
      if (job.state !== 'SUCCEEDED' || job.row_count !== ROWS_1M)
        throw new Error(`the 1 M-row job: ${JSON.stringify(job)}`);
      const pageAll = async () => {
        const t0 = performance.now();
        let rows = 0;
        let cursor: string | null = null;
        do {
          const query: string = `max_rows=${PAGE_ROWS}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const page = await call('p1', 'GET', `/api/queries/${job.id}/results?${query}`);
          rows += page.rows.length;
          cursor = page.next_cursor;
        } while (cursor);
        if (rows !== ROWS_1M) throw new Error(`paged ${rows} rows, expected ${ROWS_1M}`);
        return performance.now() - t0;
      };
      await pageAll();
      await timedInteractive(WIDE);
      const paged: number[] = [];
      const interactive: number[] = [];
      let interactiveRows = 0;
      for (let i = 0; i < 3; i++) {
        paged.push(await pageAll());
        const one = await timedInteractive(WIDE);
        interactive.push(one.ms);
        interactiveRows = one.rows;
      }
      const pagedRate = ROWS_1M / (median(paged) / 1000);
      const interactiveRate = interactiveRows / (median(interactive) / 1000);
      const ratio = pagedRate / interactiveRate;
      console.log(`\n4b. Paging a 1 M-row async result over HTTP, ${PAGE_ROWS} rows a page`);
      console.log(
        `   paged ${fmt(median(paged))} (${(pagedRate / 1e6).toFixed(2)} M rows/s); one interactive query ${fmt(median(interactive))} for ${interactiveRows} rows (${(interactiveRate / 1e6).toFixed(2)} M rows/s): ${ratio.toFixed(2)}× — target ≥ 0.8×: ${ratio >= 0.8 ? 'met' : 'MISSED'}`,
      );
    }
  } finally {
    await c.close();
    await removeDir(work);
  }
}

/** The HTTP answer's bytes, as the query route makes them (src/catchment/http/routes/query.ts). */
const answerBytes = (result: QueryResult): Buffer | string =>
  passthroughAnswer(result) ?? JSON.stringify(result);

async function main(): Promise<void> {
  if (only.has('routing')) await routingDecision();
  await remoteCases();
  if (only.has('queue') || only.has('paging')) await asyncQueries();
}

async function remoteCases(): Promise<void> {
  if (!only.has('stream') && !only.has('aggregate') && !only.has('fallback')) return;

  const root = await mkdtemp(path.join(tmpdir(), 'duckstring-bench-compute-'));
  try {
    const wide: SnapshotRef = { pond: 'b', major: 1, table: 'wide', file: 'wide/w.parquet', checksum: 'x' };
    const big: SnapshotRef = { pond: 'b', major: 1, table: 'big', file: 'big/b.parquet', checksum: 'x' };
    const widePath = await writeTable(
      root,
      wide,
      `SELECT range AS id, 'name-' || range AS name, range * 1.5 AS amount, range % 7 = 0 AS flag FROM range(${ROWS_1M})`,
    );
    // Only the aggregate (and the fallback, timed against it) reads the 10 M rows.
    const bigPath =
      only.has('aggregate') || only.has('fallback')
        ? await writeTable(
            root,
            big,
            `SELECT range AS id, range % 100 AS k, random() AS v FROM range(${ROWS_10M})`,
          )
        : '';
    const executor = new QueryExecutor({ defaults: { maxRows: ROWS_1M, memoryLimit: '2GiB' } });
    const local: QueryBackend = {
      execute: (r) =>
        executor.execute(r.sql, {
          tables: new Map(r.tables.map((t) => [t.relation, t.snapshot === wide ? widePath : bigPath])),
          principal: r.principal,
          limits: { timeoutMs: r.timeoutMs },
        }),
    };
    const worker = await startWorker(root);
    const pool = new WorkerClientPool();
    const endpoint: EndpointTarget = {
      name: 'w1',
      url: worker.grpcUrl,
      token: TOKEN,
      status: 'active',
      capacity: null,
      revision: 1,
    };
    const grant = {
      sizeOf: (ref: SnapshotRef) => statSync(path.join(root, dataDirRel(ref.pond, ref.major), ref.file)).size,
      capability: () => '',
      snapshotUrl: () => '',
    };
    const remote = new RemoteQueryBackend(() => pool.acquire(endpoint), grant, { maxRows: ROWS_1M });
    const stream: QueryBackendRequest = {
      sql: 'SELECT * FROM b.wide',
      tables: [{ relation: 'b.wide', snapshot: wide }],
      principal: 'bench',
      timeoutMs: 120_000,
    };
    const aggregate: QueryBackendRequest = {
      sql: 'SELECT k, count(*), sum(v) FROM b.big WHERE k < 3 GROUP BY k ORDER BY k',
      tables: [{ relation: 'b.big', snapshot: big }],
      principal: 'bench',
      timeoutMs: 120_000,
    };
    /** Milliseconds to the result, and to the caller's bytes (the HTTP answer serializes it either way). */
    const timed = async (backend: QueryBackend, r: QueryBackendRequest) => {
      const t0 = performance.now();
      const result = await backend.execute(r);
      const ms = performance.now() - t0;
      // row_count, not rows.length: reading a remote result's rows would parse them.
      if (r === stream && result.row_count !== ROWS_1M) throw new Error(`expected ${ROWS_1M} rows`);
      if (r === stream)
        serialized.push(
          ms +
            (() => {
              const t1 = performance.now();
              answerBytes(result);
              return performance.now() - t1;
            })(),
        );
      return ms;
    };
    const serialized: number[] = [];
    if (only.has('stream')) {
      // Warm-up, and the answers compared once: the caller gets the same bytes either way.
      const [l, r] = [await local.execute(stream), await remote.execute(stream)];
      // The same answer up to row order (SELECT * has none: local scans in parallel).
      const canonical = (result: QueryResult) => {
        const answer = JSON.parse(answerBytes(result).toString()) as { rows: [number, ...unknown[]][] };
        answer.rows.sort((x, y) => x[0] - y[0]);
        return JSON.stringify(answer);
      };
      if (canonical(l) !== canonical(r)) {
        worker.child.kill('SIGKILL');
        throw new Error('the remote answer differs from the local one');
      }
      serialized.length = 0;
    }
    const t = {
      localStream: [] as number[],
      remoteStream: [] as number[],
      localAgg: [] as number[],
      remoteAgg: [] as number[],
    };
    const endToEnd = { local: [] as number[], remote: [] as number[] };
    for (let i = 0; i < (only.has('stream') ? 5 : 0); i++) {
      t.localStream.push(await timed(local, stream));
      endToEnd.local.push(serialized.pop()!);
      t.remoteStream.push(await timed(remote, stream));
      endToEnd.remote.push(serialized.pop()!);
    }
    for (let i = 0; i < (only.has('aggregate') || only.has('fallback') ? 3 : 0); i++) {
      await timed(local, aggregate);
      await timed(remote, aggregate);
    }
    for (let i = 0; i < (only.has('aggregate') || only.has('fallback') ? 9 : 0); i++) {
      t.localAgg.push(await timed(local, aggregate));
      t.remoteAgg.push(await timed(remote, aggregate));
    }
    console.log('\n2. Remote vs local (real worker process, shared root)');
    if (only.has('stream')) {
      const localRate = ROWS_1M / (median(t.localStream) / 1000);
      const remoteRate = ROWS_1M / (median(t.remoteStream) / 1000);
      console.log(
        `   1 M rows to the caller: local ${fmt(median(t.localStream))} (${(localRate / 1e6).toFixed(2)} M rows/s), remote ${fmt(median(t.remoteStream))} (${(remoteRate / 1e6).toFixed(2)} M rows/s): ${(remoteRate / localRate).toFixed(2)}× — target ≥ 0.8×: ${remoteRate / localRate >= 0.8 ? 'met' : 'MISSED'}`,
      );
      const e2e = median(endToEnd.local) / median(endToEnd.remote);
      console.log(
        `   … including the HTTP answer's bytes for the caller: local ${fmt(median(endToEnd.local))}, remote ${fmt(median(endToEnd.remote))}: ${e2e.toFixed(2)}× — target ≥ 0.8×: ${e2e >= 0.8 ? 'met' : 'MISSED'}`,
      );
    }
    if (only.has('aggregate')) {
      const added = median(t.remoteAgg) - median(t.localAgg);
      console.log(
        `   aggregate over 10 M rows: local ${fmt(median(t.localAgg))}, remote ${fmt(median(t.remoteAgg))}, added ${fmt(added)} — target < 3 ms: ${added < 3 ? 'met' : 'MISSED'}`,
      );
    }
    if (!only.has('fallback')) {
      worker.child.kill('SIGKILL');
      await worker.exited;
      pool.close();
      await executor.close();
      return;
    }

    // ───────────── 3. fallback ─────────────
    const routing = createRemoteRouting({
      directory: {
        route: () => ({
          candidates: [{ endpoint, fallbackLocal: true, assignment: 'everyone' }],
          reason: 'bench',
        }),
        endpoints: () => [endpoint],
        subscribe: () => () => {},
      },
      flags: readRemoteRoutingFlags({ FEATURE_REMOTE_ROUTING: '1', FEATURE_INTERNAL_GRPC: '1' }),
      isMember: () => false,
      local,
      clock: systemClock,
      pool,
      grant,
      remote: { maxRows: ROWS_1M },
    });
    const placements: string[] = [];
    const viaRouter = async () => {
      const t0 = performance.now();
      await routing.router.execute(aggregate, 'interactive', (p) => placements.push(p.kind));
      return performance.now() - t0;
    };
    await viaRouter();
    worker.child.kill('SIGKILL');
    await worker.exited;
    const first = await viaRouter();
    const next = [await viaRouter(), await viaRouter(), await viaRouter()];
    const fallbackAdded = first - median(t.localAgg);
    console.log('\n3. Fallback after kill -9 of the only worker');
    console.log(
      `   placements: ${placements.join(', ')}; first query after the kill ${fmt(first)} (${fmt(fallbackAdded)} over local), next ${next.map(fmt).join(', ')}`,
    );
    console.log(`   no failed query; target < 100 ms added: ${fallbackAdded < 100 ? 'met' : 'MISSED'}`);
    await routing.stop();
    await executor.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
