/**
 * What the async queue did, for /metrics and `duckstring compute status` (issue 11 §5).
 *
 * Fed by the service's audit of every state change (AsyncQueryService → `observe`), so each
 * transition — submit, a requeue at start-up, RUNNING, the one final state — is seen exactly where it
 * is recorded, whoever moves the job. Times come from the job row (created_at, started_at,
 * finished_at, all on the Catchment's Clock), so a job that outlived a restart is still measured from
 * its submission.
 *
 * The target is where the job ran, read from its placement when it finishes: `local` (placement
 * `local`, or `fallback:NAME` — a fallback runs on the Catchment), the endpoint's name for
 * `remote:NAME`, and `unplaced` for a job that ended before it was placed (canceled while queued,
 * refused by governance). A QUEUED job has no placement yet: it waits in the Catchment's one async
 * queue and is counted under `pending` until a placement is known.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { percentile } from '../../compute/remote/telemetry.js';
import type { Clock } from '../../shared/clock.js';
import type { QueryJob } from './job-store.js';

/** The queue-depth target of a job waiting without a placement. */
export const PENDING_TARGET = 'pending';
/** The target of a job that reached a final state without ever being placed. */
export const UNPLACED_TARGET = 'unplaced';

const FINAL_ACTIONS = new Set(['succeeded', 'failed', 'canceled']);

/** `local`, `remote:NAME` or `fallback:NAME` → where the job ran. */
export function targetOf(placement: string | null): string | null {
  if (placement === null) return null;
  if (placement === 'local' || placement.startsWith('fallback:')) return 'local';
  if (placement.startsWith('remote:')) return placement.slice('remote:'.length);
  return placement;
}

interface Finished {
  /** When it finished (the clock's time of the observation). */
  t: number;
  target: string;
  state: string;
  reason: string | null;
  /** Null for a job that never started. */
  queuedMs: number | null;
  endToEndMs: number;
}

export interface AsyncTargetStatus {
  target: string;
  /** Jobs waiting now. */
  queued: number;
  /** Jobs that reached a final state over the window. */
  finished: number;
  /** Over the window: time in QUEUED (submission → start of the last attempt) and submission → final. */
  queue_p50_ms: number | null;
  queue_p95_ms: number | null;
  e2e_p95_ms: number | null;
  /** Failed jobs over the window by reason code (canceled ones under `canceled`). */
  failures: Record<string, number>;
}

export interface AsyncQueueStatus {
  window_ms: number;
  targets: AsyncTargetStatus[];
}

export interface AsyncQueryTelemetryOptions {
  clock: Clock;
  /** The window the status covers (default 5 min). */
  windowMs?: number;
  /** Finished jobs kept for the status at most (default 8192). */
  keep?: number;
  /** Registers the Prometheus series here (the Catchment's /metrics registry). */
  registry?: Registry;
}

const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

export class AsyncQueryTelemetry {
  readonly windowMs: number;
  private readonly clock: Clock;
  private readonly keep: number;
  /** Job id → target of every job waiting now. */
  private readonly waiting = new Map<string, string>();
  /** Finished jobs, oldest first; trimmed to the window and to `keep`. */
  private finishedJobs: Finished[] = [];
  private readonly queuedSeconds?: Histogram;
  private readonly endToEndSeconds?: Histogram;
  private readonly jobsTotal?: Counter;

  constructor(options: AsyncQueryTelemetryOptions) {
    this.clock = options.clock;
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.keep = options.keep ?? 8192;
    const registers = options.registry ? [options.registry] : undefined;
    if (!registers) return;
    this.queuedSeconds = new Histogram({
      name: 'duckstring_async_query_queued_seconds',
      help: 'Time async query jobs spent QUEUED (submission to the start of their last attempt), by target',
      labelNames: ['target'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.endToEndSeconds = new Histogram({
      name: 'duckstring_async_query_duration_seconds',
      help: 'Async query jobs from submission to their final state, by target',
      labelNames: ['target'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.jobsTotal = new Counter({
      name: 'duckstring_async_queries_total',
      help: 'Async query jobs by final state (succeeded, failed, canceled) and failure reason code',
      labelNames: ['state', 'reason'],
      registers,
    });
    const depth = () => this.depth();
    new Gauge({
      name: 'duckstring_async_queue_depth',
      help: `Async query jobs QUEUED now, by target (${PENDING_TARGET}: not placed yet)`,
      labelNames: ['target'],
      registers,
      collect() {
        this.reset();
        for (const [target, n] of depth()) this.set({ target }, n);
      },
    });
  }

  /** One audited state change of `job` (`action`: submitted, requeued, running, succeeded, …). */
  observe(job: QueryJob, action: string): void {
    if (job.state === 'QUEUED') {
      this.waiting.set(job.id, targetOf(job.placement) ?? PENDING_TARGET);
      return;
    }
    this.waiting.delete(job.id);
    // A final state is audited once, under its own name; `deleted`/`expired` repeat an old one.
    if (!FINAL_ACTIONS.has(action) || action !== job.state.toLowerCase()) return;
    const finishedAt = job.finished_at ?? this.clock.now();
    const event: Finished = {
      t: this.clock.now(),
      target: targetOf(job.placement) ?? UNPLACED_TARGET,
      state: action,
      reason: job.state === 'SUCCEEDED' ? null : (job.error?.code ?? 'unknown'),
      queuedMs: job.started_at === null ? null : Math.max(0, job.started_at - job.created_at),
      endToEndMs: Math.max(0, finishedAt - job.created_at),
    };
    this.finishedJobs.push(event);
    if (this.finishedJobs.length > this.keep * 2) this.trim();
    if (event.queuedMs !== null) this.queuedSeconds?.observe({ target: event.target }, event.queuedMs / 1000);
    this.endToEndSeconds?.observe({ target: event.target }, event.endToEndMs / 1000);
    this.jobsTotal?.inc({ state: event.state, reason: event.reason ?? '' });
  }

  /** Jobs waiting now, by target; `pending` is always there. */
  depth(): Map<string, number> {
    const depth = new Map<string, number>([[PENDING_TARGET, 0]]);
    for (const target of this.waiting.values()) depth.set(target, (depth.get(target) ?? 0) + 1);
    return depth;
  }

  /** The window's figures per target: every target with jobs waiting or finished in the window. */
  status(): AsyncQueueStatus {
    this.trim();
    const since = this.clock.now() - this.windowMs;
    const byTarget = new Map<string, Finished[]>();
    for (const e of this.finishedJobs) {
      if (e.t < since) continue;
      const list = byTarget.get(e.target) ?? [];
      list.push(e);
      byTarget.set(e.target, list);
    }
    const depth = this.depth();
    const targets = [...new Set([...depth.keys(), ...byTarget.keys()])].sort();
    return {
      window_ms: this.windowMs,
      targets: targets.map((target) => {
        const events = byTarget.get(target) ?? [];
        const queued = events
          .map((e) => e.queuedMs)
          .filter((ms): ms is number => ms !== null)
          .sort((a, b) => a - b);
        const e2e = events.map((e) => e.endToEndMs).sort((a, b) => a - b);
        const failures: Record<string, number> = {};
        for (const e of events) if (e.reason !== null) failures[e.reason] = (failures[e.reason] ?? 0) + 1;
        return {
          target,
          queued: depth.get(target) ?? 0,
          finished: events.length,
          queue_p50_ms: percentile(queued, 0.5),
          queue_p95_ms: percentile(queued, 0.95),
          e2e_p95_ms: percentile(e2e, 0.95),
          failures,
        };
      }),
    };
  }

  private trim(): void {
    const since = this.clock.now() - this.windowMs;
    let start = this.finishedJobs.findIndex((e) => e.t >= since);
    if (start < 0) start = this.finishedJobs.length;
    start = Math.max(start, this.finishedJobs.length - this.keep);
    if (start > 0) this.finishedJobs = this.finishedJobs.slice(start);
  }
}
