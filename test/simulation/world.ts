/**
 * The simulated world: one real Catchment (SQLite store in a temp dir, engine, orchestrator, job
 * queues, supervisor, DuckService) over a ManualClock and an in-memory fleet whose launches start
 * SimDucks. A seeded fault injector sits on the Duck → Catchment event path (lost requests, lost
 * answers, stale copies delivered again after newer ones), crashes Ducks (the fleet reports the exit)
 * and crashes the Catchment right after a batch was applied and saved, before the dispatches it caused
 * reach the job queues. A crashed Catchment is dropped without any shutdown (its timers and fleet
 * callbacks die with it) and a new one starts on the same root, fleet and clock.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckService } from '../../src/catchment/app/duck-service.js';
import { Catchment, type StoredManifest } from '../../src/catchment/catchment.js';
import type { DuckFleet, DuckInstance, DuckLaunch } from '../../src/catchment/fleet/fleet.js';
import type { DuckEvent } from '../../src/duck/protocol.js';
import type { EngineEvent } from '../../src/engine/engine.js';
import type { RippleSpec } from '../../src/engine/topology.js';
import type { Clock, Timer } from '../../src/shared/clock.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryFleet } from '../support/memory-fleet.js';
import { Rng } from '../support/prng.js';
import { edgeName, isOptional, type PondDoc } from '../support/random-graph.js';
import { emptyLedger, type Fate, SimDuck, type SimLedger } from './sim-duck.js';

export const STEP_MS = 100;

export interface Faults {
  drop: number;
  ackLost: number;
  replayLater: number;
  duckCrash: number;
  /** Chance, after each applied batch, that the Catchment crashes before dispatching. */
  catchmentCrash: number;
}

export const NO_FAULTS: Faults = { drop: 0, ackLost: 0, replayLater: 0, duckCrash: 0, catchmentCrash: 0 };

/** A process's view of the shared clock: when the process dies, its timers die with it. */
class ProcessClock implements Clock {
  private readonly timers = new Set<Timer>();
  dead = false;
  constructor(private readonly clock: ManualClock) {}
  now(): number {
    return this.clock.now();
  }
  setTimeout(fn: () => void, ms: number): Timer {
    return this.track(this.clock.setTimeout(() => this.dead || fn(), ms));
  }
  setInterval(fn: () => void, ms: number): Timer {
    return this.track(this.clock.setInterval(() => this.dead || fn(), ms));
  }
  kill(): void {
    this.dead = true;
    for (const t of this.timers) t.cancel();
  }
  private track(t: Timer): Timer {
    this.timers.add(t);
    return t;
  }
}

/** A Catchment process's handle on the shared fleet: a dead process launches nothing, hears no exits. */
class ProcessFleet implements DuckFleet {
  dead = false;
  constructor(private readonly fleet: MemoryFleet) {}
  launch(launch: DuckLaunch, exited: (how: string) => void): DuckInstance {
    if (this.dead) return { line: launch.line, id: undefined };
    return this.fleet.launch(launch, (how) => this.dead || exited(how));
  }
  adopt(line: string, id: number): DuckInstance | null {
    return this.fleet.adopt(line, id);
  }
  observe(instance: DuckInstance): 'running' | 'gone' {
    return this.fleet.observe(instance);
  }
  signal(instance: DuckInstance, force: boolean): void {
    if (!this.dead) this.fleet.signal(instance, force);
  }
  async stop(instance: DuckInstance): Promise<void> {
    if (!this.dead) await this.fleet.stop(instance);
  }
}

export const lineOf = (pond: string): string => `${pond}@1`;

export class World {
  readonly clock = new ManualClock();
  readonly fleet: MemoryFleet;
  readonly root = mkdtempSync(path.join(tmpdir(), 'duckstring-sim-'));
  catchment!: Catchment;
  private service: DuckService | null = null;
  private processClock!: ProcessClock;
  private processFleet!: ProcessFleet;
  readonly ducks: SimDuck[] = [];
  readonly ledgers = new Map<string, SimLedger>();
  private readonly ripples = new Map<string, RippleSpec[]>();
  private replays: Array<{ line: string; token: string; events: DuckEvent[]; at: number }> = [];
  faults: Faults = NO_FAULTS;
  /** Every engine event any Catchment incarnation observed, in order. */
  readonly events: EngineEvent[] = [];
  readonly stats = {
    catchmentCrashes: 0,
    stranded: 0,
    duckCrashes: 0,
    drops: 0,
    ackLost: 0,
    replays: 0,
    launches: 0,
  };
  readonly errors: string[] = [];

  constructor(
    readonly ponds: PondDoc[],
    private readonly rng: Rng,
  ) {
    this.fleet = new MemoryFleet((launch, instance) => this.launched(launch, instance));
    for (const p of ponds) {
      this.ripples.set(
        lineOf(p.name),
        p.ripples.map((r) => ({
          name: r.name,
          parents: r.parents.map((q) => ({ name: edgeName(q), optional: isOptional(q) })),
        })),
      );
    }
    this.boot();
    for (const p of ponds) {
      const manifest: StoredManifest = {
        name: p.name,
        version: '1.0.0',
        major: 1,
        sources: p.sources.map((s) => ({
          name: edgeName(s),
          major: 1,
          minVersion: '1.0.0',
          optional: isOptional(s),
        })),
        ripples: this.ripples.get(lineOf(p.name))!,
        immediateRetries: 0,
        sourceRetries: 0,
        tables: p.ripples.map((r) => r.name),
      };
      this.catchment.store.deploy({
        name: p.name,
        version: '1.0.0',
        checksum: createHash('sha256').update(p.name).digest('hex'),
        manifest: manifest as unknown as Record<string, never>,
        atMs: this.clock.now(),
      });
    }
    this.catchment.reloadTopology();
  }

  /** Starts a Catchment process on the root (the first one, or after a crash). */
  private boot(): void {
    const processClock = new ProcessClock(this.clock);
    this.processClock = processClock;
    this.processFleet = new ProcessFleet(this.fleet);
    this.catchment = new Catchment({
      root: this.root,
      clock: this.processClock,
      fleet: this.processFleet,
      livenessMs: 5_000,
      startupGraceMs: 10_000,
      idleMs: 3_600_000,
      log: (level, msg, data) => {
        // A crashed process's leftover promise work failing on its closed store is not a finding.
        if (level === 'error' && !processClock.dead) this.errors.push(`${msg} ${JSON.stringify(data)}`);
      },
    });
    this.catchment.onEvents((events) => this.events.push(...events));
    this.catchment.start('http://catchment.sim');
    this.service = new DuckService(this.catchment);
  }

  /**
   * The process dies: no shutdown, no more timers or fleet calls; what SQLite committed stays. Checks
   * on the way that nothing was decided without being saved (the saved engine state is the one in
   * memory), and counts the runs only the restart can save: in flight in the engine, yet neither
   * queued for nor known to a Duck (their begin-run was still between the save and the queue).
   */
  crashCatchment(): void {
    this.stats.catchmentCrashes++;
    const old = this.catchment;
    const inMemory = JSON.stringify(old.orchestrator.state.snapshot());
    const saved = JSON.stringify(old.store.loadEngineState()?.snapshot ?? null);
    if (saved !== inMemory)
      this.errors.push(`crash at ${this.clock.now()}: the saved engine state lags the one in memory`);
    for (const p of this.ponds) {
      const line = lineOf(p.name);
      const s = old.orchestrator.state.pondState(line);
      const ledger = this.ledgers.get(line);
      const duckKnows = (ledger?.runs.has(s.startF) || ledger?.published.includes(s.startF)) ?? false;
      if (s.startF > s.endF && !s.isFailed && !s.isKilled && old.jobs.depth(line) === 0 && !duckKnows)
        this.stats.stranded++;
    }
    this.processClock.kill();
    this.processFleet.dead = true;
    old.orchestrator.stop();
    old.jobs.close();
    old.store.close();
    this.service = null;
    this.boot();
  }

  private launched(launch: DuckLaunch, instance: DuckInstance): void {
    this.stats.launches++;
    const ledger = this.ledgers.get(launch.line) ?? emptyLedger();
    this.ledgers.set(launch.line, ledger);
    const net = {
      service: () => this.service,
      fate: () => this.fate(),
      replayLater: (line: string, token: string, events: DuckEvent[]) => {
        this.stats.replays++;
        this.replays.push({ line, token, events, at: this.clock.now() + this.rng.int(1, 20) * STEP_MS });
      },
      applied: () => {
        if (!this.rng.chance(this.faults.catchmentCrash)) return false;
        this.crashCatchment();
        return true;
      },
    };
    const duck = new SimDuck(
      launch.line,
      launch.token,
      instance,
      this.ripples.get(launch.line)!,
      ledger,
      new Rng(this.rng.int(0, 2 ** 31)),
      () => this.clock.now(),
      net,
      STEP_MS,
    );
    this.ducks.push(duck);
  }

  private fate(): Fate {
    const f = this.faults;
    const x = this.rng.next();
    if (x < f.drop) {
      this.stats.drops++;
      return 'drop';
    }
    if (x < f.drop + f.ackLost) {
      this.stats.ackLost++;
      return 'ack-lost';
    }
    if (x < f.drop + f.ackLost + f.replayLater) return 'deliver-and-replay-later';
    return 'deliver';
  }

  /** Moves time one step and lets every live Duck and the network act. */
  async step(): Promise<void> {
    this.clock.advance(STEP_MS);
    // Let the Catchment's asynchronous dispatches (per-line promise chains) reach the job queues.
    await new Promise((resolve) => setImmediate(resolve));
    for (const duck of this.ducks) {
      if (duck.alive && this.fleet.observe(duck.instance) === 'gone') duck.alive = false;
      if (duck.alive && this.rng.chance(this.faults.duckCrash)) {
        this.stats.duckCrashes++;
        duck.alive = false;
        this.fleet.exit(duck.instance, 'crashed');
        continue;
      }
      await duck.step();
    }
    const due = this.replays.filter((r) => r.at <= this.clock.now());
    this.replays = this.replays.filter((r) => r.at > this.clock.now());
    for (const r of due) {
      const at = r.line.lastIndexOf('@');
      const ref = { pond: r.line.slice(0, at), major: Number(r.line.slice(at + 1)) };
      try {
        this.service?.authenticate(ref, r.token);
      } catch {
        continue;
      }
      this.service?.report(ref, r.events);
    }
  }

  close(): void {
    this.processClock.kill();
    this.catchment.orchestrator.stop();
    this.catchment.jobs.close();
    this.catchment.store.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}
