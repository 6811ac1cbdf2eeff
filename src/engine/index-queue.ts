/**
 * The two work lists of the start fixpoint. The prior-art engine scans every node in index order on
 * every pass; we keep only the nodes whose start condition may have changed, and visit them in the
 * same order the scan would have: a node marked after the cursor joins the current pass, one marked at
 * or before it waits for the next pass. That keeps behaviour identical while the cost follows the work.
 */
export class PassQueue {
  private heap: number[] = [];
  private inHeap: Uint8Array;
  private next: number[] = [];
  private inNext: Uint8Array;
  /** Index being examined in the current pass, or -1 when no pass of this kind is running. */
  cursor = -1;

  constructor(size: number) {
    this.inHeap = new Uint8Array(size);
    this.inNext = new Uint8Array(size);
  }

  mark(i: number): void {
    if (this.cursor >= 0 && i > this.cursor) {
      if (this.inHeap[i]) return;
      this.inHeap[i] = 1;
      this.push(i);
    } else if (!this.inNext[i]) {
      this.inNext[i] = 1;
      this.next.push(i);
    }
  }

  markAll(): void {
    for (let i = 0; i < this.inNext.length; i++) this.mark(i);
  }

  get pendingNext(): boolean {
    return this.next.length > 0;
  }

  /** Moves the nodes marked for the next pass into the current one. */
  beginPass(): void {
    for (const i of this.next) {
      this.inNext[i] = 0;
      if (!this.inHeap[i]) {
        this.inHeap[i] = 1;
        this.push(i);
      }
    }
    this.next = [];
    this.cursor = -1;
  }

  /** Next index of the current pass in ascending order, or -1 when the pass is exhausted. */
  take(): number {
    if (this.heap.length === 0) {
      this.cursor = -1;
      return -1;
    }
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    this.inHeap[top] = 0;
    this.cursor = top;
    return top;
  }

  private push(i: number): void {
    const h = this.heap;
    h.push(i);
    let k = h.length - 1;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (h[parent]! <= i) break;
      h[k] = h[parent]!;
      k = parent;
    }
    h[k] = i;
  }

  private siftDown(k: number): void {
    const h = this.heap;
    const n = h.length;
    const v = h[k]!;
    for (;;) {
      let c = 2 * k + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1]! < h[c]!) c++;
      if (h[c]! >= v) break;
      h[k] = h[c]!;
      k = c;
    }
    h[k] = v;
  }
}
