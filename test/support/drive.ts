/**
 * A second driver for scenarios, step for step the protocol of src/sim/simulator.ts (engine.md §7
 * advance order), but with the engine options chosen by the caller — the randomized tests use it to
 * run the reference `scanAll` engine. It keeps its own bookkeeping (a sorted list instead of a heap)
 * so that agreement with `simulate` is evidence about the engine, and it is itself checked against
 * `simulate` on random cases.
 */
import { Engine, type EngineEvent, type EngineOptions } from '../../src/engine/engine.js';
import type { Scenario, SimEvent } from '../../src/sim/scenario.js';
import type { PondSummary, SimLine, SimSummary } from '../../src/sim/simulator.js';

export interface DriveResult {
  lines: SimLine[];
  summary: SimSummary;
}

interface Pending {
  due: number;
  ripple: number;
  /** The Ripple's `runsStarted` when scheduled: a later start or a kill makes the entry stale. */
  token: number;
}

export function drive(sc: Scenario, extra: Pick<EngineOptions, 'scanAll'>): DriveResult {
  const engine = new Engine(sc.ponds, {
    passes: sc.options.passes,
    pruneTargetsOnComplete: sc.options.pruneTargets,
    mintedFreshness: sc.options.mintedFreshness,
    ...extra,
  });
  const T0 = sc.startMs;
  const topo = engine.topology;
  const lines: SimLine[] = [];
  const fsec = (f: number): number | null => (Number.isFinite(f) ? Math.round(f - T0) / 1000 : null);
  const sim = (r: number) =>
    sc.ripples.get(topo.ponds[topo.ripples[r]!.pond]!.spec.name)!.get(topo.ripples[r]!.name)!;
  const attempts = new Map<number, number>();
  const immediateLeft = new Map<string, number>();
  let pending: Pending[] = [];
  const events = sc.events.map((e, i) => ({ e, i })).sort((a, b) => a.e.atMs - b.e.atMs || a.i - b.i);
  let nextEvent = 0;

  const record = (out: EngineEvent[], tMs: number) => {
    for (const e of out) {
      if (e.kind === 'ripple-start') {
        const r = engine.rippleId(e.pond, e.ripple);
        pending.push({ due: tMs + sim(r).durationMs, ripple: r, token: engine.ripples[r]!.runsStarted });
      } else if (e.kind === 'pond-start' && !e.pass) {
        const key = `${e.pond}|${e.f}`;
        if (!immediateLeft.has(key))
          immediateLeft.set(key, topo.ponds[engine.pondId(e.pond)]!.spec.immediateRetries);
      }
      const line: SimLine = { t: Math.round(e.t - T0) / 1000, kind: e.kind, pond: e.pond, f: fsec(e.f) };
      if ('ripple' in e) line.ripple = e.ripple;
      lines.push(line);
    }
  };

  const apply = (ev: SimEvent, now: number) => {
    if (ev.kind === 'tap') engine.tap(ev.pond, now);
    else if (ev.kind === 'pulse') engine.pulse(ev.pond, now);
    else if (ev.kind === 'wave') engine.setTrigger(ev.pond, { kind: 'wave', boundMs: 0 });
    else if (ev.kind === 'tide') engine.setTrigger(ev.pond, { kind: 'tide', boundMs: ev.boundMs! });
    else if (ev.kind === 'untrigger') engine.untrigger(ev.pond);
    else if (ev.kind === 'sleep') engine.sleep(ev.pond, now, ev.upstream);
    else if (ev.kind === 'wake') engine.wake(ev.pond, now);
    else if (ev.kind === 'force') engine.force(ev.pond, now);
    else if (ev.kind === 'kill') engine.kill(ev.pond, now);
    else if (ev.kind === 'clear') engine.clear(ev.pond, now);
    else engine.refresh(ev.pond, now);
  };

  const completeDue = (tMs: number) => {
    // Ripples finishing at the same instant complete in Ripple index order (the prior-art tick).
    const due = pending.filter((p) => p.due <= tMs).sort((a, b) => a.ripple - b.ripple);
    pending = pending.filter((p) => p.due > tMs);
    const now = T0 + tMs;
    for (const { ripple: r, token } of due) {
      const rs = engine.ripples[r]!;
      if (!rs.isRunning || rs.runsStarted !== token) continue;
      const cr = topo.ripples[r]!;
      const pond = topo.ponds[cr.pond]!.spec.name;
      const n = (attempts.get(r) ?? 0) + 1;
      attempts.set(r, n);
      const fa = sim(r).failAttempts;
      if (!(fa === 'always' || fa.has(n))) {
        engine.rippleCompleted(pond, cr.name, rs.startF, now, !sc.unchanged.get(pond)!.has(rs.startF));
        continue;
      }
      const key = `${pond}|${rs.startF}`;
      const left = immediateLeft.get(key) ?? 0;
      if (left > 0) {
        immediateLeft.set(key, left - 1);
        engine.rippleRetried(pond, cr.name, now);
      } else {
        immediateLeft.delete(key);
        engine.rippleFailed(pond, cr.name, rs.startF, now);
      }
    }
    record(engine.drain(), tMs);
  };

  const step = sc.stepMs;
  for (let t = 0; t <= sc.untilMs; ) {
    const now = T0 + t;
    while (nextEvent < events.length && events[nextEvent]!.e.atMs <= t) apply(events[nextEvent++]!.e, now);
    record(engine.drain(), t);
    completeDue(t);
    record(engine.advance(now), t);
    let next = nextEvent < events.length ? events[nextEvent]!.e.atMs : Number.POSITIVE_INFINITY;
    for (const p of pending) next = Math.min(next, p.due);
    const wake = engine.nextWakeAt(now);
    if (wake !== null) next = Math.min(next, wake - T0);
    t = Math.max(Math.ceil(next / step - 1e-9) * step, t + step);
  }

  const ponds: Record<string, PondSummary> = {};
  for (const p of topo.ponds) {
    const s = engine.pondState(p.spec.name);
    ponds[p.spec.name] = {
      runs_started: s.runsStarted,
      runs_completed: s.runsCompleted,
      start_f: fsec(s.startF),
      end_f: fsec(s.endF),
      status: engine.status(p.spec.name),
    };
  }
  return { lines, summary: { kind: 'summary', t: Math.round(sc.untilMs) / 1000, ponds } };
}
