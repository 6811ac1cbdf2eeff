/** The compute fleet as the Catchment sees it: `duckstring compute status`. */
import { z } from 'zod/v4';
import { endpoint } from './endpoint.js';

const counts = z.record(z.string(), z.number().int());

export const endpointStatus = z.object({
  name: z.string(),
  url: z.string(),
  /** The registered status: active, draining or inactive. */
  status: z.string(),
  capacity: z.number().int().nullable(),
  /** unknown until a health check or a query has reached the worker (none run while routing is off). */
  state: z.enum(['healthy', 'unhealthy', 'unknown']),
  /** Passing its health checks with its circuit breaker not open (false while unknown). */
  healthy: z.boolean(),
  /** Why not, when not healthy: authentication, unavailable, deadline, draining, resource, … */
  reason: z.string().nullable(),
  /** Since when `state` has had its value (ISO-8601); null while unknown. */
  since: z.string().nullable(),
  last_check_at: z.string().nullable(),
  breaker: z.enum(['closed', 'open', 'half-open']),
  /** Queries the Catchment has outstanding on it. */
  in_flight: z.number().int(),
  /** The worker's own queue and running queries, from its last health answer. */
  worker_queued: z.number().int().nullable(),
  worker_running: z.number().int().nullable(),
  /** Over the window: successful calls and their latency percentiles (ms). */
  calls: z.number().int(),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  failures: counts,
  fallbacks: counts,
});

/** The async-query queue (FEATURE_ASYNC_QUEUE) per target: local, an endpoint, pending or unplaced. */
export const asyncTargetStatus = z.object({
  /** Where the jobs ran: local, an endpoint's name; pending: queued, not placed yet; unplaced: ended before placement. */
  target: z.string(),
  /** Jobs QUEUED now. */
  queued: z.number().int(),
  /** Over the window: jobs that reached a final state, and their time QUEUED and end to end (ms). */
  finished: z.number().int(),
  queue_p50_ms: z.number().nullable(),
  queue_p95_ms: z.number().nullable(),
  e2e_p95_ms: z.number().nullable(),
  /** Failed or canceled jobs over the window by reason code. */
  failures: counts,
});

export const status = endpoint({
  method: 'GET',
  path: '/api/compute/status',
  summary:
    'Per compute endpoint: health and since when, in-flight and queued queries, p50/p95 latency, failures and fallbacks by reason over a recent window; async query queue depth and p95 queue latency per target (MANAGE on *)',
  auth: 'principal',
  response: z.object({
    /** FEATURE_REMOTE_ROUTING and FEATURE_INTERNAL_GRPC both on. */
    routing_enabled: z.boolean(),
    /** The principals and groups routed remotely; null = everyone. */
    canary: z.array(z.string()).nullable(),
    window_seconds: z.number(),
    endpoints: z.array(endpointStatus),
    /** Async query jobs over the same kind of window; null while FEATURE_ASYNC_QUEUE is off. */
    async_queries: z
      .object({
        window_seconds: z.number(),
        targets: z.array(asyncTargetStatus),
      })
      .nullable(),
    /** Every line with a Duck, and where it runs: local, remote:ENDPOINT or fallback:ENDPOINT. */
    ducks: z.array(
      z.object({
        line: z.string(),
        runs_on: z.string(),
        /** The local process id (null for a Duck on a worker). */
        pid: z.number().int().nullable(),
      }),
    ),
  }),
});
