/** Runs generated scenario documents through the real parse + simulate path, and compares outputs. */
import { Engine } from '../../src/engine/engine.js';
import { toJsonLines } from '../../src/sim/format.js';
import { parseScenario, type Scenario } from '../../src/sim/scenario.js';
import { type SimLine, type SimResult, type SimulateHooks, simulate } from '../../src/sim/simulator.js';
import type { ScenarioDoc } from './random-graph.js';

export interface RunOutput {
  lines: SimLine[];
  summary: SimResult['summary'];
}

/**
 * Parsing (zod) costs about as much as a simulation, and several properties share their cases, so
 * each document object is parsed once and its uninterrupted run is kept. Shrinking makes new
 * document objects, which are parsed and run afresh.
 */
const memo = new WeakMap<ScenarioDoc, { sc: Scenario; straight?: RunOutput }>();

function entry(doc: ScenarioDoc): { sc: Scenario; straight?: RunOutput } {
  let e = memo.get(doc);
  if (!e) {
    e = { sc: parseScenario(JSON.stringify(doc)) };
    memo.set(doc, e);
  }
  return e;
}

export function parseDoc(doc: ScenarioDoc): Scenario {
  return entry(doc).sc;
}

/** `simulate` of the document; without hooks the result is the memoized uninterrupted run. */
export function runDoc(doc: ScenarioDoc, hooks?: SimulateHooks): RunOutput {
  const e = entry(doc);
  if (hooks) return simulate(e.sc, hooks);
  if (!e.straight) {
    const { lines, summary } = simulate(e.sc);
    e.straight = { lines, summary };
  }
  return e.straight;
}

/** A fresh, never memoized run (for the determinism property). */
export function runAgain(doc: ScenarioDoc): RunOutput {
  return simulate(entry(doc).sc);
}

export function engineOptions(sc: Scenario) {
  return {
    passes: sc.options.passes,
    pruneTargetsOnComplete: sc.options.pruneTargets,
    mintedFreshness: sc.options.mintedFreshness,
  };
}

/**
 * A hook that, at the first visited instant at or after each of `atMs`, swaps the engine for one
 * rebuilt from a JSON round trip of its snapshot — what a Catchment restart does.
 */
export function restoringHook(sc: Scenario, atMs: readonly number[]): SimulateHooks {
  const pending = [...atMs].sort((a, b) => a - b);
  let k = 0;
  return {
    afterInstant: (tMs, engine) => {
      if (k >= pending.length || tMs < pending[k]!) return undefined;
      while (k < pending.length && pending[k]! <= tMs) k++;
      const snap = JSON.parse(JSON.stringify(engine.snapshot()));
      return Engine.restore(sc.ponds, snap, engineOptions(sc));
    },
  };
}

export const jsonl = (r: RunOutput): string => toJsonLines(r.lines, r.summary);

/** Null when equal, else where the two JSON Lines outputs first differ (with a little context). */
export function firstDifference(expected: string, actual: string): string | null {
  if (expected === actual) return null;
  const a = expected.split('\n');
  const b = actual.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const ctx = (xs: string[]) => xs.slice(Math.max(0, i - 2), i + 3).join('\n    ');
  return `outputs differ at line ${i + 1}:\n  expected:\n    ${ctx(a)}\n  actual:\n    ${ctx(b)}`;
}

/** Seconds (simulator output) to whole milliseconds; null ("never") to −∞. */
export const secToMs = (s: number | null): number =>
  s === null ? Number.NEGATIVE_INFINITY : Math.round(s * 1000);
