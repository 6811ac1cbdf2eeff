/** The status view of one Pond line, shared by the HTTP API, the CLI and the demo. */
import { activeEnd, nextOpen } from '../engine/windows.js';
import {
  type AttentionInput,
  attentionFor,
  type HaltedRun,
  type LineFacts,
  type WindowsClosed,
} from './attention.js';
import type { Catchment } from './catchment.js';
import { lineId, parseLineId } from './orchestrator.js';

const iso = (f: number): string | null => (Number.isFinite(f) ? new Date(f).toISOString() : null);

/**
 * `showErrors`: whether run errors (which may quote data) appear in the answer; the reading service
 * passes it for holders of OPERATE only.
 */
export function lineStatus(catchment: Catchment, name: string, major: number, showErrors = true) {
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
    attention: attentionFor(attentionInput(catchment, line, showErrors)),
    runs: { started: s.runsStarted, completed: s.runsCompleted },
    duck: {
      pid: catchment.supervisor.pid(line) ?? null,
      runs_on: catchment.supervisor.where(line),
      queued_jobs: catchment.jobs.depth(line),
    },
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

/** What the run history and the engine say about a halted (or any) line. */
function lineFacts(catchment: Catchment, line: string): LineFacts {
  const { name, major } = parseLineId(line);
  const status = catchment.orchestrator.state.status(line);
  const halt = status === 'failed' || status === 'killed' ? lastHalt(catchment, name, major, status) : null;
  return {
    pond: name,
    major,
    newestMajor: catchment.store.highestMajor(name) === major,
    status,
    lastHalt: halt,
  };
}

function lastHalt(
  catchment: Catchment,
  name: string,
  major: number,
  status: 'failed' | 'killed',
): HaltedRun | null {
  const [run] = catchment.store.listPondRuns({ pond: name, major, status, limit: 1 });
  // A kill of an idle line records no run: an older killed run is not this kill's.
  const state = catchment.orchestrator.state.pondState(lineId(name, major));
  if (!run || (status === 'killed' && run.f !== state.startF)) return null;
  // A Ripple's failure is recorded on its attempt; the Pond Run's own error is for whole-run
  // failures (a dead Duck, a failed publish).
  const failed = catchment.store
    .listRunAttempts(run.id)
    .filter((a) => a.status === 'failed')
    .at(-1);
  return {
    f: run.f,
    finishedAt: run.finishedAt,
    ripple: failed?.ripple ?? null,
    error: failed?.error ?? run.error,
  };
}

function attentionInput(catchment: Catchment, line: string, showErrors: boolean): AttentionInput {
  const facts = lineFacts(catchment, line);
  return {
    ...facts,
    blockedBy: facts.status === 'blocked' ? blockingSource(catchment, line) : null,
    windowsClosed: facts.status === 'queued' ? windowsClosed(catchment, line) : null,
    showErrors,
  };
}

/** For an Inlet with windows of which none is open now: the next to open. Null otherwise. */
function windowsClosed(catchment: Catchment, line: string): WindowsClosed | null {
  const engine = catchment.orchestrator.state;
  const spec = engine.topology.ponds[engine.pondId(line)]!.spec;
  if (spec.sources.length > 0 || spec.windows.length === 0) return null;
  const now = catchment.clock.now();
  if (spec.windows.some((w) => activeEnd(w, now) !== null)) return null;
  let next: WindowsClosed['next'] = null;
  for (const w of spec.windows) {
    const at = nextOpen(w, now);
    if (at !== null && (next === null || at < next.at)) next = { window: w.name, at };
  }
  return { next };
}

/** The nearest failed or killed line up the required Sources of a blocked line (breadth first). */
function blockingSource(catchment: Catchment, line: string): LineFacts | null {
  const engine = catchment.orchestrator.state;
  const start = engine.pondId(line);
  const seen = new Set([start]);
  const queue = [start];
  for (let k = 0; k < queue.length; k++) {
    for (const src of engine.topology.ponds[queue[k]!]!.requiredSources) {
      if (seen.has(src)) continue;
      seen.add(src);
      const s = engine.ponds[src]!;
      if (s.isFailed || s.isKilled) return lineFacts(catchment, engine.pondName(src));
      queue.push(src);
    }
  }
  return null;
}
