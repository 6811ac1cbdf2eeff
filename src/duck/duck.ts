/**
 * A Duck: the worker process of one Pond major line. It dials the Catchment for jobs, pushes every
 * Ripple of its Pond to the run's freshness with the push-only engine, executes Ripples concurrently,
 * publishes the Pond's Parquet snapshot when a run completes, and reports progress through its
 * ledger's outbox. It needs nothing but the Catchment's URL and its token.
 */
import path from 'node:path';
import { DuckEngine } from '../engine/duck-engine.js';
import type { RippleSpec } from '../engine/topology.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { AttemptLog, LOG_FLUSH_MS } from './attempt-log.js';
import { CatchmentUnreachable, DuckClient } from './client.js';
import { RunLedger } from './ledger.js';
import type { DuckConfig, DuckEvent, DuckJobMessage } from './protocol.js';
import { defaultWorkDir, HttpStorage, type LineStorage, LocalStorage, type StorageKind } from './storage.js';

/** Executes one Pond version's Ripples; built per version so a redeploy swaps code between runs. */
export interface RippleRunner {
  /**
   * Runs one Ripple to freshness f (its table is staged for run f's snapshot), reading its Sources
   * from `inputs` ('source.table' → file relative to the line's folder) and nothing else.
   */
  run(
    ripple: string,
    f: number,
    inputs: Readonly<Record<string, string>>,
    /** Receives the attempt's `ctx.log` lines (they are stored per attempt on the Catchment). */
    log?: RippleLogSink,
  ): Promise<{ rows: number | null; changed: boolean }>;
  /**
   * Publishes the tables staged for run f as the Pond's snapshot at freshness f; `changed` says
   * whether the snapshot's content differs from the previous run's (true when unknown).
   */
  publish(f: number): Promise<{ tables: Record<string, { rows: number }>; changed: boolean }>;
  /** Drops every table (refresh: the next run rebuilds from scratch). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export type RippleLogSink = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

export type RunnerFactory = (config: DuckConfig, storage: LineStorage) => Promise<RippleRunner>;

export interface DuckOptions {
  catchmentUrl: string;
  token: string;
  line: string;
  runnerFactory: RunnerFactory;
  /** An idle Duck that cannot reach its Catchment for this long exits (default 10 min). */
  orphanMs?: number;
  log?: (msg: string, data?: Record<string, unknown>) => void;
  /** Time for event stamps, the watchdog and the orphan check (default: the system clock). */
  clock?: Clock;
  /** `http` whatever the Catchment's config says (a Duck started by hand on another machine). */
  storage?: StorageKind;
  /** The http mode's work directory (default: a per-line folder in the user's cache directory). */
  workDir?: string;
}

const RETRY_MS = 500;

function errorInfo(err: unknown): { message: string; stack?: string } {
  if (err instanceof Error) return { message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  return { message: String(err) };
}

export class Duck {
  private client: DuckClient;
  private config!: DuckConfig;
  private ledger!: RunLedger;
  private engine!: DuckEngine;
  private runner!: RippleRunner;
  private storage!: LineStorage;
  private running = new Set<Promise<void>>();
  private stopped = false;
  private readonly clock: Clock;
  private lastProgress: number;
  /** Last successful poll: an idle Duck whose Catchment stays away past `orphanMs` exits. */
  private lastReached: number;
  private readonly orphanMs: number;
  private flushing: Promise<void> | null = null;
  private pollAbort = new AbortController();
  private readonly log: NonNullable<DuckOptions['log']>;
  /** Version whose code the runner holds. */
  private loadedVersion = '';
  /** The version the Catchment asked for in the latest begin-run. */
  private wantedVersion = '';

  constructor(private readonly opts: DuckOptions) {
    const at = opts.line.lastIndexOf('@');
    this.client = new DuckClient(
      opts.catchmentUrl,
      opts.token,
      opts.line.slice(0, at),
      Number(opts.line.slice(at + 1)),
    );
    this.log = opts.log ?? (() => {});
    this.clock = opts.clock ?? systemClock;
    this.lastProgress = this.clock.now();
    this.lastReached = this.lastProgress;
    this.orphanMs = opts.orphanMs ?? 10 * 60_000;
  }

  async start(): Promise<void> {
    this.config = await this.retrying(() => this.client.config());
    this.storage = await this.openStorage(this.config);
    this.ledger = new RunLedger(this.storage.ledgerPath);
    await this.load(this.config);
    const state = this.ledger.read();
    const { engine, runCompleted } = DuckEngine.fromLedger(this.specs(), state, this.config.line);
    this.engine = engine;
    for (const f of runCompleted) await this.finishRun(f);
    this.pump();
    void this.flush();
  }

  /** Runs until `stop()`: long-polls for jobs; survives the Catchment going away. */
  async loop(): Promise<void> {
    const watchdog = this.clock.setInterval(
      () => this.checkWatchdog(),
      Math.min(1000, this.config.watchdogMs / 4),
    );
    try {
      while (!this.stopped) {
        let jobs: DuckJobMessage[] = [];
        try {
          jobs = await this.client.jobs(this.config.pollWaitMs, this.pollAbort.signal);
          this.lastReached = this.clock.now();
        } catch (err) {
          if (this.stopped) break;
          const idle = this.running.size === 0 && !this.engine.hasWork();
          if (!(err instanceof CatchmentUnreachable)) {
            this.log('jobs poll refused', errorInfo(err));
            // Refused (not unreachable): another Duck holds this line's token now. Leave once idle.
            if (idle) break;
          } else if (idle && this.clock.now() - this.lastReached > this.orphanMs) {
            this.log('no Catchment for too long with nothing to do; exiting', { orphanMs: this.orphanMs });
            break;
          }
          await this.sleep(RETRY_MS);
          continue;
        }
        for (const job of jobs) {
          if (job.kind === 'stop') {
            this.stopped = true;
            break;
          }
          await this.beginRun(job);
        }
        void this.flush();
      }
    } finally {
      watchdog.cancel();
    }
    await Promise.allSettled([...this.running]);
    await this.flush();
    await this.runner.close();
    this.ledger.close();
  }

  stop(): void {
    this.stopped = true;
    this.pollAbort.abort();
  }

  private specs(): RippleSpec[] {
    return this.config.ripples.map((r) => ({ name: r.name, parents: r.parents }));
  }

  private async openStorage(config: DuckConfig): Promise<LineStorage> {
    const kind = this.opts.storage === 'http' ? 'http' : (config.storage ?? 'local');
    if (kind === 'local') return new LocalStorage(config);
    const storage = new HttpStorage(
      this.client,
      this.opts.line,
      this.opts.workDir ?? defaultWorkDir(this.opts.line),
      config.maxUploadBytes ?? Number.MAX_SAFE_INTEGER,
    );
    await storage.prepare();
    this.log('http storage', { workDir: storage.workDir });
    return storage;
  }

  private async load(config: DuckConfig): Promise<void> {
    if (this.runner) await this.runner.close();
    this.runner = await this.opts.runnerFactory(config, this.storage);
    this.loadedVersion = config.version;
    this.log('loaded pond version', { line: config.line, version: config.version });
  }

  private async beginRun(job: Extract<DuckJobMessage, { kind: 'begin-run' }>): Promise<void> {
    this.wantedVersion = job.version;
    if (job.version !== this.loadedVersion && this.running.size === 0) await this.reload();
    if (job.refresh) {
      await this.runner.reset();
      this.ledger.resetRipples();
      const { engine } = DuckEngine.fromLedger(this.specs(), { endF: {}, runs: [] }, this.config.line);
      this.engine = engine;
    }
    this.ledger.beginRun(job.f, this.config.immediateRetries, job.version, job.inputs);
    const { runCompleted } = this.engine.beginRun(job.f, this.config.immediateRetries, { force: job.force });
    for (const f of runCompleted) await this.finishRun(f);
    this.lastProgress = this.clock.now();
    this.pump();
  }

  /** A redeploy: fetch the new configuration and code, keep each surviving Ripple's progress. */
  private async reload(): Promise<void> {
    this.config = await this.retrying(() => this.client.config());
    await this.load(this.config);
    const state = this.ledger.read();
    const known = new Set(this.config.ripples.map((r) => r.name));
    const endF = Object.fromEntries(Object.entries(state.endF).filter(([n]) => known.has(n)));
    this.engine = DuckEngine.fromLedger(this.specs(), { endF, runs: [] }, this.config.line).engine;
  }

  private pump(): void {
    for (const s of this.engine.takeStarts()) {
      const p = this.execute(s.ripple, s.f, s.attempt).finally(() => {
        this.running.delete(p);
        this.lastProgress = this.clock.now();
        this.pump();
        if (this.running.size === 0 && this.wantedVersion && this.wantedVersion !== this.loadedVersion) {
          void this.reload().then(() => this.pump());
        }
      });
      this.running.add(p);
    }
  }

  private async execute(ripple: string, f: number, proposed: number): Promise<void> {
    const attempt = this.ledger.attemptStarted(ripple, f, proposed);
    this.emit({ kind: 'ripple-start', at: this.clock.now(), f, ripple, attempt });
    let result: { rows: number | null; changed: boolean };
    const log = new AttemptLog(() => this.clock.now());
    const sendLog = (final: boolean) => {
      const lines = log.take(final);
      if (lines.length > 0)
        this.emit({ kind: 'ripple-log', at: this.clock.now(), f, ripple, attempt, lines });
    };
    // Lines go out while the attempt runs, and the rest before its outcome, so whoever sees the
    // outcome can read them all.
    const ticker = this.clock.setInterval(() => sendLog(false), LOG_FLUSH_MS);
    ticker.unref();
    try {
      result = await this.runner.run(ripple, f, this.ledger.inputs(f), (level, message, fields) =>
        log.add(level, message, fields),
      );
    } catch (err) {
      ticker.cancel();
      sendLog(true);
      const outcome = this.engine.failed(ripple, f);
      this.emit({
        kind: 'ripple-fail',
        at: this.clock.now(),
        f,
        ripple,
        attempt,
        retrying: outcome.retry,
        error: errorInfo(err),
      });
      if (!outcome.retry) this.ledger.endRun(f);
      return;
    }
    ticker.cancel();
    sendLog(true);
    const { runCompleted } = this.engine.completed(ripple, f);
    // The event that completes a run goes out only after the snapshot is published, so a Sink that
    // starts on it always reads this run's data; the ledger records the Ripple only then too, so a
    // crash before publishing re-runs it rather than losing the publish. Its `changed` is the whole
    // snapshot's: that event is the one the Catchment takes as the Pond Run's outcome.
    let changed = runCompleted.length > 0 ? false : result.changed;
    for (const done of runCompleted) if (await this.finishRun(done)) changed = true;
    this.ledger.rippleCompleted(ripple, f);
    this.emit({
      kind: 'ripple-done',
      at: this.clock.now(),
      f,
      ripple,
      attempt,
      changed,
      rows: result.rows,
    });
  }

  /** Publishes run f; whether its snapshot changed (true when the publish failed: nothing is known). */
  private async finishRun(f: number): Promise<boolean> {
    let changed = true;
    try {
      const published = await this.runner.publish(f);
      changed = published.changed;
      this.emit({ kind: 'run-published', at: this.clock.now(), f, tables: published.tables });
    } catch (err) {
      this.emit({ kind: 'run-failed', at: this.clock.now(), f, error: errorInfo(err) });
    }
    const inputs = this.ledger.inputs(f);
    this.ledger.endRun(f);
    await this.pruneInputs(inputs);
    return changed;
  }

  /**
   * Cached inputs go once no open run needs them, except the latest run's: the next run usually
   * reads the same snapshot of a Source that did not change. Best effort: a leftover costs disk only.
   */
  private async pruneInputs(latest: Record<string, string>): Promise<void> {
    if (this.storage.kind === 'local') return;
    const keep = new Set(Object.values(latest).map((rel) => path.normalize(rel)));
    for (const run of this.ledger.read().runs)
      for (const rel of Object.values(this.ledger.inputs(run.f))) keep.add(path.normalize(rel));
    await this.storage.pruneInputs(keep).catch((err) => this.log('could not prune inputs', errorInfo(err)));
  }

  private emit(event: DuckEvent): void {
    this.ledger.enqueue(event);
    void this.flush();
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      try {
        while (!(await this.client.flush(this.ledger))) {
          if (this.stopped && this.running.size === 0) return;
          await this.sleep(RETRY_MS);
        }
      } catch (err) {
        this.log('events refused by the Catchment', errorInfo(err));
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** Work outstanding but nothing running for too long: report the runs failed instead of hanging. */
  private checkWatchdog(): void {
    if (this.running.size > 0 || !this.engine.hasWork()) return;
    if (this.clock.now() - this.lastProgress < this.config.watchdogMs) return;
    for (const f of this.engine.outstandingRuns()) {
      this.emit({
        kind: 'run-failed',
        at: this.clock.now(),
        f,
        error: { message: `watchdog: no Ripple could start for ${this.config.watchdogMs} ms` },
      });
      this.ledger.endRun(f);
    }
    this.engine = DuckEngine.fromLedger(
      this.specs(),
      { endF: this.ledger.read().endF, runs: [] },
      this.config.line,
    ).engine;
    this.lastProgress = this.clock.now();
  }

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof CatchmentUnreachable) || this.stopped) throw err;
        await this.sleep(RETRY_MS);
      }
    }
  }

  /** Waits on the injected clock, so a test driving time drives the retries too. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }
}
