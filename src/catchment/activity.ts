/**
 * What happened to runs, in the words an operator reads: a Pond run started, published, passed
 * unchanged or failed — with rows written, duration and error from the run history. The terminal of
 * `duckstring up` prints these; the event stream for `duckstring watch` and the UI carries the same.
 */
import type { EngineEvent } from '../engine/engine.js';
import { parseLineId } from './orchestrator.js';
import type { PondRun, RippleAttempt } from './store/index.js';

export type RunActivityKind = 'run-started' | 'run-published' | 'run-unchanged' | 'run-failed';

export interface RunActivity {
  /** Epoch ms of the engine event. */
  at: number;
  kind: RunActivityKind;
  pond: string;
  major: number;
  /** The run's freshness (epoch ms). */
  f: number;
  /** Rows written by the run's Ripples (their last attempts), once it ended. */
  rows: number | null;
  /** From the run's start to its end, once it ended. */
  durationMs: number | null;
  error: string | null;
}

/** The run history the activity is read from (the Catchment store). */
export interface RunHistory {
  getPondRun(name: string, major: number, f: number): PondRun | null;
  listRunAttempts(runId: number): RippleAttempt[];
}

const KIND: Partial<Record<EngineEvent['kind'], RunActivityKind>> = {
  'pond-start': 'run-started',
  'pond-done': 'run-published',
  'pond-pass': 'run-unchanged',
  'pond-fail': 'run-failed',
};

export function runActivity(events: readonly EngineEvent[], history: RunHistory): RunActivity[] {
  const out: RunActivity[] = [];
  for (const e of events) {
    const kind = KIND[e.kind];
    if (!kind) continue;
    const { name: pond, major } = parseLineId(e.pond);
    const activity: RunActivity = {
      at: e.t,
      kind,
      pond,
      major,
      f: e.f,
      rows: null,
      durationMs: null,
      error: null,
    };
    if (kind !== 'run-started') {
      const run = history.getPondRun(pond, major, e.f);
      if (run) {
        const last = new Map<string, RippleAttempt>();
        for (const a of history.listRunAttempts(run.id)) last.set(a.ripple, a);
        const rows = [...last.values()].map((a) => a.rowsWritten ?? 0);
        activity.rows = rows.length > 0 ? rows.reduce((n, r) => n + r, 0) : null;
        activity.durationMs = Math.max(0, (run.finishedAt ?? e.t) - run.startedAt);
        activity.error = run.error ?? [...last.values()].find((a) => a.error)?.error ?? null;
      }
    }
    out.push(activity);
  }
  return out;
}
