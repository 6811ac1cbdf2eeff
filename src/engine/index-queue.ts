/**
 * The two work lists of the start fixpoint. The prior-art engine scans every node in index order on
 * every pass; we keep only the nodes whose start condition may have changed, and visit them in the
 * same order the scan would have: a node marked after the cursor joins the current pass, one marked at
 * or before it waits for the next pass. That keeps behaviour identical while the cost follows the work.
 */
export class PassQueue {
  private heap: number[] = [];
  private inHeap: Uint8Array;
  /** Marked for the next pass; `nextCount` is its length (the array is reused, never shrunk). */
  private next: number[] = [];
  private nextCount = 0;
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
      this.next[this.nextCount++] = i;
    }
  }

  markAll(): void {
    for (let i = 0; i < this.inNext.length; i++) this.mark(i);
  }

  get pendingNext(): boolean {
    return this.nextCount > 0;
  }

  /** Moves the nodes marked for the next pass into the current one. */
  beginPass(): void {
    const next = this.next;
    const n = this.nextCount;
    this.nextCount = 0;
    for (let k = 0; k < n; k++) {
      const i = next[k]!;
      this.inNext[i] = 0;
      if (!this.inHeap[i]) {
        this.inHeap[i] = 1;
        this.push(i);
      }
    }
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

/**
 * A set of small non-negative integers that remembers insertion order and clears without allocating:
 * the hot bookkeeping sets (touched Ponds, completions, time waiters) are filled and emptied on every
 * advance, and a `Set` per advance was a measurable share of the engine's garbage.
 */
export class IndexSet {
  /** Members in insertion order; only the first `size` entries are meaningful. */
  readonly items: number[] = [];
  size = 0;
  private member: Uint8Array;

  constructor(capacity: number) {
    this.member = new Uint8Array(capacity);
  }

  add(i: number): void {
    if (this.member[i]) return;
    this.member[i] = 1;
    this.items[this.size++] = i;
  }

  has(i: number): boolean {
    return this.member[i] === 1;
  }

  clear(): void {
    const items = this.items;
    for (let k = 0; k < this.size; k++) this.member[items[k]!] = 0;
    this.size = 0;
  }

  /** A fresh array of the members in insertion order. */
  toArray(): number[] {
    return this.items.slice(0, this.size);
  }
}
