/**
 * Greedy shrinking of a failing scenario document, so a report shows a small reproduction: drop events,
 * then Ponds (with every reference to them), then fail injections, windows and Ripples, keeping each
 * removal only while the case still fails. Bounded by a number of attempts to stay cheap.
 */
import { edgeName, type ScenarioDoc } from './random-graph.js';

const clone = (doc: ScenarioDoc): ScenarioDoc => JSON.parse(JSON.stringify(doc));

function withoutPond(doc: ScenarioDoc, name: string): ScenarioDoc {
  const d = clone(doc);
  d.ponds = d.ponds.filter((p) => p.name !== name);
  for (const p of d.ponds) p.sources = p.sources.filter((s) => edgeName(s) !== name);
  d.events = d.events.filter((e) => e.pond !== name);
  return d;
}

function candidates(doc: ScenarioDoc): ScenarioDoc[] {
  const out: ScenarioDoc[] = [];
  for (let i = doc.events.length - 1; i >= 0; i--) {
    const d = clone(doc);
    d.events.splice(i, 1);
    out.push(d);
  }
  if (doc.ponds.length > 1) for (const p of [...doc.ponds].reverse()) out.push(withoutPond(doc, p.name));
  doc.ponds.forEach((p, i) => {
    for (const key of [
      'fail',
      'windows',
      'immediate_retries',
      'source_retries',
      'always_run',
      'unchanged',
    ] as const) {
      if (p[key] === undefined) continue;
      const d = clone(doc);
      delete d.ponds[i]![key];
      out.push(d);
    }
    p.sources.forEach((_, j) => {
      const d = clone(doc);
      d.ponds[i]!.sources.splice(j, 1);
      out.push(d);
    });
    if (p.ripples.length > 1) {
      p.ripples.forEach((r, k) => {
        const d = clone(doc);
        const pond = d.ponds[i]!;
        pond.ripples.splice(k, 1);
        for (const q of pond.ripples) q.parents = q.parents.filter((x) => edgeName(x) !== r.name);
        if (pond.fail) pond.fail = pond.fail.filter((f) => f.ripple !== r.name);
        out.push(d);
      });
    }
  });
  if (doc.options !== undefined) {
    const d = clone(doc);
    delete d.options;
    out.push(d);
  }
  return out;
}

export function shrink(doc: ScenarioDoc, fails: (d: ScenarioDoc) => boolean, maxAttempts = 400): ScenarioDoc {
  let best = doc;
  let attempts = 0;
  for (let progress = true; progress && attempts < maxAttempts; ) {
    progress = false;
    for (const d of candidates(best)) {
      if (++attempts > maxAttempts) break;
      let failing = false;
      try {
        failing = fails(d);
      } catch {
        failing = false; // an invalid candidate (e.g. a fail injection naming a removed Ripple) is skipped
      }
      if (failing) {
        best = d;
        progress = true;
        break;
      }
    }
  }
  return best;
}
