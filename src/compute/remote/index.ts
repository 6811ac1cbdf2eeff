/**
 * Remote routing, assembled: the worker connections, their health, the fleet's telemetry and the
 * router over them. The Catchment builds one at start (src/catchment/main.ts); tests build one
 * around a plain-data directory.
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../../shared/clock.js';
import type { QueryBackend } from '../query-backend.js';
import type { ComputeDirectory } from '../topology.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { WorkerClientPool } from './client-pool.js';
import type { RemoteRoutingFlags } from './flags.js';
import { type EndpointHealth, HealthTracker } from './health-tracker.js';
import { RemoteQueryBackend, type RemoteQueryBackendOptions, type SnapshotGrant } from './remote-backend.js';
import { RemoteJobs } from './remote-jobs.js';
import { ComputeRouter } from './router.js';
import { type EndpointActivity, FleetTelemetry } from './telemetry.js';

export { ComputeUnavailable, type FailureReason, RemoteCallFailed } from './errors.js';
export { RemoteFlagError, type RemoteRoutingFlags, readRemoteRoutingFlags } from './flags.js';
export {
  type RemoteJobResult,
  RemoteJobs,
  type RemotePage,
  RemoteResultGone,
  RemoteResultUnavailable,
} from './remote-jobs.js';
export { type JobRunners, localRouter, type QueryRouter } from './router.js';

export interface RemoteRoutingOptions {
  directory: ComputeDirectory;
  flags: RemoteRoutingFlags;
  isMember: (principal: string, group: string) => boolean;
  local: QueryBackend;
  grant: SnapshotGrant;
  clock: Clock;
  pool?: WorkerClientPool;
  registry?: Registry;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  breaker?: CircuitBreakerOptions;
  remote?: RemoteQueryBackendOptions;
  /** Window of the status report (default 5 min). */
  windowMs?: number;
  onHealthChange?: (health: EndpointHealth) => void;
}

/** One endpoint in `compute status`. */
export interface EndpointStatusReport extends EndpointActivity {
  name: string;
  url: string;
  status: string;
  capacity: number | null;
  /** Unknown until a health check or a call has reached the worker (nothing is checked while routing is off). */
  state: 'healthy' | 'unhealthy' | 'unknown';
  healthy: boolean;
  reason: string | null;
  /** Since when the state has held; null while unknown. */
  since: number | null;
  last_check_at: number | null;
  breaker: string;
  /** The worker's own queue, from its last health answer (null before one succeeded). */
  worker_queued: number | null;
  worker_running: number | null;
}

export interface RemoteRouting {
  router: ComputeRouter;
  /** Async jobs on workers: submit and wait (through the router), then pages and deletes by endpoint. */
  jobs: RemoteJobs;
  health: HealthTracker;
  telemetry: FleetTelemetry;
  pool: WorkerClientPool;
  flags: RemoteRoutingFlags;
  start(): void;
  stop(): Promise<void>;
  /** Per endpoint: health and since when, load, latency, failures and fallbacks over the window. */
  status(): { window_ms: number; routing_enabled: boolean; endpoints: EndpointStatusReport[] };
}

export function createRemoteRouting(options: RemoteRoutingOptions): RemoteRouting {
  const pool = options.pool ?? new WorkerClientPool();
  const telemetry = new FleetTelemetry({
    clock: options.clock,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.windowMs ? { windowMs: options.windowMs } : {}),
  });
  const health = new HealthTracker({
    directory: options.directory,
    pool,
    clock: options.clock,
    ...(options.healthIntervalMs ? { intervalMs: options.healthIntervalMs } : {}),
    ...(options.healthTimeoutMs ? { checkTimeoutMs: options.healthTimeoutMs } : {}),
    ...(options.breaker ? { breaker: options.breaker } : {}),
    ...(options.onHealthChange ? { onChange: options.onHealthChange } : {}),
  });
  telemetry.healthSource = () => health.report().map((h) => ({ endpoint: h.endpoint, healthy: h.healthy }));
  const router = new ComputeRouter({
    directory: options.directory,
    flags: options.flags,
    isMember: options.isMember,
    health,
    telemetry,
    local: options.local,
    connect: (candidate) => pool.acquire(candidate.endpoint),
    remote: (connect) => new RemoteQueryBackend(connect, options.grant, options.remote),
  });
  const jobs = new RemoteJobs({
    grant: options.grant,
    clock: options.clock,
    connectTo: (name) => {
      const endpoint = options.directory.endpoints().find((e) => e.name.toLowerCase() === name.toLowerCase());
      return endpoint ? pool.acquire(endpoint) : undefined;
    },
  });
  return {
    router,
    jobs,
    health,
    telemetry,
    pool,
    flags: options.flags,
    start: () => {
      // Without remote routing nothing is called, so nothing needs checking.
      if (options.flags.enabled) health.start();
    },
    async stop() {
      await health.stop();
      pool.close();
    },
    status() {
      const endpoints = options.directory.endpoints().map((e): EndpointStatusReport => {
        const h = health.health(e.name);
        const activity = telemetry.activity(e.name);
        // The tracker starts every endpoint optimistic (so routing tries it); a report says so only
        // once something has actually reached the worker.
        const state =
          h === null
            ? 'unknown'
            : !h.healthy
              ? 'unhealthy'
              : h.lastCheckAt !== null || activity.calls > 0
                ? 'healthy'
                : 'unknown';
        return {
          name: e.name,
          url: e.url,
          status: e.status,
          capacity: e.capacity,
          state,
          healthy: state === 'healthy',
          reason: h?.reason ?? null,
          since: state === 'unknown' ? null : h!.since,
          last_check_at: h?.lastCheckAt ?? null,
          breaker: h?.breaker ?? 'closed',
          worker_queued: h?.load?.queued ?? null,
          worker_running: h?.load?.running ?? null,
          ...activity,
        };
      });
      endpoints.sort((a, b) => a.name.localeCompare(b.name));
      return { window_ms: telemetry.windowMs, routing_enabled: options.flags.enabled, endpoints };
    },
  };
}
