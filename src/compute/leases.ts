import path from 'node:path';

/** Anything that can answer "is this absolute snapshot path being read right now?". */
export interface InUseCheck {
  has(absolutePath: string): boolean;
}

/**
 * In-process reference counts on snapshot files, so garbage collection never deletes a file a query
 * is still reading. Leases only protect readers in this process; readers elsewhere rely on the
 * grace period alone (keep it longer than the longest query).
 */
export class SnapshotLeases implements InUseCheck {
  private readonly counts = new Map<string, number>();

  /** Marks every path in use until the returned function is called (calling it again is a no-op). */
  acquire(paths: Iterable<string>): () => void {
    const held = [...new Set([...paths].map((p) => path.resolve(p)))];
    for (const p of held) this.counts.set(p, (this.counts.get(p) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const p of held) {
        const left = (this.counts.get(p) ?? 1) - 1;
        if (left <= 0) this.counts.delete(p);
        else this.counts.set(p, left);
      }
    };
  }

  has(absolutePath: string): boolean {
    return this.counts.has(path.resolve(absolutePath));
  }

  /** Number of distinct files currently leased. */
  get size(): number {
    return this.counts.size;
  }
}
