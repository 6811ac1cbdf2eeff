/**
 * Duck supervision policy: one Duck per executing Pond major line, started on the line's first run,
 * kept warm while a standing trigger is active, stopped when idle. It also watches liveness: a Duck
 * that is gone, or that has been silent past the liveness window while a run is in flight, fails
 * that run through the engine's ordinary fault path.
 *
 * Silence counts from the Duck's last contact, and only once it has dialled in at all: a Duck that
 * was just launched (or adopted across a Catchment restart) first gets a start-up grace, because
 * starting a runtime and loading DuckDB on a busy machine (or a remote worker) can take far longer
 * than the liveness window. A Duck that never dials in within the grace is declared dead with a
 * reason saying so.
 *
 * Where Ducks run (processes, remote workers) is the fleet's business (fleet/fleet.ts); time comes
 * from the injected clock, so the policy is tested without processes or sleeps.
 */
import { type Clock, systemClock, type Timer } from '../shared/clock.js';
import type { DuckFleet, DuckInstance } from './fleet/fleet.js';

/** Default start-up grace: generous, since a cold start on a loaded machine takes seconds. */
export const DEFAULT_STARTUP_GRACE_MS = 60_000;

export interface SupervisorOptions {
  catchmentUrl: () => string;
  /** Silence (ms) after which a Duck with a run in flight is declared dead. */
  livenessMs: number;
  /**
   * How long (ms) a launched or adopted Duck may take to dial in before silence counts against it
   * (default: the larger of DEFAULT_STARTUP_GRACE_MS and livenessMs).
   */
  startupGraceMs?: number;
  /** Idle time (ms) after which a Duck with nothing to do and no standing trigger is stopped. */
  idleMs: number;
  fleet: DuckFleet;
  clock?: Clock;
}

export interface SupervisorHooks {
  /** Issues the token a new Duck must present (the Catchment keeps only its hash). */
  issueToken(line: string): string;
  /** A Duck was launched (record its id so a restarted Catchment can adopt it). */
  spawned(line: string, id: number | undefined): void;
  /** Is a run of this line in flight (engine startF > endF)? */
  inFlight(line: string): boolean;
  /** Should the Duck stay warm (standing trigger, queued jobs)? */
  keepWarm(line: string): boolean;
  /** The Duck is gone or silent while work was in flight. */
  duckLost(line: string, reason: string): void;
  log(msg: string, data?: Record<string, unknown>, level?: 'info' | 'warn'): void;
}

interface SupervisedDuck {
  instance: DuckInstance;
  line: string;
  /** When it was launched or adopted. */
  since: number;
  /** Null until the Duck first dials in: until then the start-up grace applies, not liveness. */
  lastContact: number | null;
  /** Last job handed out or event received: what "idle" is measured from (polls do not count). */
  lastWork: number;
  exited: boolean;
  stopping: boolean;
}

export class DuckSupervisor {
  private ducks = new Map<string, SupervisedDuck>();
  private ticker: Timer | null = null;
  private readonly clock: Clock;
  private readonly fleet: DuckFleet;
  private readonly startupGraceMs: number;

  constructor(
    private readonly opts: SupervisorOptions,
    private readonly hooks: SupervisorHooks,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.fleet = opts.fleet;
    this.startupGraceMs = opts.startupGraceMs ?? Math.max(DEFAULT_STARTUP_GRACE_MS, opts.livenessMs);
  }

  start(): void {
    this.ticker = this.clock
      .setInterval(() => this.check(this.clock.now()), Math.max(50, Math.min(1000, this.opts.livenessMs / 4)))
      .unref();
  }

  /** Launches the line's Duck unless one is alive. */
  ensure(line: string): void {
    const d = this.ducks.get(line);
    if (d && !d.exited && !d.stopping) {
      // An adopted Duck's exit is noticed only when looked at: look now, or the job just queued
      // waits for a Duck that is gone until the next check fails the run (simulation seed 1245757075).
      if (this.fleet.observe(d.instance) === 'running') return;
      d.exited = true;
      this.ducks.delete(line);
      this.hooks.log('duck exited', { line, duckPid: d.instance.id, how: 'gone' });
    }
    const token = this.hooks.issueToken(line);
    const now = this.clock.now();
    let duck: SupervisedDuck | undefined;
    const instance = this.fleet.launch({ line, catchmentUrl: this.opts.catchmentUrl(), token }, (how) => {
      if (duck) this.gone(duck, how);
    });
    duck = { instance, line, since: now, lastContact: null, lastWork: now, exited: false, stopping: false };
    this.ducks.set(line, duck);
    this.hooks.spawned(line, instance.id);
    this.hooks.log('duck spawned', { line, duckPid: instance.id });
  }

  /**
   * Takes over a Duck a previous Catchment process started: it keeps working across a Catchment
   * restart and dials back here (within the start-up grace).
   */
  adopt(line: string, id: number): boolean {
    const instance = this.fleet.adopt(line, id);
    if (!instance) return false;
    const now = this.clock.now();
    this.ducks.set(line, {
      instance,
      line,
      since: now,
      lastContact: null,
      lastWork: now,
      exited: false,
      stopping: false,
    });
    this.hooks.log('duck adopted', { line, duckPid: id });
    return true;
  }

  private gone(duck: SupervisedDuck, how: string): void {
    if (duck.exited) return;
    duck.exited = true;
    if (this.ducks.get(duck.line) === duck) this.ducks.delete(duck.line);
    this.hooks.log('duck exited', { line: duck.line, duckPid: duck.instance.id, how });
    if (!duck.stopping && this.hooks.inFlight(duck.line)) {
      this.hooks.duckLost(duck.line, `Duck process exited (${how}) during a run`);
    }
  }

  /** The Duck dialled in; `work` when it received jobs or reported events (not a bare poll). */
  contact(line: string, work = false): void {
    const d = this.ducks.get(line);
    if (!d) return;
    d.lastContact = this.clock.now();
    if (work) d.lastWork = d.lastContact;
  }

  pid(line: string): number | undefined {
    return this.ducks.get(line)?.instance.id;
  }

  /** Where the line's Duck runs (`local`, `remote:ENDPOINT`, `fallback:ENDPOINT`); null without one. */
  where(line: string): string | null {
    const d = this.ducks.get(line);
    if (!d) return null;
    return this.fleet.where?.(d.instance) ?? 'local';
  }

  /** Supervised Ducks; `lastContact` is the launch (or adoption) time until a Duck first dials in. */
  live(): Array<{ line: string; pid: number | undefined; lastContact: number }> {
    return [...this.ducks.values()].map((d) => ({
      line: d.line,
      pid: d.instance.id,
      lastContact: d.lastContact ?? d.since,
    }));
  }

  /** Stops a line's Duck (kill verb: `force`; a redeploy of a running line is NOT a reason: runs finish). */
  terminate(line: string, force = false): void {
    const d = this.ducks.get(line);
    if (!d || d.exited) return;
    d.stopping = true;
    this.fleet.signal(d.instance, force);
  }

  async stopAll(timeoutMs = 5000): Promise<void> {
    this.ticker?.cancel();
    this.ticker = null;
    await Promise.all(
      [...this.ducks.values()].map((d) => {
        if (d.exited) return undefined;
        d.stopping = true;
        return this.fleet.stop(d.instance, timeoutMs);
      }),
    );
    this.ducks.clear();
  }

  /** One supervision pass at `now` (the ticker runs it; exposed for deterministic tests). */
  check(now: number): void {
    for (const d of [...this.ducks.values()]) {
      if (!d.exited && this.fleet.observe(d.instance) === 'gone') this.gone(d, 'gone');
      if (d.exited || d.stopping) continue;
      if (this.hooks.inFlight(d.line)) {
        if (d.lastContact === null) {
          const waited = now - d.since;
          if (waited > this.startupGraceMs) {
            this.hooks.log(
              'duck missed start-up grace',
              {
                line: d.line,
                duckPid: d.instance.id,
                waitedMs: waited,
                startupGraceMs: this.startupGraceMs,
              },
              'warn',
            );
            this.declareDead(
              d,
              `Duck did not dial in within its start-up grace of ${Math.round(this.startupGraceMs / 1000)} s during a run`,
            );
          }
          continue;
        }
        const silent = now - d.lastContact;
        if (silent > this.opts.livenessMs) {
          this.hooks.log('duck silent past liveness window', { line: d.line, silentMs: silent }, 'warn');
          this.declareDead(d, `Duck silent for ${Math.round(silent / 1000)} s during a run`);
        }
      } else if (!this.hooks.keepWarm(d.line) && now - d.lastWork > this.opts.idleMs) {
        this.hooks.log('duck idle, stopping', { line: d.line });
        this.terminate(d.line);
      }
    }
  }

  private declareDead(d: SupervisedDuck, reason: string): void {
    d.stopping = true;
    this.fleet.signal(d.instance, true);
    this.hooks.duckLost(d.line, reason);
  }
}
