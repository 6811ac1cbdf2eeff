/**
 * The push-only engine a Duck embeds for ONE Pond (engine.md §3.2 [R Duck rule], §3.6–3.7, §3.12-2, P19).
 *
 * The Catchment decides; the Duck only executes: `beginRun(F)` stamps target F on every Ripple, and the
 * Ripples are pushed to it with no pull, no triggers and no Sources. Several runs may be outstanding at
 * once, so roots run ahead of a slow leaf (intra-Pond pipelining). The Duck asks `takeStarts()` what to
 * launch and reports each outcome with `completed` / `failed`.
 *
 * Pure: no I/O, no clock, no randomness. Ripples are addressed by name (as the ledger and the deployed
 * code name them).
 */
import { EngineError, NEVER } from './engine.js';
import { type CompiledTopology, compileTopology, type RippleSpec, validateTopology } from './topology.js';

export interface DuckRippleState {
  /** Freshness of the latest launch (the run F it is reaching). */
  startF: number;
  /** Freshness of the latest successful completion. */
  endF: number;
  /** Pending run freshnesses this Ripple still has to reach. */
  targets: number[];
  isRunning: boolean;
  /** 1-based attempt number of the latest launch at `startF` (2+ after immediate retries). */
  attempt: number;
  runsStarted: number;
  runsCompleted: number;
  runsFailed: number;
  /** The latest attempt failed and was re-stamped: the relaunch at the same F is the next attempt. */
  retryPending: boolean;
}

export interface DuckStart {
  ripple: string;
  f: number;
  attempt: number;
}

export interface DuckCompletion {
  /** Pond Run freshnesses that became complete (every leaf has `endF ≥ F`), ascending. */
  runCompleted: number[];
}

export type DuckFailure = { retry: true; f: number } | { retry: false; runFailed: number; ripple: string };

export interface BeginRunOptions {
  /** Recompute even if already fresh to F (Force): every Ripple re-runs. */
  force?: boolean;
}

/** What a Duck's run ledger shows after a restart. */
export interface DuckLedger {
  /** Last completed freshness per Ripple name; a missing name or null means never. */
  endF: Record<string, number | null>;
  /** Runs that were begun but not reported complete or failed, with the run's immediate-retry budget. */
  runs: Array<{ f: number; immediateRetries: number }>;
}

type Encoded = Omit<DuckRippleState, 'startF' | 'endF' | 'targets'> & {
  startF: number | null;
  endF: number | null;
  targets: number[];
};

export interface DuckEngineSnapshot {
  format: 1;
  ripples: Array<{ name: string } & Encoded>;
  /** Outstanding runs and the immediate retries each has left. */
  runs: Array<{ f: number; retriesLeft: number }>;
}

function newRippleState(): DuckRippleState {
  return {
    startF: NEVER,
    endF: NEVER,
    targets: [],
    isRunning: false,
    attempt: 0,
    runsStarted: 0,
    runsCompleted: 0,
    runsFailed: 0,
    retryPending: false,
  };
}

function minOf(xs: readonly number[]): number {
  let m = Number.POSITIVE_INFINITY;
  for (const x of xs) if (x < m) m = x;
  return m;
}

function checkFreshness(f: number, what: string): void {
  if (typeof f !== 'number' || !Number.isFinite(f)) {
    throw new EngineError(`${what} must be a finite freshness (epoch ms), got ${String(f)}`);
  }
}

export class DuckEngine {
  readonly pond: string;
  private readonly topology: CompiledTopology;
  private readonly states: DuckRippleState[];
  /** Outstanding Pond Runs (begun, neither completed nor failed) → immediate retries left. */
  private readonly runs = new Map<number, number>();

  /** `pond` only names the Pond in error messages. Throws EngineError for an invalid Ripple graph. */
  constructor(ripples: readonly RippleSpec[], pond = 'pond') {
    const spec = {
      name: pond,
      sources: [],
      ripples: [...ripples],
      windows: [],
      immediateRetries: 0,
      sourceRetries: 0,
      alwaysRun: false,
    };
    const issues = validateTopology([spec], 'pond');
    if (issues.length > 0) {
      throw new EngineError(`invalid ripples of pond "${pond}": ${issues.map((i) => i.message).join('; ')}`);
    }
    // Deploy rejects zero-Ripple Ponds (S39); a Duck never runs one, and its runs could not complete.
    if (ripples.length === 0) throw new EngineError(`pond "${pond}" has no ripples`);
    this.pond = pond;
    this.topology = compileTopology([spec]);
    this.states = ripples.map(newRippleState);
  }

  // ───────────────────────────── queries ─────────────────────────────

  rippleNames(): string[] {
    return this.topology.ripples.map((r) => r.name);
  }

  rippleState(ripple: string): Readonly<DuckRippleState> {
    return this.states[this.rippleId(ripple)]!;
  }

  /** Freshnesses of the outstanding runs, ascending. */
  outstandingRuns(): number[] {
    return [...this.runs.keys()].sort((a, b) => a - b);
  }

  /** Immediate retries the outstanding run `f` has left, or undefined when no such run is outstanding. */
  retriesLeft(f: number): number | undefined {
    return this.runs.get(f);
  }

  /** True while a Ripple is running or a run is outstanding (the Duck's watchdog and idle timer read it). */
  hasWork(): boolean {
    return this.runs.size > 0 || this.states.some((s) => s.isRunning);
  }

  // ───────────────────────────── commands ─────────────────────────────

  /**
   * Begin a Pond Run at `f`: stamp target `f` on every Ripple not already fresh to it. A run seen for the
   * first time (not outstanding) gets `immediateRetries`; a duplicate of an outstanding run keeps the
   * budget it has left. A run that is already complete (a replayed command) changes nothing and returns
   * `runCompleted: [f]` so the Duck re-reports it; the Catchment treats completions idempotently.
   */
  beginRun(f: number, immediateRetries: number, options: BeginRunOptions = {}): DuckCompletion {
    checkFreshness(f, 'run freshness');
    if (!Number.isInteger(immediateRetries) || immediateRetries < 0) {
      throw new EngineError(
        `immediateRetries must be a non-negative integer, got ${String(immediateRetries)}`,
      );
    }
    if (options.force) {
      for (const s of this.states) s.endF = NEVER;
      this.runs.set(f, immediateRetries);
    } else if (this.leavesEndF() >= f) {
      return { runCompleted: [f] };
    } else if (!this.runs.has(f)) {
      this.runs.set(f, immediateRetries);
    }
    for (const s of this.states) {
      // A Ripple already running at (or beyond) f will reach it: a repeated command must not queue a
      // second execution.
      const reaching = s.isRunning && s.startF >= f && !options.force;
      if (f > s.endF && !reaching && !s.targets.includes(f)) s.targets.push(f);
    }
    return { runCompleted: [] };
  }

  /** Ripples that could be launched now, in declaration order (a query; changes nothing). */
  startable(): DuckStart[] {
    return this.startableIds().map(({ r, f }) => ({
      ripple: this.topology.ripples[r]!.name,
      f,
      attempt: this.nextAttempt(r, f),
    }));
  }

  /**
   * Marks every startable Ripple running and returns them; the Duck launches exactly these. One pass is a
   * fixpoint: a launch changes only the launched Ripple, never another Ripple's source freshness.
   */
  takeStarts(): DuckStart[] {
    return this.startableIds().map(({ r, f }) => {
      const s = this.states[r]!;
      s.attempt = this.nextAttempt(r, f);
      s.startF = f;
      s.isRunning = true;
      s.retryPending = false;
      s.runsStarted++;
      s.targets = s.targets.filter((t) => t > f);
      return { ripple: this.topology.ripples[r]!.name, f, attempt: s.attempt };
    });
  }

  /**
   * Ripple `ripple` finished its launch at `f`. Idempotent on F: a completion at or below the Ripple's
   * `endF` (a replay) changes nothing. Any other completion must match the running launch.
   */
  completed(ripple: string, f: number): DuckCompletion {
    const r = this.rippleId(ripple);
    checkFreshness(f, 'completion freshness');
    const s = this.states[r]!;
    if (f <= s.endF) return { runCompleted: [] };
    this.requireRunningAt(r, f);
    s.endF = f;
    s.isRunning = false;
    s.runsCompleted++;
    const reached = this.leavesEndF();
    const done = this.outstandingRuns().filter((F) => F <= reached);
    for (const F of done) this.runs.delete(F);
    return { runCompleted: done };
  }

  /**
   * Ripple `ripple`'s launch at `f` errored. With immediate retries left for run `f`, spend one and
   * re-stamp `f` on the Ripple (it relaunches within the same run, same F); otherwise the run gives up
   * and its budget is dropped.
   */
  failed(ripple: string, f: number): DuckFailure {
    const r = this.rippleId(ripple);
    checkFreshness(f, 'failure freshness');
    this.requireRunningAt(r, f);
    const s = this.states[r]!;
    s.isRunning = false;
    s.runsFailed++;
    const left = this.runs.get(f) ?? 0;
    if (left > 0) {
      this.runs.set(f, left - 1);
      if (f > s.endF && !s.targets.includes(f)) s.targets.push(f);
      s.retryPending = true;
      return { retry: true, f };
    }
    this.runs.delete(f);
    return { retry: false, runFailed: f, ripple };
  }

  // ───────────────────────────── persistence ─────────────────────────────

  /** JSON-safe state; freshness "never" is written as null. */
  toJSON(): DuckEngineSnapshot {
    const enc = (f: number): number | null => (f === NEVER ? null : f);
    return {
      format: 1,
      ripples: this.states.map((s, r) => ({
        name: this.topology.ripples[r]!.name,
        ...s,
        startF: enc(s.startF),
        endF: enc(s.endF),
        targets: [...s.targets],
      })),
      runs: this.outstandingRuns().map((f) => ({ f, retriesLeft: this.runs.get(f)! })),
    };
  }

  /** Rebuilds exactly the state `toJSON` captured. */
  static fromJSON(ripples: readonly RippleSpec[], snap: DuckEngineSnapshot, pond = 'pond'): DuckEngine {
    if (snap.format !== 1)
      throw new EngineError(`unsupported duck engine snapshot format ${String(snap.format)}`);
    const e = new DuckEngine(ripples, pond);
    const dec = (f: number | null): number => (f === null ? NEVER : f);
    const named = snap.ripples.map((rs) => [e.rippleId(rs.name), rs] as const);
    for (const [r, rs] of named) {
      const { name: _name, ...rest } = rs;
      Object.assign(e.states[r]!, rest, {
        startF: dec(rs.startF),
        endF: dec(rs.endF),
        targets: [...rs.targets],
      });
    }
    for (const run of snap.runs) e.runs.set(run.f, run.retriesLeft);
    return e;
  }

  /**
   * Recovery after a Duck restart: Ripples adopt the ledger's `endF` (nothing is running any more), then
   * every outstanding run is begun again, so only Ripples with `endF < F` re-run. Runs the ledger already
   * shows complete come back in `runCompleted` for the Duck to report.
   */
  static fromLedger(
    ripples: readonly RippleSpec[],
    ledger: DuckLedger,
    pond = 'pond',
  ): { engine: DuckEngine; runCompleted: number[] } {
    const e = new DuckEngine(ripples, pond);
    const endFs = Object.entries(ledger.endF).map(([name, f]) => {
      if (f !== null) checkFreshness(f, `ledger endF of ripple "${name}"`);
      return [e.rippleId(name), f === null ? NEVER : f] as const;
    });
    for (const [r, f] of endFs) {
      e.states[r]!.startF = f;
      e.states[r]!.endF = f;
    }
    const runCompleted: number[] = [];
    for (const run of [...ledger.runs].sort((a, b) => a.f - b.f)) {
      runCompleted.push(...e.beginRun(run.f, run.immediateRetries).runCompleted);
    }
    return { engine: e, runCompleted };
  }

  // ───────────────────────────── rules ─────────────────────────────

  private rippleId(name: string): number {
    const r = this.topology.ponds[0]!.rippleIndex.get(name);
    if (r === undefined) throw new EngineError(`unknown ripple "${name}" in pond "${this.pond}"`);
    return r;
  }

  private startableIds(): Array<{ r: number; f: number }> {
    const out: Array<{ r: number; f: number }> = [];
    for (let r = 0; r < this.states.length; r++) if (this.canStart(r)) out.push({ r, f: this.sourceF(r) });
    return out;
  }

  /** A root reaches for its oldest pending run (R Duck rule); others inherit from their parents (§3.2). */
  private sourceF(r: number): number {
    const cr = this.topology.ripples[r]!;
    if (cr.parents.length === 0) {
      const t = this.states[r]!.targets;
      return t.length > 0 ? minOf(t) : NEVER;
    }
    if (cr.requiredParents.length > 0) return minOf(cr.requiredParents.map((q) => this.states[q]!.endF));
    return Math.max(...cr.parents.map((q) => this.states[q]!.endF));
  }

  private canStart(r: number): boolean {
    const s = this.states[r]!;
    return !s.isRunning && s.targets.length > 0 && this.sourceF(r) >= minOf(s.targets);
  }

  private nextAttempt(r: number, f: number): number {
    const s = this.states[r]!;
    return s.retryPending && f === s.startF ? s.attempt + 1 : 1;
  }

  /** Min `endF` over the leaves: the freshness every leaf has reached. */
  private leavesEndF(): number {
    return minOf(this.topology.ponds[0]!.leaves.map((l) => this.states[l]!.endF));
  }

  private requireRunningAt(r: number, f: number): void {
    const s = this.states[r]!;
    if (!s.isRunning || s.startF !== f) {
      const name = this.topology.ripples[r]!.name;
      const now = s.isRunning ? `running at ${s.startF}` : 'not running';
      throw new EngineError(`ripple "${name}" in pond "${this.pond}" is ${now}, not at freshness ${f}`);
    }
  }
}
