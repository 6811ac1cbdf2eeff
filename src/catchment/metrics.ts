/** Prometheus metrics and the /health summary, fed by engine events and Duck supervision. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineEvent } from '../engine/engine.js';
import type { Catchment } from './catchment.js';

export class Metrics {
  readonly registry = new Registry();
  private runsStarted = new Counter({
    name: 'duckstring_runs_started_total',
    help: 'Pond Runs started (passes excluded)',
    labelNames: ['pond'],
    registers: [this.registry],
  });
  private runsCompleted = new Counter({
    name: 'duckstring_runs_completed_total',
    help: 'Pond Runs completed',
    labelNames: ['pond'],
    registers: [this.registry],
  });
  private runsPassed = new Counter({
    name: 'duckstring_runs_passed_total',
    help: 'Pond Runs completed as no-change passes',
    labelNames: ['pond'],
    registers: [this.registry],
  });
  private runsFailed = new Counter({
    name: 'duckstring_runs_failed_total',
    help: 'Pond Runs failed',
    labelNames: ['pond'],
    registers: [this.registry],
  });
  private duration = new Histogram({
    name: 'duckstring_run_duration_seconds',
    help: 'Pond Run duration from start to completion',
    labelNames: ['pond'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });
  private starts = new Map<string, number>();

  constructor(private readonly catchment: Catchment) {
    const c = catchment;
    new Gauge({
      name: 'duckstring_live_ducks',
      help: 'Duck processes alive',
      registers: [this.registry],
      collect() {
        this.set(c.supervisor.live().length);
      },
    });
    new Gauge({
      name: 'duckstring_queue_depth',
      help: 'Begin-run jobs waiting for their Duck',
      registers: [this.registry],
      collect() {
        this.set(c.jobs.depth());
      },
    });
    new Gauge({
      name: 'duckstring_freshness_lag_seconds',
      help: 'now − freshness of the last completed run, per Pond line',
      labelNames: ['pond'],
      registers: [this.registry],
      collect() {
        this.reset();
        const engine = c.orchestrator.state;
        const now = c.clock.now();
        for (const p of engine.topology.ponds) {
          const s = engine.pondState(p.spec.name);
          if (Number.isFinite(s.endF)) this.set({ pond: p.spec.name }, (now - s.endF) / 1000);
        }
      },
    });
    catchment.onEvents((events) => this.observe(events));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  health() {
    const engine = this.catchment.orchestrator.state;
    const counts: Record<string, number> = {
      idle: 0,
      queued: 0,
      running: 0,
      blocked: 0,
      killed: 0,
      failed: 0,
    };
    for (const p of engine.topology.ponds) counts[engine.status(p.spec.name)]! += 1;
    return {
      status: 'ok',
      engine: { ponds: engine.topology.ponds.length, ...counts, triggers: engine.listTriggers().length },
      queue: { depth: this.catchment.jobs.depth() },
      ducks: this.catchment.supervisor.live().length,
    };
  }

  private observe(events: readonly EngineEvent[]): void {
    for (const e of events) {
      if (e.kind === 'pond-start') {
        if (e.pass) continue;
        this.runsStarted.inc({ pond: e.pond });
        this.starts.set(`${e.pond}\u0000${e.f}`, e.t);
      } else if (e.kind === 'pond-done') {
        this.runsCompleted.inc({ pond: e.pond });
        const key = `${e.pond}\u0000${e.f}`;
        const t0 = this.starts.get(key);
        if (t0 !== undefined) {
          this.duration.observe({ pond: e.pond }, (e.t - t0) / 1000);
          this.starts.delete(key);
        }
      } else if (e.kind === 'pond-pass') {
        this.runsPassed.inc({ pond: e.pond });
      } else if (e.kind === 'pond-fail') {
        this.runsFailed.inc({ pond: e.pond });
      }
    }
  }
}
