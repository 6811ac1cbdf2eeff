/**
 * Endpoint health, tracked in the background — never a ping per query. Every `intervalMs` each
 * registered endpoint gets one Health call; between checks a circuit breaker per endpoint counts
 * the failures of real calls. An endpoint is usable unless its last check failed or its breaker is
 * open; the router sends nothing to an unusable one and falls back at once.
 *
 * A successful check closes the breaker too: a worker restarted on the same address is used again
 * within one interval, without restarting the Catchment. A change in the directory (new endpoint,
 * new URL or token) triggers a check right away, so an edit takes effect without waiting.
 */
import type { Clock, Timer } from '../../shared/clock.js';
import type { ComputeDirectory, EndpointTarget } from '../topology.js';
import { type BreakerState, CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
import type { WorkerClientPool } from './client-pool.js';
import { classifyCallError, type FailureReason, RemoteCallFailed } from './errors.js';

export interface WorkerLoad {
  active: number;
  queued: number;
  running: number;
  memoryUsedBytes: number;
  memoryLimitBytes: number;
  duckdbVersion: string;
  workerVersion: string;
}

export interface EndpointHealth {
  endpoint: string;
  /** Usable for new queries: the last check passed (or none ran yet) and the breaker is not open. */
  healthy: boolean;
  /** Why not, when not healthy. */
  reason: FailureReason | null;
  /** Epoch ms since when `healthy` has had its current value. */
  since: number;
  lastCheckAt: number | null;
  breaker: BreakerState;
  /** What the last successful check reported. */
  load: WorkerLoad | null;
}

export interface HealthTrackerOptions {
  directory: ComputeDirectory;
  pool: WorkerClientPool;
  clock: Clock;
  /** Between background checks (default 5 s). */
  intervalMs?: number;
  /** One check's deadline (default 2 s). */
  checkTimeoutMs?: number;
  breaker?: CircuitBreakerOptions;
  /** Told whenever an endpoint turns healthy or unhealthy (for logs). */
  onChange?: (health: EndpointHealth) => void;
}

interface State {
  revision: number;
  url: string;
  breaker: CircuitBreaker;
  /** The last check's failure, or null when it passed (or none ran yet). */
  checkFailure: FailureReason | null;
  lastCheckAt: number | null;
  load: WorkerLoad | null;
  healthy: boolean;
  since: number;
  reason: FailureReason | null;
}

export class HealthTracker {
  private readonly states = new Map<string, State>();
  private readonly intervalMs: number;
  private readonly checkTimeoutMs: number;
  private timer: Timer | null = null;
  private unsubscribe: (() => void) | null = null;
  private round: Promise<void> | null = null;
  private again = false;

  constructor(private readonly options: HealthTrackerOptions) {
    this.intervalMs = options.intervalMs ?? 5_000;
    this.checkTimeoutMs = options.checkTimeoutMs ?? 2_000;
  }

  /** Starts the periodic checks (the first right away) and follows directory changes. */
  start(): void {
    if (this.timer) return;
    this.timer = this.options.clock.setInterval(() => void this.checkAll(), this.intervalMs).unref();
    this.unsubscribe = this.options.directory.subscribe(() => void this.checkAll());
    void this.checkAll();
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.round;
  }

  /**
   * Checks every registered endpoint once. Concurrent requests share a round; one asked for while a
   * round runs gets another round after it (so a change made mid-round is seen).
   */
  checkAll(): Promise<void> {
    if (this.round) {
      this.again = true;
      return this.round;
    }
    this.round = (async () => {
      do {
        this.again = false;
        const endpoints = this.sync();
        await Promise.all(endpoints.map((e) => this.check(e)));
      } while (this.again);
    })().finally(() => {
      this.round = null;
    });
    return this.round;
  }

  /** Whether a query may be sent to `endpoint` now, and why not. Takes no probe slot. */
  usable(endpoint: EndpointTarget): { ok: true } | { ok: false; reason: FailureReason } {
    const state = this.state(endpoint);
    if (state.checkFailure) return { ok: false, reason: state.checkFailure };
    if (!state.breaker.wouldAllow(this.options.clock.now())) return { ok: false, reason: 'circuit_open' };
    return { ok: true };
  }

  /** Takes the breaker's permission for one call (false: it is open, or its probe is out). */
  tryCall(endpoint: EndpointTarget): boolean {
    return this.state(endpoint).breaker.tryAcquire(this.options.clock.now());
  }

  /** A call's outcome: null = the worker answered (even with the query's own error). */
  callEnded(endpoint: EndpointTarget, failure: FailureReason | null): void {
    const state = this.state(endpoint);
    const now = this.options.clock.now();
    if (failure) {
      state.breaker.failure(now);
      // A failure is a hint, not a verdict: check now rather than at the next tick.
      void this.checkAll();
    } else state.breaker.success();
    this.update(endpoint.name, state);
  }

  /** Every tracked endpoint's health. */
  report(): EndpointHealth[] {
    return [...this.states.keys()].sort().map((name) => this.view(name, this.states.get(name)!));
  }

  health(name: string): EndpointHealth | null {
    const state = this.states.get(name);
    return state ? this.view(name, state) : null;
  }

  /** Follows the directory: new endpoints tracked, changed ones reset, deleted ones forgotten. */
  private sync(): EndpointTarget[] {
    const endpoints = this.options.directory.endpoints();
    const names = new Set(endpoints.map((e) => e.name));
    for (const name of this.states.keys()) if (!names.has(name)) this.states.delete(name);
    this.options.pool.retain(names);
    for (const e of endpoints) this.state(e);
    return endpoints.filter((e) => e.status !== 'inactive');
  }

  private state(endpoint: EndpointTarget): State {
    let state = this.states.get(endpoint.name);
    if (!state || state.revision !== endpoint.revision || state.url !== endpoint.url) {
      state = {
        revision: endpoint.revision,
        url: endpoint.url,
        breaker: new CircuitBreaker(this.options.breaker),
        checkFailure: null,
        lastCheckAt: null,
        load: null,
        healthy: true,
        since: this.options.clock.now(),
        reason: null,
      };
      this.states.set(endpoint.name, state);
    }
    return state;
  }

  private async check(endpoint: EndpointTarget): Promise<void> {
    const connection = this.options.pool.acquire(endpoint);
    let failure: FailureReason | null = null;
    let load: WorkerLoad | null = null;
    try {
      const answer = await connection.client.health(
        {},
        { headers: connection.headers, timeoutMs: this.checkTimeoutMs },
      );
      if (answer.draining) failure = 'draining';
      load = {
        active: answer.active,
        queued: answer.queued,
        running: answer.running,
        memoryUsedBytes: Number(answer.memoryUsedBytes),
        memoryLimitBytes: Number(answer.memoryLimitBytes),
        duckdbVersion: answer.duckdbVersion,
        workerVersion: answer.workerVersion,
      };
    } catch (error) {
      const classified = classifyCallError(endpoint.name, error);
      failure = classified instanceof RemoteCallFailed ? classified.reason : 'protocol';
    } finally {
      connection.release();
    }
    const state = this.states.get(endpoint.name);
    // The endpoint changed or went away while the check ran: its result is about the old one.
    if (!state || state.revision !== endpoint.revision || state.url !== endpoint.url) return;
    state.lastCheckAt = this.options.clock.now();
    state.checkFailure = failure;
    if (load) state.load = load;
    if (!failure) state.breaker.success();
    this.update(endpoint.name, state);
  }

  private update(name: string, state: State): void {
    const now = this.options.clock.now();
    const reason: FailureReason | null =
      state.checkFailure ?? (state.breaker.state(now) === 'open' ? 'circuit_open' : null);
    const healthy = reason === null;
    if (healthy !== state.healthy) {
      state.healthy = healthy;
      state.since = now;
      state.reason = reason;
      this.options.onChange?.(this.view(name, state));
    } else if (!healthy) state.reason = reason;
  }

  private view(name: string, state: State): EndpointHealth {
    return {
      endpoint: name,
      healthy: state.healthy,
      reason: state.healthy ? null : state.reason,
      since: state.since,
      lastCheckAt: state.lastCheckAt,
      breaker: state.breaker.state(this.options.clock.now()),
      load: state.load,
    };
  }
}
