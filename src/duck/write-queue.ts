/**
 * Concurrent writes to one table must queue and retry, never fail (README contract 10).
 *
 * Inside one process, writes to the same table of the same database file wait their turn on a
 * promise chain, so two Ripples replacing one table do not waste work racing each other. What
 * still conflicts in DuckDB (a user's own statements via `ctx.sql`, or DDL touching the same
 * catalog entries) is retried with capped exponential backoff: a conflicting auto-commit statement
 * has been rolled back entirely, so running it again is safe.
 */

const tails = new Map<string, Promise<void>>();

/** Runs `fn` once every earlier call with the same key has finished. */
export async function withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  tails.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}

export interface RetryPolicy {
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_WRITE_RETRY: RetryPolicy = { attempts: 12, firstDelayMs: 50, maxDelayMs: 500 };

/** DuckDB's transaction-conflict errors (`TransactionContext Error: Catalog write-write conflict…`). */
export function isWriteConflict(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /conflict/i.test(message) && /transaction/i.test(message);
}

export async function retryOnConflict<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_WRITE_RETRY,
): Promise<T> {
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.attempts || !isWriteConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
