/**
 * A Clock that only moves when the test says so: `advance(ms)` runs every timer that falls due, in
 * time order (ties in scheduling order), with `now()` reading each timer's due time while it runs.
 * Deterministic, so liveness and timeouts are tested without sleeping.
 */
import type { Clock, Timer } from '../../src/shared/clock.js';

interface Scheduled {
  id: number;
  due: number;
  every: number | null;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private current: number;
  private nextId = 0;
  private readonly timers = new Map<number, Scheduled>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, Math.max(1, ms));
  }

  /** Timers not yet run or cancelled. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer due on the way. */
  advance(ms: number): void {
    const until = this.current + ms;
    for (;;) {
      const next = [...this.timers.values()]
        .filter((t) => t.due <= until)
        .sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.current = Math.max(this.current, next.due);
      if (next.every === null) this.timers.delete(next.id);
      else next.due += next.every;
      next.fn();
    }
    this.current = until;
  }

  private schedule(fn: () => void, ms: number, every: number | null): Timer {
    const entry: Scheduled = {
      id: this.nextId++,
      due: this.current + Math.max(0, ms),
      every,
      fn,
      cancelled: false,
    };
    this.timers.set(entry.id, entry);
    const timer: Timer = {
      cancel: () => {
        entry.cancelled = true;
        this.timers.delete(entry.id);
      },
      unref: () => timer,
    };
    return timer;
  }
}
