/**
 * The orchestration engine (engine.md §3): pull and push demand over Ponds and Ripples, triggers,
 * windows, control verbs, blocking, failures with retry budgets, no-change passes and minted freshness.
 *
 * Pure: no I/O, no clock, no randomness. Every entry point receives `now` (epoch ms). Calls that change
 * demand never start runs; `advance(now)` services standing triggers and starts everything runnable to a
 * fixpoint. What happened comes back as events (`drain()`); a driver turns `pond-start` events that are
 * not passes into "begin a Pond Run at F" instructions and sleeps until `nextWakeAt(now)`.
 */
import { IndexSet, PassQueue } from './index-queue.js';
import { type CompiledPond, type CompiledTopology, compileTopology, type PondSpec } from './topology.js';
import { activeEnd, nextOpen } from './windows.js';

/** Freshness "never": compares below every real freshness (engine.md §3.1, S40). */
export const NEVER = Number.NEGATIVE_INFINITY;

export interface EngineOptions {
  /** [R] complete a Pond Run in-engine when no Source content changed (§3.13). */
  passes?: boolean;
  /** [R] drop Pond targets ≤ endF when a Pond Run completes (§3.7, P04). */
  pruneTargetsOnComplete?: boolean;
  /** [R] a plain Inlet stamps the epoch minted by its demand instead of `now` (§3.14). */
  mintedFreshness?: boolean;
  /**
   * Reference mode: examine every node on every pass, exactly like the prior-art scan. Slow; the
   * randomized tests use it to prove the work-list engine makes identical decisions.
   */
  scanAll?: boolean;
}

export interface PondState {
  startF: number;
  endF: number;
  D: number;
  hasPull: boolean;
  pullLocal: boolean;
  targets: number[];
  isKilled: boolean;
  isBlocked: boolean;
  changedF: number;
  pullM: number;
  isFailed: boolean;
  failedF: number;
  failures: number;
  forcePending: boolean;
  refreshPending: boolean;
  runsStarted: number;
  runsCompleted: number;
}

export interface RippleState {
  startF: number;
  endF: number;
  hasPull: boolean;
  targets: number[];
  isRunning: boolean;
  runsStarted: number;
  runsCompleted: number;
}

export type TriggerKind = 'wave' | 'tide';
export interface Trigger {
  kind: TriggerKind;
  /** Tide only: the staleness bound in ms. */
  boundMs: number;
}

export type PondStatus = 'failed' | 'killed' | 'blocked' | 'running' | 'queued' | 'idle';

export interface PondStartEvent {
  t: number;
  kind: 'pond-start';
  pond: string;
  f: number;
  /** Started on a pull token (as opposed to a push target or a retry). */
  pull: boolean;
  force: boolean;
  refresh: boolean;
  sourcesChanged: boolean;
  /** True when the run completes in-engine as a no-change pass (no Duck is involved). */
  pass: boolean;
  /**
   * Index of the Pond in `engine.topology.ponds`. A getter, not an own property: JSON, spread and
   * `toEqual` see the plain event (see the record classes below).
   */
  readonly pondId: number;
}

export interface PondEndEvent {
  t: number;
  kind: 'pond-done' | 'pond-pass' | 'pond-fail';
  pond: string;
  f: number;
  readonly pondId: number;
}

export interface RippleEvent {
  t: number;
  kind: 'ripple-start' | 'ripple-done' | 'ripple-fail';
  pond: string;
  ripple: string;
  f: number;
  readonly pondId: number;
  /** Index of the Ripple in `engine.topology.ripples` / `engine.ripples`. */
  readonly rippleId: number;
}

export type EngineEvent = PondStartEvent | PondEndEvent | RippleEvent;

/*
 * Why classes: drivers react to every event and should not pay two string-keyed Map lookups to find
 * the index the engine already had. The indices live in private fields behind getters, so they are
 * not own properties: JSON, spread, structural equality and logging see exactly the plain event
 * shape they always saw (and indices, which change with the topology, never leak into stored data).
 */
/** The Pond index every event carries, kept off the event's own properties. */
class EventRecord {
  readonly #pondId: number;

  constructor(pondId: number) {
    this.#pondId = pondId;
  }

  get pondId(): number {
    return this.#pondId;
  }
}

class PondStartRecord extends EventRecord implements PondStartEvent {
  readonly kind = 'pond-start';

  constructor(
    public t: number,
    public pond: string,
    public f: number,
    public pull: boolean,
    public force: boolean,
    public refresh: boolean,
    public sourcesChanged: boolean,
    public pass: boolean,
    pondId: number,
  ) {
    super(pondId);
  }
}

class PondEndRecord extends EventRecord implements PondEndEvent {
  constructor(
    public t: number,
    public kind: PondEndEvent['kind'],
    public pond: string,
    public f: number,
    pondId: number,
  ) {
    super(pondId);
  }
}

class RippleRecord extends EventRecord implements RippleEvent {
  readonly #rippleId: number;

  constructor(
    public t: number,
    public kind: RippleEvent['kind'],
    public pond: string,
    public ripple: string,
    public f: number,
    pondId: number,
    rippleId: number,
  ) {
    super(pondId);
    this.#rippleId = rippleId;
  }

  get rippleId(): number {
    return this.#rippleId;
  }
}

/** Thrown for calls naming an unknown Pond or Ripple, or a malformed argument. */
export class EngineError extends Error {}

const OP_RECEIVE_PULL = 0;
const OP_SET_POND_PULL = 1;
const OP_SET_RIPPLE_PULL = 2;

function newPondState(): PondState {
  return {
    startF: NEVER,
    endF: NEVER,
    D: 0,
    hasPull: false,
    pullLocal: false,
    targets: [],
    isKilled: false,
    isBlocked: false,
    changedF: NEVER,
    pullM: NEVER,
    isFailed: false,
    failedF: NEVER,
    failures: 0,
    forcePending: false,
    refreshPending: false,
    runsStarted: 0,
    runsCompleted: 0,
  };
}

function newRippleState(): RippleState {
  return {
    startF: NEVER,
    endF: NEVER,
    hasPull: false,
    targets: [],
    isRunning: false,
    runsStarted: 0,
    runsCompleted: 0,
  };
}

function minOf(xs: readonly number[]): number {
  let m = Number.POSITIVE_INFINITY;
  for (const x of xs) if (x < m) m = x;
  return m;
}

function maxOf(xs: readonly number[]): number {
  let m = NEVER;
  for (const x of xs) if (x > m) m = x;
  return m;
}

/** `xs = xs.filter((x) => x > f)` in place: targets are pruned on every start, so no new array. */
function keepAbove(xs: number[], f: number): void {
  const n = xs.length;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    if (x > f) xs[k++] = x;
  }
  if (k < n) xs.length = k;
}

type StandingTrigger = Trigger & { seq: number };

export class Engine {
  readonly topology: CompiledTopology;
  readonly options: Readonly<Required<EngineOptions>>;
  readonly ponds: PondState[];
  readonly ripples: RippleState[];
  /** `topology.ponds[i].spec.name`, flat: names go into every event. */
  private readonly pondNames: string[];

  /** Standing triggers; Map order is the order they were first set, i.e. ascending `seq`. */
  private triggers = new Map<number, StandingTrigger>();
  /** The same triggers indexed by Pond, for the hot path. */
  private triggerOf: Array<StandingTrigger | undefined>;
  private triggerSeq = 0;
  /** Ponds with a Tide, kept in ascending `seq` (service order). */
  private tides: number[] = [];
  private events: EngineEvent[] = [];
  private pondQueue: PassQueue;
  private rippleQueue: PassQueue;
  /** Ponds whose state changed since the last trigger service (only these can newly be idle for a Wave). */
  private touched: IndexSet;
  private completedSinceService: IndexSet;
  /** Emptied sets that `serviceTriggers` swaps in, so servicing allocates nothing. */
  private spareTouched: IndexSet;
  private spareCompleted: IndexSet;
  /** Triggers due in the current service, reused between advances. */
  private due: number[] = [];
  /** Inlets holding demand that only the passage of time can let start. */
  private timeWaiters: IndexSet;
  private lastNow = NEVER;
  /** Window delay of the last `sourceF` call (avoids a tuple allocation on the hot path). */
  private lastDw = 0;
  /**
   * Source freshness found by the last `canStartPond` / `canStartRipple`: the start that follows it
   * immediately (nothing changes in between) reuses it instead of recomputing.
   */
  private checkedF = NEVER;
  /** Pull-walk work stack: `index * 4 + op` (small integers, so the array stays unboxed). */
  private opStack: number[] = [];
  private mStack: number[] = [];

  constructor(specs: readonly PondSpec[], options: EngineOptions = {}) {
    this.topology = compileTopology(specs);
    this.options = {
      passes: options.passes ?? false,
      pruneTargetsOnComplete: options.pruneTargetsOnComplete ?? false,
      mintedFreshness: options.mintedFreshness ?? false,
      scanAll: options.scanAll ?? false,
    };
    this.ponds = this.topology.ponds.map(newPondState);
    this.pondNames = this.topology.ponds.map((cp) => cp.spec.name);
    this.ripples = this.topology.ripples.map(newRippleState);
    this.pondQueue = new PassQueue(this.ponds.length);
    this.rippleQueue = new PassQueue(this.ripples.length);
    const n = this.ponds.length;
    this.triggerOf = new Array<StandingTrigger | undefined>(n).fill(undefined);
    this.touched = new IndexSet(n);
    this.completedSinceService = new IndexSet(n);
    this.spareTouched = new IndexSet(n);
    this.spareCompleted = new IndexSet(n);
    this.timeWaiters = new IndexSet(n);
  }

  // ───────────────────────────── lookups ─────────────────────────────

  pondId(name: string): number {
    const i = this.topology.pondIndex.get(name);
    if (i === undefined) throw new EngineError(`unknown pond "${name}"`);
    return i;
  }

  rippleId(pond: string, ripple: string): number {
    const r = this.topology.ponds[this.pondId(pond)]!.rippleIndex.get(ripple);
    if (r === undefined) throw new EngineError(`unknown ripple "${ripple}" in pond "${pond}"`);
    return r;
  }

  pondName(i: number): string {
    const name = this.pondNames[i];
    if (name === undefined) throw new EngineError(`unknown pond index ${i}`);
    return name;
  }

  pondState(name: string): Readonly<PondState> {
    return this.ponds[this.pondId(name)]!;
  }

  rippleState(pond: string, ripple: string): Readonly<RippleState> {
    return this.ripples[this.rippleId(pond, ripple)]!;
  }

  trigger(pond: string): Trigger | undefined {
    const t = this.triggers.get(this.pondId(pond));
    return t && { kind: t.kind, boundMs: t.boundMs };
  }

  /** Standing triggers in the order they were first set. */
  listTriggers(): Array<{ pond: string } & Trigger> {
    return [...this.triggers].map(([p, t]) => ({ pond: this.pondName(p), kind: t.kind, boundMs: t.boundMs }));
  }

  busy(p: number): boolean {
    for (const r of this.topology.ponds[p]!.ripples) if (this.ripples[r]!.isRunning) return true;
    return false;
  }

  status(pond: string): PondStatus {
    const p = this.pondId(pond);
    const s = this.ponds[p]!;
    if (s.isFailed) return 'failed';
    if (s.isKilled) return 'killed';
    if (s.isBlocked) return 'blocked';
    if (this.busy(p)) return 'running';
    if (s.hasPull || s.targets.length > 0) return 'queued';
    return 'idle';
  }

  /** Returns and clears the events produced since the last drain. */
  drain(): EngineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  // ───────────────────────────── triggers (§3.8) ─────────────────────────────

  /** Tap: pull once. Ignored while blocked; starts nothing until `advance`. */
  tap(pond: string, now: number): void {
    this.receivePull(this.pondId(pond), now);
  }

  /** Pulse: push a target (default `now`) to the Pond and every ancestor. */
  pulse(pond: string, now: number, target = now): void {
    this.addPondTarget(this.pondId(pond), target);
  }

  /** Sets the standing trigger (Wave or Tide), replacing the Pond's other one. */
  setTrigger(pond: string, trigger: Trigger): void {
    const p = this.pondId(pond);
    if (trigger.kind === 'tide' && !(trigger.boundMs > 0)) throw new EngineError('tide bound must be > 0');
    const prior = this.triggerOf[p];
    const t: StandingTrigger = {
      kind: trigger.kind,
      boundMs: trigger.kind === 'tide' ? trigger.boundMs : 0,
      seq: prior?.seq ?? ++this.triggerSeq,
    };
    this.triggers.set(p, t);
    this.triggerOf[p] = t;
    const wasTide = prior !== undefined && prior.kind === 'tide';
    if (t.kind === 'tide' && !wasTide) this.insertTide(p, t.seq);
    else if (t.kind !== 'tide' && wasTide) this.removeTide(p);
    this.touch(p);
  }

  /** Removes the standing trigger; demand already in the graph drains. */
  untrigger(pond: string): void {
    this.dropTrigger(this.pondId(pond));
  }

  private dropTrigger(p: number): void {
    const t = this.triggerOf[p];
    if (t === undefined) return;
    this.triggers.delete(p);
    this.triggerOf[p] = undefined;
    if (t.kind === 'tide') this.removeTide(p);
  }

  /** Keeps `tides` in `seq` order without rescanning every trigger (setup sets thousands). */
  private insertTide(p: number, seq: number): void {
    const tides = this.tides;
    let k = tides.length;
    while (k > 0 && this.triggerOf[tides[k - 1]!]!.seq > seq) k--;
    tides.splice(k, 0, p);
  }

  private removeTide(p: number): void {
    const k = this.tides.indexOf(p);
    if (k >= 0) this.tides.splice(k, 1);
  }

  // ───────────────────────────── control verbs (§3.10) ─────────────────────────────

  /** Drops demand on the Pond (and every ancestor with `upstream`) and cancels their standing triggers. */
  sleep(pond: string, _now: number, upstream = false): void {
    const start = this.pondId(pond);
    const seen = new Set<number>([start]);
    const queue = [start];
    for (let k = 0; k < queue.length; k++) {
      const p = queue[k]!;
      const s = this.ponds[p]!;
      s.hasPull = false;
      s.pullLocal = false;
      s.pullM = NEVER;
      // Our engine: a requested Force is a local recompute, not demand; it survives Sleep like
      // started runs do, or the Pond would be left with endF = never and strand its Sinks.
      s.targets = s.forcePending && s.targets.includes(NEVER) ? [NEVER] : [];
      for (const r of this.topology.ponds[p]!.ripples) this.ripples[r]!.hasPull = false;
      this.dropTrigger(p);
      this.touch(p);
      if (upstream) {
        for (const src of this.topology.ponds[p]!.sources) {
          if (!seen.has(src)) {
            seen.add(src);
            queue.push(src);
          }
        }
      }
    }
  }

  /** One-shot pull that does not solicit Sources; lifts a kill or failure. */
  wake(pond: string, now: number): void {
    const p = this.pondId(pond);
    this.clearHalt(p);
    const s = this.ponds[p]!;
    s.hasPull = true;
    s.pullLocal = true;
    if (now > s.pullM) s.pullM = now;
    this.touch(p);
  }

  /** Recompute now at the current source freshness; lifts a kill or failure. */
  force(pond: string, _now: number): void {
    const p = this.pondId(pond);
    this.clearHalt(p);
    const s = this.ponds[p]!;
    s.endF = NEVER;
    for (const r of this.topology.ponds[p]!.ripples) {
      this.ripples[r]!.endF = NEVER;
      this.touchRipple(r);
    }
    if (!s.targets.includes(NEVER)) s.targets.push(NEVER);
    s.forcePending = true;
    this.touch(p);
    this.touchSinks(p);
  }

  /** Cancels the in-flight run and parks the Pond in `killed` until Wake, Force or Clear. */
  kill(pond: string, _now: number): void {
    const p = this.pondId(pond);
    const s = this.ponds[p]!;
    s.isKilled = true;
    s.hasPull = false;
    s.pullLocal = false;
    s.pullM = NEVER;
    s.targets = [];
    for (const r of this.topology.ponds[p]!.ripples) {
      const rs = this.ripples[r]!;
      rs.isRunning = false;
      rs.hasPull = false;
      rs.targets = [];
      this.touchRipple(r);
    }
    this.touch(p);
    this.deriveBlocked(p);
  }

  /** Resets a killed or failed Pond to idle without running it. */
  clear(pond: string, _now: number): void {
    this.clearHalt(this.pondId(pond));
  }

  /** Marks (or unmarks) the next genuine run as a cold rebuild. */
  refresh(pond: string, _now: number, on = true): void {
    const p = this.pondId(pond);
    this.ponds[p]!.refreshPending = on;
    this.touch(p);
  }

  private clearHalt(p: number): void {
    const s = this.ponds[p]!;
    if (s.isKilled || s.isFailed) s.startF = s.endF;
    s.isKilled = false;
    s.isFailed = false;
    s.failedF = NEVER;
    s.failures = 0;
    this.touch(p);
    this.deriveBlocked(p);
  }

  // ───────────────────────────── Duck events ─────────────────────────────

  /**
   * A Ripple finished at freshness `f`. Idempotent: a completion at or below the Ripple's `endF` is
   * ignored, so replayed events change nothing. `changed=false` reports that the output did not change.
   */
  rippleCompleted(pond: string, ripple: string, f: number, now: number, changed = true): boolean {
    return this.rippleCompletedById(this.rippleId(pond, ripple), f, now, changed);
  }

  /**
   * `rippleCompleted` by Ripple index (`rippleId(pond, ripple)`, or the `rippleId` of its
   * `ripple-start` event): the same decision without the two name lookups.
   */
  rippleCompletedById(r: number, f: number, now: number, changed = true): boolean {
    const rs = this.ripples[r];
    if (rs === undefined) throw new EngineError(`unknown ripple index ${r}`);
    // A re-run at an already reached F (e.g. after Force) completes too; anything else at or below
    // endF is a replay.
    const current = rs.isRunning && f === rs.startF;
    if (!current && f <= rs.endF) return false;
    // The Duck decides which freshness a Ripple actually ran at; the model adopts it.
    rs.startF = f;
    this.completeRipple(r, now, changed);
    return true;
  }

  /**
   * A Ripple attempt failed and the Duck relaunches it inside the same run (immediate retry budget):
   * the Ripple stays running at the same freshness.
   */
  rippleRetried(pond: string, ripple: string, now: number): void {
    const r = this.rippleId(pond, ripple);
    const rs = this.ripples[r]!;
    if (!rs.isRunning) return;
    this.emitRipple('ripple-fail', r, now);
    rs.runsStarted++;
    this.emitRipple('ripple-start', r, now);
  }

  /** A Ripple gave up at freshness `f` (immediate budget exhausted): the Pond becomes failed. */
  rippleFailed(pond: string, ripple: string, f: number, now: number): void {
    const r = this.rippleId(pond, ripple);
    const rs = this.ripples[r]!;
    if (!(rs.isRunning && f === rs.startF) && f <= rs.endF) return;
    rs.isRunning = false;
    this.emitRipple('ripple-fail', r, now, f);
    this.touchRipple(r);
    this.markFailed(this.topology.ripples[r]!.pond, f, now);
  }

  /** The whole Pond Run failed (dead or silent Duck, contract violation). No-op when nothing is in flight. */
  pondFailed(pond: string, now: number): void {
    const p = this.pondId(pond);
    const s = this.ponds[p]!;
    if (s.startF <= s.endF) return;
    // The Duck is gone with its runs: the modelled Ripples stop and drop the targets those runs set,
    // or the model would restart work nobody is executing.
    for (const r of this.topology.ponds[p]!.ripples) {
      const rs = this.ripples[r]!;
      rs.isRunning = false;
      rs.targets = [];
      this.touchRipple(r);
    }
    this.markFailed(p, s.startF, now);
  }

  private markFailed(p: number, f: number, now: number): void {
    const s = this.ponds[p]!;
    if (f > s.failedF) s.failedF = f;
    s.failures++;
    s.isFailed = true;
    this.events.push(new PondEndRecord(now, 'pond-fail', this.pondNames[p]!, f, p));
    this.touch(p);
    this.deriveBlocked(p);
  }

  // ───────────────────────────── the advance loop (§3.16) ─────────────────────────────

  /** Services standing triggers, then starts every runnable Pond and Ripple to a fixpoint. */
  advance(now: number): EngineEvent[] {
    if (now > this.lastNow) {
      const waiters = this.timeWaiters;
      for (let k = 0; k < waiters.size; k++) this.pondQueue.mark(waiters.items[k]!);
      waiters.clear();
      this.lastNow = now;
    }
    this.serviceTriggers(now);
    this.startToFixpoint(now);
    return this.drain();
  }

  private serviceTriggers(now: number): void {
    // Servicing touches Ponds for the next service: swap in the emptied spares instead of new sets.
    const completed = this.completedSinceService;
    const touched = this.touched;
    this.completedSinceService = this.spareCompleted;
    this.touched = this.spareTouched;
    const due = this.due;
    let n = 0;
    if (this.options.scanAll) {
      for (const p of this.triggers.keys()) due[n++] = p;
    } else {
      const triggerOf = this.triggerOf;
      for (let k = 0; k < touched.size; k++) {
        const p = touched.items[k]!;
        const t = triggerOf[p];
        if (t !== undefined && t.kind === 'wave') due[n++] = p;
      }
      for (let k = 0; k < completed.size; k++) {
        const p = completed.items[k]!;
        const t = triggerOf[p];
        if (t !== undefined && t.kind === 'wave' && !touched.has(p)) due[n++] = p;
      }
      for (const p of this.tides) due[n++] = p;
      this.sortBySeq(due, n);
    }
    for (let k = 0; k < n; k++) {
      const p = due[k]!;
      const t = this.triggerOf[p]!;
      if (t.kind === 'wave') {
        if (completed.has(p) || this.idleForWave(p)) this.receivePull(p, now);
      } else {
        const s = this.ponds[p]!;
        // A pending target is already a wall-clock stamp; only startF carries the window delay (S23).
        const staleness = s.targets.length > 0 ? now - maxOf(s.targets) : now + s.D - s.startF;
        if (staleness >= t.boundMs) this.addPondTarget(p, now);
      }
    }
    completed.clear();
    touched.clear();
    this.spareCompleted = completed;
    this.spareTouched = touched;
  }

  /** Sorts `due[0, n)` by trigger `seq` (unique per Pond, so the order is total). */
  private sortBySeq(due: number[], n: number): void {
    if (n < 2) return;
    const triggerOf = this.triggerOf;
    if (n > 32) {
      due.length = n;
      due.sort((a, b) => triggerOf[a]!.seq - triggerOf[b]!.seq);
      return;
    }
    // Insertion sort: a handful of candidates per advance, often already in order.
    for (let i = 1; i < n; i++) {
      const p = due[i]!;
      const seq = triggerOf[p]!.seq;
      let j = i - 1;
      while (j >= 0 && triggerOf[due[j]!]!.seq > seq) {
        due[j + 1] = due[j]!;
        j--;
      }
      due[j + 1] = p;
    }
  }

  private idleForWave(p: number): boolean {
    const s = this.ponds[p]!;
    return s.startF === s.endF && !s.hasPull && s.targets.length === 0 && !this.busy(p);
  }

  private startToFixpoint(now: number): void {
    const pq = this.pondQueue;
    const rq = this.rippleQueue;
    for (;;) {
      if (this.options.scanAll) {
        pq.markAll();
        rq.markAll();
      }
      let started = false;
      pq.beginPass();
      for (let p = pq.take(); p >= 0; p = pq.take()) {
        if (this.canStartPond(p, now)) {
          this.startPondRun(p, now);
          started = true;
        }
      }
      rq.beginPass();
      for (let r = rq.take(); r >= 0; r = rq.take()) {
        if (this.canStartRipple(r)) {
          this.startRipple(r, now);
          started = true;
        }
      }
      // A pass that starts nothing changes nothing, so it cannot have marked anything either.
      if (!started) return;
    }
  }

  /**
   * The next instant after `now` at which time alone could change a decision (a window opening, a
   * Tide deadline, an Inlet waiting for the clock to move), or null if only events can.
   */
  nextWakeAt(now: number): number | null {
    let best = Number.POSITIVE_INFINITY;
    const waiters = this.timeWaiters;
    for (let k = 0; k < waiters.size; k++) {
      const p = waiters.items[k]!;
      const windows = this.topology.ponds[p]!.spec.windows;
      if (windows.length === 0) {
        best = Math.min(best, now + 1);
        continue;
      }
      for (const w of windows) {
        const open = nextOpen(w, now);
        if (open !== null) best = Math.min(best, open);
      }
    }
    // A Wave whose Pond completed after this advance serviced triggers (a pass, a Pond without
    // Ripples), or that sits idle, re-taps at the next instant.
    const completed = this.completedSinceService;
    for (let k = 0; k < completed.size; k++) {
      if (this.triggerOf[completed.items[k]!]?.kind === 'wave') best = Math.min(best, now + 1);
    }
    const touched = this.touched;
    for (let k = 0; k < touched.size; k++) {
      const p = touched.items[k]!;
      if (this.triggerOf[p]?.kind === 'wave' && !this.ponds[p]!.isBlocked && this.idleForWave(p)) {
        best = Math.min(best, now + 1);
      }
    }
    for (const p of this.tides) {
      const s = this.ponds[p]!;
      if (s.isBlocked) continue;
      const bound = this.triggerOf[p]!.boundMs;
      let due = s.targets.length > 0 ? maxOf(s.targets) + bound : s.startF + bound - s.D;
      // A target at or below endF is refused, so a windowed chain waits for the clock to pass endF.
      if (due <= s.endF) due = s.endF + 1;
      if (due <= now) due = now + 1;
      best = Math.min(best, due);
    }
    return best === Number.POSITIVE_INFINITY ? null : best;
  }

  // ───────────────────────────── source freshness (§3.2) ─────────────────────────────

  private sourceF(p: number, now: number): number | null {
    const cp = this.topology.ponds[p]!;
    this.lastDw = 0;
    if (cp.sources.length === 0) {
      const windows = cp.spec.windows;
      if (windows.length === 0) return now;
      let best: number | null = null;
      for (const w of windows) {
        const end = activeEnd(w, now);
        if (end !== null && (best === null || end < best)) {
          best = end;
          this.lastDw = w.durationMs;
        }
      }
      return best;
    }
    if (cp.requiredSources.length > 0) {
      let f = Number.POSITIVE_INFINITY;
      for (const s of cp.requiredSources) {
        const e = this.ponds[s]!.endF;
        if (e < f) f = e;
      }
      return f;
    }
    let f = NEVER;
    for (const s of cp.sources) {
      const e = this.ponds[s]!.endF;
      if (e > f) f = e;
    }
    return f;
  }

  private rippleSourceF(r: number): number {
    const cr = this.topology.ripples[r]!;
    if (cr.parents.length === 0) return this.ponds[cr.pond]!.startF;
    if (cr.requiredParents.length > 0) {
      let f = Number.POSITIVE_INFINITY;
      for (const q of cr.requiredParents) {
        const e = this.ripples[q]!.endF;
        if (e < f) f = e;
      }
      return f;
    }
    let f = NEVER;
    for (const q of cr.parents) {
      const e = this.ripples[q]!.endF;
      if (e > f) f = e;
    }
    return f;
  }

  // ───────────────────────────── demand propagation (§3.3, §3.4) ─────────────────────────────

  /**
   * receivePull / setPondPull / setRipplePull as one iterative walk (deep graphs must not overflow the
   * stack). The walk only sets flags guarded by state it does not change, so its order cannot matter.
   */
  private receivePull(p: number, m: number): void {
    this.pullWalk(OP_RECEIVE_PULL, p, m);
  }

  private pullWalk(op0: number, i0: number, m0: number): void {
    // Not re-entrant (touching never walks), so the stacks start empty; they are indexed by `sp` and
    // never shrink, which keeps pushes from reallocating.
    const ops = this.opStack;
    const ms = this.mStack;
    let sp = 0;
    ops[sp] = i0 * 4 + op0;
    ms[sp++] = m0;
    while (sp > 0) {
      sp--;
      const code = ops[sp]!;
      const m = ms[sp]!;
      const op = code & 3;
      const i = code >>> 2;
      if (op === OP_RECEIVE_PULL) {
        const s = this.ponds[i]!;
        if (s.isBlocked) continue;
        const cp = this.topology.ponds[i]!;
        if (s.startF === s.endF) {
          for (let k = cp.ripples.length - 1; k >= 0; k--) {
            ops[sp] = cp.ripples[k]! * 4 + OP_SET_RIPPLE_PULL;
            ms[sp++] = m;
          }
          ops[sp] = i * 4 + OP_SET_POND_PULL;
          ms[sp++] = m;
        } else {
          for (let k = cp.leaves.length - 1; k >= 0; k--) {
            ops[sp] = cp.leaves[k]! * 4 + OP_SET_RIPPLE_PULL;
            ms[sp++] = m;
          }
        }
      } else if (op === OP_SET_POND_PULL) {
        const s = this.ponds[i]!;
        if (m > s.pullM) s.pullM = m;
        if (s.hasPull) continue;
        s.hasPull = true;
        this.touch(i);
        // Our engine: a blocked Pond solicits nothing, also through Ripple-level cascades (S38).
        if (s.isBlocked) continue;
        const srcs = this.topology.ponds[i]!.sources;
        for (let k = srcs.length - 1; k >= 0; k--) {
          const src = srcs[k]!;
          if (this.ponds[src]!.startF <= s.startF) {
            ops[sp] = src * 4 + OP_RECEIVE_PULL;
            ms[sp++] = m;
          }
        }
      } else {
        const rs = this.ripples[i]!;
        if (rs.hasPull) continue;
        rs.hasPull = true;
        this.touchRipple(i);
        const cr = this.topology.ripples[i]!;
        if (cr.parents.length === 0) {
          ops[sp] = cr.pond * 4 + OP_SET_POND_PULL;
          ms[sp++] = m;
        } else {
          for (let k = cr.parents.length - 1; k >= 0; k--) {
            const q = cr.parents[k]!;
            if (this.ripples[q]!.startF <= rs.startF) {
              ops[sp] = q * 4 + OP_SET_RIPPLE_PULL;
              ms[sp++] = m;
            }
          }
        }
      }
    }
  }

  private addPondTarget(p0: number, T: number): void {
    const stack = [p0];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const s = this.ponds[p]!;
      if (s.isBlocked) continue;
      if (T <= s.endF || s.targets.includes(T)) continue;
      s.targets.push(T);
      this.touch(p);
      const srcs = this.topology.ponds[p]!.sources;
      for (let k = srcs.length - 1; k >= 0; k--) stack.push(srcs[k]!);
    }
  }

  private addRippleTarget(r: number, T: number): void {
    const rs = this.ripples[r]!;
    if (T <= rs.endF || rs.targets.includes(T)) return;
    rs.targets.push(T);
    this.touchRipple(r);
  }

  // ───────────────────────────── starting runs (§3.5, §3.6) ─────────────────────────────

  private canStartPond(p: number, now: number): boolean {
    const s = this.ponds[p]!;
    if (s.isKilled) return false;
    const F = this.sourceF(p, now);
    if (F !== null) this.checkedF = F;
    let ok = false;
    // Our engine: nothing can be computed from Sources that never completed, not even for Force
    // (the prior art started such a run and it never completed).
    if (F !== null && F !== NEVER) {
      if (s.isFailed) {
        ok = s.failedF !== NEVER && s.failures <= this.topology.ponds[p]!.spec.sourceRetries && F > s.startF;
      } else {
        ok = (s.targets.length > 0 && F >= minOf(s.targets)) || (s.hasPull && F > s.startF);
      }
    }
    if (
      !ok &&
      this.topology.ponds[p]!.sources.length === 0 &&
      (s.hasPull || s.targets.length > 0 || s.isFailed)
    ) {
      this.timeWaiters.add(p);
    }
    return ok;
  }

  private startPondRun(p: number, now: number): void {
    const cp = this.topology.ponds[p]!;
    const s = this.ponds[p]!;
    // Called only right after `canStartPond(p)` accepted, which left F and its window delay behind.
    let F = this.checkedF;
    const dw = this.lastDw;
    const priorF = s.startF;
    const asPull = s.hasPull;
    if (asPull && !s.isBlocked && !s.pullLocal) {
      for (const src of cp.sources) this.receivePull(src, now);
    }
    if (this.options.mintedFreshness && cp.sources.length === 0 && cp.spec.windows.length === 0) {
      let minted = NEVER;
      for (const t of s.targets) if (t > minted) minted = t;
      if (asPull && s.pullM > minted) minted = s.pullM;
      if (minted > NEVER) F = minted;
    }
    s.startF = F;
    s.hasPull = false;
    s.pullLocal = false;
    s.pullM = NEVER;
    if (s.targets.length > 0) keepAbove(s.targets, F);
    if (cp.sources.length === 0) {
      s.D = dw;
    } else {
      let d = NEVER;
      for (const src of cp.sources) {
        const ss = this.ponds[src]!;
        if (ss.endF === F && ss.D > d) d = ss.D;
      }
      if (d > NEVER) s.D = d;
    }
    s.runsStarted++;
    let sourcesChanged = false;
    for (const src of cp.sources) {
      const ss = this.ponds[src]!;
      if ((ss.changedF > NEVER ? ss.changedF : ss.endF) > priorF) sourcesChanged = true;
    }
    const mustRun = cp.sources.length === 0 || cp.spec.alwaysRun || s.forcePending || s.refreshPending;
    const pass = this.options.passes && !mustRun && !sourcesChanged;
    this.events.push(
      new PondStartRecord(
        now,
        this.pondNames[p]!,
        F,
        asPull,
        s.forcePending,
        s.refreshPending,
        sourcesChanged,
        pass,
        p,
      ),
    );
    s.forcePending = false;
    s.refreshPending = false;
    this.touch(p);
    if (pass) {
      for (const r of cp.ripples) {
        const rs = this.ripples[r]!;
        rs.startF = F;
        rs.endF = F;
        rs.isRunning = false;
        if (rs.targets.length > 0) keepAbove(rs.targets, F);
        this.touchRipple(r);
      }
      this.completePondRun(p, F, false, now, 'pond-pass');
      return;
    }
    for (const r of cp.ripples) {
      this.addRippleTarget(r, F);
      this.touchRipple(r);
    }
    // Our engine: a Pond without Ripples completes the instant it starts (S39).
    if (cp.ripples.length === 0) this.completePondRun(p, F, true, now, 'pond-done');
  }

  private canStartRipple(r: number): boolean {
    const rs = this.ripples[r]!;
    if (rs.isRunning) return false;
    const F = this.rippleSourceF(r);
    this.checkedF = F;
    if (rs.targets.length > 0 && F >= minOf(rs.targets)) return true;
    return rs.hasPull && F > rs.startF;
  }

  private startRipple(r: number, now: number): void {
    const rs = this.ripples[r]!;
    // Called only right after `canStartRipple(r)` accepted.
    const F = this.checkedF;
    rs.startF = F;
    rs.isRunning = true;
    rs.runsStarted++;
    this.emitRipple('ripple-start', r, now);
    if (rs.hasPull) {
      for (const q of this.topology.ripples[r]!.parents) this.pullWalk(OP_SET_RIPPLE_PULL, q, now);
      rs.hasPull = false;
    }
    if (rs.targets.length > 0) keepAbove(rs.targets, F);
    this.touchRipple(r);
  }

  // ───────────────────────────── completing runs (§3.7) ─────────────────────────────

  private completeRipple(r: number, now: number, changed: boolean): void {
    const rs = this.ripples[r]!;
    rs.endF = rs.startF;
    rs.isRunning = false;
    rs.runsCompleted++;
    this.emitRipple('ripple-done', r, now);
    this.touchRipple(r);
    const p = this.topology.ripples[r]!.pond;
    let newEnd = Number.POSITIVE_INFINITY;
    for (const leaf of this.topology.ponds[p]!.leaves) {
      const e = this.ripples[leaf]!.endF;
      if (e < newEnd) newEnd = e;
    }
    if (newEnd > this.ponds[p]!.endF) this.completePondRun(p, newEnd, changed, now, 'pond-done');
  }

  private completePondRun(
    p: number,
    endF: number,
    changed: boolean,
    now: number,
    kind: 'pond-done' | 'pond-pass',
  ): void {
    const s = this.ponds[p]!;
    s.endF = endF;
    if (changed) s.changedF = endF;
    if (this.options.pruneTargetsOnComplete && s.targets.length > 0) keepAbove(s.targets, endF);
    s.runsCompleted++;
    this.events.push(new PondEndRecord(now, kind, this.pondNames[p]!, endF, p));
    if (s.isFailed && endF > s.failedF) {
      s.isFailed = false;
      s.failedF = NEVER;
      s.failures = 0;
      this.deriveBlocked(p);
    }
    this.completedSinceService.add(p);
    this.touch(p);
    this.touchSinks(p);
  }

  // ───────────────────────────── blocking (§3.11) ─────────────────────────────

  private deriveBlocked(p0: number): void {
    const stack = [p0];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const s = this.ponds[p]!;
      let b = s.isFailed || s.isKilled;
      if (!b) {
        for (const src of this.topology.ponds[p]!.requiredSources) {
          const ss = this.ponds[src]!;
          if (ss.isFailed || ss.isBlocked || ss.isKilled) {
            b = true;
            break;
          }
        }
      }
      if (b !== s.isBlocked) {
        s.isBlocked = b;
        this.touch(p);
        const sinks = this.topology.ponds[p]!.requiredSinks;
        for (let k = sinks.length - 1; k >= 0; k--) stack.push(sinks[k]!);
      }
    }
  }

  /**
   * Recomputes every Pond's blocked bit from its own flags and its required Sources, Sources first.
   * Needed after the topology changes under existing state (a redeploy that adds or drops a Source).
   */
  rederiveBlocked(): void {
    const order = topologicalOrder(this.topology);
    for (const p of order) {
      const s = this.ponds[p]!;
      let b = s.isFailed || s.isKilled;
      for (const src of this.topology.ponds[p]!.requiredSources) {
        const ss = this.ponds[src]!;
        if (ss.isFailed || ss.isBlocked || ss.isKilled) b = true;
      }
      if (b !== s.isBlocked) {
        s.isBlocked = b;
        this.touch(p);
      }
    }
  }

  // ───────────────────────────── bookkeeping ─────────────────────────────

  private touch(p: number): void {
    this.touched.add(p);
    this.pondQueue.mark(p);
  }

  private touchSinks(p: number): void {
    for (const q of this.topology.ponds[p]!.sinks) this.pondQueue.mark(q);
  }

  private touchRipple(r: number): void {
    this.rippleQueue.mark(r);
    for (const c of this.topology.ripples[r]!.children) this.rippleQueue.mark(c);
    this.touched.add(this.topology.ripples[r]!.pond);
  }

  private emitRipple(
    kind: 'ripple-start' | 'ripple-done' | 'ripple-fail',
    r: number,
    now: number,
    f?: number,
  ): void {
    const cr = this.topology.ripples[r]!;
    this.events.push(
      new RippleRecord(
        now,
        kind,
        this.pondNames[cr.pond]!,
        cr.name,
        f ?? this.ripples[r]!.startF,
        cr.pond,
        r,
      ),
    );
  }

  // ───────────────────────────── persistence ─────────────────────────────

  /** A JSON-safe copy of the whole run state (freshness "never" is written as null). */
  snapshot(): EngineSnapshot {
    const enc = (f: number): number | null => (f === NEVER ? null : f);
    return {
      format: 1,
      clock: enc(this.lastNow),
      ponds: this.ponds.map((s, i) => ({
        ...s,
        name: this.pondName(i),
        startF: enc(s.startF),
        endF: enc(s.endF),
        changedF: enc(s.changedF),
        pullM: enc(s.pullM),
        failedF: enc(s.failedF),
        targets: s.targets.map(enc),
      })),
      ripples: this.ripples.map((s, i) => ({
        ...s,
        pond: this.pondName(this.topology.ripples[i]!.pond),
        name: this.topology.ripples[i]!.name,
        startF: enc(s.startF),
        endF: enc(s.endF),
        targets: s.targets.map(enc),
      })),
      triggers: [...this.triggers].map(([p, t]) => ({
        pond: this.pondName(p),
        kind: t.kind,
        boundMs: t.boundMs,
      })),
      completedSinceService: this.completedSinceService.toArray().map((p) => this.pondName(p)),
    };
  }

  /** Rebuilds an engine from a snapshot; continuing it is indistinguishable from never having stopped. */
  static restore(specs: readonly PondSpec[], snap: EngineSnapshot, options: EngineOptions = {}): Engine {
    const e = new Engine(specs, options);
    const dec = (f: number | null): number => (f === null ? NEVER : f);
    for (const ps of snap.ponds) {
      const i = e.topology.pondIndex.get(ps.name);
      if (i === undefined) continue;
      const { name: _n, ...rest } = ps;
      Object.assign(e.ponds[i]!, rest, {
        startF: dec(ps.startF),
        endF: dec(ps.endF),
        changedF: dec(ps.changedF),
        pullM: dec(ps.pullM),
        failedF: dec(ps.failedF),
        targets: ps.targets.map(dec),
      });
    }
    for (const rs of snap.ripples) {
      const p = e.topology.pondIndex.get(rs.pond);
      const r = p === undefined ? undefined : e.topology.ponds[p]!.rippleIndex.get(rs.name);
      if (r === undefined) continue;
      const { pond: _p, name: _n, ...rest } = rs;
      Object.assign(e.ripples[r]!, rest, {
        startF: dec(rs.startF),
        endF: dec(rs.endF),
        targets: rs.targets.map(dec),
      });
    }
    for (const t of snap.triggers) {
      if (e.topology.pondIndex.has(t.pond)) e.setTrigger(t.pond, { kind: t.kind, boundMs: t.boundMs });
    }
    for (const name of snap.completedSinceService) {
      const i = e.topology.pondIndex.get(name);
      if (i !== undefined) e.completedSinceService.add(i);
    }
    e.lastNow = dec(snap.clock);
    // Work lists are an optimisation: marking everything reproduces what a full scan would decide.
    e.pondQueue.markAll();
    e.rippleQueue.markAll();
    for (let i = 0; i < e.ponds.length; i++) {
      e.touched.add(i);
      if (e.topology.ponds[i]!.sources.length === 0) e.timeWaiters.add(i);
    }
    return e;
  }
}

/** Pond indices with every Source before its Sinks (Kahn's algorithm; the topology is acyclic). */
function topologicalOrder(t: CompiledTopology): number[] {
  const indegree = t.ponds.map((p) => p.sources.length);
  const order: number[] = [];
  for (let i = 0; i < indegree.length; i++) if (indegree[i] === 0) order.push(i);
  for (let k = 0; k < order.length; k++) {
    for (const sink of t.ponds[order[k]!]!.sinks) {
      indegree[sink] = indegree[sink]! - 1;
      if (indegree[sink] === 0) order.push(sink);
    }
  }
  return order;
}

type Encoded<T> = { [K in keyof T]: T[K] extends number[] ? Array<number | null> : T[K] };

export interface EngineSnapshot {
  format: 1;
  clock: number | null;
  ponds: Array<
    Omit<Encoded<PondState>, 'startF' | 'endF' | 'changedF' | 'pullM' | 'failedF'> & {
      name: string;
      startF: number | null;
      endF: number | null;
      changedF: number | null;
      pullM: number | null;
      failedF: number | null;
    }
  >;
  ripples: Array<
    Omit<Encoded<RippleState>, 'startF' | 'endF'> & {
      pond: string;
      name: string;
      startF: number | null;
      endF: number | null;
    }
  >;
  triggers: Array<{ pond: string } & Trigger>;
  completedSinceService: string[];
}

export type { CompiledPond };
