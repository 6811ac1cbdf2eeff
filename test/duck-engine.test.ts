/**
 * The Duck's push-only engine (engine.md §3.2 Duck rule, §3.6–3.7, §3.12-2, §5 P19). Freshness values
 * are plain numbers here (10, 20, …); the engine does not care what epoch they count from.
 */
import { describe, expect, it } from 'vitest';
import { DuckEngine, type DuckEngineSnapshot, EngineError, type RippleSpec } from '../src/engine/index.js';

/** `name` or `name?` (optional parent) → an edge. */
function ripple(name: string, ...parents: string[]): RippleSpec {
  return {
    name,
    parents: parents.map((p) =>
      p.endsWith('?') ? { name: p.slice(0, -1), optional: true } : { name: p, optional: false },
    ),
  };
}

/** The theory Pond p1 of S12: two roots feeding one leaf. */
const P1 = [ripple('r1'), ripple('r2'), ripple('r3', 'r1', 'r2')];

const starts = (e: DuckEngine) => e.takeStarts().map((s) => `${s.ripple}@${s.f}#${s.attempt}`);
const targets = (e: DuckEngine, r: string) => [...e.rippleState(r).targets];
const frozen = (e: DuckEngine): DuckEngineSnapshot => JSON.parse(JSON.stringify(e.toJSON()));

describe('P19 — two begin_runs pipeline through the Pond', () => {
  it('queues two targets on every Ripple and lets the roots run ahead of the leaf', () => {
    const e = new DuckEngine(P1, 'p1');
    expect(e.beginRun(10, 0)).toEqual({ runCompleted: [] });
    expect(e.beginRun(20, 0)).toEqual({ runCompleted: [] });
    for (const r of ['r1', 'r2', 'r3']) expect(targets(e, r)).toEqual([10, 20]);
    expect(e.outstandingRuns()).toEqual([10, 20]);

    // roots take the oldest run; the leaf waits for both parents
    expect(starts(e)).toEqual(['r1@10#1', 'r2@10#1']);
    expect(targets(e, 'r1')).toEqual([20]);
    // a running Ripple is never launched twice, however often the Duck asks
    expect(e.startable()).toEqual([]);
    expect(starts(e)).toEqual([]);

    // a queued target launches r1 the instant it completes, while r2 is still busy with 10
    expect(e.completed('r1', 10)).toEqual({ runCompleted: [] });
    expect(e.startable()).toEqual([{ ripple: 'r1', f: 20, attempt: 1 }]);
    expect(starts(e)).toEqual(['r1@20#1']);
    expect(e.completed('r2', 10)).toEqual({ runCompleted: [] });
    // r2 moves on to 20 while the leaf is only now able to do 10: roots run ahead of the leaf
    expect(starts(e)).toEqual(['r2@20#1', 'r3@10#1']);
    expect(e.rippleState('r3').targets).toEqual([20]);

    expect(e.completed('r1', 20)).toEqual({ runCompleted: [] });
    expect(e.completed('r2', 20)).toEqual({ runCompleted: [] });
    expect(starts(e)).toEqual([]); // r3 is still busy with 10
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
    expect(starts(e)).toEqual(['r3@20#1']);
    expect(e.hasWork()).toBe(true);
    expect(e.completed('r3', 20)).toEqual({ runCompleted: [20] });
    expect(e.outstandingRuns()).toEqual([]);
    expect(e.hasWork()).toBe(false);
    expect(e.rippleState('r1')).toMatchObject({ startF: 20, endF: 20, runsStarted: 2, runsCompleted: 2 });
    expect(e.rippleState('r3')).toMatchObject({ startF: 20, endF: 20, runsStarted: 2, runsCompleted: 2 });
  });

  it('reports every run a single leaf completion overtakes', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 1);
    e.beginRun(20, 0);
    expect(starts(e)).toEqual(['r1@10#1', 'r2@10#1']);
    e.completed('r1', 10);
    e.completed('r2', 10);
    expect(starts(e)).toEqual(['r1@20#1', 'r2@20#1', 'r3@10#1']);
    // r3 fails at 10 and is re-stamped; meanwhile its parents reach 20, so the relaunch takes 20
    expect(e.failed('r3', 10)).toEqual({ retry: true, f: 10 });
    e.completed('r1', 20);
    e.completed('r2', 20);
    expect(starts(e)).toEqual(['r3@20#1']);
    expect(e.rippleState('r3').targets).toEqual([]);
    expect(e.completed('r3', 20)).toEqual({ runCompleted: [10, 20] });
    expect(e.outstandingRuns()).toEqual([]);
  });
});

describe('P19 — immediate retries and failure', () => {
  it('relaunches a failed Ripple within the same run at the same F until the budget is spent', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 2);
    expect(starts(e)).toEqual(['r1@10#1', 'r2@10#1']);
    expect(e.failed('r1', 10)).toEqual({ retry: true, f: 10 });
    expect(e.retriesLeft(10)).toBe(1);
    expect(starts(e)).toEqual(['r1@10#2']);
    expect(e.failed('r1', 10)).toEqual({ retry: true, f: 10 });
    expect(e.retriesLeft(10)).toBe(0);
    expect(starts(e)).toEqual(['r1@10#3']);
    e.completed('r2', 10);
    expect(e.completed('r1', 10)).toEqual({ runCompleted: [] });
    expect(starts(e)).toEqual(['r3@10#1']);
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
    expect(e.rippleState('r1')).toMatchObject({
      runsStarted: 3,
      runsFailed: 2,
      runsCompleted: 1,
      attempt: 3,
    });
    // the finished run's budget is gone
    expect(e.retriesLeft(10)).toBeUndefined();
  });

  it('retries a non-root at the same F too', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 1);
    starts(e);
    e.completed('r1', 10);
    e.completed('r2', 10);
    expect(starts(e)).toEqual(['r3@10#1']);
    expect(e.failed('r3', 10)).toEqual({ retry: true, f: 10 });
    expect(starts(e)).toEqual(['r3@10#2']);
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
  });

  it('budget 0 → runFailed(F, ripple); the failed run is never reported complete', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 0);
    expect(starts(e)).toEqual(['r1@10#1', 'r2@10#1']);
    expect(e.failed('r1', 10)).toEqual({ retry: false, runFailed: 10, ripple: 'r1' });
    expect(e.outstandingRuns()).toEqual([]);
    expect(e.retriesLeft(10)).toBeUndefined();
    // the sibling finishes normally; the descendant keeps its target and cannot reach it
    expect(e.completed('r2', 10)).toEqual({ runCompleted: [] });
    expect(starts(e)).toEqual([]);
    expect(targets(e, 'r3')).toEqual([10]);
    expect(e.hasWork()).toBe(false);

    // the next run absorbs the stale target; only that run is reported
    e.beginRun(20, 0);
    expect(starts(e)).toEqual(['r1@20#1', 'r2@20#1']);
    e.completed('r1', 20);
    e.completed('r2', 20);
    expect(starts(e)).toEqual(['r3@20#1']);
    expect(targets(e, 'r3')).toEqual([]);
    expect(e.completed('r3', 20)).toEqual({ runCompleted: [20] });
  });

  it('budget is granted once per outstanding run: a duplicate begin_run does not refill it', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 1);
    starts(e);
    expect(e.failed('r1', 10)).toEqual({ retry: true, f: 10 });
    e.beginRun(10, 5);
    expect(e.retriesLeft(10)).toBe(0);
    expect(starts(e)).toEqual(['r1@10#2']);
    expect(e.failed('r1', 10)).toEqual({ retry: false, runFailed: 10, ripple: 'r1' });
  });

  it('keeps budgets per run: a failure at 10 spends run 10 only', () => {
    const e = new DuckEngine([ripple('a'), ripple('b', 'a')]);
    e.beginRun(10, 1);
    e.beginRun(20, 1);
    expect(starts(e)).toEqual(['a@10#1']);
    expect(e.failed('a', 10)).toEqual({ retry: true, f: 10 });
    expect(e.retriesLeft(10)).toBe(0);
    expect(e.retriesLeft(20)).toBe(1);
    expect(starts(e)).toEqual(['a@10#2']);
    expect(e.failed('a', 10)).toEqual({ retry: false, runFailed: 10, ripple: 'a' });
    expect(e.outstandingRuns()).toEqual([20]);
    expect(starts(e)).toEqual(['a@20#1']);
  });
});

describe('P19 — ledger recovery', () => {
  it('re-runs only the Ripples whose ledger endF < F', () => {
    const { engine: e, runCompleted } = DuckEngine.fromLedger(P1, {
      endF: { r1: 10, r2: 10, r3: 5 },
      runs: [{ f: 10, immediateRetries: 0 }],
    });
    expect(runCompleted).toEqual([]);
    expect(targets(e, 'r1')).toEqual([]);
    expect(targets(e, 'r2')).toEqual([]);
    expect(targets(e, 'r3')).toEqual([10]);
    expect(starts(e)).toEqual(['r3@10#1']);
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
  });

  it('re-reports runs the ledger already shows complete and resumes the rest with their budget', () => {
    const { engine: e, runCompleted } = DuckEngine.fromLedger(P1, {
      endF: { r1: 20, r2: 10, r3: 10 },
      runs: [
        { f: 20, immediateRetries: 1 },
        { f: 10, immediateRetries: 0 },
      ],
    });
    expect(runCompleted).toEqual([10]);
    expect(e.outstandingRuns()).toEqual([20]);
    expect(e.retriesLeft(20)).toBe(1);
    expect(starts(e)).toEqual(['r2@20#1']);
    expect(e.failed('r2', 20)).toEqual({ retry: true, f: 20 });
    expect(starts(e)).toEqual(['r2@20#2']);
    e.completed('r2', 20);
    expect(starts(e)).toEqual(['r3@20#1']);
    expect(e.completed('r3', 20)).toEqual({ runCompleted: [20] });
  });

  it('treats Ripples missing from the ledger (or null) as never run', () => {
    const { engine: e } = DuckEngine.fromLedger(P1, {
      endF: { r1: null },
      runs: [{ f: 10, immediateRetries: 0 }],
    });
    expect(starts(e)).toEqual(['r1@10#1', 'r2@10#1']);
  });

  it('rejects a ledger naming an unknown Ripple', () => {
    expect(() => DuckEngine.fromLedger(P1, { endF: { r9: 10 }, runs: [] }, 'p1')).toThrow(
      new EngineError('unknown ripple "r9" in pond "p1"'),
    );
  });
});

describe('idempotent replays', () => {
  it('a replayed completion at ≤ endF changes nothing', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 0);
    starts(e);
    e.completed('r1', 10);
    const before = frozen(e);
    expect(e.completed('r1', 10)).toEqual({ runCompleted: [] });
    expect(e.completed('r1', 3)).toEqual({ runCompleted: [] });
    expect(frozen(e)).toEqual(before);

    e.completed('r2', 10);
    starts(e);
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
    const done = frozen(e);
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [] });
    expect(frozen(e)).toEqual(done);
  });

  it('a replay of an old completion while the Ripple runs a newer F is ignored', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 0);
    e.beginRun(20, 0);
    starts(e);
    e.completed('r1', 10);
    expect(starts(e)).toEqual(['r1@20#1']);
    const before = frozen(e);
    expect(e.completed('r1', 10)).toEqual({ runCompleted: [] });
    expect(frozen(e)).toEqual(before);
    expect(e.rippleState('r1').isRunning).toBe(true);
  });

  it('a duplicate begin_run neither duplicates targets nor changes anything', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 1);
    const before = frozen(e);
    expect(e.beginRun(10, 1)).toEqual({ runCompleted: [] });
    expect(frozen(e)).toEqual(before);
    expect(targets(e, 'r3')).toEqual([10]);
  });

  it('a begin_run for a run already complete re-reports it and changes nothing', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 0);
    starts(e);
    e.completed('r1', 10);
    e.completed('r2', 10);
    starts(e);
    e.completed('r3', 10);
    const before = frozen(e);
    expect(e.beginRun(10, 0)).toEqual({ runCompleted: [10] });
    expect(e.beginRun(7, 0)).toEqual({ runCompleted: [7] });
    expect(frozen(e)).toEqual(before);
    expect(e.startable()).toEqual([]);
  });

  it('force recomputes a run that is already complete', () => {
    const e = new DuckEngine(P1);
    e.beginRun(10, 0);
    starts(e);
    e.completed('r1', 10);
    e.completed('r2', 10);
    starts(e);
    e.completed('r3', 10);
    expect(e.beginRun(10, 1, { force: true })).toEqual({ runCompleted: [] });
    expect(e.retriesLeft(10)).toBe(1);
    expect(starts(e)).toEqual(['r1@10#1', 'r2@10#1']);
    e.completed('r1', 10);
    e.completed('r2', 10);
    expect(starts(e)).toEqual(['r3@10#1']);
    expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
  });
});

describe('diamond and optional parents', () => {
  // a → b, a → c, b → d, c → d
  const diamond = (d: RippleSpec) => [ripple('a'), ripple('b', 'a'), ripple('c', 'a'), d];

  it('a Ripple with required parents waits for the slowest (min over required)', () => {
    const e = new DuckEngine(diamond(ripple('d', 'b', 'c')));
    e.beginRun(10, 0);
    e.beginRun(20, 0);
    expect(starts(e)).toEqual(['a@10#1']);
    e.completed('a', 10);
    expect(starts(e)).toEqual(['a@20#1', 'b@10#1', 'c@10#1']);
    e.completed('a', 20);
    e.completed('b', 10);
    expect(starts(e)).toEqual(['b@20#1']); // d waits for c
    e.completed('b', 20);
    expect(starts(e)).toEqual([]);
    e.completed('c', 10);
    // c takes 20 next; d starts at min(b=20, c=10) = 10
    expect(starts(e)).toEqual(['c@20#1', 'd@10#1']);
    expect(e.completed('d', 10)).toEqual({ runCompleted: [10] });
  });

  it('an optional parent never gates: d follows its required parent b', () => {
    const e = new DuckEngine(diamond(ripple('d', 'b', 'c?')));
    e.beginRun(10, 0);
    starts(e);
    e.completed('a', 10);
    expect(starts(e)).toEqual(['b@10#1', 'c@10#1']);
    e.completed('b', 10);
    expect(starts(e)).toEqual(['d@10#1']);
    // the run is complete when the leaf is, even though c (not a leaf) is still busy
    expect(e.completed('d', 10)).toEqual({ runCompleted: [10] });
    expect(e.rippleState('c').isRunning).toBe(true);
    expect(e.completed('c', 10)).toEqual({ runCompleted: [] });
  });

  it('with only optional parents, a Ripple takes the freshest parent (max)', () => {
    const e = new DuckEngine(diamond(ripple('d', 'b?', 'c?')));
    e.beginRun(10, 0);
    e.beginRun(20, 0);
    starts(e);
    e.completed('a', 10);
    expect(starts(e)).toEqual(['a@20#1', 'b@10#1', 'c@10#1']);
    e.completed('a', 20);
    e.completed('c', 10);
    expect(starts(e)).toEqual(['c@20#1', 'd@10#1']);
    e.completed('c', 20);
    // d is busy with 10 while c reached 20 and b still runs 10
    expect(e.completed('d', 10)).toEqual({ runCompleted: [10] });
    expect(starts(e)).toEqual(['d@20#1']);
    expect(e.completed('d', 20)).toEqual({ runCompleted: [20] });
    expect(e.rippleState('b')).toMatchObject({ isRunning: true, startF: 10, targets: [20] });
  });

  it('two leaves: a run completes only when both have reached it', () => {
    const e = new DuckEngine([ripple('a'), ripple('x', 'a'), ripple('y', 'a')]);
    e.beginRun(10, 0);
    starts(e);
    e.completed('a', 10);
    expect(starts(e)).toEqual(['x@10#1', 'y@10#1']);
    expect(e.completed('x', 10)).toEqual({ runCompleted: [] });
    expect(e.completed('y', 10)).toEqual({ runCompleted: [10] });
  });
});

describe('persistence', () => {
  it('toJSON → fromJSON round-trips a mid-run state and continues identically', () => {
    const a = new DuckEngine(P1, 'p1');
    a.beginRun(10, 1);
    a.beginRun(20, 0);
    starts(a);
    a.failed('r1', 10);
    a.completed('r2', 10);
    const snap = frozen(a);
    expect(snap.runs).toEqual([
      { f: 10, retriesLeft: 0 },
      { f: 20, retriesLeft: 0 },
    ]);
    expect(snap.ripples.find((r) => r.name === 'r3')).toMatchObject({
      startF: null,
      endF: null,
      targets: [10, 20],
    });
    const b = DuckEngine.fromJSON(P1, snap, 'p1');
    expect(frozen(b)).toEqual(snap);
    for (const e of [a, b]) {
      expect(starts(e)).toEqual(['r1@10#2', 'r2@20#1']);
      e.completed('r1', 10);
      expect(starts(e)).toEqual(['r1@20#1', 'r3@10#1']);
      expect(e.completed('r3', 10)).toEqual({ runCompleted: [10] });
    }
    expect(frozen(b)).toEqual(frozen(a));
  });

  it('fromJSON rejects a snapshot naming an unknown Ripple', () => {
    const snap = frozen(new DuckEngine(P1));
    snap.ripples[0]!.name = 'ghost';
    expect(() => DuckEngine.fromJSON(P1, snap, 'p1')).toThrow(/unknown ripple "ghost" in pond "p1"/);
  });
});

describe('bad input', () => {
  it('an unknown Ripple name throws an EngineError naming it and changes nothing', () => {
    const e = new DuckEngine(P1, 'p1');
    e.beginRun(10, 1);
    starts(e);
    const before = frozen(e);
    expect(() => e.completed('nope', 10)).toThrow(new EngineError('unknown ripple "nope" in pond "p1"'));
    expect(() => e.failed('nope', 10)).toThrow(EngineError);
    expect(() => e.failed('nope', 10)).toThrow(/"nope"/);
    expect(() => e.rippleState('nope')).toThrow(/unknown ripple "nope"/);
    expect(frozen(e)).toEqual(before);
  });

  it('a completion or failure that does not match the running launch is refused', () => {
    const e = new DuckEngine(P1, 'p1');
    e.beginRun(10, 1);
    starts(e);
    const before = frozen(e);
    expect(() => e.completed('r1', 20)).toThrow(
      new EngineError('ripple "r1" in pond "p1" is running at 10, not at freshness 20'),
    );
    expect(() => e.completed('r3', 10)).toThrow(
      new EngineError('ripple "r3" in pond "p1" is not running, not at freshness 10'),
    );
    expect(() => e.failed('r3', 10)).toThrow(/ripple "r3" in pond "p1" is not running/);
    expect(frozen(e)).toEqual(before);
  });

  it('rejects malformed freshness and budgets without changing state', () => {
    const e = new DuckEngine(P1);
    const before = frozen(e);
    expect(() => e.beginRun(Number.NaN, 0)).toThrow(/run freshness must be a finite freshness/);
    expect(() => e.beginRun(Number.NEGATIVE_INFINITY, 0)).toThrow(EngineError);
    expect(() => e.beginRun(10, -1)).toThrow(/immediateRetries must be a non-negative integer, got -1/);
    expect(() => e.beginRun(10, 1.5)).toThrow(/immediateRetries/);
    expect(() => e.completed('r1', Number.NaN)).toThrow(/completion freshness/);
    expect(frozen(e)).toEqual(before);
  });

  it('rejects an invalid Ripple graph with the topology check', () => {
    expect(() => new DuckEngine([ripple('a', 'b'), ripple('b', 'a')], 'p')).toThrow(
      /invalid ripples of pond "p": ripple cycle in pond "p": a → b → a/,
    );
    expect(() => new DuckEngine([ripple('a', 'zz')], 'p')).toThrow(/unknown parent ripple "zz" in pond "p"/);
    expect(() => new DuckEngine([ripple('a'), ripple('a')], 'p')).toThrow(/duplicate ripple name "a"/);
    expect(() => new DuckEngine([], 'p')).toThrow(new EngineError('pond "p" has no ripples'));
  });
});

describe('repeated begin-run while a Ripple is running at F', () => {
  it('does not queue a second execution (a Catchment re-dispatching after a restart)', () => {
    const e = new DuckEngine([
      { name: 'a', parents: [] },
      { name: 'b', parents: [{ name: 'a', optional: false }] },
    ]);
    e.beginRun(10, 0);
    expect(e.takeStarts()).toEqual([{ ripple: 'a', f: 10, attempt: 1 }]);
    e.completed('a', 10);
    expect(e.takeStarts()).toEqual([{ ripple: 'b', f: 10, attempt: 1 }]);
    e.beginRun(10, 0); // the same command again while b runs
    expect(e.rippleState('b').targets).toEqual([]);
    expect(e.completed('b', 10).runCompleted).toEqual([10]);
    expect(e.takeStarts()).toEqual([]);
  });
});
