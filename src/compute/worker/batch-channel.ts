/**
 * A bounded hand-over from the executor (which pushes converted chunks) to a gRPC stream (which
 * pulls messages). `push` resolves only once there is room, so the executor reads the next DuckDB
 * chunk only as fast as the caller takes rows: memory stays bounded on the worker whatever the
 * result's size. A reader that goes away (`abort`) makes the next `push` throw, which stops the query.
 */
export class BatchChannel<T> {
  private readonly items: T[] = [];
  private ended = false;
  private failure: { error: unknown } | null = null;
  private abortReason: unknown = null;
  private wakeReader: (() => void) | null = null;
  private wakeWriter: (() => void) | null = null;

  constructor(private readonly capacity: number) {}

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && this.abortReason === null) {
      await new Promise<void>((resolve) => {
        this.wakeWriter = resolve;
      });
    }
    if (this.abortReason !== null) throw this.abortReason;
    this.items.push(item);
    this.wake();
  }

  /** No more items; the reader ends after the queued ones. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The writer failed; the reader throws `error` after the queued items. */
  fail(error: unknown): void {
    this.failure = { error };
    this.wake();
  }

  /** The reader is gone: pending and later pushes throw `reason`. */
  abort(reason: unknown): void {
    this.abortReason = reason ?? new Error('the reader went away');
    this.items.length = 0;
    const writer = this.wakeWriter;
    this.wakeWriter = null;
    writer?.();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        const writer = this.wakeWriter;
        this.wakeWriter = null;
        writer?.();
        yield item;
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wakeReader = resolve;
      });
    }
  }

  private wake(): void {
    const reader = this.wakeReader;
    this.wakeReader = null;
    reader?.();
  }
}
