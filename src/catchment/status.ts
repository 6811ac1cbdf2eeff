/** The status view of one Pond line, shared by the HTTP API, the CLI and the demo. */
import type { Catchment } from './catchment.js';
import { lineId } from './orchestrator.js';

const iso = (f: number): string | null => (Number.isFinite(f) ? new Date(f).toISOString() : null);

export function lineStatus(catchment: Catchment, name: string, major: number) {
  const line = lineId(name, major);
  const engine = catchment.orchestrator.state;
  const s = engine.pondState(line);
  const version = catchment.store.getSelectedVersion(name, major);
  const trigger = engine.trigger(line);
  const lastRuns = catchment.store.listPondRuns({ pond: name, major, limit: 5 });
  return {
    pond: name,
    major,
    version: version?.version ?? null,
    status: engine.status(line),
    freshness: { start: iso(s.startF), end: iso(s.endF), changed: iso(s.changedF) },
    demand: {
      pull: s.hasPull,
      targets: s.targets.filter(Number.isFinite).map((t) => new Date(t).toISOString()),
    },
    trigger: trigger
      ? { kind: trigger.kind, ...(trigger.kind === 'tide' ? { bound_ms: trigger.boundMs } : {}) }
      : null,
    faults: {
      failed: s.isFailed,
      failures: s.failures,
      failed_f: iso(s.failedF),
      killed: s.isKilled,
      blocked: s.isBlocked,
    },
    runs: { started: s.runsStarted, completed: s.runsCompleted },
    duck: { pid: catchment.supervisor.pid(line) ?? null, queued_jobs: catchment.jobs.depth(line) },
    last_runs: lastRuns.map((r) => ({
      f: new Date(r.f).toISOString(),
      version: r.version,
      status: r.status,
      started_at: new Date(r.startedAt).toISOString(),
      finished_at: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
      error: r.error,
    })),
  };
}
