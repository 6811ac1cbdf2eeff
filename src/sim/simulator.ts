/**
 * Drives the engine over simulated time on the scenario's grid (engine.md §7): at each grid instant,
 * apply that instant's events, complete Ripples whose duration has elapsed, then `advance`. The
 * simulator plays the Duck: it times Ripples, injects failures and spends the immediate-retry budget.
 * It jumps straight to the next instant where something can happen, so idle stretches cost nothing.
 */
import { Engine, type EngineEvent, type PondStatus } from '../engine/engine.js';
import type { Scenario, SimEvent } from './scenario.js';

export interface SimLine {
  /** Seconds from T0. */
  t: number;
  kind: EngineEvent['kind'];
  pond: string;
  ripple?: string;
  /** Seconds from T0, or null for "never". */
  f: number | null;
}

/** An operator action the scenario applied (tap, tide, kill, …), for the readable timeline. */
export interface SimAction {
  /** Seconds from T0. */
  t: number;
  kind: SimEvent['kind'];
  pond: string;
  /** The tide's bound in seconds, or `upstream` for a sleep that reaches upstream. */
  detail?: string;
}

export interface PondSummary {
  runs_started: number;
  runs_completed: number;
  start_f: number | null;
  end_f: number | null;
  status: PondStatus;
}

export interface SimSummary {
  kind: 'summary';
  t: number;
  ponds: Record<string, PondSummary>;
}

export interface SimResult {
  lines: SimLine[];
  actions: SimAction[];
  summary: SimSummary;
  engine: Engine;
}

/** Min-heap of scheduled Ripple completions ordered by due time. */
class CompletionQueue {
  private items: Array<{ due: number; ripple: number; token: number }> = [];

  push(item: { due: number; ripple: number; token: number }): void {
    const h = this.items;
    h.push(item);
    let k = h.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (h[p]!.due <= item.due) break;
      h[k] = h[p]!;
      k = p;
    }
    h[k] = item;
  }

  peekDue(): number {
    return this.items.length > 0 ? this.items[0]!.due : Number.POSITIVE_INFINITY;
  }

  pop(): { due: number; ripple: number; token: number } {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= h.length) break;
        if (c + 1 < h.length && h[c + 1]!.due < h[c]!.due) c++;
        if (h[c]!.due >= last.due) break;
        h[k] = h[c]!;
        k = c;
      }
      h[k] = last;
    }
    return top;
  }
}

export interface SimulateHooks {
  /** Called after every grid instant at which something happened (for progress, tests, snapshots). */
  afterInstant?: (tMs: number, engine: Engine) => Engine | undefined;
  /** Receives each engine event as it happens instead of collecting them (keeps memory flat). */
  onEvent?: (e: EngineEvent) => void;
}

export function simulate(sc: Scenario, hooks: SimulateHooks = {}): SimResult {
  let engine = new Engine(sc.ponds, {
    passes: sc.options.passes,
    pruneTargetsOnComplete: sc.options.pruneTargets,
    mintedFreshness: sc.options.mintedFreshness,
  });
  const T0 = sc.startMs;
  const lines: SimLine[] = [];
  const actions: SimAction[] = [];
  const sec = (ms: number): number => Math.round(ms) / 1000;
  const fsec = (f: number): number | null => (Number.isFinite(f) ? Math.round(f - T0) / 1000 : null);
  const collect =
    hooks.onEvent ??
    ((e: EngineEvent) => {
      const line: SimLine = { t: sec(e.t - T0), kind: e.kind, pond: e.pond, f: fsec(e.f) };
      if ('ripple' in e) line.ripple = e.ripple;
      lines.push(line);
    });

  const topo = engine.topology;
  const durations = topo.ripples.map((r) => sc.ripples.get(topo.ponds[r.pond]!.spec.name)!.get(r.name)!);
  const attempts = new Array<number>(topo.ripples.length).fill(0);
  const immediateLeft = new Map<string, number>();
  const queue = new CompletionQueue();
  const events = [...sc.events].sort((a, b) => a.atMs - b.atMs);
  let nextEvent = 0;

  const schedule = (out: EngineEvent[], tMs: number) => {
    for (const e of out) {
      if (e.kind === 'ripple-start') {
        const r = e.rippleId;
        queue.push({ due: tMs + durations[r]!.durationMs, ripple: r, token: engine.ripples[r]!.runsStarted });
      } else if (e.kind === 'pond-start' && !e.pass) {
        const key = `${e.pond}\u0000${e.f}`;
        if (!immediateLeft.has(key)) {
          immediateLeft.set(key, topo.ponds[e.pondId]!.spec.immediateRetries);
        }
      }
      collect(e);
    }
  };

  const applyEvent = (ev: SimEvent, now: number) => {
    const action: SimAction = { t: sec(now - T0), kind: ev.kind, pond: ev.pond };
    if (ev.kind === 'tide') action.detail = `bound ${sec(ev.boundMs!)}s`;
    if (ev.kind === 'sleep' && ev.upstream) action.detail = 'upstream';
    actions.push(action);
    switch (ev.kind) {
      case 'tap':
        return engine.tap(ev.pond, now);
      case 'pulse':
        return engine.pulse(ev.pond, now);
      case 'wave':
        return engine.setTrigger(ev.pond, { kind: 'wave', boundMs: 0 });
      case 'tide':
        return engine.setTrigger(ev.pond, { kind: 'tide', boundMs: ev.boundMs! });
      case 'untrigger':
        return engine.untrigger(ev.pond);
      case 'sleep':
        return engine.sleep(ev.pond, now, ev.upstream);
      case 'wake':
        return engine.wake(ev.pond, now);
      case 'force':
        return engine.force(ev.pond, now);
      case 'kill':
        return engine.kill(ev.pond, now);
      case 'clear':
        return engine.clear(ev.pond, now);
      case 'refresh':
        return engine.refresh(ev.pond, now);
    }
  };

  const completeDue = (tMs: number) => {
    const due: Array<{ ripple: number; token: number }> = [];
    while (queue.peekDue() <= tMs) due.push(queue.pop());
    // The prior-art tick completes Ripples in iteration order, not in order of due time.
    due.sort((a, b) => a.ripple - b.ripple);
    const now = T0 + tMs;
    for (const { ripple: r, token } of due) {
      const rs = engine.ripples[r]!;
      if (!rs.isRunning || rs.runsStarted !== token) continue; // killed, failed or superseded
      const cr = topo.ripples[r]!;
      const pondName = topo.ponds[cr.pond]!.spec.name;
      const sim = durations[r]!;
      attempts[r] = attempts[r]! + 1;
      const fails = sim.failAttempts === 'always' || sim.failAttempts.has(attempts[r]!);
      if (!fails) {
        const changed = !sc.unchanged.get(pondName)!.has(rs.startF);
        engine.rippleCompletedById(r, rs.startF, now, changed);
        continue;
      }
      const key = `${pondName}\u0000${rs.startF}`;
      const left = immediateLeft.get(key) ?? 0;
      if (left > 0) {
        immediateLeft.set(key, left - 1);
        engine.rippleRetried(pondName, cr.name, now);
      } else {
        immediateLeft.delete(key);
        engine.rippleFailed(pondName, cr.name, rs.startF, now);
      }
    }
    schedule(engine.drain(), tMs);
  };

  const step = sc.stepMs;
  const gridAtOrAfter = (ms: number) => Math.ceil(ms / step - 1e-9) * step;
  let t = 0;
  while (t <= sc.untilMs) {
    const now = T0 + t;
    while (nextEvent < events.length && events[nextEvent]!.atMs <= t) applyEvent(events[nextEvent++]!, now);
    schedule(engine.drain(), t);
    completeDue(t);
    schedule(engine.advance(now), t);
    const replaced = hooks.afterInstant?.(t, engine);
    if (replaced) engine = replaced;
    let next = Number.POSITIVE_INFINITY;
    if (nextEvent < events.length) next = events[nextEvent]!.atMs;
    next = Math.min(next, queue.peekDue());
    const wake = engine.nextWakeAt(now);
    if (wake !== null) next = Math.min(next, wake - T0);
    next = Math.max(gridAtOrAfter(next), t + step);
    t = next;
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
  return { lines, actions, summary: { kind: 'summary', t: sec(sc.untilMs), ponds }, engine };
}
