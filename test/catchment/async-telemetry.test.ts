/**
 * Async-queue telemetry (issue 11 §5): the module on a ManualClock (targets from placements, one
 * observation per final state, the window), then a real Catchment over HTTP — /metrics carries the
 * series after a few jobs, and `compute status` (API and CLI) shows queue depth and p95 latency.
 * Synchronised by polling job states, never by sleeps.
 */
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueryJob } from '../../src/catchment/async/job-store.js';
import { AsyncQueryTelemetry, targetOf } from '../../src/catchment/async/telemetry.js';
import { runCli } from '../../src/cli/main.js';
import { ManualClock } from '../support/manual-clock.js';
import { removeDir, TestCatchment, tempDir, waitFor } from '../support/runtime.js';

function job(over: Partial<QueryJob> & { id: string }): QueryJob {
  return {
    principal: 'alice',
    request_id: null,
    sql: 'SELECT 1',
    state: 'QUEUED',
    attempts: 0,
    created_at: 0,
    started_at: null,
    finished_at: null,
    expires_at: null,
    error: null,
    row_count: null,
    truncated: null,
    columns: null,
    result_file: null,
    placement: null,
    remote_job_id: null,
    attempt_log: [],
    ...over,
  };
}

describe('AsyncQueryTelemetry', () => {
  it('names the target a placement ran on', () => {
    expect(targetOf('local')).toBe('local');
    expect(targetOf('remote:w1')).toBe('w1');
    expect(targetOf('fallback:w1')).toBe('local');
    expect(targetOf(null)).toBeNull();
  });

  it('counts the queue, then observes each final state once, by target', async () => {
    const clock = new ManualClock(1_000_000);
    const registry = new Registry();
    const t = new AsyncQueryTelemetry({ clock, registry, windowMs: 60_000 });
    const t0 = clock.now();
    const a = job({ id: 'a', created_at: t0 });
    const b = job({ id: 'b', created_at: t0 });
    const c = job({ id: 'c', created_at: t0 });
    t.observe(a, 'submitted');
    t.observe(b, 'submitted');
    t.observe(c, 'submitted');
    // Scheduling after a restart repeats a QUEUED job: it is one job in the queue still.
    t.observe(a, 'queued');
    expect(Object.fromEntries(t.depth())).toEqual({ pending: 3 });

    t.observe({ ...a, state: 'RUNNING', started_at: t0 + 30, attempts: 1 }, 'running');
    t.observe({ ...b, state: 'RUNNING', started_at: t0 + 40, attempts: 1 }, 'running');
    expect(Object.fromEntries(t.depth())).toEqual({ pending: 1 });
    clock.advance(200);
    const aDone = {
      ...a,
      state: 'SUCCEEDED' as const,
      started_at: t0 + 30,
      finished_at: t0 + 100,
      placement: 'local',
    };
    t.observe(aDone, 'succeeded');
    const bFailed = {
      ...b,
      state: 'FAILED' as const,
      started_at: t0 + 40,
      finished_at: t0 + 150,
      placement: 'remote:w1',
      error: { code: 'execution_failed', message: 'x', error_id: null },
    };
    t.observe(bFailed, 'failed');
    const cCanceled = {
      ...c,
      state: 'CANCELED' as const,
      finished_at: t0 + 200,
      error: { code: 'canceled', message: 'canceled by its owner', error_id: null },
    };
    t.observe(cCanceled, 'canceled');
    // Deleting or expiring a finished job repeats its final state: not a second observation.
    t.observe(aDone, 'deleted');
    t.observe({ ...aDone, state: 'EXPIRED' }, 'expired');

    const status = t.status();
    expect(status.window_ms).toBe(60_000);
    expect(status.targets).toEqual([
      {
        target: 'local',
        queued: 0,
        finished: 1,
        queue_p50_ms: 30,
        queue_p95_ms: 30,
        e2e_p95_ms: 100,
        failures: {},
      },
      {
        target: 'pending',
        queued: 0,
        finished: 0,
        queue_p50_ms: null,
        queue_p95_ms: null,
        e2e_p95_ms: null,
        failures: {},
      },
      {
        target: 'unplaced',
        queued: 0,
        finished: 1,
        queue_p50_ms: null,
        queue_p95_ms: null,
        e2e_p95_ms: 200,
        failures: { canceled: 1 },
      },
      {
        target: 'w1',
        queued: 0,
        finished: 1,
        queue_p50_ms: 40,
        queue_p95_ms: 40,
        e2e_p95_ms: 150,
        failures: { execution_failed: 1 },
      },
    ]);

    const text = await registry.metrics();
    expect(text).toContain('duckstring_async_query_queued_seconds_count{target="local"} 1');
    expect(text).toContain('duckstring_async_query_queued_seconds_bucket{le="0.025",target="local"} 0');
    expect(text).toContain('duckstring_async_query_queued_seconds_bucket{le="0.05",target="local"} 1');
    expect(text).toContain('duckstring_async_query_queued_seconds_count{target="w1"} 1');
    // A job canceled while queued never left the queue: no time-in-queue observation for it.
    expect(text).not.toContain('duckstring_async_query_queued_seconds_count{target="unplaced"}');
    expect(text).toContain('duckstring_async_query_duration_seconds_count{target="unplaced"} 1');
    expect(text).toContain('duckstring_async_queries_total{state="succeeded",reason=""} 1');
    expect(text).toContain('duckstring_async_queries_total{state="failed",reason="execution_failed"} 1');
    expect(text).toContain('duckstring_async_queries_total{state="canceled",reason="canceled"} 1');
    expect(text).toContain('duckstring_async_queue_depth{target="pending"} 0');
  });

  it('forgets finished jobs once they leave the window, and keeps at most `keep`', () => {
    const clock = new ManualClock(0);
    const t = new AsyncQueryTelemetry({ clock, windowMs: 1_000, keep: 10 });
    for (let i = 0; i < 25; i++) {
      t.observe(
        job({
          id: `j${i}`,
          state: 'SUCCEEDED',
          created_at: 0,
          started_at: i,
          finished_at: 100 + i,
          placement: 'local',
        }),
        'succeeded',
      );
    }
    const local = () => t.status().targets.find((x) => x.target === 'local');
    // The newest ten: queued 15 … 24 ms.
    expect(local()).toMatchObject({ finished: 10, queue_p50_ms: 19, queue_p95_ms: 24 });
    clock.advance(1_001);
    expect(local()).toBeUndefined();
  });
});

/** Runs until its time limit or a cancel: 10^10 rows. */
const LONG = 'SELECT sum(a.range * b.range) AS s FROM range(100000) a, range(100000) b';

describe('through a Catchment', () => {
  let work: string;
  let c: TestCatchment;

  beforeAll(async () => {
    work = await tempDir('async-telemetry');
    c = await TestCatchment.start(path.join(work, 'root'), {
      env: { FEATURE_ASYNC_QUEUE: 'on', FEATURE_CURSOR_MODE: 'on' },
      queries: { timeoutMs: 60_000 },
    });
  }, 60_000);

  afterAll(async () => {
    await c?.close();
    await removeDir(work);
  });

  const state = (id: string) => c.api('GET', `/api/queries/${id}`).then((r) => r.body.state as string);

  it('/metrics and compute status show the queue depth, p95 latencies and final states', async () => {
    for (let i = 0; i < 3; i++) {
      const done = await c.api('POST', '/api/queries', { sql: `SELECT ${i} AS n`, wait: 20 });
      expect(done.body.job.state, JSON.stringify(done.body)).toBe('SUCCEEDED');
    }
    // One principal holds one slot at most: the second long job waits in the queue.
    const first = (await c.api('POST', '/api/queries', { sql: LONG })).body.job.id as string;
    const second = (await c.api('POST', '/api/queries', { sql: `${LONG} -- 2` })).body.job.id as string;
    await waitFor('the first long job to run', async () => (await state(first)) === 'RUNNING');
    expect(await state(second)).toBe('QUEUED');

    const status = await c.api('GET', '/api/compute/status');
    expect(status.status).toBe(200);
    const targets = status.body.async_queries.targets as Array<Record<string, unknown>>;
    expect(status.body.async_queries.window_seconds).toBe(300);
    expect(targets.find((t) => t.target === 'pending')).toMatchObject({ queued: 1 });
    const local = targets.find((t) => t.target === 'local')!;
    expect(local).toMatchObject({ finished: 3, failures: {} });
    expect(local.queue_p95_ms).toEqual(expect.any(Number));
    expect(local.e2e_p95_ms as number).toBeGreaterThanOrEqual(local.queue_p95_ms as number);

    const metrics = await fetch(`${c.url}/metrics`, {
      headers: { authorization: `Bearer ${c.running.adminKey}` },
    }).then((r) => r.text());
    expect(metrics).toContain('duckstring_async_queue_depth{target="pending"} 1');
    expect(metrics).toContain('duckstring_async_query_queued_seconds_count{target="local"} 3');
    expect(metrics).toContain('duckstring_async_query_duration_seconds_count{target="local"} 3');
    expect(metrics).toContain('duckstring_async_queries_total{state="succeeded",reason=""} 3');

    const out: string[] = [];
    const code = await runCli(['compute', 'status', '--catchment', c.url, '--key', c.running.adminKey], {
      stdout: (text) => out.push(text),
      stderr: (text) => out.push(text),
      readStdin: async () => '',
    });
    expect(code, out.join('')).toBe(0);
    const printed = out.join('');
    expect(printed).toContain('async queries (pending: not placed yet); figures over the last 300s');
    expect(printed).toMatch(
      /\n {2}local {2}queued 0 {2}finished 3 {2}queue p50 \S+ p95 \S+ {2}end to end p95 \S+ {2}failures 0\n/,
    );
    expect(printed).toContain('  pending  queued 1  finished 0');

    for (const id of [second, first])
      expect((await c.api('POST', `/api/queries/${id}/cancel`)).status).toBe(200);
    await waitFor('the queue to drain', async () => {
      const now = await c.api('GET', '/api/compute/status');
      const pending = now.body.async_queries.targets.find((t: { target: string }) => t.target === 'pending');
      return pending.queued === 0;
    });
    const after = await fetch(`${c.url}/metrics`, {
      headers: { authorization: `Bearer ${c.running.adminKey}` },
    }).then((r) => r.text());
    expect(after).toContain('duckstring_async_queries_total{state="canceled",reason="canceled"} 2');
    expect(after).toContain('duckstring_async_queue_depth{target="pending"} 0');
  }, 60_000);
});
