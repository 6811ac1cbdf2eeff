/**
 * In-process worker (startWorker, as other components' tests use it): admission refuses beyond
 * the running slots plus the queue with RESOURCE_EXHAUSTED "worker_busy", health counts what is
 * running, and the shared-root source refuses files that are missing or not the named ones.
 */

import { unlinkSync } from 'node:fs';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirRel } from '../../../src/catchment/store/layout.js';
import { loadWorkerConfig } from '../../../src/compute/worker/config.js';
import { type RunningWorker, startWorker } from '../../../src/compute/worker/server.js';
import { ERROR_CODE_HEADER } from '../../../src/compute/worker/wire-errors.js';
import { tempDir } from '../helpers.js';
import { collect, type WireSnapshotFile, workerClient, writeSnapshot, writeSnapshotFile } from './support.js';

const TOKEN = 'in-process-token';

describe('worker admission and shared root (in process)', () => {
  const root = tempDir('worker-admission');
  let worker: RunningWorker;
  let file: WireSnapshotFile;

  beforeAll(async () => {
    file = await writeSnapshotFile(
      root.dir,
      { pond: 'big', major: 3, table: 't', name: 'q7' },
      'big@3.t',
      "SELECT range AS i, repeat('y', 100) AS s FROM range(400000)",
    );
    worker = await startWorker(
      loadWorkerConfig({
        AGENT_TOKEN: TOKEN,
        LISTEN_ADDR: '127.0.0.1:0',
        GRPC_LISTEN_ADDR: '127.0.0.1:0',
        MAX_MEMORY_GB: '1',
        MAX_CONCURRENT_QUERIES: '1',
        MAX_QUEUED_QUERIES: '0',
        WORKER_SHARED_ROOT: root.dir,
        WORKER_DATA_DIR: `${root.dir}/data`,
      }),
      { lineDataDir: dataDirRel },
    );
  });

  afterAll(async () => {
    await worker?.close();
    root.cleanup();
  });

  it('refuses a query beyond its slots and queue, and takes queries again once one ends', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    const abort = new AbortController();
    // A caller that does not read holds its query (and slot) through backpressure.
    const held = client
      .execute(
        { query: { sql: 'SELECT i, s FROM "big@3".t', tables: [file], maxRows: 10_000_000n } },
        { signal: abort.signal },
      )
      [Symbol.asyncIterator]();
    expect((await held.next()).value?.event.case).toBe('schema');
    const health = await client.health({});
    expect(health).toMatchObject({ active: 1, running: 1, queued: 0 });
    // DuckDB's own account of the running query's memory, not an estimate.
    expect(health.memoryUsedBytes).toBeGreaterThan(0n);

    const busy = await collect(client.execute({ query: { sql: 'SELECT 1', tables: [] } })).catch(
      (e: unknown) => ConnectError.from(e),
    );
    expect((busy as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((busy as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe('worker_busy');
    expect((busy as ConnectError).rawMessage).toBe('worker is at capacity (1 running, 0 queued)');

    abort.abort();
    await held.next().catch(() => undefined);
    // The abandoned query is stopped and its slot freed (polled: the worker notices asynchronously, and
    // admission lets go a moment before the executor's slot does).
    const deadline = Date.now() + 20_000;
    let after = await client.health({});
    while ((after.active !== 0 || after.running !== 0) && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
      after = await client.health({});
    }
    expect(
      after,
      JSON.stringify(after, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)),
    ).toMatchObject({ active: 0, running: 0 });
    expect((await collect(client.execute({ query: { sql: 'SELECT 2 AS two', tables: [] } }))).rows).toEqual([
      [2],
    ]);
  });

  it('answers snapshot_unavailable for a file that is missing or not the one named', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    const wrongSize = await collect(
      client.execute({
        query: { sql: 'SELECT count(*) FROM "big@3".t', tables: [{ ...file, size: file.size + 1n }] },
      }),
    ).catch((e: unknown) => ConnectError.from(e));
    expect((wrongSize as ConnectError).code).toBe(Code.Unavailable);
    expect((wrongSize as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe('snapshot_unavailable');
    expect((wrongSize as ConnectError).rawMessage).not.toContain(root.dir);

    const gone = await writeSnapshot(
      root.dir,
      { pond: 'big', major: 3, table: 't', name: 'gone' },
      'SELECT 1 AS i',
    );
    unlinkSync(gone.absolute);
    const missing = await collect(
      client.execute({
        query: {
          sql: 'SELECT * FROM "big@3".t',
          tables: [{ ...file, file: gone.file, size: BigInt(gone.size) }],
        },
      }),
    ).catch((e: unknown) => ConnectError.from(e));
    expect((missing as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe('snapshot_unavailable');
  });
});
