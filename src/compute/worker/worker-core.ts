/**
 * What every RPC of the worker shares: admission (draining, bounded queue), turning a QuerySpec
 * into an executor request (snapshot files → local paths, limits), and the live numbers Health,
 * /health and /metrics report.
 */

import type { QuerySpec } from '../grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { QueryExecutor, QueryLimits, RowSink } from '../query.js';
import type { WorkerConfig } from './config.js';
import type { DuckdbMonitor } from './duckdb-monitor.js';
import type { SnapshotFileSource } from './snapshot-source.js';
import { workerError } from './wire-errors.js';

export const WORKER_VERSION = '0.1.0';

export interface WorkerHealth {
  worker_version: string;
  duckdb_version: string;
  uptime_seconds: number;
  memory_used_bytes: number;
  memory_limit_bytes: number;
  /** Queries accepted and not finished (streamed and async), whether waiting or running. */
  active: number;
  queued: number;
  running: number;
  completed: number;
  stored: number;
  cleaned: number;
  draining: boolean;
}

export interface JobCounts {
  stored(): number;
  cleaned(): number;
  completed(): number;
}

export class WorkerCore {
  draining = false;
  private active = 0;
  private readonly idleWaiters = new Set<() => void>();
  private readonly startedAt = performance.now();

  constructor(
    readonly config: WorkerConfig,
    readonly executor: QueryExecutor,
    private readonly source: SnapshotFileSource,
    private readonly monitor: DuckdbMonitor,
    private readonly counts: JobCounts,
  ) {}

  /**
   * Takes one query in, or refuses: UNAVAILABLE while draining, RESOURCE_EXHAUSTED when running
   * and waiting queries already fill the slots and the queue. The returned function lets it go.
   */
  admit(): () => void {
    if (this.draining) throw workerError('worker_draining', 'worker is draining: it takes no new queries');
    // Counted at admission, not from the executor's queue: a query still opening its snapshot
    // files holds its place, so two arriving together cannot both take the last one.
    if (this.active >= this.config.maxConcurrent + this.config.maxQueued) {
      throw workerError(
        'worker_busy',
        `worker is at capacity (${this.config.maxConcurrent} running, ${this.config.maxQueued} queued)`,
      );
    }
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      if (this.active === 0) for (const wake of [...this.idleWaiters]) wake();
    };
  }

  /** Resolves when no admitted query is left, or after `timeoutMs` (false then). */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve(idle);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiters.add(wake);
    });
  }

  /** Runs `spec` through the sandboxed executor, handing rows to `sink` as they come. */
  async run(
    spec: QuerySpec,
    sink: RowSink,
    signal: AbortSignal,
  ): Promise<{ row_count: number; truncated: boolean }> {
    const opened = await this.source.open(
      spec.tables.map((t) => ({
        relation: t.relation,
        pond: t.pond,
        major: t.major,
        table: t.table,
        file: t.file,
        size: Number(t.size),
        checksum: t.checksum,
      })),
      { capability: spec.capability, snapshotUrl: spec.snapshotUrl, signal },
    );
    try {
      return await this.executor.stream(
        spec.sql,
        {
          tables: opened.paths,
          limits: limitsOf(spec),
          ...(spec.principal ? { principal: spec.principal } : {}),
          signal,
        },
        sink,
      );
    } finally {
      opened.release();
    }
  }

  async health(): Promise<WorkerHealth> {
    const load = this.executor.slots.load();
    return {
      worker_version: WORKER_VERSION,
      duckdb_version: this.monitor.version,
      uptime_seconds: (performance.now() - this.startedAt) / 1000,
      memory_used_bytes: await this.monitor.memoryUsed(),
      memory_limit_bytes: this.config.maxMemoryBytes,
      active: this.active,
      queued: load.waiting,
      running: load.running,
      completed: this.counts.completed(),
      stored: this.counts.stored(),
      cleaned: this.counts.cleaned(),
      draining: this.draining,
    };
  }
}

function limitsOf(spec: QuerySpec): QueryLimits {
  const limits: QueryLimits = {};
  if (spec.maxRows > 0n) limits.maxRows = Number(spec.maxRows > 2n ** 53n ? 2n ** 53n : spec.maxRows);
  if (spec.timeoutMs > 0) limits.timeoutMs = spec.timeoutMs;
  return limits;
}
