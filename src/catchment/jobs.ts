/**
 * Per-line job queues for the Duck dial-back protocol. The Catchment never connects to a Duck: it
 * queues "begin a Pond Run at F" here and the Duck collects it with a long poll.
 */
import type { DuckJobMessage } from '../duck/protocol.js';

export type DuckJob = DuckJobMessage;

interface Waiter {
  resolve: (jobs: DuckJob[]) => void;
  timer: NodeJS.Timeout;
}

export class JobQueues {
  private pending = new Map<string, DuckJob[]>();
  private waiters = new Map<string, Waiter>();

  push(line: string, job: DuckJob): void {
    const list = this.pending.get(line) ?? [];
    // A begin-run is idempotent on F at the Duck; never queue the same F twice.
    if (job.kind === 'begin-run' && list.some((j) => j.kind === 'begin-run' && j.f === job.f)) return;
    list.push(job);
    this.pending.set(line, list);
    const w = this.waiters.get(line);
    if (w) {
      this.waiters.delete(line);
      clearTimeout(w.timer);
      w.resolve(this.takeNow(line));
    }
  }

  depth(line?: string): number {
    if (line !== undefined) return this.pending.get(line)?.length ?? 0;
    let n = 0;
    for (const l of this.pending.values()) n += l.length;
    return n;
  }

  /** Jobs waiting now, or the first to arrive within `waitMs` (an empty list when none came). */
  take(line: string, waitMs: number): Promise<DuckJob[]> {
    const now = this.takeNow(line);
    if (now.length > 0 || waitMs <= 0) return Promise.resolve(now);
    const prior = this.waiters.get(line);
    if (prior) {
      // A newer poll from the same Duck supersedes the old one (its connection is probably gone).
      clearTimeout(prior.timer);
      prior.resolve([]);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(line);
        resolve([]);
      }, waitMs);
      this.waiters.set(line, { resolve, timer });
    });
  }

  /** Drops a line's pending jobs (its Pond was killed). */
  discard(line: string): void {
    this.pending.delete(line);
  }

  /** Releases every waiting poll (shutdown). */
  close(): void {
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.resolve([]);
    }
    this.waiters.clear();
  }

  private takeNow(line: string): DuckJob[] {
    const list = this.pending.get(line) ?? [];
    this.pending.delete(line);
    return list;
  }
}
