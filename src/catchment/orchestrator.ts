/**
 * Drives the pure engine in real time for the Catchment: every external or Duck event is applied with
 * the wall clock's `now`, followed by one `advance`; the resulting "begin a Pond Run at F" decisions are
 * handed to the dispatcher, the state is persisted, and a single timer sleeps until the engine's next
 * time-driven instant (window boundary, Tide deadline). Nothing polls.
 */
import { Engine, type EngineEvent, type EngineOptions, type EngineSnapshot } from '../engine/engine.js';
import type { PondSpec } from '../engine/topology.js';
import { type Clock, systemClock, type Timer } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';

/** The Catchment is shutting down: the change was not applied (Ducks keep such events and replay them). */
export class OrchestratorStopped extends DomainError {
  constructor() {
    super({ code: 'unavailable', httpStatus: 503, message: 'the Catchment is shutting down', expose: true });
  }
}

/** The engine node of one Pond major line is its line id (re-exported for this module's importers). */
export { lineId, parseLineId } from '../shared/ids.js';

export interface BeginRun {
  line: string;
  f: number;
  force: boolean;
  refresh: boolean;
  sourcesChanged: boolean;
}

export interface OrchestratorHooks {
  now(): number;
  /** Carry out "begin a Pond Run at F" for a line (queue a job for its Duck). */
  dispatch(run: BeginRun): void;
  /** Save the engine state (called after every change, before any dispatch). */
  persist(snapshot: EngineSnapshot): void;
  /** Every engine event, for history, metrics and logs. */
  observe?(events: readonly EngineEvent[]): void;
  /** Whose timers wake the engine (default: the system's); a ManualClock drives windows and Tides. */
  clock?: Pick<Clock, 'setTimeout'>;
}

/** The longest the timer sleeps even when nothing is due, so a wrong clock cannot strand the engine. */
const MAX_SLEEP_MS = 60_000;

export class Orchestrator {
  private engine: Engine;
  private timer: Timer | null = null;
  private stopped = false;
  /** Inside `batch`: dispatches waiting for the batch's save. */
  private held: BeginRun[] | null = null;

  constructor(
    specs: readonly PondSpec[],
    snapshot: EngineSnapshot | null,
    private readonly hooks: OrchestratorHooks,
    private readonly options: EngineOptions = { passes: true, pruneTargetsOnComplete: true },
  ) {
    this.engine = snapshot ? Engine.restore(specs, snapshot, options) : new Engine(specs, options);
    this.engine.rederiveBlocked();
  }

  /** Read-only view for status endpoints. */
  get state(): Engine {
    return this.engine;
  }

  /** Starts the clock-driven part: runs one advance now and arms the wake-up timer. */
  start(): void {
    this.stopped = false;
    this.apply(() => {});
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  /**
   * Applies one change (a trigger, a control verb, a Duck event) and advances the engine. Errors thrown
   * by `change` (unknown names) propagate before anything is advanced, so state is unchanged.
   */
  apply<T>(change: (engine: Engine, now: number) => T): T {
    const now = this.hooks.now();
    if (this.stopped) throw new OrchestratorStopped();
    const result = change(this.engine, now);
    this.afterChange(now);
    return result;
  }

  /** Swaps in a new topology (deploy, windows, budgets) keeping every surviving node's state. */
  replaceTopology(specs: readonly PondSpec[]): void {
    // restore() maps state by name: new nodes start fresh, vanished nodes and their triggers drop out.
    this.engine = Engine.restore(specs, this.engine.snapshot(), this.options);
    this.engine.rederiveBlocked();
    this.afterChange(this.hooks.now());
  }

  /**
   * Applies several changes (a Duck's batch of events) with one save: each still advances the engine
   * at once, but the dispatches they cause wait until the single save at the end.
   */
  batch(work: () => void): void {
    if (this.held) {
      work();
      return;
    }
    this.held = [];
    try {
      work();
    } finally {
      const held = this.held;
      this.held = null;
      this.persist();
      for (const run of held) this.hooks.dispatch(run);
    }
  }

  private afterChange(now: number): void {
    const events = this.engine.advance(now);
    if (events.length > 0) this.hooks.observe?.(events);
    const runs: BeginRun[] = [];
    for (const e of events) {
      if (e.kind === 'pond-start' && !e.pass) {
        runs.push({
          line: e.pond,
          f: e.f,
          force: e.force,
          refresh: e.refresh,
          sourcesChanged: e.sourcesChanged,
        });
      }
    }
    if (this.held) this.held.push(...runs);
    else {
      this.persist();
      for (const run of runs) this.hooks.dispatch(run);
    }
    this.arm(now);
  }

  /**
   * Saves synchronously: a run is dispatched only once the decision to start it is durable, so a
   * Catchment that crashes right after dispatching re-dispatches it on restart instead of forgetting it.
   */
  private persist(): void {
    this.hooks.persist(this.engine.snapshot());
  }

  private arm(now: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    const wake = this.engine.nextWakeAt(now);
    const delay = wake === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(1, wake - now));
    this.timer = (this.hooks.clock ?? systemClock).setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.apply(() => {});
    }, delay);
    this.timer.unref();
  }
}
