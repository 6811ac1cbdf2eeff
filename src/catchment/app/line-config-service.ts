/**
 * Configuring and controlling a line: trigger and control verbs, availability windows and retry
 * budgets. Each use case checks its domain rules, writes the store and updates the engine in one
 * place; who may call it was checked before (OPERATE or TRIGGER on the line).
 */
import { type DurationError, parseDuration, parseSingleUnit } from '../../engine/duration.js';
import type { Window } from '../../engine/windows.js';
import { RequestError } from '../../shared/errors.js';
import type { Catchment, ControlVerb } from '../catchment.js';
import { lineId } from '../orchestrator.js';
import type { LineRef } from './line-access.js';

export interface VerbOptions {
  /** A tide's staleness bound as a duration ("10m")… */
  bound?: string | undefined;
  /** …or in seconds. */
  bound_seconds?: number | undefined;
  /** sleep: also drop demand on every ancestor. */
  upstream?: boolean | undefined;
}

export interface WindowInput {
  name: string;
  /** One `<int><unit>` group: 30m, 1h, 1d, 1w. */
  every: string;
  /** ISO-8601 instant or HH:MM (UTC, today); default 00:00 today. */
  start?: string | undefined;
  duration?: string | undefined;
  on?: string[] | undefined;
  until?: string | undefined;
}

export interface BudgetsView {
  immediate_retries: number;
  source_retries: number;
}

export class LineConfigService {
  constructor(
    private readonly catchment: Catchment,
    private readonly now: () => number,
  ) {}

  /** Runs a trigger or control verb on the line. */
  control(line: LineRef, verb: ControlVerb, opts: VerbOptions = {}): void {
    let boundMs = 0;
    if (verb === 'tide') {
      if (opts.bound === undefined && opts.bound_seconds === undefined) {
        throw new RequestError(
          400,
          'invalid_request',
          'body.bound: a tide needs a staleness bound, e.g. {"bound": "10m"}',
        );
      }
      boundMs = opts.bound !== undefined ? parseDuration(opts.bound) : Math.round(opts.bound_seconds! * 1000);
      if (!(boundMs >= 1)) {
        throw new RequestError(
          400,
          'invalid_request',
          'body.bound: a tide bound must be at least 1 ms (e.g. {"bound": "10m"} or {"bound_seconds": 600})',
        );
      }
    }
    this.catchment.control(lineId(line.pond, line.major), verb, {
      boundMs,
      upstream: opts.upstream ?? false,
    });
  }

  windows(line: LineRef) {
    return this.catchment.store.listWindows(line.pond, line.major).map(windowView);
  }

  /** Adds an availability window to an Inlet line (overlaps and duplicate names are refused). */
  addWindow(line: LineRef, input: WindowInput) {
    let every: number;
    try {
      every = parseSingleUnit(input.every).ms;
    } catch (err) {
      throw new RequestError(400, 'invalid_request', `body.every: ${(err as DurationError).message}`);
    }
    if (every <= 0) throw new RequestError(400, 'invalid_request', 'body.every: must be > 0');
    const window = {
      name: input.name,
      startAnchor: parseStart(input.start, this.now()),
      everyMs: every,
      durationMs: input.duration ? parseDuration(input.duration) : every,
      validDays: input.on ?? [],
      until: input.until ? Date.parse(input.until) : null,
    };
    if (window.durationMs > every)
      throw new RequestError(400, 'invalid_request', 'body.duration: must not exceed every');
    const config = this.catchment.store.getLineConfig(line.pond, line.major);
    const manifest = config.selected.manifest as { sources?: unknown[] };
    if ((manifest.sources ?? []).length > 0) {
      throw new RequestError(
        422,
        'invalid_request',
        `windows apply to Inlets only; ${line.pond} has Sources`,
      );
    }
    this.catchment.store.addWindow(line.pond, line.major, window as Window, this.now());
    this.catchment.reloadTopology();
    return windowView(window);
  }

  removeWindow(line: LineRef, name: string): void {
    this.catchment.store.removeWindow(line.pond, line.major, name);
    this.catchment.reloadTopology();
  }

  budgets(line: LineRef): BudgetsView {
    return budgetsView(this.catchment.store.getBudgets(line.pond, line.major));
  }

  /** Sets the line's retry budgets (operator-owned after the first deploy). */
  setBudgets(line: LineRef, budgets: BudgetsView): BudgetsView {
    const b = this.catchment.store.setBudgets(
      line.pond,
      line.major,
      { immediateRetries: budgets.immediate_retries, sourceRetries: budgets.source_retries },
      this.now(),
    );
    this.catchment.reloadTopology();
    return budgetsView(b);
  }
}

function budgetsView(b: { immediateRetries: number; sourceRetries: number }): BudgetsView {
  return { immediate_retries: b.immediateRetries, source_retries: b.sourceRetries };
}

/** A window's anchor: an ISO-8601 instant, or HH:MM (UTC) today; default 00:00 today. */
function parseStart(start: string | undefined, now: number): number {
  const today = new Date(now);
  today.setUTCHours(0, 0, 0, 0);
  if (start === undefined) return today.getTime();
  const hhmm = /^(\d{2}):(\d{2})$/.exec(start);
  if (hhmm) return today.getTime() + (Number(hhmm[1]) * 60 + Number(hhmm[2])) * 60_000;
  const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(start) ? start : `${start}Z`;
  const t = Date.parse(iso);
  if (Number.isNaN(t))
    throw new RequestError(400, 'invalid_request', `body.start: "${start}" is neither ISO-8601 nor HH:MM`);
  return t;
}

function windowView(w: {
  name: string;
  startAnchor: number;
  everyMs: number;
  durationMs: number;
  validDays: string[];
  until: number | null;
}) {
  return {
    name: w.name,
    start: new Date(w.startAnchor).toISOString(),
    every_ms: w.everyMs,
    duration_ms: w.durationMs,
    on: w.validDays,
    until: w.until === null ? null : new Date(w.until).toISOString(),
  };
}
