/**
 * Scenarios of engine.md §5 that need injected state or the driver API, run directly against `Engine`.
 * State is injected by editing `engine.snapshot()` and `Engine.restore`-ing it; the test plays the Duck
 * by calling `rippleCompleted` itself. Times and freshness are written in seconds from T0 (`at(s)`).
 */
import { describe, expect, it } from 'vitest';
import {
  Engine,
  EngineError,
  type EngineEvent,
  type EngineOptions,
  type EngineSnapshot,
  type PondSpec,
  type Window,
} from '../src/engine/index.js';

const T0 = Date.UTC(2026, 0, 1);
const at = (s: number): number => T0 + s * 1000;
/** Seconds from T0, null for never. */
const sec = (ms: number): number | null => (Number.isFinite(ms) ? (ms - T0) / 1000 : null);

const edge = (n: string) =>
  n.endsWith('?') ? { name: n.slice(0, -1), optional: true } : { name: n, optional: false };

interface PondOpts {
  sources?: string[];
  /** [name, ...parents]; default one Ripple `<pond>_r`. */
  ripples?: string[][];
  windows?: Window[];
  alwaysRun?: boolean;
}

function pond(name: string, o: PondOpts = {}): PondSpec {
  return {
    name,
    sources: (o.sources ?? []).map(edge),
    ripples: (o.ripples ?? [[`${name}_r`]]).map(([r, ...parents]) => ({
      name: r!,
      parents: parents.map(edge),
    })),
    windows: o.windows ?? [],
    immediateRetries: 0,
    sourceRetries: 0,
    alwaysRun: o.alwaysRun ?? false,
  };
}

/** The theory graph of S12/S14: p1 (r1, r2 → r3) → p2 (s1). */
const THEORY = [
  pond('p1', { ripples: [['r1'], ['r2'], ['r3', 'r1', 'r2']] }),
  pond('p2', { sources: ['p1'], ripples: [['s1']] }),
];

type Line = { t: number | null; kind: EngineEvent['kind']; pond: string; ripple?: string; f: number | null };

/** Events in seconds, without the pond-start flags (asserted separately where they matter). */
function lines(events: EngineEvent[]): Line[] {
  return events.map((e) => {
    const l: Line = { t: sec(e.t), kind: e.kind, pond: e.pond, f: sec(e.f) };
    if ('ripple' in e) l.ripple = e.ripple;
    return l;
  });
}

type PondPatch = Partial<Omit<EngineSnapshot['ponds'][number], 'name'>>;
type RipplePatch = Partial<Omit<EngineSnapshot['ripples'][number], 'pond' | 'name'>>;

/** Idle at freshness `f` (seconds): started and completed at f, every Ripple too. */
const idleAt = (f: number): PondPatch & RipplePatch => ({ startF: at(f), endF: at(f) });

class Injector {
  readonly snap: EngineSnapshot;
  constructor(readonly specs: PondSpec[]) {
    this.snap = new Engine(specs).snapshot();
  }
  pond(name: string, patch: PondPatch): this {
    const p = this.snap.ponds.find((x) => x.name === name);
    if (!p) throw new Error(`no pond ${name}`);
    Object.assign(p, patch);
    return this;
  }
  ripple(pondName: string, name: string, patch: RipplePatch): this {
    const r = this.snap.ripples.find((x) => x.pond === pondName && x.name === name);
    if (!r) throw new Error(`no ripple ${pondName}.${name}`);
    Object.assign(r, patch);
    return this;
  }
  /** Pond and all its Ripples idle at f. */
  idle(name: string, f: number): this {
    this.pond(name, idleAt(f));
    for (const r of this.snap.ripples) if (r.pond === name) Object.assign(r, idleAt(f));
    return this;
  }
  engine(options: EngineOptions = {}): Engine {
    return Engine.restore(this.specs, JSON.parse(JSON.stringify(this.snap)), options);
  }
}

/**
 * One grid instant of a 1 s-per-Ripple world on a 1 s grid: every running Ripple started one second
 * ago, so it completes now (in Ripple order, like the simulator), then the engine advances.
 */
function step(e: Engine, s: number): EngineEvent[] {
  const now = at(s);
  const running = e.ripples.flatMap((rs, r) => (rs.isRunning ? [{ r, f: rs.startF }] : []));
  for (const { r, f } of running) {
    const cr = e.topology.ripples[r]!;
    expect(e.rippleCompleted(e.pondName(cr.pond), cr.name, f, now)).toBe(true);
  }
  return e.advance(now);
}

function runSeconds(
  e: Engine,
  from: number,
  to: number,
  actions: Record<number, (now: number) => void> = {},
) {
  const out: EngineEvent[] = [];
  for (let s = from; s <= to; s++) {
    actions[s]?.(at(s));
    out.push(...step(e, s));
  }
  return out;
}

const beginRuns = (events: EngineEvent[], p: string) =>
  events
    .filter((e) => e.kind === 'pond-start' && e.pond === p && !e.pass)
    .map((e) => ({ t: sec(e.t), f: sec(e.f) }));

// ─────────────────────────────────────────────────────────────────────────────────────────────────────────

describe('S34 — diamond freshness is the min over required Sources', () => {
  const diamond = (bOptional: boolean) => [
    pond('S'),
    pond('A', { sources: ['S'] }),
    pond('B', { sources: ['S'] }),
    pond('X', { sources: ['A', bOptional ? 'B?' : 'B'] }),
  ];
  const injected = (bOptional: boolean) =>
    new Injector(diamond(bOptional)).idle('S', 12).idle('A', 10).idle('B', 8).engine();

  it('Wake X runs it at F+8 and solicits no Source', () => {
    const e = injected(false);
    e.wake('X', at(20));
    const out = e.advance(at(20));
    expect(out).toEqual([
      {
        t: at(20),
        kind: 'pond-start',
        pond: 'X',
        f: at(8),
        pull: true,
        force: false,
        refresh: false,
        sourcesChanged: true,
        pass: false,
      },
      { t: at(20), kind: 'ripple-start', pond: 'X', ripple: 'X_r', f: at(8) },
    ]);
    expect(e.rippleCompleted('X', 'X_r', at(8), at(21))).toBe(true);
    expect(lines(e.advance(at(21)))).toEqual([
      { t: 21, kind: 'ripple-done', pond: 'X', ripple: 'X_r', f: 8 },
      { t: 21, kind: 'pond-done', pond: 'X', f: 8 },
    ]);
    for (const p of ['S', 'A', 'B']) expect(e.pondState(p)).toMatchObject({ hasPull: false, runsStarted: 0 });
  });

  it('with B optional, X runs at F+10 (min over the required A only)', () => {
    const e = injected(true);
    e.wake('X', at(20));
    expect(lines(e.advance(at(20)))).toEqual([
      { t: 20, kind: 'pond-start', pond: 'X', f: 10 },
      { t: 20, kind: 'ripple-start', pond: 'X', ripple: 'X_r', f: 10 },
    ]);
  });
});

describe('S38 — a blocked Pond solicits nothing, also through Ripple pull (decision)', () => {
  const specs = [pond('A'), pond('D'), pond('C', { sources: ['A', 'D'], ripples: [['c1'], ['c2', 'c1']] })];
  const state = () =>
    new Injector(specs)
      .idle('A', 1)
      .idle('D', 1)
      .pond('C', { startF: at(1), endF: null })
      .ripple('C', 'c1', { startF: at(1), isRunning: true, runsStarted: 1 })
      .ripple('C', 'c2', { hasPull: true, targets: [at(1)] })
      .engine();

  it('D does not run at 2 although c2 re-arms c1 (a root) while C is blocked', () => {
    const e = state();
    e.kill('A', at(1.5));
    expect(e.advance(at(1.5))).toEqual([]);
    expect(e.status('C')).toBe('blocked');

    expect(e.rippleCompleted('C', 'c1', at(1), at(2))).toBe(true);
    expect(lines(e.advance(at(2)))).toEqual([
      { t: 2, kind: 'ripple-done', pond: 'C', ripple: 'c1', f: 1 },
      { t: 2, kind: 'ripple-start', pond: 'C', ripple: 'c2', f: 1 },
    ]);
    // c2's start re-armed c1 and so C itself, but C solicited no Source
    expect(e.rippleState('C', 'c1').hasPull).toBe(true);
    expect(e.pondState('C').hasPull).toBe(true);
    expect(e.pondState('D')).toMatchObject({ hasPull: false, targets: [], runsStarted: 0 });

    // C drains what it holds; still nothing reaches D
    expect(e.rippleCompleted('C', 'c2', at(1), at(3))).toBe(true);
    expect(lines(e.advance(at(3)))).toEqual([
      { t: 3, kind: 'ripple-done', pond: 'C', ripple: 'c2', f: 1 },
      { t: 3, kind: 'pond-done', pond: 'C', f: 1 },
    ]);
    expect(lines(e.advance(at(4)))).toEqual([]);
    expect(e.pondState('D')).toMatchObject({ hasPull: false, runsStarted: 0 });
  });
});

describe('P01/P02 — minted freshness', () => {
  const specs = [pond('I')];

  it('P01: an Inlet holding target +5 first able to start at +10 stamps +5 (and +10 without the option)', () => {
    const inj = new Injector(specs).pond('I', { targets: [at(5)] });
    const minted = inj.engine({ mintedFreshness: true });
    expect(lines(minted.advance(at(10)))).toEqual([
      { t: 10, kind: 'pond-start', pond: 'I', f: 5 },
      { t: 10, kind: 'ripple-start', pond: 'I', ripple: 'I_r', f: 5 },
    ]);
    expect(minted.pondState('I')).toMatchObject({ startF: at(5), targets: [] });
    const plain = inj.engine();
    expect(lines(plain.advance(at(10)))[0]).toEqual({ t: 10, kind: 'pond-start', pond: 'I', f: 10 });
  });

  it('P02: an Inlet with a pull minted at +5 started at +10 stamps +5 (and +10 without the option)', () => {
    for (const [options, f] of [
      [{ mintedFreshness: true }, 5],
      [{}, 10],
    ] as const) {
      const e = new Engine(specs, options);
      e.tap('I', at(5));
      expect(e.pondState('I').pullM).toBe(at(5));
      const start = e.advance(at(10))[0]!;
      expect(start).toMatchObject({ kind: 'pond-start', pond: 'I', f: at(f), pull: true });
    }
  });

  it('P02 with injected state: hasPull and pullM = +5', () => {
    const e = new Injector(specs)
      .pond('I', { hasPull: true, pullM: at(5) })
      .engine({ mintedFreshness: true });
    expect(e.advance(at(10))[0]).toMatchObject({ kind: 'pond-start', f: at(5), pull: true });
  });
});

describe('P03 — Force on an Inlet stamps the run’s now', () => {
  it('ignores the NEVER target and stamps now, even with minted freshness', () => {
    const e = new Injector([pond('I')]).idle('I', 0).engine({ mintedFreshness: true });
    e.force('I', at(10));
    expect(e.pondState('I').targets).toEqual([Number.NEGATIVE_INFINITY]);
    const out = e.advance(at(12));
    expect(out[0]).toEqual({
      t: at(12),
      kind: 'pond-start',
      pond: 'I',
      f: at(12),
      pull: false,
      force: true,
      refresh: false,
      sourcesChanged: false,
      pass: false,
    });
    expect(lines(out.slice(1))).toEqual([{ t: 12, kind: 'ripple-start', pond: 'I', ripple: 'I_r', f: 12 }]);
    expect(e.pondState('I')).toMatchObject({ startF: at(12), targets: [], forcePending: false });
  });
});

describe('P04 — a target equal to the in-flight run’s F', () => {
  // B is running F+0 and holds a target +0 that arrived while it was in flight
  const inj = new Injector([pond('A'), pond('B', { sources: ['A'] })])
    .idle('A', 0)
    .pond('B', { startF: at(0), endF: null, targets: [at(0)], runsStarted: 1 })
    .ripple('B', 'B_r', { startF: at(0), isRunning: true, runsStarted: 1 });

  it('pruneTargetsOnComplete: the target is pruned on completion; no re-run follows', () => {
    const e = inj.engine({ pruneTargetsOnComplete: true });
    expect(e.rippleCompleted('B', 'B_r', at(0), at(1))).toBe(true);
    expect(lines(e.advance(at(1)))).toEqual([
      { t: 1, kind: 'ripple-done', pond: 'B', ripple: 'B_r', f: 0 },
      { t: 1, kind: 'pond-done', pond: 'B', f: 0 },
    ]);
    expect(e.pondState('B')).toMatchObject({ targets: [], runsStarted: 1, runsCompleted: 1 });
    expect(e.status('B')).toBe('idle');
    expect(lines(e.advance(at(2)))).toEqual([]);
  });

  it('without the option (Profile P) B re-runs at the same F: an immediate duplicate start (§6 Q6)', () => {
    const e = inj.engine();
    expect(e.rippleCompleted('B', 'B_r', at(0), at(1))).toBe(true);
    expect(lines(e.advance(at(1)))).toEqual([
      { t: 1, kind: 'ripple-done', pond: 'B', ripple: 'B_r', f: 0 },
      { t: 1, kind: 'pond-done', pond: 'B', f: 0 },
      // the duplicate Pond Run stamps nothing: B_r is already fresh to +0 (§3.4 addRippleTarget)
      { t: 1, kind: 'pond-start', pond: 'B', f: 0 },
    ]);
    expect(e.pondState('B')).toMatchObject({
      startF: at(0),
      endF: at(0),
      targets: [],
      runsStarted: 2,
      runsCompleted: 1,
    });
    expect(e.rippleState('B', 'B_r')).toMatchObject({ targets: [], isRunning: false, runsStarted: 1 });
    expect(e.status('B')).toBe('idle');
  });
});

describe('P09 — blocked drains', () => {
  it('p2 with a held pull runs at F+5 after p1 failed, and does not solicit p1', () => {
    const e = new Injector(THEORY)
      .idle('p1', 5)
      .pond('p1', { startF: at(7), isFailed: true, failedF: at(7), failures: 1, isBlocked: true })
      .idle('p2', 0)
      .pond('p2', { hasPull: true, isBlocked: true })
      .engine();
    expect(e.status('p1')).toBe('failed');
    expect(e.status('p2')).toBe('blocked');
    const out = e.advance(at(10));
    expect(out[0]).toMatchObject({ kind: 'pond-start', pond: 'p2', f: at(5), pull: true });
    expect(lines(out)).toEqual([
      { t: 10, kind: 'pond-start', pond: 'p2', f: 5 },
      { t: 10, kind: 'ripple-start', pond: 'p2', ripple: 's1', f: 5 },
    ]);
    expect(e.pondState('p1')).toMatchObject({ hasPull: false, targets: [], runsStarted: 0 });
    for (const r of ['r1', 'r2', 'r3']) expect(e.rippleState('p1', r).hasPull).toBe(false);
    e.rippleCompleted('p2', 's1', at(5), at(11));
    expect(lines(e.advance(at(11)))).toEqual([
      { t: 11, kind: 'ripple-done', pond: 'p2', ripple: 's1', f: 5 },
      { t: 11, kind: 'pond-done', pond: 'p2', f: 5 },
    ]);
    expect(e.status('p2')).toBe('blocked');
    expect(e.status('p1')).toBe('failed');
  });
});

describe('P12 — pass operand (passes: true)', () => {
  const specs = [pond('A'), pond('B'), pond('X', { sources: ['A', 'B'] })];
  const inj = (aChanged: number, bChanged: number) =>
    new Injector(specs)
      .idle('A', 8)
      .pond('A', { changedF: at(aChanged) })
      .idle('B', 10)
      .pond('B', { changedF: at(bChanged) })
      .idle('X', 5)
      .pond('X', { changedF: at(5) })
      .engine({ passes: true });

  it('X does real work at F+8 because B changed at +7 > priorF +5, though +7 < +8', () => {
    const e = inj(6, 7);
    e.wake('X', at(20));
    const out = e.advance(at(20));
    expect(out[0]).toMatchObject({
      kind: 'pond-start',
      pond: 'X',
      f: at(8),
      sourcesChanged: true,
      pass: false,
    });
    expect(lines(out.slice(1))).toEqual([{ t: 20, kind: 'ripple-start', pond: 'X', ripple: 'X_r', f: 8 }]);
  });

  it('control: no Source changed after +5 → a pass at F+8, changedF held', () => {
    const e = inj(4, 5);
    e.wake('X', at(20));
    const out = e.advance(at(20));
    expect(out[0]).toMatchObject({
      kind: 'pond-start',
      pond: 'X',
      f: at(8),
      sourcesChanged: false,
      pass: true,
    });
    expect(lines(out.slice(1))).toEqual([{ t: 20, kind: 'pond-pass', pond: 'X', f: 8 }]);
    expect(e.pondState('X')).toMatchObject({ endF: at(8), changedF: at(5), runsCompleted: 1 });
    expect(e.rippleState('X', 'X_r')).toMatchObject({ startF: at(8), endF: at(8), isRunning: false });
  });
});

describe('P13 — alwaysRun dispatches with unchanged Sources', () => {
  const inj = (alwaysRun: boolean) =>
    new Injector([pond('p1'), pond('p2', { sources: ['p1'], alwaysRun })])
      .idle('p1', 10)
      .pond('p1', { changedF: at(5) })
      .idle('p2', 5)
      .pond('p2', { changedF: at(5) })
      .engine({ passes: true });

  it('always_run: a real run although no Source changed', () => {
    const e = inj(true);
    e.wake('p2', at(20));
    const out = e.advance(at(20));
    expect(out[0]).toMatchObject({
      kind: 'pond-start',
      pond: 'p2',
      f: at(10),
      sourcesChanged: false,
      pass: false,
    });
    expect(lines(out.slice(1))).toEqual([{ t: 20, kind: 'ripple-start', pond: 'p2', ripple: 'p2_r', f: 10 }]);
  });

  it('control without always_run: a pass', () => {
    const e = inj(false);
    e.wake('p2', at(20));
    expect(lines(e.advance(at(20)))).toEqual([
      { t: 20, kind: 'pond-start', pond: 'p2', f: 10 },
      { t: 20, kind: 'pond-pass', pond: 'p2', f: 10 },
    ]);
  });
});

describe('P17 — pondFailed', () => {
  it('pins failedF = startF of the in-flight run (not the Ripple’s F), stops Ripples, blocks', () => {
    // p2 started a run at +3 while s1 is still busy with +2
    const e = new Injector(THEORY)
      .idle('p1', 3)
      .idle('p2', 0)
      .pond('p2', { startF: at(3), runsStarted: 2 })
      .ripple('p2', 's1', { startF: at(2), isRunning: true, targets: [at(3)] })
      .engine();
    e.pondFailed('p2', at(4));
    expect(lines(e.drain())).toEqual([{ t: 4, kind: 'pond-fail', pond: 'p2', f: 3 }]);
    expect(e.pondState('p2')).toMatchObject({ isFailed: true, failedF: at(3), failures: 1, isBlocked: true });
    expect(e.rippleState('p2', 's1').isRunning).toBe(false);
    expect(e.status('p2')).toBe('failed');
    expect(e.pondState('p1')).toMatchObject({ isFailed: false, isBlocked: false });
    // a failed Pond starts no new Pond Run (no retry budget) and solicits nothing
    const later = e.advance(at(5));
    expect(later.filter((x) => x.kind === 'pond-start')).toEqual([]);
    // the dead Duck's runs are dropped from the model too: nothing restarts the Ripple
    expect(later.filter((x) => x.kind === 'ripple-start')).toEqual([]);
    expect(e.rippleState('p2', 's1').targets).toEqual([]);
    expect(e.pondState('p1')).toMatchObject({ hasPull: false, targets: [], runsStarted: 0 });
  });

  it('is a no-op when nothing is in flight', () => {
    const e = new Injector(THEORY).idle('p1', 2).idle('p2', 2).engine();
    const before = e.snapshot();
    e.pondFailed('p2', at(4));
    expect(e.drain()).toEqual([]);
    expect(e.snapshot()).toEqual(before);
    expect(e.status('p2')).toBe('idle');
  });
});

describe('P18 — BeginRuns are pond-start events that are not passes', () => {
  it('Tap on the S12 graph: 3 for p1, 1 for p2', () => {
    const e = new Engine(THEORY);
    const out = runSeconds(e, 0, 6, { 0: (now) => e.tap('p2', now) });
    expect(beginRuns(out, 'p1')).toEqual([
      { t: 0, f: 0 },
      { t: 1, f: 1 },
      { t: 2, f: 2 },
    ]);
    expect(beginRuns(out, 'p2')).toEqual([{ t: 2, f: 0 }]);
    expect(out.filter((x) => x.kind === 'pond-pass')).toEqual([]);
    expect(lines(out.filter((x) => x.kind === 'pond-done'))).toEqual([
      { t: 2, kind: 'pond-done', pond: 'p1', f: 0 },
      { t: 3, kind: 'pond-done', pond: 'p1', f: 1 },
      { t: 3, kind: 'pond-done', pond: 'p2', f: 0 },
      { t: 4, kind: 'pond-done', pond: 'p1', f: 2 },
    ]);
  });

  it('Pulse (S14): 1 each', () => {
    const e = new Engine(THEORY);
    const out = runSeconds(e, 0, 6, { 0: (now) => e.pulse('p2', now) });
    expect(beginRuns(out, 'p1')).toEqual([{ t: 0, f: 0 }]);
    expect(beginRuns(out, 'p2')).toEqual([{ t: 2, f: 0 }]);
  });

  it('with passes on, an unchanged re-run is a pass, not a BeginRun', () => {
    const e = new Injector(THEORY)
      .idle('p1', 5)
      .pond('p1', { changedF: at(2) })
      .idle('p2', 2)
      .engine({ passes: true });
    e.wake('p2', at(10));
    const out = e.advance(at(10));
    expect(beginRuns(out, 'p2')).toEqual([]);
    expect(out.map((x) => x.kind)).toEqual(['pond-start', 'pond-pass']);
  });
});

describe('idempotency', () => {
  it('replaying a rippleCompleted event changes nothing', () => {
    const e = new Engine(THEORY);
    e.tap('p2', at(0));
    e.advance(at(0));
    expect(e.rippleCompleted('p1', 'r1', at(0), at(1))).toBe(true);
    const mid = e.snapshot();
    const midEvents = e.drain();
    expect(lines(midEvents)).toEqual([{ t: 1, kind: 'ripple-done', pond: 'p1', ripple: 'r1', f: 0 }]);
    expect(e.rippleCompleted('p1', 'r1', at(0), at(1))).toBe(false);
    expect(e.rippleCompleted('p1', 'r1', at(0), at(1.5))).toBe(false);
    expect(e.drain()).toEqual([]);
    expect(e.snapshot()).toEqual(mid);

    runSeconds(e, 1, 6);
    const end = e.snapshot();
    expect(e.rippleCompleted('p1', 'r3', at(2), at(7))).toBe(false);
    expect(e.rippleCompleted('p1', 'r3', at(1), at(7))).toBe(false);
    expect(e.rippleCompleted('p2', 's1', at(0), at(7))).toBe(false);
    expect(e.advance(at(7))).toEqual([]);
    const after = e.snapshot();
    // advance only moves the clock
    expect({ ...after, clock: end.clock }).toEqual(end);
  });

  it('replaying rippleFailed at ≤ endF is ignored', () => {
    const e = new Injector(THEORY).idle('p1', 2).idle('p2', 2).engine();
    const before = e.snapshot();
    e.rippleFailed('p2', 's1', at(2), at(5));
    expect(e.drain()).toEqual([]);
    expect(e.snapshot()).toEqual(before);
  });
});

describe('nextWakeAt', () => {
  it('a windowed Inlet waiting for a window opening returns that opening', () => {
    const w: Window = {
      name: 'w',
      startAnchor: T0,
      everyMs: 60_000,
      durationMs: 20_000,
      validDays: [],
      until: null,
    };
    const e = new Engine([pond('W', { windows: [w] }), pond('C', { sources: ['W'] })]);
    e.tap('C', at(30));
    expect(e.advance(at(30))).toEqual([]);
    expect(e.nextWakeAt(at(30))).toBe(at(60));
    expect(lines(e.advance(at(60)))).toEqual([
      { t: 60, kind: 'pond-start', pond: 'W', f: 80 },
      { t: 60, kind: 'ripple-start', pond: 'W', ripple: 'W_r', f: 80 },
    ]);
  });

  it('a Tide returns its deadline', () => {
    const e = new Engine([pond('I')]);
    e.setTrigger('I', { kind: 'tide', boundMs: 10_000 });
    expect(lines(e.advance(at(0)))).toEqual([
      { t: 0, kind: 'pond-start', pond: 'I', f: 0 },
      { t: 0, kind: 'ripple-start', pond: 'I', ripple: 'I_r', f: 0 },
    ]);
    expect(e.nextWakeAt(at(0))).toBe(at(10));
    step(e, 1);
    expect(e.nextWakeAt(at(1))).toBe(at(10));
    expect(e.advance(at(9.9))).toEqual([]);
    expect(lines(e.advance(at(10)))).toEqual([
      { t: 10, kind: 'pond-start', pond: 'I', f: 10 },
      { t: 10, kind: 'ripple-start', pond: 'I', ripple: 'I_r', f: 10 },
    ]);
    expect(e.nextWakeAt(at(10))).toBe(at(20));
  });

  it('nothing time-driven returns null', () => {
    const e = new Engine(THEORY);
    expect(e.nextWakeAt(at(0))).toBeNull();
    e.tap('p2', at(0));
    e.advance(at(0));
    expect(e.nextWakeAt(at(0))).toBeNull(); // mid-run: only Duck events can change anything
    runSeconds(e, 1, 6);
    expect(e.status('p1')).toBe('idle');
    expect(e.nextWakeAt(at(6))).toBeNull();
    e.setTrigger('p2', { kind: 'wave', boundMs: 0 });
    // a Wave set on an idle Pond is due at once: the next instant
    expect(e.nextWakeAt(at(6))).toBe(at(6) + 1);
    e.advance(at(6));
    // serviced: runs are in flight, so only Duck events can change anything again
    expect(e.nextWakeAt(at(6))).toBeNull();
  });
});

describe('bad input', () => {
  it('unknown pond or ripple names throw EngineError and change nothing', () => {
    const e = new Engine(THEORY);
    e.tap('p2', at(0));
    e.advance(at(0));
    const before = e.snapshot();
    const calls: Array<[() => unknown, RegExp]> = [
      [() => e.tap('nope', at(1)), /unknown pond "nope"/],
      [() => e.pulse('nope', at(1)), /unknown pond "nope"/],
      [() => e.wake('nope', at(1)), /unknown pond "nope"/],
      [() => e.force('nope', at(1)), /unknown pond "nope"/],
      [() => e.kill('nope', at(1)), /unknown pond "nope"/],
      [() => e.sleep('nope', at(1)), /unknown pond "nope"/],
      [() => e.clear('nope', at(1)), /unknown pond "nope"/],
      [() => e.setTrigger('nope', { kind: 'wave', boundMs: 0 }), /unknown pond "nope"/],
      [() => e.pondFailed('nope', at(1)), /unknown pond "nope"/],
      [() => e.rippleCompleted('nope', 'r1', at(0), at(1)), /unknown pond "nope"/],
      [() => e.rippleCompleted('p1', 'nope', at(0), at(1)), /unknown ripple "nope" in pond "p1"/],
      [() => e.rippleFailed('p1', 'nope', at(0), at(1)), /unknown ripple "nope" in pond "p1"/],
      [() => e.rippleRetried('p2', 'r1', at(1)), /unknown ripple "r1" in pond "p2"/],
      [() => e.pondState('nope'), /unknown pond "nope"/],
      [() => e.setTrigger('p2', { kind: 'tide', boundMs: 0 }), /tide bound must be > 0/],
    ];
    for (const [call, message] of calls) {
      expect(call).toThrow(EngineError);
      expect(call).toThrow(message);
    }
    expect(e.snapshot()).toEqual(before);
    expect(e.drain()).toEqual([]);
  });
});

describe('snapshot', () => {
  it('a mid-run state survives a JSON round trip and continues identically', () => {
    const a = new Engine(THEORY);
    runSeconds(a, 0, 2, { 0: (now) => a.tap('p2', now) });
    const snap = a.snapshot();
    const json = JSON.stringify(snap);
    const parsed = JSON.parse(json) as EngineSnapshot;
    expect(parsed).toEqual(snap);
    // mid-run: p1 runs +2 while r3 is busy with +1, p2 runs +0
    expect(parsed.ponds.find((p) => p.name === 'p1')).toMatchObject({ startF: at(2), endF: at(0) });
    expect(parsed.ponds.find((p) => p.name === 'p2')).toMatchObject({ startF: at(0), endF: null });
    expect(parsed.ripples.filter((r) => r.isRunning).map((r) => `${r.name}@${sec(r.startF!)}`)).toEqual([
      'r1@2',
      'r2@2',
      'r3@1',
      's1@0',
    ]);

    const b = Engine.restore(THEORY, parsed);
    expect(b.snapshot()).toEqual(snap);
    const restA = runSeconds(a, 3, 6);
    const restB = runSeconds(b, 3, 6);
    expect(restB).toEqual(restA);
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(lines(restA.filter((x) => x.kind === 'pond-done'))).toEqual([
      { t: 3, kind: 'pond-done', pond: 'p1', f: 1 },
      { t: 3, kind: 'pond-done', pond: 'p2', f: 0 },
      { t: 4, kind: 'pond-done', pond: 'p1', f: 2 },
    ]);
    for (const p of ['p1', 'p2']) expect(b.status(p)).toBe('idle');
    expect(b.pondState('p1')).toMatchObject({ runsStarted: 3, runsCompleted: 3, endF: at(2) });
    expect(b.pondState('p2')).toMatchObject({ runsStarted: 1, runsCompleted: 1, endF: at(0) });
  });
});
