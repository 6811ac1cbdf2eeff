/**
 * A small seeded PRNG for the randomized engine tests. Mulberry32 (a 32-bit state, one multiply-xorshift
 * round per draw): fast, good enough for test-case generation, and identical on every platform, so a
 * printed seed reproduces a case exactly.
 */

/** Mixes several 32-bit integers into one well-spread seed (for per-case seeds from a base seed). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /** Picks by relative weight: `[[value, weight], …]`. */
  weighted<T>(entries: ReadonlyArray<readonly [T, number]>): T {
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * total;
    for (const [v, w] of entries) {
      x -= w;
      if (x < 0) return v;
    }
    return entries[entries.length - 1]![0];
  }

  /** `k` distinct elements in random order. */
  sample<T>(xs: readonly T[], k: number): T[] {
    const pool = [...xs];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, Math.min(k, pool.length));
  }
}

/** The base seed: `DUCKSTRING_SEED` (decimal or 0x-hex) when set, else the fixed default. */
export function baseSeed(fallback: number): number {
  const raw = process.env.DUCKSTRING_SEED;
  if (raw === undefined || raw.trim() === '') return fallback >>> 0;
  const n = Number(raw.trim());
  if (!Number.isInteger(n)) throw new Error(`DUCKSTRING_SEED must be an integer, got "${raw}"`);
  return n >>> 0;
}
