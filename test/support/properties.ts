/**
 * The properties the randomized engine suite checks. Each one pairs a generator (which features a case
 * may use, because most properties only hold under preconditions) with a check that runs the case
 * through the real parse + simulate path and returns a violation message, or null when the property
 * holds. Checks read everything from the document, so a shrunk document is checked the same way.
 */
import { parseSingleUnit } from '../../src/engine/duration.js';
import type { Engine } from '../../src/engine/engine.js';
import type { EventKind } from '../../src/sim/scenario.js';
import type { SimLine } from '../../src/sim/simulator.js';
import { drive } from './drive.js';
import type { Rng } from './prng.js';
import {
  type EventDoc,
  edgeName,
  isOptional,
  ms,
  type PondDoc,
  PondGraph,
  randomEvent,
  randomEvents,
  randomExtensions,
  randomPonds,
  type ScenarioDoc,
  STEP_MS,
  sortEvents,
  toMs,
  totalDurationMs,
} from './random-graph.js';
import { firstDifference, jsonl, parseDoc, restoringHook, runAgain, runDoc, secToMs } from './run.js';

export interface Case<M> {
  doc: ScenarioDoc;
  meta: M;
}

export interface Property<M> {
  name: string;
  generate(rng: Rng): Case<M>;
  /** A violation message, or null when the property holds (or the case no longer applies). */
  check(c: Case<M>): string | null;
}

const ALL_KINDS: ReadonlyArray<readonly [EventKind, number]> = [
  ['tap', 6],
  ['pulse', 6],
  ['wave', 2],
  ['tide', 2],
  ['untrigger', 1],
  ['sleep', 1],
  ['wake', 1],
  ['force', 1],
  ['kill', 1],
  ['clear', 1],
  ['refresh', 1],
];

const fmt = (line: SimLine): string => JSON.stringify(line);

// ───────────────────────────── 1, 2, 3, 8: everything, compared ─────────────────────────────

export interface CompareMeta {
  /** Grid instants at which the engine is swapped for a JSON round trip of its snapshot (property 2). */
  restoreAtMs: number[];
  /** Also run the test driver in work-list mode and require it to equal `simulate` (driver fidelity). */
  checkDriver: boolean;
}

/** Any feature, any event, including R extensions and failures. */
export function generateAnything(rng: Rng, maxPonds: number): Case<CompareMeta> {
  const ponds = randomPonds(rng, {
    minPonds: 2,
    maxPonds,
    windows: true,
    windowLimits: true,
    failures: rng.chance(0.5),
    extensions: true,
    zeroRipples: true,
  });
  const spanMs = rng.int(10, 150) * STEP_MS;
  const untilMs = spanMs + rng.int(0, 150) * STEP_MS;
  const events = randomEvents(rng, ponds, {
    kinds: ALL_KINDS,
    minEvents: 1,
    maxEvents: 14,
    fromMs: 0,
    toMs: spanMs,
  });
  const doc: ScenarioDoc = { until: ms(untilMs), ponds, events };
  if (rng.chance(0.4)) doc.options = randomExtensions(rng, ponds, untilMs);
  const restoreAtMs = Array.from({ length: rng.int(1, 3) }, () => rng.int(0, untilMs / STEP_MS) * STEP_MS);
  return { doc, meta: { restoreAtMs, checkDriver: rng.chance(0.15) } };
}

/** Property 1: the work-list engine and the reference scan (`scanAll`) engine produce identical output. */
export function checkScanEquivalence(c: Case<CompareMeta>): string | null {
  const sc = parseDoc(c.doc);
  const worklist = jsonl(runDoc(c.doc));
  const reference = jsonl(drive(sc, { scanAll: true }));
  const diff = firstDifference(reference, worklist);
  if (diff) {
    // Tell an engine difference from a driver difference.
    const driverSame = firstDifference(jsonl(drive(sc, {})), worklist) === null;
    return `work-list engine ≠ scanAll reference (${driverSame ? 'test driver agrees with simulate' : 'TEST DRIVER DISAGREES WITH simulate'}): ${diff}`;
  }
  if (c.meta.checkDriver) {
    const d = firstDifference(worklist, jsonl(drive(sc, {})));
    if (d) return `test driver (work-list) ≠ simulate: ${d}`;
  }
  return null;
}

/** Property 2: swapping in `Engine.restore(JSON round trip of snapshot())` mid-run changes nothing. */
export function checkRestoreContinues(c: Case<CompareMeta>): string | null {
  const sc = parseDoc(c.doc);
  const straight = jsonl(runDoc(c.doc));
  const restored = jsonl(runDoc(c.doc, restoringHook(sc, c.meta.restoreAtMs)));
  const diff = firstDifference(straight, restored);
  return diff && `restore at ${c.meta.restoreAtMs.map((t) => `${t}ms`).join(', ')} diverged: ${diff}`;
}

/** Property 8: the same case twice gives byte-identical JSON Lines. */
export function checkDeterminism(c: Case<CompareMeta>): string | null {
  return firstDifference(jsonl(runDoc(c.doc)), jsonl(runAgain(c.doc)));
}

/**
 * Property 3: a Pond Run's F never exceeds what its Sources offered at start. We track each Pond's
 * endF from its pond-done / pond-pass lines. Completions are the only way endF rises, and only Force
 * lowers it (to never), so the tracked value is ≥ the engine's at all times, and equal to it when the
 * case has no Force. Hence: F ≤ min(tracked endF of required Sources) (max over all Sources when every
 * Source is optional), with equality when there is no Force. Inlets: F = now (≤ now with minted
 * freshness); a windowed Inlet stamps the end of an open occurrence, so now < F ≤ now + its duration.
 */
export function checkStartFreshness(c: Case<unknown>): string | null {
  const doc = c.doc;
  const out = runDoc(doc).lines;
  const exact = !doc.events.some((e) => e.kind === 'force');
  const minted = doc.options?.minted_freshness === true;
  const ponds = new Map(doc.ponds.map((p) => [p.name, p]));
  const endF = new Map<string, number>();
  for (const [i, l] of out.entries()) {
    const f = secToMs(l.f);
    if (l.kind === 'pond-done' || l.kind === 'pond-pass') {
      endF.set(l.pond, f);
      continue;
    }
    if (l.kind !== 'pond-start') continue;
    const p = ponds.get(l.pond)!;
    const t = secToMs(l.t);
    const bad = (why: string) => `line ${i + 1} ${fmt(l)}: ${why}`;
    if (p.sources.length === 0) {
      if (!p.windows) {
        if (minted ? !(f <= t && f > Number.NEGATIVE_INFINITY) : f !== t) {
          return bad(`a live Inlet must stamp ${minted ? 'a minted epoch ≤ now' : 'now'} (${t} ms)`);
        }
      } else {
        const maxLen = Math.max(...p.windows.map((w) => toMs(w.duration)));
        if (!(f > t && f <= t + maxLen)) return bad(`a windowed Inlet must stamp an open occurrence's end`);
      }
      continue;
    }
    const required = p.sources.filter((s) => !isOptional(s)).map(edgeName);
    const pool = required.length > 0 ? required : p.sources.map(edgeName);
    const offered = pool.map((s) => endF.get(s) ?? Number.NEGATIVE_INFINITY);
    const bound = required.length > 0 ? Math.min(...offered) : Math.max(...offered);
    if (exact ? f !== bound : f > bound) {
      return bad(
        `F must be ${exact ? '=' : '≤'} ${required.length > 0 ? 'min' : 'max'} endF of [${pool.join(', ')}] = ${bound} ms (tracked ${pool.map((s) => `${s}:${endF.get(s) ?? 'never'}`).join(' ')})`,
      );
    }
  }
  return null;
}

// ───────────────────────────── 4: one Pulse on a quiescent graph ─────────────────────────────

export interface PulseMeta {
  pond: string;
  atMs: number;
}

export function generateQuiescentPulse(rng: Rng): Case<PulseMeta> {
  const ponds = randomPonds(rng, {
    minPonds: 2,
    maxPonds: 12,
    windows: false,
    windowLimits: false,
    failures: false,
    extensions: false,
    zeroRipples: true,
  });
  const sum = totalDurationMs(ponds);
  // Sometimes warm the graph up with a few Taps and Pulses first and let it settle.
  const warm = rng.chance(0.5)
    ? randomEvents(rng, ponds, {
        kinds: [
          ['pulse', 2],
          ['tap', 1],
        ],
        minEvents: 1,
        maxEvents: 4,
        fromMs: 0,
        toMs: 5000,
      })
    : [];
  const atMs = warm.length > 0 ? 5000 + sum * (ponds.length + warm.length + 2) : rng.int(0, 50) * STEP_MS;
  const pond = rng.pick(ponds).name;
  const events = [...warm, { at: ms(atMs), kind: 'pulse' as const, pond }];
  return { doc: { until: ms(atMs + sum + 1000), ponds, events }, meta: { pond, atMs } };
}

/** True when no Pond or Ripple holds demand or runs, nothing is halted and no trigger stands. */
function quiescent(engine: Engine): boolean {
  if (engine.listTriggers().length > 0) return false;
  for (const s of engine.ponds) {
    if (s.hasPull || s.targets.length > 0 || s.isKilled || s.isBlocked || s.isFailed) return false;
  }
  for (const r of engine.ripples) if (r.isRunning || r.hasPull || r.targets.length > 0) return false;
  return true;
}

/**
 * Property 4: one Pulse at t on a quiescent graph runs the pulsed Pond and each of its ancestors
 * exactly once (one pond-start and one pond-done, every Ripple once), all at F = t, and nothing else.
 * Returns 'skip' when the warm-up had not settled by the Pulse (then the property does not apply).
 */
export function checkQuiescentPulse(c: Case<PulseMeta>): string | null | 'skip' {
  const { pond, atMs } = c.meta;
  const last = c.doc.events[c.doc.events.length - 1];
  if (last?.kind !== 'pulse' || last.pond !== pond || toMs(last.at) !== atMs) return null;
  let quietBefore = true;
  const { lines } = runDoc(c.doc, {
    afterInstant: (tMs, engine) => {
      if (tMs < atMs) quietBefore = quiescent(engine);
      return undefined;
    },
  });
  if (!quietBefore) return 'skip';
  const graph = new PondGraph(c.doc.ponds);
  const lineage = graph.ancestors(pond).add(pond);
  const after = lines.filter((l) => secToMs(l.t) >= atMs);
  const expected = new Map<string, number>();
  for (const p of c.doc.ponds) {
    if (!lineage.has(p.name)) continue;
    expected.set(`pond-start ${p.name}`, 1);
    expected.set(`pond-done ${p.name}`, 1);
    for (const r of p.ripples) {
      expected.set(`ripple-start ${p.name}/${r.name}`, 1);
      expected.set(`ripple-done ${p.name}/${r.name}`, 1);
    }
  }
  const seen = new Map<string, number>();
  for (const l of after) {
    if (secToMs(l.f) !== atMs) return `${fmt(l)}: every run after the Pulse must be at F = ${atMs} ms`;
    const key = l.ripple === undefined ? `${l.kind} ${l.pond}` : `${l.kind} ${l.pond}/${l.ripple}`;
    if (!expected.has(key))
      return `${fmt(l)}: only the pulsed Pond's lineage [${[...lineage].join(', ')}] may run`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  for (const [key, n] of expected) {
    if ((seen.get(key) ?? 0) !== n)
      return `expected exactly ${n} × "${key}" after the Pulse, saw ${seen.get(key) ?? 0}`;
  }
  return null;
}

// ───────────────────────────── 5: a blocked Pond solicits nothing ─────────────────────────────

export interface KillMeta {
  pond: string;
  atMs: number;
}

/** Kinds allowed after the kill: none of them can revive, kill, fail or wake anything. */
const AFTER_KILL: ReadonlyArray<readonly [EventKind, number]> = [
  ['tap', 5],
  ['pulse', 5],
  ['wave', 2],
  ['tide', 1],
  ['sleep', 1],
  ['untrigger', 1],
  ['refresh', 1],
];

export function generateKill(rng: Rng): Case<KillMeta> {
  const ponds = randomPonds(rng, {
    minPonds: 3,
    maxPonds: 12,
    windows: true,
    windowLimits: true,
    failures: false,
    extensions: false,
    zeroRipples: true,
  });
  const graph = new PondGraph(ponds);
  // Prefer a Pond with both ancestors and descendants, where blocking has something to hide, and
  // among those one with an S38 shape: a required Sink that has another Source outside K's lineage
  // and a Ripple chain, so a blocked Pond's Ripple-level cascade could solicit that other Source.
  const inner = ponds.filter((p) => graph.ancestors(p.name).size > 0 && graph.descendants(p.name).size > 0);
  const s38 = ponds.filter((k) => {
    const lineage = graph.descendants(k.name).add(k.name);
    return ponds.some(
      (c) =>
        c.sources.includes(k.name) &&
        c.sources.some((s) => !lineage.has(edgeName(s))) &&
        c.ripples.some((r) => r.parents.length > 0),
    );
  });
  const killed = (
    s38.length > 0 && rng.chance(0.6)
      ? rng.pick(s38)
      : inner.length > 0 && rng.chance(0.85)
        ? rng.pick(inner)
        : rng.pick(ponds)
  ).name;
  const atMs = rng.int(5, 100) * STEP_MS;
  const below = [...graph.descendants(killed)];
  const before = randomEvents(rng, ponds, {
    kinds: ALL_KINDS,
    minEvents: 0,
    maxEvents: 8,
    fromMs: 0,
    toMs: atMs - STEP_MS,
  });
  // Demand in flight through K's descendants at the kill is where a blocked Pond could leak (S38).
  for (let k = below.length > 0 ? rng.int(1, 3) : 0; k > 0; k--) {
    const t = rng.int(Math.max(0, atMs / STEP_MS - 40), atMs / STEP_MS - 1) * STEP_MS;
    before.push(
      randomEvent(
        rng,
        ponds,
        [
          ['tap', 3],
          ['wave', 2],
          ['pulse', 1],
        ],
        t,
        rng.pick(below),
      ),
    );
  }
  const after: EventDoc[] = [];
  for (let k = rng.int(1, 8); k > 0; k--) {
    const t = rng.int(atMs / STEP_MS + 1, atMs / STEP_MS + 150) * STEP_MS;
    const target = below.length > 0 && rng.chance(0.7) ? rng.pick(below) : rng.pick(ponds).name;
    after.push(randomEvent(rng, ponds, AFTER_KILL, t, target));
  }
  const events = [
    ...sortEvents(before),
    { at: ms(atMs), kind: 'kill' as const, pond: killed },
    ...sortEvents(after),
  ];
  const lastMs = Math.max(...events.map((e) => toMs(e.at)));
  return {
    doc: { until: ms(lastMs + rng.int(0, 200) * STEP_MS), ponds, events },
    meta: { pond: killed, atMs },
  };
}

/**
 * Property 5 — exact formulation. Let tk be the instant of the Kill of K, and observe the engine at
 * the end of tk. B = the Ponds blocked then (K, its required descendants, and whatever earlier events
 * halted); nothing after tk can unblock or block anything (no Wake/Force/Clear/Kill, no failures).
 * Demand only ever moves from a Pond to its Sources, and only through Ponds that are not blocked. So a
 * Pond Y may start a run after tk only if
 *   (a) Y ∉ B and Y can reach a demand origin — a Pond with a standing trigger at tk or the target of a
 *       later Tap/Pulse/Wave/Tide — going downstream without entering B; or
 *   (b) Y held demand at tk itself (a pull token or a target on Y, or a pull token on one of its Ripples;
 *       a blocked Pond still drains what it holds); or
 *   (c) Y ∉ B is an ancestor, by a path avoiding B, of a Pond ∉ B that held a pull token at tk (Pond or
 *       Ripple level): that Pond re-arms its Sources when it starts, and they theirs.
 * Any other pond-start after tk means a blocked Pond solicited work. In particular K (killed, all its
 * demand cleared) starts nothing, and no Ripple of K starts either.
 */
export function checkBlockedSolicitsNothing(c: Case<KillMeta>): string | null {
  const { pond: killed, atMs } = c.meta;
  const doc = c.doc;
  if (!doc.events.some((e) => e.kind === 'kill' && e.pond === killed && toMs(e.at) === atMs)) return null;
  let blocked = new Set<string>();
  let holders = new Set<string>();
  let pullHolders = new Set<string>();
  let standing: string[] = [];
  const { lines } = runDoc(doc, {
    afterInstant: (tMs, engine) => {
      if (tMs !== atMs) return undefined;
      const names = engine.topology.ponds.map((p) => p.spec.name);
      blocked = new Set(names.filter((_, i) => engine.ponds[i]!.isBlocked));
      const ripplePull = (i: number) =>
        engine.topology.ponds[i]!.ripples.some((r) => engine.ripples[r]!.hasPull);
      pullHolders = new Set(names.filter((_, i) => engine.ponds[i]!.hasPull || ripplePull(i)));
      holders = new Set([...pullHolders, ...names.filter((_, i) => engine.ponds[i]!.targets.length > 0)]);
      standing = engine.listTriggers().map((t) => t.pond);
      return undefined;
    },
  });
  if (!blocked.has(killed)) return `K=${killed} is not blocked right after its kill`;
  const graph = new PondGraph(doc.ponds);
  const origins = new Set(standing);
  for (const e of doc.events) {
    if (toMs(e.at) > atMs && ['tap', 'pulse', 'wave', 'tide'].includes(e.kind)) origins.add(e.pond);
  }
  const reachable = graph.upstreamAvoiding(origins, blocked);
  const rearmed = graph.upstreamAvoiding(pullHolders, blocked);
  const may = (y: string) => holders.has(y) || (!blocked.has(y) && (reachable.has(y) || rearmed.has(y)));
  for (const [i, l] of lines.entries()) {
    if (secToMs(l.t) <= atMs) continue;
    if (l.pond === killed && (l.kind === 'pond-start' || l.kind === 'ripple-start')) {
      return `line ${i + 1} ${fmt(l)}: the killed Pond ${killed} ran after its kill at ${atMs} ms`;
    }
    if (l.kind === 'pond-start' && !may(l.pond)) {
      return (
        `line ${i + 1} ${fmt(l)}: nothing entitles ${l.pond} to run after the kill of ${killed} at ${atMs} ms ` +
        `(blocked [${[...blocked].join(', ')}], demand holders [${[...holders].join(', ')}], ` +
        `pull holders [${[...pullHolders].join(', ')}], origins [${[...origins].join(', ')}])`
      );
    }
  }
  return null;
}

// ───────────────────────────── 6, 7: no lost targets, liveness ─────────────────────────────

export interface LivenessMeta {
  /** The case uses only events under which property 6 applies (no kill, sleep, force, failures). */
  pulsesApply: boolean;
}

/**
 * Cases for properties 6 and 7: no kills; failures only when `failures`. Standing triggers are removed
 * after the last event so the graph can drain, and the horizon reaches past the last event by the sum
 * of all Ripple durations × (Ponds + 2), plus window periods (see below).
 */
export function generateLiveness(rng: Rng, withSleepForce: boolean, failures: boolean): Case<LivenessMeta> {
  const ponds = randomPonds(rng, {
    minPonds: 2,
    maxPonds: 10,
    windows: true,
    windowLimits: false,
    failures,
    extensions: false,
    zeroRipples: true,
  });
  const kinds = ALL_KINDS.filter(
    ([k]) => k !== 'kill' && (withSleepForce || (k !== 'sleep' && k !== 'force')),
  );
  const spanMs = rng.int(5, 100) * STEP_MS;
  const events = randomEvents(rng, ponds, { kinds, minEvents: 1, maxEvents: 12, fromMs: 0, toMs: spanMs });
  const lastMs = Math.max(...events.map((e) => toMs(e.at)));
  for (const name of new Set(
    events.filter((e) => e.kind === 'wave' || e.kind === 'tide').map((e) => e.pond),
  )) {
    events.push({ at: ms(lastMs + STEP_MS), kind: 'untrigger', pond: name });
  }
  // Behind a windowed Inlet every extra Pond Run waits for the next occurrence, and a cold Tap's
  // cascade takes up to one run per Ripple level, so allow one period per Ripple, plus two.
  const periodsMs = ponds.flatMap((p) => (p.windows ?? []).map((w) => parseSingleUnit(w.every).ms));
  const rippleCount = ponds.reduce((n, p) => n + p.ripples.length, 0);
  const windowSlack = (rippleCount + 2) * Math.max(0, ...periodsMs);
  const untilMs = lastMs + STEP_MS + totalDurationMs(ponds) * (ponds.length + 2) + windowSlack;
  return {
    doc: { until: ms(untilMs), ponds, events },
    meta: { pulsesApply: !withSleepForce && !failures },
  };
}

/** Every Wave or Tide is removed by a later `untrigger` of its Pond, so the graph can drain. */
function triggersRemoved(doc: ScenarioDoc): boolean {
  const standing = new Set<string>();
  for (const e of doc.events) {
    if (e.kind === 'wave' || e.kind === 'tide') standing.add(e.pond);
    else if (e.kind === 'untrigger') standing.delete(e.pond);
  }
  return standing.size === 0;
}

const appliesTo = (doc: ScenarioDoc, pulses: boolean): boolean =>
  triggersRemoved(doc) &&
  !doc.events.some((e) => e.kind === 'kill' || (pulses && (e.kind === 'sleep' || e.kind === 'force'))) &&
  (!pulses || !doc.ponds.some((p: PondDoc) => (p.fail ?? []).length > 0));

/**
 * Property 6: for each Pulse at t on P, unless P had already completed a run with F ≥ t before the
 * Pulse, there is a pond-start of P at or after t with F ≥ t, and after that start a completion of P
 * with F ≥ t. (A completion with F < t, or a start before the Pulse, cannot satisfy it.)
 */
export function checkNoLostTargets(c: Case<LivenessMeta>): string | null {
  const doc = c.doc;
  if (!appliesTo(doc, true)) return null;
  const out = runDoc(doc).lines;
  for (const ev of doc.events) {
    if (ev.kind !== 'pulse') continue;
    const t = toMs(ev.at);
    let endBefore = Number.NEGATIVE_INFINITY;
    let start = -1;
    let done = -1;
    for (const [i, l] of out.entries()) {
      if (l.pond !== ev.pond) continue;
      const lt = secToMs(l.t);
      const f = secToMs(l.f);
      if (lt < t) {
        if (l.kind === 'pond-done' || l.kind === 'pond-pass') endBefore = f;
        continue;
      }
      if (start < 0 && l.kind === 'pond-start' && f >= t) start = i;
      if (start >= 0 && i > start && (l.kind === 'pond-done' || l.kind === 'pond-pass') && f >= t) {
        done = i;
        break;
      }
    }
    if (endBefore >= t) continue;
    if (start < 0)
      return `Pulse on ${ev.pond} at ${t} ms: no pond-start of ${ev.pond} with F ≥ ${t} ms followed`;
    if (done < 0)
      return `Pulse on ${ev.pond} at ${t} ms: run started on line ${start + 1} never completed with F ≥ ${t} ms`;
  }
  return null;
}

/**
 * Property 7: with no kills and time to drain, every ripple-start is followed by a ripple-done or
 * ripple-fail of that Ripple, and no Pond is still running at the horizon. Pond level: each Pond's last
 * pond-start at F is followed by a pond-done / pond-pass / pond-fail with F' ≥ F (an earlier start is
 * followed by a later start, trivially) — except a redundant re-run: a start at a real F ≤ the Pond's
 * endF at that moment (a push target that was already met, P04) has nothing left to complete, and
 * §3.7 lets such starts collapse into the earlier completion; its Ripples must still finish (checked
 * above). endF is tracked from completion lines and reset to never by a Force event, which is applied
 * before anything else at its instant. A start at F = never is never exempt.
 */
export function checkLiveness(c: Case<LivenessMeta>): string | null {
  const doc = c.doc;
  if (!appliesTo(doc, false)) return null;
  const { lines, summary } = runDoc(doc);
  const forces = doc.events.filter((e) => e.kind === 'force').map((e) => ({ t: toMs(e.at), pond: e.pond }));
  let nextForce = 0;
  const endF = new Map<string, number>();
  const openRipple = new Map<string, number>();
  const lastStart = new Map<string, { i: number; f: number; closed: boolean }>();
  for (const [i, l] of lines.entries()) {
    const t = secToMs(l.t);
    while (nextForce < forces.length && forces[nextForce]!.t <= t) endF.delete(forces[nextForce++]!.pond);
    const f = secToMs(l.f);
    if (l.kind === 'ripple-start') openRipple.set(`${l.pond}/${l.ripple}`, i);
    else if (l.kind === 'ripple-done' || l.kind === 'ripple-fail') openRipple.delete(`${l.pond}/${l.ripple}`);
    else if (l.kind === 'pond-start') {
      const redundant = f > Number.NEGATIVE_INFINITY && f <= (endF.get(l.pond) ?? Number.NEGATIVE_INFINITY);
      lastStart.set(l.pond, { i, f, closed: redundant });
    } else {
      if (l.kind !== 'pond-fail') endF.set(l.pond, f);
      const s = lastStart.get(l.pond);
      if (s && f >= s.f) s.closed = true;
    }
  }
  const [open] = openRipple;
  if (open)
    return `ripple ${open[0]} started on line ${open[1] + 1} ${fmt(lines[open[1]]!)} and never finished`;
  for (const [p, s] of lastStart) {
    if (!s.closed)
      return `pond ${p}: last pond-start on line ${s.i + 1} ${fmt(lines[s.i]!)} was never followed by a completion with F' ≥ F`;
  }
  for (const [p, s] of Object.entries(summary.ponds)) {
    if (s.status === 'running') return `pond ${p} is still running at the horizon ${summary.t} s`;
  }
  return null;
}
