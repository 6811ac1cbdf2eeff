/**
 * A fixed number of slots shared between principals. A free slot goes to the waiting principal
 * served least recently (round-robin, and a principal that arrives with nothing queued goes ahead
 * of those already served), each principal's own work in arrival order. One principal may hold at
 * most `maxRunningPerPrincipal` slots — by default all but one — so with a single busy principal a
 * slot is always free for anyone else. In general another principal's backlog delays a new item
 * by at most one item per other principal (the one it is running or is granted next), never by its
 * whole queue.
 *
 * The scheduler itself has no timers: abandoning a waiting item is the caller's signal.
 */

export interface FairSchedulerOptions {
  /** Items running at once. */
  slots: number;
  /** Items one principal may run at once; default slots − 1 (at least 1). */
  maxRunningPerPrincipal?: number;
  /** Clock for `waitedMs`; default performance.now. */
  now?: () => number;
}

export interface ScheduleOptions {
  /** Whose work this is; unattributed work shares one anonymous principal. */
  principal?: string;
  /** Aborting while the item still waits removes it and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface SchedulerLoad {
  running: number;
  waiting: number;
  /** Per principal (lower-cased) with anything running or waiting. */
  principals: Record<string, { running: number; waiting: number }>;
}

interface Waiter {
  /** Arrival order, to break ties between principals never served. */
  seq: number;
  start: () => void;
  cancel: (reason: unknown) => void;
}

interface PrincipalQueue {
  running: number;
  waiting: Waiter[];
  /** When this principal was last granted a slot (grant count); 0: not since it was idle. */
  lastServed: number;
}

const ANONYMOUS = '';

export class FairScheduler {
  readonly slots: number;
  readonly maxRunningPerPrincipal: number;
  private running = 0;
  private readonly queues = new Map<string, PrincipalQueue>();
  private grants = 0;
  private arrivals = 0;
  private readonly listeners = new Set<() => void>();
  private readonly now: () => number;

  constructor(options: FairSchedulerOptions) {
    if (!Number.isInteger(options.slots) || options.slots < 1)
      throw new Error('slots must be a positive integer');
    const perPrincipal = options.maxRunningPerPrincipal ?? Math.max(1, options.slots - 1);
    if (!Number.isInteger(perPrincipal) || perPrincipal < 1)
      throw new Error('maxRunningPerPrincipal must be a positive integer');
    this.slots = options.slots;
    this.maxRunningPerPrincipal = Math.min(perPrincipal, options.slots);
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Runs `work` once a slot is granted; it receives how long it waited (ms). The slot is held until
   * the promise it returns settles.
   */
  run<T>(work: (waitedMs: number) => Promise<T>, options: ScheduleOptions = {}): Promise<T> {
    const principal = (options.principal ?? ANONYMOUS).toLowerCase();
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queued = this.now();
    return new Promise<T>((resolve, reject) => {
      const queue = this.queueOf(principal);
      const onAbort = () => waiter.cancel(signal!.reason);
      const waiter: Waiter = {
        seq: ++this.arrivals,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          queue.running++;
          this.running++;
          let outcome: Promise<T>;
          try {
            outcome = work(this.now() - queued);
          } catch (error) {
            outcome = Promise.reject(error);
          }
          // The slot is free (and the next item granted) before the caller hears the outcome.
          const release = () => {
            queue.running--;
            this.running--;
            this.forget(principal);
            this.dispatch();
            this.changed();
          };
          outcome.then(
            (value) => {
              release();
              resolve(value);
            },
            (error: unknown) => {
              release();
              reject(error);
            },
          );
        },
        cancel: (reason) => {
          const index = queue.waiting.indexOf(waiter);
          if (index < 0) return;
          queue.waiting.splice(index, 1);
          this.forget(principal);
          reject(reason);
          this.changed();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.waiting.push(waiter);
      this.dispatch();
      this.changed();
    });
  }

  load(): SchedulerLoad {
    const principals: SchedulerLoad['principals'] = {};
    let waiting = 0;
    for (const [name, q] of this.queues) {
      principals[name] = { running: q.running, waiting: q.waiting.length };
      waiting += q.waiting.length;
    }
    return { running: this.running, waiting, principals };
  }

  /** Calls `listener` after every change of load (grant, finish, enqueue, cancel). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Grants free slots, each to the least recently served principal below its running cap. */
  private dispatch(): void {
    while (this.running < this.slots) {
      let next: PrincipalQueue | undefined;
      for (const queue of this.queues.values()) {
        if (queue.waiting.length === 0 || queue.running >= this.maxRunningPerPrincipal) continue;
        if (
          !next ||
          queue.lastServed < next.lastServed ||
          (queue.lastServed === next.lastServed && queue.waiting[0]!.seq < next.waiting[0]!.seq)
        )
          next = queue;
      }
      if (!next) return;
      next.lastServed = ++this.grants;
      next.waiting.shift()!.start();
    }
  }

  private queueOf(principal: string): PrincipalQueue {
    let queue = this.queues.get(principal);
    if (!queue) {
      queue = { running: 0, waiting: [], lastServed: 0 };
      this.queues.set(principal, queue);
    }
    return queue;
  }

  private forget(principal: string): void {
    const queue = this.queues.get(principal);
    if (queue && queue.running === 0 && queue.waiting.length === 0) this.queues.delete(principal);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
