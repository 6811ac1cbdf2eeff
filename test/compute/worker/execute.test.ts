/**
 * A real worker process (`duckstring worker start --shared-root`) answers Execute with exactly what
 * the local executor returns, streams large results in several batches, refuses wrong tokens and
 * file names outside the snapshot store, and reports its health over gRPC and HTTP.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryExecutor } from '../../../src/compute/query.js';
import { ERROR_CODE_HEADER } from '../../../src/compute/worker/wire-errors.js';
import { tempDir } from '../helpers.js';
import { collect, spawnWorker, type WorkerProcess, workerClient, writeSnapshot } from './support.js';

const TOKEN = 'worker-test-token-0123456789';

const ROWS_SQL = `SELECT * FROM (VALUES
  (1, 12.30::DECIMAL(10,2), TIMESTAMP '2024-01-02 03:04:05.123456', INTERVAL '1 year 2 months 3 days 04:05:06.789',
   [1, 2, NULL], {'a': 1, 'b': 'x'}, MAP {'k': 1, 'j': NULL}, '\\xAA\\xBB'::BLOB, 'text', 9007199254740993::BIGINT),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(id, amount, ts, iv, l, s, m, b, txt, big)`;

const QUERY = `SELECT *, 170141183460469231731687303715884105727::HUGEINT AS huge,
  id::HUGEINT * 10000000000000000000 AS h2, amount * 3 AS tripled FROM sales.orders ORDER BY id`;

describe('worker Execute (real process, shared root)', () => {
  const root = tempDir('worker-root');
  let worker: WorkerProcess;
  let orders: { absolute: string; file: string; size: number };
  let numbers: { absolute: string; file: string; size: number };

  const ordersFile = () => ({
    relation: 'sales.orders',
    pond: 'sales',
    major: 1,
    table: 'orders',
    file: orders.file,
    size: BigInt(orders.size),
    checksum: `${orders.size}:1`,
  });

  beforeAll(async () => {
    orders = await writeSnapshot(
      root.dir,
      { pond: 'sales', major: 1, table: 'orders', name: 'a1' },
      ROWS_SQL,
    );
    numbers = await writeSnapshot(
      root.dir,
      { pond: 'nums', major: 2, table: 'n', name: 'b2' },
      'SELECT range AS i, range::VARCHAR AS s FROM range(300000)',
    );
    worker = await spawnWorker({ AGENT_TOKEN: TOKEN, MAX_MEMORY_GB: '1' }, ['--shared-root', root.dir]);
  });

  afterAll(async () => {
    worker?.child.kill('SIGTERM');
    await worker?.exited;
    root.cleanup();
  });

  it('answers exactly what the local executor answers, every type included', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    const remote = await collect(client.execute({ query: { sql: QUERY, tables: [ordersFile()] } }));
    const executor = new QueryExecutor();
    try {
      const local = await executor.execute(QUERY, { tables: new Map([['sales.orders', orders.absolute]]) });
      const { batches, ...result } = remote;
      expect(result).toEqual(local);
      expect(local.rows[1]!.slice(1, 10)).toEqual(Array(9).fill(null));
      expect(local.rows[0]![10]).toBe('170141183460469231731687303715884105727');
      expect(batches).toBe(1);
    } finally {
      await executor.close();
    }
  });

  it('streams a large result in several batches and honours max_rows', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    const file = {
      relation: 'nums@2.n',
      pond: 'nums',
      major: 2,
      table: 'n',
      file: numbers.file,
      size: BigInt(numbers.size),
      checksum: 'c',
    };
    const all = await collect(
      client.execute({
        query: { sql: 'SELECT i, s FROM "nums@2".n ORDER BY i', tables: [file], maxRows: 1_000_000n },
      }),
    );
    expect(all.row_count).toBe(300000);
    expect(all.rows.length).toBe(300000);
    expect(all.truncated).toBe(false);
    expect(all.batches).toBeGreaterThan(2);
    expect(all.rows[299999]).toEqual([299999, '299999']);
    const capped = await collect(
      client.execute({
        query: { sql: 'SELECT i FROM "nums@2".n ORDER BY i', tables: [file], maxRows: 5000n },
      }),
    );
    expect(capped).toMatchObject({ row_count: 5000, truncated: true });
    expect(capped.rows.length).toBe(5000);
    const executor = new QueryExecutor();
    try {
      const local = await executor.execute('SELECT i FROM "nums@2".n ORDER BY i', {
        tables: new Map([['nums@2.n', numbers.absolute]]),
        limits: { maxRows: 5000 },
      });
      const { batches: _, ...remote } = capped;
      expect(remote).toEqual(local);
    } finally {
      await executor.close();
    }
  });

  it('refuses a missing or wrong token with UNAUTHENTICATED and never echoes it', async () => {
    for (const token of [null, 'wrong-token', `${TOKEN}x`]) {
      const client = workerClient(worker.grpcUrl, token);
      const error = await client.health({}).then(
        () => null,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code).toBe(Code.Unauthenticated);
      expect(error?.metadata.get(ERROR_CODE_HEADER)).toBe('unauthenticated');
      if (token) expect(error?.message).not.toContain(token);
    }
  });

  it('refuses file names outside the snapshot store before reading anything', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    for (const file of [
      '../../../etc/passwd',
      '/etc/passwd',
      'orders/../x.parquet',
      'orders\\a.parquet',
      'other/a1.parquet',
      'orders/a\0.parquet',
    ]) {
      const error = await collect(
        client.execute({ query: { sql: 'SELECT 1 FROM sales.orders', tables: [{ ...ordersFile(), file }] } }),
      ).then(
        () => null,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code, file).toBe(Code.InvalidArgument);
      expect(error?.metadata.get(ERROR_CODE_HEADER)).toBe('invalid_request');
      expect(error?.rawMessage).toMatch(/refused/);
    }
    const badPond = await collect(
      client.execute({ query: { sql: 'SELECT 1', tables: [{ ...ordersFile(), pond: '../x' }] } }),
    ).catch((e: unknown) => ConnectError.from(e));
    expect((badPond as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it('answers query errors with the code the local executor gives', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    const cases: Array<[string, Code, string]> = [
      ['SELEC 1', Code.InvalidArgument, 'invalid_sql'],
      ['SELECT * FROM sales.nope', Code.NotFound, 'unknown_table'],
      ["COPY (SELECT 1) TO '/tmp/x.csv'", Code.PermissionDenied, 'not_allowed'],
    ];
    cases.push(['SELECT sum(range % 7) FROM range(3000000000)', Code.DeadlineExceeded, 'timeout']);
    for (const [sql, code, name] of cases) {
      const error = await collect(
        client.execute({ query: { sql, tables: [ordersFile()], timeoutMs: 500 } }),
      ).catch((e: unknown) => ConnectError.from(e));
      expect((error as ConnectError).code, sql).toBe(code);
      expect((error as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe(name);
      expect((error as ConnectError).rawMessage).not.toContain(root.dir);
    }
  });

  it('reports health over gRPC and HTTP, and metrics in Prometheus text', async () => {
    const client = workerClient(worker.grpcUrl, TOKEN);
    const health = await client.health({});
    expect(health.duckdbVersion).toMatch(/^v\d+\.\d+/);
    expect(health.memoryLimitBytes).toBe(BigInt(1024 ** 3));
    expect(health.memoryUsedBytes).toBeGreaterThanOrEqual(0n);
    expect(health.uptimeSeconds).toBeGreaterThan(0);
    expect(health.completed).toBeGreaterThanOrEqual(1n);
    expect(health.draining).toBe(false);
    const http = (await (await fetch(`${worker.httpUrl}/health`)).json()) as Record<string, unknown>;
    expect(http).toMatchObject({
      duckdb_version: health.duckdbVersion,
      memory_limit_bytes: 1024 ** 3,
      draining: false,
    });
    const metrics = await (await fetch(`${worker.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/duckstring_worker_queries_total\{mode="execute",outcome="ok"\} [1-9]/);
    expect(metrics).toContain('duckstring_worker_query_duration_seconds_bucket');
    expect(metrics).toContain('duckstring_worker_memory_used_bytes');
    expect((await fetch(`${worker.httpUrl}/nope`)).status).toBe(404);
  });
});
