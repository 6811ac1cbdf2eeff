/**
 * The WorkerService implementation (proto/duckstring/worker/v1/worker.proto). Execute streams:
 * a Schema, then RowBatch messages as DuckDB produces chunks (coalesced up to a byte budget,
 * never the whole result), then Done. The async lifecycle is the JobStore's.
 */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  DuckState,
  type DuckStatus,
  DuckStatusSchema,
  type ExecuteResponse,
  ExecuteResponseSchema,
  HealthResponseSchema,
  type QuerySpec,
  type WorkerService,
} from '../grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { ColumnInfo, JsonValue } from '../results.js';
import { BatchChannel } from './batch-channel.js';
import type { DuckLauncher, LaunchedDuck } from './duck-launcher.js';
import type { JobStore } from './jobs.js';
import { toConnectError, workerError } from './wire-errors.js';
import type { WorkerCore } from './worker-core.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** A RowBatch is sent once it holds this much JSON (a single chunk larger than it is split). */
export const BATCH_TARGET_BYTES = 1024 * 1024;
/** Messages waiting to be sent at most: with the target above, ~4 MiB in flight per query. */
const CHANNEL_CAPACITY = 3;

export function requireSpec(spec: QuerySpec | undefined): QuerySpec {
  if (!spec) throw workerError('invalid_request', 'the request has no query');
  if (spec.sql.trim() === '') throw workerError('invalid_sql', 'SQL is empty');
  return spec;
}

export function workerServiceImpl(
  core: WorkerCore,
  jobs: JobStore,
  metrics: WorkerMetrics,
  ducks: DuckLauncher,
): ServiceImpl<typeof WorkerService> {
  return {
    async health() {
      return create(HealthResponseSchema, toHealthMessage(await core.health()));
    },

    async *execute(request, context) {
      const spec = requireSpec(request.query);
      const release = core.admit();
      const started = performance.now();
      const channel = new BatchChannel<ExecuteResponse>(CHANNEL_CAPACITY);
      // Stops the query (DuckDB interrupted) when the caller goes away or the stream ends early.
      const stop = new AbortController();
      const onAbort = () => {
        channel.abort(workerError('internal', 'the caller went away'));
        stop.abort();
      };
      context.signal.addEventListener('abort', onAbort, { once: true });
      const batches = new RowBatcher((rowsJson, rowCount) =>
        channel.push(
          create(ExecuteResponseSchema, { event: { case: 'batch', value: { rowsJson, rowCount } } }),
        ),
      );
      const running = core
        .run(
          spec,
          {
            columns: async (columns: ColumnInfo[]) => {
              metrics.schemaSent((performance.now() - started) / 1000);
              await channel.push(
                create(ExecuteResponseSchema, { event: { case: 'schema', value: { columns } } }),
              );
            },
            rows: (rows) => batches.add(rows),
          },
          stop.signal,
        )
        .then(async (done) => {
          await batches.flush();
          await channel.push(
            create(ExecuteResponseSchema, {
              event: { case: 'done', value: { rowCount: BigInt(done.row_count), truncated: done.truncated } },
            }),
          );
          channel.end();
          metrics.finished('execute', 'ok', (performance.now() - started) / 1000);
        })
        .catch((error: unknown) => {
          const wire = toConnectError(error);
          const canceled = stop.signal.aborted;
          metrics.finished(
            'execute',
            canceled ? 'canceled' : 'error',
            0,
            canceled ? undefined : (wire.metadata.get('x-duckstring-error-code') ?? 'internal'),
          );
          channel.fail(wire);
        })
        .finally(() => {
          context.signal.removeEventListener('abort', onAbort);
          release();
        });
      try {
        yield* channel.drain();
      } finally {
        // The stream ended early (caller gone, write failed): stop the query and wait for it.
        channel.abort(workerError('internal', 'the stream ended'));
        stop.abort();
        await running;
      }
    },

    submit: (request) => answer(() => jobs.submit(request.requestId, requireSpec(request.query))),
    getJob: (request) => answer(() => jobs.status(request.jobId)),
    fetchPage: (request) => answer(() => jobs.fetchPage(request.jobId, request.cursor, request.maxRows)),
    cancel: (request) => answer(() => jobs.cancel(request.jobId)),
    delete: (request) => answer(() => jobs.delete(request.jobId)),

    launchDuck: (request) =>
      answer(async () => {
        if (core.draining) throw workerError('worker_draining', 'worker is draining: it launches no Ducks');
        return duckMessage(await ducks.launch(request.line, request.catchmentUrl, request.duckToken));
      }),
    stopDuck: (request) => answer(async () => duckMessage(ducks.stop(request.line, request.force))),
    listDucks: () => answer(async () => ({ ducks: ducks.list().map(duckMessage) })),
  };
}

const DUCK_STATES = {
  running: DuckState.RUNNING,
  stopping: DuckState.STOPPING,
  exited: DuckState.EXITED,
} as const;

function duckMessage(d: LaunchedDuck): DuckStatus {
  return create(DuckStatusSchema, {
    line: d.line,
    pid: d.pid,
    state: DUCK_STATES[d.state],
    exit: d.exit,
    startedAt: BigInt(d.startedAt),
  });
}

/** Any failure becomes a ConnectError with our code; an unexpected one says nothing about paths. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toConnectError(error);
  }
}

export function toHealthMessage(h: Awaited<ReturnType<WorkerCore['health']>>) {
  return {
    workerVersion: h.worker_version,
    duckdbVersion: h.duckdb_version,
    uptimeSeconds: h.uptime_seconds,
    memoryUsedBytes: BigInt(h.memory_used_bytes),
    memoryLimitBytes: BigInt(h.memory_limit_bytes),
    active: h.active,
    queued: h.queued,
    running: h.running,
    completed: BigInt(h.completed),
    stored: h.stored,
    cleaned: BigInt(h.cleaned),
    draining: h.draining,
  };
}

const encoder = new TextEncoder();

/**
 * Coalesces converted chunks into RowBatch payloads of about BATCH_TARGET_BYTES: few messages for
 * narrow rows, and a wide chunk split so no message approaches the size limit.
 */
export class RowBatcher {
  private parts: string[] = [];
  private bytes = 0;
  private rows = 0;

  constructor(private readonly send: (rowsJson: Uint8Array, rowCount: number) => Promise<void>) {}

  async add(rows: JsonValue[][]): Promise<void> {
    const text = JSON.stringify(rows);
    if (text.length > BATCH_TARGET_BYTES && rows.length > 1) {
      const half = Math.ceil(rows.length / 2);
      await this.add(rows.slice(0, half));
      await this.add(rows.slice(half));
      return;
    }
    if (rows.length === 0) return;
    this.parts.push(text.slice(1, -1));
    this.bytes += text.length;
    this.rows += rows.length;
    if (this.bytes >= BATCH_TARGET_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.rows === 0) return;
    const payload = encoder.encode(`[${this.parts.join(',')}]`);
    const count = this.rows;
    this.parts = [];
    this.bytes = 0;
    this.rows = 0;
    await this.send(payload, count);
  }
}
