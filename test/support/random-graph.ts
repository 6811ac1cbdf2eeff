/**
 * Random scenario documents (engine.md §7 JSON) for the randomized engine tests: a Pond DAG whose
 * Sources are always earlier Ponds, Ripple DAGs inside each Pond, and a stream of events on the 100 ms
 * grid. A profile says which features a property may use, because several properties only hold when
 * e.g. no Pond is ever killed or no Ripple ever fails.
 */
import type { EventKind } from '../../src/sim/scenario.js';
import type { Rng } from './prng.js';

export const STEP_MS = 100;

export interface RippleDoc {
  name: string;
  parents: string[];
  duration: string;
}

export interface WindowDoc {
  name: string;
  start: string;
  every: string;
  duration: string;
  on?: string[];
  until?: string;
}

export type FailDoc = { ripple: string; attempts: number[] } | { ripple: string; always: true };

export interface PondDoc {
  name: string;
  sources: string[];
  ripples: RippleDoc[];
  windows?: WindowDoc[];
  immediate_retries?: number;
  source_retries?: number;
  fail?: FailDoc[];
  always_run?: boolean;
  unchanged?: number[];
}

export interface EventDoc {
  at: string;
  kind: EventKind;
  pond: string;
  bound?: string;
  upstream?: boolean;
}

export interface ScenarioDoc {
  until: string;
  options?: { passes?: boolean; prune_targets?: boolean; minted_freshness?: boolean };
  ponds: PondDoc[];
  events: EventDoc[];
}

export interface GraphProfile {
  minPonds: number;
  maxPonds: number;
  /** Occasionally give an Inlet an availability window. */
  windows: boolean;
  /** Windows may carry a weekday filter or an expiry (an Inlet may then never open again). */
  windowLimits: boolean;
  /** Fail injections and retry budgets. */
  failures: boolean;
  /** R extensions: no-change passes (`unchanged`, `always_run`), target pruning, minted freshness. */
  extensions: boolean;
  /** Occasionally a Pond without Ripples. */
  zeroRipples: boolean;
}

export interface EventProfile {
  kinds: ReadonlyArray<readonly [EventKind, number]>;
  minEvents: number;
  maxEvents: number;
  /** Events fall on the grid in [fromMs, toMs]. */
  fromMs: number;
  toMs: number;
}

export const ms = (n: number): string => `${n}ms`;
export const toMs = (duration: string): number => {
  const m = /^(\d+)ms$/.exec(duration);
  if (!m) throw new Error(`generated durations are "<n>ms", got "${duration}"`);
  return Number(m[1]);
};
export const edgeName = (source: string): string => (source.endsWith('?') ? source.slice(0, -1) : source);
export const isOptional = (source: string): boolean => source.endsWith('?');

const gridMs = (rng: Rng, fromMs: number, toMs: number): number =>
  rng.int(Math.ceil(fromMs / STEP_MS), Math.floor(toMs / STEP_MS)) * STEP_MS;

export function randomPonds(rng: Rng, profile: GraphProfile): PondDoc[] {
  const n = rng.int(profile.minPonds, profile.maxPonds);
  const ponds: PondDoc[] = [];
  for (let i = 0; i < n; i++) {
    const name = `p${i}`;
    const sources =
      i === 0 || rng.chance(0.15)
        ? []
        : rng
            .sample(
              ponds.map((p) => p.name),
              rng.int(1, Math.min(i, 3)),
            )
            .map((s) => (rng.chance(0.2) ? `${s}?` : s));
    const ripples: RippleDoc[] = [];
    // Zero-Ripple Ponds exist only inside the engine/simulator: their runs complete at once (S39).
    const rippleCount = profile.zeroRipples && rng.chance(0.04) ? 0 : rng.int(1, 4);
    for (let j = 0; j < rippleCount; j++) {
      const earlier = ripples.map((r) => r.name);
      const parents =
        earlier.length === 0
          ? []
          : rng.sample(
              earlier,
              rng.weighted([
                [0, 3],
                [1, 5],
                [2, 2],
              ] as const),
            );
      ripples.push({
        name: `r${j}`,
        parents: parents.map((q) => (rng.chance(0.12) ? `${q}?` : q)),
        duration: ms(rng.int(1, 30) * STEP_MS),
      });
    }
    const pond: PondDoc = { name, sources, ripples };
    if (sources.length === 0 && profile.windows && rng.chance(0.3))
      pond.windows = randomWindows(rng, profile);
    if (profile.failures) {
      if (ripples.length > 0 && rng.chance(0.25)) {
        const ripple = rng.pick(ripples).name;
        pond.fail = [
          rng.chance(0.1)
            ? { ripple, always: true }
            : { ripple, attempts: rng.sample([1, 2, 3, 4, 5], rng.int(1, 3)) },
        ];
      }
      if (rng.chance(0.3)) pond.immediate_retries = rng.int(0, 2);
      if (rng.chance(0.3)) pond.source_retries = rng.int(0, 2);
    }
    if (profile.extensions && sources.length > 0) {
      if (rng.chance(0.1)) pond.always_run = true;
    }
    ponds.push(pond);
  }
  return ponds;
}

function randomWindows(rng: Rng, profile: GraphProfile): WindowDoc[] {
  const everyS = rng.pick([1, 2, 3, 5, 10, 20]);
  const everyMs = everyS * 1000;
  const slots = everyMs / STEP_MS;
  if (rng.chance(0.2) && slots >= 4) {
    // Two disjoint windows sharing one period: each open for at most half of it.
    const half = slots / 2;
    const d1 = rng.int(1, Math.floor(half));
    const d2 = rng.int(1, Math.floor(half));
    const off = rng.int(0, Math.ceil(half) - 1) * STEP_MS;
    return [
      { name: 'w1', start: `+${ms(off)}`, every: `${everyS}s`, duration: ms(d1 * STEP_MS) },
      {
        name: 'w2',
        start: `+${ms(off + Math.ceil(half) * STEP_MS)}`,
        every: `${everyS}s`,
        duration: ms(d2 * STEP_MS),
      },
    ];
  }
  const w: WindowDoc = {
    name: 'w',
    start: `+${ms(rng.int(0, slots - 1) * STEP_MS)}`,
    every: `${everyS}s`,
    duration: ms((rng.chance(0.4) ? slots : rng.int(1, slots)) * STEP_MS),
  };
  if (profile.windowLimits && rng.chance(0.15)) {
    // A daily window with a weekday filter. T0 is a Thursday, so THU opens within our horizons and FRI
    // only a day later: demand waits past the horizon. (A filter on a seconds-long period that is never
    // kept would make the simulator scan 10 000 grid points per instant, which is too slow for here.)
    w.every = '1d';
    w.duration = ms(rng.int(1, 600) * STEP_MS);
    w.on = rng.pick([['THU'], ['FRI'], ['MON', 'THU']]);
  }
  if (profile.windowLimits && rng.chance(0.2)) {
    w.until = new Date(Date.parse('2026-01-01T00:00:00Z') + rng.int(0, 200) * STEP_MS).toISOString();
  }
  return [w];
}

export function randomEvent(
  rng: Rng,
  ponds: readonly PondDoc[],
  kinds: EventProfile['kinds'],
  atMs: number,
  pond?: string,
): EventDoc {
  const kind = rng.weighted(kinds);
  const ev: EventDoc = { at: ms(atMs), kind, pond: pond ?? rng.pick(ponds).name };
  if (kind === 'tide') ev.bound = ms(rng.int(1, 80) * STEP_MS);
  if (kind === 'sleep' && rng.chance(0.5)) ev.upstream = true;
  return ev;
}

export function randomEvents(rng: Rng, ponds: readonly PondDoc[], profile: EventProfile): EventDoc[] {
  const count = rng.int(profile.minEvents, profile.maxEvents);
  const events: EventDoc[] = [];
  for (let k = 0; k < count; k++) {
    events.push(randomEvent(rng, ponds, profile.kinds, gridMs(rng, profile.fromMs, profile.toMs)));
  }
  return sortEvents(events);
}

/** Stable sort by time (the simulator applies same-instant events in file order). */
export function sortEvents(events: EventDoc[]): EventDoc[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => toMs(a.e.at) - toMs(b.e.at) || a.i - b.i)
    .map(({ e }) => e);
}

export function randomExtensions(rng: Rng, ponds: PondDoc[], untilMs: number): ScenarioDoc['options'] {
  for (const p of ponds) {
    if (p.sources.length > 0 && rng.chance(0.15)) {
      p.unchanged = Array.from({ length: rng.int(1, 5) }, () => gridMs(rng, 0, untilMs) / 1000);
    }
  }
  const options: NonNullable<ScenarioDoc['options']> = {};
  if (rng.chance(0.3)) options.prune_targets = true;
  if (rng.chance(0.3)) options.minted_freshness = true;
  if (rng.chance(0.2)) options.passes = true;
  return options;
}

/** Sum of every Ripple duration in the graph (a crude bound on how long one sweep of work can take). */
export function totalDurationMs(ponds: readonly PondDoc[]): number {
  let sum = 0;
  for (const p of ponds) for (const r of p.ripples) sum += toMs(r.duration);
  return sum;
}

// ───────────────────────────── graph facts ─────────────────────────────

export class PondGraph {
  readonly names: string[];
  readonly sources = new Map<string, string[]>();
  readonly sinks = new Map<string, string[]>();

  constructor(ponds: readonly PondDoc[]) {
    this.names = ponds.map((p) => p.name);
    for (const p of ponds) {
      this.sources.set(p.name, p.sources.map(edgeName));
      this.sinks.set(p.name, []);
    }
    for (const p of ponds) for (const s of p.sources) this.sinks.get(edgeName(s))!.push(p.name);
  }

  /** Every Pond reachable from `from` by following `next`, excluding `from` unless reached again. */
  private walk(
    from: Iterable<string>,
    next: Map<string, string[]>,
    avoid?: ReadonlySet<string>,
  ): Set<string> {
    const seen = new Set<string>();
    const stack = [...from];
    while (stack.length > 0) {
      const p = stack.pop()!;
      for (const q of next.get(p)!) {
        if (seen.has(q) || avoid?.has(q)) continue;
        seen.add(q);
        stack.push(q);
      }
    }
    return seen;
  }

  /** Strict ancestors (through required and optional Sources). */
  ancestors(pond: string): Set<string> {
    return this.walk([pond], this.sources);
  }

  descendants(pond: string): Set<string> {
    return this.walk([pond], this.sinks);
  }

  /** `from` plus every ancestor reachable without entering a Pond of `avoid`. */
  upstreamAvoiding(from: Iterable<string>, avoid: ReadonlySet<string>): Set<string> {
    const start = [...from].filter((p) => !avoid.has(p));
    const out = this.walk(start, this.sources, avoid);
    for (const p of start) out.add(p);
    return out;
  }
}
