/**
 * The async lifecycle on a real worker process: Submit is idempotent per request id, a result is
 * fetched page by page by cursor and equals the streamed one, bad cursors are refused, Cancel and
 * Delete work, and the cleanup timer expires results after QUERY_RESULT_TTL without any request.
 */

import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState } from '../../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { JsonValue } from '../../../src/compute/results.js';
import { tempDir } from '../helpers.js';
import {
  collect,
  spawnWorker,
  type WireSnapshotFile,
  type WorkerClient,
  type WorkerProcess,
  workerClient,
  writeSnapshotFile,
} from './support.js';

const TOKEN = 'async-token';
const decoder = new TextDecoder();

/** Polls until `check` holds (bounded): the worker's state changes on its own timers. */
async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('worker async jobs (real process)', () => {
  const root = tempDir('worker-async');
  let worker: WorkerProcess;
  let client: WorkerClient;
  let file: WireSnapshotFile;

  beforeAll(async () => {
    file = await writeSnapshotFile(
      root.dir,
      { pond: 'nums', major: 1, table: 'n', name: 'z9' },
      'nums.n',
      "SELECT range AS i, CASE WHEN range % 7 = 0 THEN NULL ELSE 'v' || range END AS s FROM range(25000)",
    );
    worker = await spawnWorker(
      { AGENT_TOKEN: TOKEN, MAX_MEMORY_GB: '1', QUERY_RESULT_TTL: '4s', QUERY_CLEANUP_INTERVAL: '200ms' },
      ['--shared-root', root.dir, '--data-dir', `${root.dir}/worker-data`],
    );
    client = workerClient(worker.grpcUrl, TOKEN);
  });

  afterAll(async () => {
    worker?.child.kill('SIGTERM');
    await worker?.exited;
    root.cleanup();
  });

  const spec = (sql: string) => ({ sql, tables: [file], maxRows: 1_000_000n });
  const done = (jobId: string) =>
    eventually(
      () => client.getJob({ jobId }),
      (s) => s.state !== JobState.QUEUED && s.state !== JobState.RUNNING,
    );

  it('submits idempotently, pages by cursor, and equals the streamed result', async () => {
    const sql = 'SELECT i, s FROM nums.n ORDER BY i';
    const first = await client.submit({ requestId: 'req-1', query: spec(sql) });
    const again = await client.submit({ requestId: 'req-1', query: spec(sql) });
    expect(again.jobId).toBe(first.jobId);
    const status = await done(first.jobId);
    expect(status.state).toBe(JobState.SUCCEEDED);
    expect(status.rowCount).toBe(25000n);
    expect(status.schema?.columns.map((c) => [c.name, c.type])).toEqual([
      ['i', 'BIGINT'],
      ['s', 'VARCHAR'],
    ]);
    expect(status.expiresAt).toBeGreaterThan(status.finishedAt);

    const rows: JsonValue[][] = [];
    let cursor = '';
    let pages = 0;
    do {
      const page = await client.fetchPage({ jobId: first.jobId, cursor, maxRows: 3000 });
      const batch = JSON.parse(decoder.decode(page.rows!.rowsJson)) as JsonValue[][];
      expect(batch.length).toBe(page.rows!.rowCount);
      rows.push(...batch);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== '');
    expect(pages).toBe(9);
    const streamed = await collect(client.execute({ query: spec(sql) }));
    expect(rows).toEqual(streamed.rows);
    expect(rows[7]).toEqual([7, null]);

    // A page from the middle, across an index stride.
    const middle = await client.fetchPage({ jobId: first.jobId, cursor: '2047', maxRows: 3 });
    expect(JSON.parse(decoder.decode(middle.rows!.rowsJson))).toEqual(streamed.rows.slice(2047, 2050));
    expect(middle.nextCursor).toBe('2050');

    for (const bad of ['25000', '99999999', '-1', 'abc', '1e3']) {
      const error = await client
        .fetchPage({ jobId: first.jobId, cursor: bad, maxRows: 10 })
        .catch((e: unknown) => ConnectError.from(e));
      expect((error as ConnectError).code, bad).toBe(Code.InvalidArgument);
    }
  });

  it('reports a failed query on the job, with the error code', async () => {
    const job = await client.submit({ requestId: 'req-bad', query: spec('SELECT nope FROM nums.n') });
    const status = await done(job.jobId);
    expect(status.state).toBe(JobState.FAILED);
    expect(status.errorCode).toBe('invalid_sql');
    expect(status.errorMessage).toMatch(/nope/);
  });

  it('cancels a running job and deletes jobs', async () => {
    const slow = await client.submit({
      requestId: 'req-slow',
      query: { sql: 'SELECT sum(range % 7) FROM range(3000000000)', tables: [], timeoutMs: 60_000 },
    });
    const canceled = await client.cancel({ jobId: slow.jobId });
    expect(canceled.state).toBe(JobState.CANCELED);
    expect((await client.getJob({ jobId: slow.jobId })).state).toBe(JobState.CANCELED);
    expect((await client.delete({ jobId: slow.jobId })).deleted).toBe(true);
    expect((await client.delete({ jobId: slow.jobId })).deleted).toBe(false);
    const gone = await client.getJob({ jobId: slow.jobId }).catch((e: unknown) => ConnectError.from(e));
    expect((gone as ConnectError).code).toBe(Code.NotFound);
  });

  it('expires results after the TTL on its own timer', async () => {
    const job = await client.submit({ requestId: 'req-ttl', query: spec('SELECT 42 AS x') });
    expect((await done(job.jobId)).state).toBe(JobState.SUCCEEDED);
    const before = await client.health({});
    const expired = await eventually(
      () => client.getJob({ jobId: job.jobId }),
      (s) => s.state === JobState.EXPIRED,
    );
    expect(expired.state).toBe(JobState.EXPIRED);
    const page = await client
      .fetchPage({ jobId: job.jobId, cursor: '' })
      .catch((e: unknown) => ConnectError.from(e));
    expect((page as ConnectError).code).toBe(Code.InvalidArgument);
    const after = await client.health({});
    expect(after.cleaned).toBeGreaterThan(before.cleaned);
    const metrics = await (await fetch(`${worker.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/duckstring_worker_results_cleaned_total [1-9]/);
  });
});
