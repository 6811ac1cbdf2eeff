/**
 * Time as the runtime sees it. Everything outside the pure engine that reads the time or waits takes
 * a Clock instead of calling Date.now()/setTimeout directly, so a test (or an in-process simulation)
 * can drive time itself: nothing then depends on how fast the machine happens to be.
 */

/** A scheduled callback; `cancel` is idempotent. */
export interface Timer {
  cancel(): void;
  /** Lets the process exit while this timer is pending (a no-op for clocks without a process). */
  unref(): Timer;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Runs `fn` every `ms` until cancelled. */
  setInterval(fn: () => void, ms: number): Timer;
}

function nodeTimer(handle: NodeJS.Timeout, clear: (h: NodeJS.Timeout) => void): Timer {
  const timer: Timer = {
    cancel: () => clear(handle),
    unref: () => {
      handle.unref();
      return timer;
    },
  };
  return timer;
}

/** The real clock: wall time and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => nodeTimer(setTimeout(fn, ms), clearTimeout),
  setInterval: (fn, ms) => nodeTimer(setInterval(fn, ms), clearInterval),
};

/** A clock that reads `now` from a function and uses Node's timers (for callers that only had `now`). */
export function clockFrom(now: () => number): Clock {
  return { ...systemClock, now };
}
