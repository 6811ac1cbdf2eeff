/**
 * A circuit breaker over one endpoint's calls. Closed: calls go through and consecutive failures are
 * counted. Open (after `failureThreshold` in a row): no call is made — the router falls back at once
 * instead of paying a connect timeout per query. After `openMs` one call is let through as a probe
 * (half-open): its success closes the breaker, its failure opens it again for another `openMs`.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker (default 3). */
  failureThreshold?: number;
  /** How long an open breaker refuses calls before letting one probe through (default 5 s). */
  openMs?: number;
}

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly openMs: number;
  private failures = 0;
  private openedAt: number | null = null;
  private probing = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.openMs = options.openMs ?? 5_000;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1)
      throw new Error('failureThreshold must be a positive integer');
    if (!(this.openMs >= 0)) throw new Error('openMs must not be negative');
  }

  state(now: number): BreakerState {
    if (this.openedAt === null) return 'closed';
    return now - this.openedAt >= this.openMs ? 'half-open' : 'open';
  }

  /** Whether a call may go out now; in half-open, only one (the probe) until it reports back. */
  tryAcquire(now: number): boolean {
    const state = this.state(now);
    if (state === 'closed') return true;
    if (state === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** Whether a call would be let through now, without taking the half-open probe slot. */
  wouldAllow(now: number): boolean {
    const state = this.state(now);
    return state === 'closed' || (state === 'half-open' && !this.probing);
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.probing = false;
  }

  failure(now: number): void {
    this.failures += 1;
    const wasProbe = this.probing;
    this.probing = false;
    if (wasProbe || this.openedAt !== null || this.failures >= this.failureThreshold) this.openedAt = now;
  }

  /** A call that neither proved nor disproved the endpoint (the query's own error) frees the probe. */
  neutral(): void {
    this.probing = false;
  }
}
