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

export const status = endpoint({
  method: 'GET',
  path: '/api/compute/status',
  summary:
    'Per compute endpoint: health and since when, in-flight and queued queries, p50/p95 latency, failures and fallbacks by reason over a recent window (MANAGE on *)',
  auth: 'principal',
  response: z.object({
    /** FEATURE_REMOTE_ROUTING and FEATURE_INTERNAL_GRPC both on. */
    routing_enabled: z.boolean(),
    /** The principals and groups routed remotely; null = everyone. */
    canary: z.array(z.string()).nullable(),
    window_seconds: z.number(),
    endpoints: z.array(endpointStatus),
  }),
});
