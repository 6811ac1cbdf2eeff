/**
 * The Catchment: the control plane's core, independent of HTTP. It owns the store (duck.db), the
 * orchestrator (the engine in real time), the job queues Ducks poll, and the Duck supervisor; it turns
 * deployed Pond versions into the engine's topology and Duck events into engine events and history.
 */
import path from 'node:path';
import { DEFAULT_DUCK_UPLOAD_MAX_BYTES } from '../api/duck-data.js';
import type { DuckConfig, DuckEvent } from '../duck/protocol.js';
import type { EngineEvent } from '../engine/engine.js';
import type { PondSpec, RippleSpec } from '../engine/topology.js';
import type { GovernanceService } from '../governance/service.js';
import { type Clock, clockFrom, systemClock } from '../shared/clock.js';
import type { DuckFleet } from './fleet/fleet.js';
import { LocalProcessFleet } from './fleet/local-fleet.js';
import { RoutedDuckFleet } from './fleet/remote-fleet.js';
import { type GovernedInputs, InputsError } from './governed-inputs.js';
import { JobQueues } from './jobs.js';
import { lineId, Orchestrator, OrchestratorStopped, parseLineId } from './orchestrator.js';
import { CatchmentStore, ensureLineDirs } from './store/index.js';
import { DuckSupervisor } from './supervisor.js';

export interface CatchmentOptions {
  root: string;
  /** Silence after which a Duck with a run in flight is declared dead (default 60 s). */
  livenessMs?: number;
  /**
   * How long a launched Duck may take to dial in before silence counts against it (default: the
   * larger of 60 s and livenessMs).
   */
  startupGraceMs?: number;
  /** Idle time after which a Duck with no standing trigger is stopped (default 5 min). */
  idleMs?: number;
  /** A Duck with work but nothing running for this long reports itself failed (default 30 s). */
  watchdogMs?: number;
  /** Time for the engine, supervision and history (default: the system clock). */
  clock?: Clock;
  /** Only the time source, with the system's timers (older form of `clock`). */
  now?: () => number;
  /** Where Ducks run (default: local processes). */
  fleet?: DuckFleet;
  /**
   * How Ducks keep their lines (default `DUCKSTRING_DUCK_STORAGE`, else `local`): `local` in the
   * line's folders under the root, `http` in a work directory of their own, reaching published data
   * over the Duck data plane only (docs/remote-ducks.md). Until workers launch Ducks, `http` is a
   * switch for testing and preparing that setup with local processes.
   */
  duckStorage?: 'local' | 'http';
  /**
   * Parent of the work directories of http Ducks this Catchment launches, one folder per line
   * (default `DUCKSTRING_DUCK_WORKDIR`, else each Duck's own default, outside the root).
   */
  duckWorkDir?: string;
  /** Largest table upload from an http Duck, bytes (default `DUCKSTRING_DUCK_UPLOAD_MAX_BYTES`, else 4 GiB). */
  duckUploadMaxBytes?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
}

/** What a deployed version stores besides pond.toml: the Ripple graph the engine needs. */
export interface StoredManifest {
  name: string;
  version: string;
  major: number;
  sources: Array<{ name: string; major: number; minVersion: string; optional: boolean }>;
  ripples: RippleSpec[];
  immediateRetries: number;
  sourceRetries: number;
  /** Ripple names whose table is published (all by default). */
  tables: string[];
}

export type ControlVerb =
  | 'tap'
  | 'pulse'
  | 'wave'
  | 'tide'
  | 'untrigger'
  | 'wake'
  | 'force'
  | 'sleep'
  | 'kill'
  | 'clear'
  | 'refresh';

export type CatchmentEventListener = (events: readonly EngineEvent[]) => void;

export class Catchment {
  readonly store: CatchmentStore;
  readonly jobs = new JobQueues();
  readonly supervisor: DuckSupervisor;
  /** The default fleet: local Ducks, or remote ones once Pond-run routing is bound (null with `options.fleet`). */
  readonly routedFleet: RoutedDuckFleet | null;
  orchestrator!: Orchestrator;
  /** False until the engine is rebuilt from duck.db, and again once stopping begins. */
  ready = false;
  private url = '';
  readonly clock: Clock;
  private readonly now: () => number;
  private readonly livenessMs: number;
  private readonly watchdogMs: number;
  private listeners = new Set<CatchmentEventListener>();
  private publishedListeners = new Set<(name: string, major: number) => void>();
  private readonly log: NonNullable<CatchmentOptions['log']>;
  /** The policy deploys check; null until wired (then deploys create no principal). */
  governance: GovernanceService | null = null;
  /** Materialises runs' inputs; without it (no governance wired) runs get no Source inputs. */
  private inputs: GovernedInputs | null = null;
  /** Per line, the tail of its chain of asynchronous work (dispatches, input collection). */
  private readonly lineWork = new Map<string, Promise<void>>();
  /** Per line, the input files of each dispatched run not yet published (f → relative paths). */
  private readonly runInputs = new Map<string, Map<number, string[]>>();
  private stopping = false;
  /** How this Catchment's Ducks keep their lines (see CatchmentOptions.duckStorage). */
  readonly duckStorage: 'local' | 'http';
  readonly duckUploadMaxBytes: number;

  constructor(readonly options: CatchmentOptions) {
    const duckSettings = resolveDuckStorage(options);
    this.duckStorage = duckSettings.storage;
    this.duckUploadMaxBytes = duckSettings.maxUploadBytes;
    this.store = CatchmentStore.open(options.root);
    this.clock = options.clock ?? (options.now ? clockFrom(options.now) : systemClock);
    this.now = () => this.clock.now();
    this.livenessMs = options.livenessMs ?? 60_000;
    this.watchdogMs = options.watchdogMs ?? 30_000;
    this.log = options.log ?? (() => {});
    this.routedFleet = options.fleet
      ? null
      : new RoutedDuckFleet(
          new LocalProcessFleet({
            clock: this.clock,
            logFile: (line) => {
              const { name, major } = parseLineId(line);
              return path.join(ensureLineDirs(options.root, name, major).dir, 'duck.log');
            },
            ...(this.duckStorage === 'http'
              ? {
                  storage: 'http' as const,
                  ...(duckSettings.workDir
                    ? { workDir: (line: string) => path.join(duckSettings.workDir!, line) }
                    : {}),
                }
              : {}),
          }),
          { clock: this.clock },
        );
    this.supervisor = new DuckSupervisor(
      {
        catchmentUrl: () => this.url,
        livenessMs: this.livenessMs,
        ...(options.startupGraceMs !== undefined ? { startupGraceMs: options.startupGraceMs } : {}),
        idleMs: options.idleMs ?? 300_000,
        clock: this.clock,
        fleet: options.fleet ?? this.routedFleet!,
      },
      {
        issueToken: (line) => {
          const { name, major } = parseLineId(line);
          return this.store.registerDuck({
            pond: name,
            major,
            pid: null,
            state: 'starting',
            atMs: this.now(),
          }).token;
        },
        spawned: (line, pid) => {
          const { name, major } = parseLineId(line);
          if (pid) this.store.setDuckState(name, major, 'running', pid);
        },
        inFlight: (line) => this.inFlight(line),
        keepWarm: (line) => this.keepWarm(line),
        duckLost: (line, reason) => this.duckLost(line, reason),
        log: (msg, data, level = 'info') => this.log(level, msg, data),
      },
    );
  }

  /** Rebuilds the engine from duck.db and re-dispatches runs a previous process left in flight. */
  start(url: string): void {
    this.url = url;
    const saved = this.store.loadEngineState();
    this.orchestrator = new Orchestrator(this.specs(), saved?.snapshot ?? null, {
      now: this.now,
      clock: this.clock,
      dispatch: (run) => this.dispatch(run.line, run.f, run.force, run.refresh, run.sourcesChanged),
      persist: (snap) => this.store.saveEngineState(snap, this.now()),
      observe: (events) => this.observe(events),
    });
    const engine = this.orchestrator.state;
    // Ducks of the previous Catchment process keep working across its restart: adopt the live ones.
    for (const d of this.store.listDucks()) {
      if (d.pid !== null && d.state === 'running') this.supervisor.adopt(lineId(d.pond, d.major), d.pid);
    }
    for (const { name: line } of engine.topology.ponds.map((p) => p.spec)) {
      const s = engine.pondState(line);
      if (s.startF > s.endF && !s.isKilled && !s.isFailed) {
        this.log('info', 're-dispatching interrupted run', { line, f: s.startF });
        this.dispatch(line, s.startF, false, false, true);
      }
    }
    this.supervisor.start();
    this.orchestrator.start();
    this.ready = true;
  }

  /** Stops deciding and stops every Duck; the store stays open for requests still in flight. */
  async stopWork(): Promise<void> {
    this.ready = false;
    this.stopping = true;
    this.orchestrator?.stop();
    await Promise.allSettled([...this.lineWork.values()]);
    this.jobs.close();
    await this.supervisor.stopAll();
  }

  /**
   * Wires the policy in (set before `start`): deploys create and grant their line's principal, and
   * runs read their Sources through the policy (governed-inputs.ts).
   */
  useGovernance(governance: GovernanceService, inputs: GovernedInputs): void {
    this.governance = governance;
    this.inputs = inputs;
  }

  /** Called when a line published a new snapshot (e.g. to collect superseded files). */
  onPublished(listener: (name: string, major: number) => void): () => void {
    this.publishedListeners.add(listener);
    return () => this.publishedListeners.delete(listener);
  }

  onEvents(listener: CatchmentEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The engine topology from every selected line's stored manifest and operational config. */
  specs(): PondSpec[] {
    return this.store.listLineConfigs().map((cfg) => {
      const m = cfg.selected.manifest as unknown as StoredManifest;
      return {
        name: lineId(cfg.pond, cfg.major),
        sources: m.sources.map((s) => ({ name: lineId(s.name, s.major), optional: s.optional })),
        ripples: m.ripples,
        windows: cfg.windows,
        immediateRetries: cfg.budgets.immediateRetries,
        sourceRetries: cfg.budgets.sourceRetries,
        alwaysRun: false,
      };
    });
  }

  /** Re-reads the topology after a deploy or an operational change. */
  reloadTopology(): void {
    this.orchestrator.replaceTopology(this.specs());
  }

  // ───────────────────────────── triggers and control verbs ─────────────────────────────

  /** Applies one trigger or control verb to a line; unknown lines throw before anything changes. */
  control(line: string, verb: ControlVerb, opts: { boundMs?: number; upstream?: boolean } = {}): void {
    this.orchestrator.apply((engine, now) => {
      switch (verb) {
        case 'tap':
          return engine.tap(line, now);
        case 'pulse':
          return engine.pulse(line, now);
        case 'wave':
          return engine.setTrigger(line, { kind: 'wave', boundMs: 0 });
        case 'tide':
          return engine.setTrigger(line, { kind: 'tide', boundMs: opts.boundMs ?? 0 });
        case 'untrigger':
          return engine.untrigger(line);
        case 'wake':
          return engine.wake(line, now);
        case 'force':
          return engine.force(line, now);
        case 'sleep':
          return engine.sleep(line, now, opts.upstream ?? false);
        case 'kill': {
          const s = engine.pondState(line);
          engine.kill(line, now);
          if (s.startF > s.endF) {
            const { name, major } = parseLineId(line);
            this.store.finishPondRun(name, major, s.startF, {
              status: 'killed',
              atMs: now,
              error: 'killed by an operator',
            });
          }
          return;
        }
        case 'clear':
          return engine.clear(line, now);
        case 'refresh':
          return engine.refresh(line, now);
      }
    });
    if (verb === 'kill') {
      this.jobs.discard(line);
      this.supervisor.terminate(line, true);
    }
  }

  // ───────────────────────────── Duck protocol ─────────────────────────────

  duckConfig(line: string): DuckConfig {
    const { name, major } = parseLineId(line);
    const cfg = this.store.getLineConfig(name, major);
    const m = cfg.selected.manifest as unknown as StoredManifest;
    const common = {
      line,
      name,
      major,
      version: cfg.selected.version,
      sourceChecksum: cfg.selected.checksum,
      maxUploadBytes: this.duckUploadMaxBytes,
    };
    // An http Duck is told no path at all: it works in its own directory, over the data plane.
    const where =
      this.duckStorage === 'http'
        ? { storage: 'http' as const }
        : (() => {
            const paths = ensureLineDirs(this.options.root, name, major);
            return {
              storage: 'local' as const,
              codeDir: this.store.resolve(cfg.selected.sourcePath),
              registryPath: paths.registry,
              dataDir: paths.data,
              ledgerPath: paths.ledger,
            };
          })();
    return {
      ...common,
      ...where,
      ripples: m.ripples,
      immediateRetries: cfg.budgets.immediateRetries,
      // Ripples read their Sources only through the governed inputs each begin-run job carries
      // (governed-inputs.ts); a Duck is never told where a Source's raw snapshots are.
      sources: {},
      pollWaitMs: Math.max(100, Math.min(25_000, Math.floor(this.livenessMs / 3))),
      watchdogMs: this.watchdogMs,
    };
  }

  /** Applies a batch of Duck events in order; each is idempotent, so replays change nothing. */
  duckEvents(line: string, events: readonly DuckEvent[]): void {
    const { name, major } = parseLineId(line);
    this.supervisor.contact(line, true);
    this.orchestrator.batch(() => this.applyDuckEvents(name, major, line, events));
  }

  private applyDuckEvents(name: string, major: number, line: string, events: readonly DuckEvent[]): void {
    const version = this.store.getSelectedVersion(name, major)?.version ?? '0.0.0';
    for (const e of events) {
      const base = { pond: name, major, version, f: e.f };
      switch (e.kind) {
        case 'ripple-start':
          this.store.recordRippleAttempt({
            ...base,
            ripple: e.ripple,
            attempt: e.attempt,
            status: 'running',
            startedAt: e.at,
          });
          if (e.attempt > 1) this.store.closeInterruptedAttempts(name, major, e.f, e.ripple, e.attempt, e.at);
          break;
        case 'ripple-done':
          this.store.recordRippleAttempt({
            ...base,
            ripple: e.ripple,
            attempt: e.attempt,
            status: 'succeeded',
            startedAt: this.attemptStart(name, major, e.f, e.ripple, e.attempt) ?? e.at,
            finishedAt: e.at,
            rowsWritten: e.rows,
          });
          this.orchestrator.apply((engine, now) =>
            engine.rippleCompleted(line, e.ripple, e.f, now, e.changed),
          );
          break;
        case 'ripple-log':
          this.store.logs.append({
            pond: name,
            major,
            f: e.f,
            ripple: e.ripple,
            attempt: e.attempt,
            lines: e.lines,
          });
          break;
        case 'ripple-fail':
          this.store.recordRippleAttempt({
            ...base,
            ripple: e.ripple,
            attempt: e.attempt,
            status: 'failed',
            startedAt: this.attemptStart(name, major, e.f, e.ripple, e.attempt) ?? e.at,
            finishedAt: e.at,
            error: e.error.message,
            stack: e.error.stack ?? null,
          });
          if (!e.retrying)
            this.orchestrator.apply((engine, now) => engine.rippleFailed(line, e.ripple, e.f, now));
          break;
        case 'run-failed':
          this.store.finishPondRun(name, major, e.f, {
            status: 'failed',
            atMs: e.at,
            error: e.error.message,
          });
          this.orchestrator.apply((engine, now) => engine.pondFailed(line, now));
          break;
        case 'run-published':
          for (const l of this.publishedListeners) l(name, major);
          this.collectInputs(line, e.f);
          break;
      }
    }
  }

  private attemptStart(
    name: string,
    major: number,
    f: number,
    ripple: string,
    attempt: number,
  ): number | null {
    const run = this.store.getPondRun(name, major, f);
    if (!run) return null;
    return (
      this.store.listRunAttempts(run.id).find((a) => a.ripple === ripple && a.attempt === attempt)
        ?.startedAt ?? null
    );
  }

  // ───────────────────────────── engine → world ─────────────────────────────

  /**
   * Carries out "begin a Pond Run at F": materialises the run's inputs (its Sources as the line's
   * principal may read them), then queues the job. Materialising is asynchronous, so the engine loop
   * never waits for it; one chain per line keeps each line's jobs in dispatch order.
   */
  private dispatch(line: string, f: number, force: boolean, refresh: boolean, sourcesChanged: boolean): void {
    const { name, major } = parseLineId(line);
    const version = this.store.getSelectedVersion(name, major);
    if (!version) return;
    const sources = (version.manifest as unknown as StoredManifest).sources.map((s) => ({
      name: s.name,
      major: s.major,
    }));
    this.onLine(line, async () => {
      let inputs: Record<string, string> = {};
      if (this.inputs) {
        try {
          inputs = await this.inputs.materialise({ name, major }, sources);
        } catch (error) {
          this.inputsFailed(line, f, error);
          return;
        }
      }
      // Killed, failed or shut down while the inputs were prepared: nobody wants this run any more.
      if (this.stopping || !this.wantsRun(line, f)) return;
      const runs = this.runInputs.get(line) ?? new Map<number, string[]>();
      runs.set(f, Object.values(inputs));
      this.runInputs.set(line, runs);
      this.jobs.push(line, {
        kind: 'begin-run',
        f,
        version: version.version,
        force,
        refresh,
        sourcesChanged,
        inputs,
      });
      this.supervisor.ensure(line);
    });
  }

  /** Runs `work` after every earlier piece of work of the same line (dispatches, input collection). */
  private onLine(line: string, work: () => Promise<void>): void {
    const next = (this.lineWork.get(line) ?? Promise.resolve()).then(work).catch((error: unknown) => {
      this.log('error', 'line work failed', { line, error: (error as Error).message });
    });
    this.lineWork.set(line, next);
    void next.then(() => {
      if (this.lineWork.get(line) === next) this.lineWork.delete(line);
    });
  }

  /** Whether run f of a line is still in flight in the engine (not killed, failed or finished). */
  private wantsRun(line: string, f: number): boolean {
    try {
      const s = this.orchestrator.state.pondState(line);
      return !s.isKilled && !s.isFailed && f > s.endF && f <= s.startF;
    } catch {
      return false;
    }
  }

  /** A run whose inputs could not be prepared fails through the ordinary fault path, error in history. */
  private inputsFailed(line: string, f: number, error: unknown): void {
    const message =
      error instanceof InputsError ? error.message : 'could not prepare the Source inputs of this run';
    this.log('warn', 'run inputs failed', { line, f, error: (error as Error).message });
    if (this.stopping || !this.wantsRun(line, f)) return;
    const { name, major } = parseLineId(line);
    try {
      this.orchestrator.batch(() =>
        this.applyDuckEvents(name, major, line, [
          { kind: 'run-failed', at: this.now(), f, error: { message } },
        ]),
      );
    } catch (err) {
      if (!(err instanceof OrchestratorStopped)) throw err;
    }
  }

  /** After run f published, the inputs only runs up to f used are deleted. */
  private collectInputs(line: string, f: number): void {
    const inputs = this.inputs;
    if (!inputs) return;
    this.onLine(line, async () => {
      const runs = this.runInputs.get(line) ?? new Map<number, string[]>();
      for (const done of [...runs.keys()]) if (done <= f) runs.delete(done);
      const keep = new Set([...runs.values()].flat());
      await inputs.collect(parseLineId(line), keep);
    });
  }

  private observe(events: readonly EngineEvent[]): void {
    for (const e of events) {
      const { name, major } = parseLineId(e.pond);
      const version = this.store.getSelectedVersion(name, major)?.version;
      if (!version) continue;
      const at = e.t;
      if (e.kind === 'pond-start') {
        this.store.recordPondRun({
          pond: name,
          major,
          f: e.f,
          version,
          status: e.pass ? 'passed' : 'running',
          startedAt: at,
          finishedAt: e.pass ? at : null,
          triggerReason: e.pass ? 'no source changed' : e.force ? 'force' : e.pull ? 'pull' : 'push',
        });
      } else if (e.kind === 'pond-done') {
        this.store.finishPondRun(name, major, e.f, { status: 'succeeded', atMs: at });
      } else if (e.kind === 'pond-fail') {
        this.store.finishPondRun(name, major, e.f, { status: 'failed', atMs: at });
      }
      if (e.kind === 'pond-done' || (e.kind === 'pond-start' && e.pass))
        this.finishCoveredRuns(name, major, e.f, at);
    }
    for (const l of this.listeners) l(events);
  }

  /**
   * A line's Pond completed at F: runs begun earlier at a lower F that are still open end with it.
   * The engine tracks one run in flight per line, so when the Duck carries a pipelined run's Ripples
   * straight past it (its targets coalesced into a later F), no completion names that F; its data
   * is covered by F's (simulation seed 398309230).
   */
  private finishCoveredRuns(name: string, major: number, f: number, atMs: number): void {
    for (const run of this.store.listPondRuns({ pond: name, major, status: 'running', limit: 1000 })) {
      if (run.f < f) this.store.finishPondRun(name, major, run.f, { status: 'succeeded', atMs });
    }
  }

  private inFlight(line: string): boolean {
    try {
      const s = this.orchestrator.state.pondState(line);
      return s.startF > s.endF && !s.isKilled && !s.isFailed;
    } catch {
      return false;
    }
  }

  private keepWarm(line: string): boolean {
    try {
      return this.orchestrator.state.trigger(line) !== undefined || this.jobs.depth(line) > 0;
    } catch {
      return false;
    }
  }

  private duckLost(line: string, reason: string): void {
    this.log('warn', 'duck lost', { line, reason });
    const { name, major } = parseLineId(line);
    const s = this.orchestrator.state.pondState(line);
    if (s.startF > s.endF)
      this.store.finishPondRun(name, major, s.startF, { status: 'failed', atMs: this.now(), error: reason });
    this.orchestrator.apply((engine, now) => engine.pondFailed(line, now));
  }
}

/** The Duck storage settings: options first, then the environment (a bad value stops the start). */
function resolveDuckStorage(options: CatchmentOptions): {
  storage: 'local' | 'http';
  workDir: string | undefined;
  maxUploadBytes: number;
} {
  const env = process.env;
  const raw = options.duckStorage ?? (env.DUCKSTRING_DUCK_STORAGE || 'local');
  if (raw !== 'local' && raw !== 'http')
    throw new Error(`DUCKSTRING_DUCK_STORAGE must be "local" or "http", got "${raw}"`);
  const limitText = env.DUCKSTRING_DUCK_UPLOAD_MAX_BYTES;
  const maxUploadBytes =
    options.duckUploadMaxBytes ?? (limitText ? Number(limitText) : DEFAULT_DUCK_UPLOAD_MAX_BYTES);
  if (!Number.isSafeInteger(maxUploadBytes) || maxUploadBytes <= 0)
    throw new Error(`DUCKSTRING_DUCK_UPLOAD_MAX_BYTES must be a positive integer, got "${limitText}"`);
  const workDir = options.duckWorkDir ?? (env.DUCKSTRING_DUCK_WORKDIR || undefined);
  const root = path.resolve(options.root);
  if (workDir && (path.resolve(workDir) === root || path.resolve(workDir).startsWith(root + path.sep)))
    throw new Error(`the Ducks' work directory ${workDir} must be outside the Catchment's root`);
  return { storage: raw, workDir, maxUploadBytes };
}
