/**
 * What the fleet did recently, for `duckstring compute status` and the Catchment's /metrics: per
 * endpoint the queries in flight, latency percentiles, failures by reason and fallbacks by reason
 * over a sliding window. Events sit in a bounded ring per endpoint and are read against the injected
 * clock, so the window is exact in tests and memory stays flat under any load.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../../shared/clock.js';
import type { Placement } from '../topology.js';
import type { FailureReason } from './errors.js';

interface CallEvent {
  /** When the call ended. */
  t: number;
  /** Milliseconds the call took; null for a failure. */
  latencyMs: number | null;
  failure: FailureReason | null;
}

interface FallbackEvent {
  t: number;
  reason: FailureReason;
}

/** A fixed-size ring: the newest `capacity` entries. */
class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  values(): readonly T[] {
    return this.items;
  }
}

export interface EndpointActivity {
  inFlight: number;
  /** Over the window: successful calls and their latency percentiles (ms, null with no call). */
  calls: number;
  p50Ms: number | null;
  p95Ms: number | null;
  failures: Record<string, number>;
  fallbacks: Record<string, number>;
}

export interface FleetTelemetryOptions {
  clock: Clock;
  /** The window status reports cover (default 5 min). */
  windowMs?: number;
  /** Events kept per endpoint at most (default 4096). */
  ringSize?: number;
  /** Registers the Prometheus series here (the Catchment's /metrics registry). */
  registry?: Registry;
}

export class FleetTelemetry {
  readonly windowMs: number;
  private readonly clock: Clock;
  private readonly ringSize: number;
  private readonly calls = new Map<string, Ring<CallEvent>>();
  private readonly fallbacks = new Map<string, Ring<FallbackEvent>>();
  private readonly inFlight = new Map<string, number>();
  private readonly queriesByRoute?: Counter;
  private readonly fallbackTotal?: Counter;
  private readonly remoteLatency?: Histogram;
  private readonly failureTotal?: Counter;
  /** Set by whoever knows endpoint health (the tracker), read when /metrics is scraped. */
  healthSource: () => Array<{ endpoint: string; healthy: boolean }> = () => [];

  constructor(options: FleetTelemetryOptions) {
    this.clock = options.clock;
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.ringSize = options.ringSize ?? 4096;
    const registers = options.registry ? [options.registry] : undefined;
    if (!registers) return;
    this.queriesByRoute = new Counter({
      name: 'duckstring_queries_by_route_total',
      help: 'Governed queries by where they ran (local, remote, fallback) and endpoint',
      labelNames: ['route', 'endpoint'],
      registers,
    });
    this.fallbackTotal = new Counter({
      name: 'duckstring_query_fallback_total',
      help: 'Queries run locally because their endpoint could not take them, by endpoint and reason',
      labelNames: ['endpoint', 'reason'],
      registers,
    });
    this.failureTotal = new Counter({
      name: 'duckstring_remote_failures_total',
      help: 'Remote calls that failed on the path to a worker, by endpoint and reason',
      labelNames: ['endpoint', 'reason'],
      registers,
    });
    this.remoteLatency = new Histogram({
      name: 'duckstring_remote_query_duration_seconds',
      help: 'Remote query duration from call to last row, by endpoint',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const health = () => this.healthSource();
    new Gauge({
      name: 'duckstring_endpoint_healthy',
      help: '1 when the compute endpoint passes its health checks and its breaker is closed',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset();
        for (const h of health()) this.set({ endpoint: h.endpoint }, h.healthy ? 1 : 0);
      },
    });
    const inFlight = this.inFlight;
    new Gauge({
      name: 'duckstring_remote_queries_in_flight',
      help: 'Queries the Catchment has outstanding on each endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset();
        for (const [endpoint, n] of inFlight) this.set({ endpoint }, n);
      },
    });
  }

  outstanding(endpoint: string): number {
    return this.inFlight.get(endpoint) ?? 0;
  }

  /** A call to `endpoint` starts; the returned function ends it (once) with its outcome. */
  begin(endpoint: string): (failure: FailureReason | null) => void {
    this.inFlight.set(endpoint, this.outstanding(endpoint) + 1);
    const t0 = performance.now();
    let ended = false;
    return (failure) => {
      if (ended) return;
      ended = true;
      this.inFlight.set(endpoint, Math.max(0, this.outstanding(endpoint) - 1));
      const latencyMs = failure ? null : performance.now() - t0;
      this.ring(this.calls, endpoint).push({ t: this.clock.now(), latencyMs, failure });
      if (failure) this.failureTotal?.inc({ endpoint, reason: failure });
      else this.remoteLatency?.observe({ endpoint }, (latencyMs ?? 0) / 1000);
    };
  }

  /** Where a query finished running. */
  placed(placement: Placement): void {
    const endpoint = placement.kind === 'local' ? '' : placement.endpoint;
    this.queriesByRoute?.inc({ route: placement.kind, endpoint });
    if (placement.kind === 'fallback') {
      const reason = placement.reason as FailureReason;
      this.ring(this.fallbacks, placement.endpoint).push({ t: this.clock.now(), reason });
      this.fallbackTotal?.inc({ endpoint: placement.endpoint, reason });
    }
  }

  /** The window's activity of `endpoint`. */
  activity(endpoint: string): EndpointActivity {
    const since = this.clock.now() - this.windowMs;
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    for (const e of this.calls.get(endpoint)?.values() ?? []) {
      if (e.t < since) continue;
      if (e.failure) failures[e.failure] = (failures[e.failure] ?? 0) + 1;
      else if (e.latencyMs !== null) latencies.push(e.latencyMs);
    }
    const fallbacks: Record<string, number> = {};
    for (const e of this.fallbacks.get(endpoint)?.values() ?? []) {
      if (e.t >= since) fallbacks[e.reason] = (fallbacks[e.reason] ?? 0) + 1;
    }
    latencies.sort((a, b) => a - b);
    return {
      inFlight: this.outstanding(endpoint),
      calls: latencies.length,
      p50Ms: percentile(latencies, 0.5),
      p95Ms: percentile(latencies, 0.95),
      failures,
      fallbacks,
    };
  }

  /** Forgets a deleted endpoint. */
  forget(endpoint: string): void {
    this.calls.delete(endpoint);
    this.fallbacks.delete(endpoint);
    if (!this.outstanding(endpoint)) this.inFlight.delete(endpoint);
  }

  private ring<T>(map: Map<string, Ring<T>>, endpoint: string): Ring<T> {
    let ring = map.get(endpoint);
    if (!ring) {
      ring = new Ring<T>(this.ringSize);
      map.set(endpoint, ring);
    }
    return ring;
  }
}

/** Nearest-rank percentile of sorted values (null when empty). */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return Math.round(sorted[rank - 1]! * 1000) / 1000;
}
