/**
 * The graph the engine runs on: Ponds, their Sources, their Ripples and Ripple parents, windows and
 * budgets. `validateTopology` is the one check used by the simulator and (later) at deploy time;
 * `compileTopology` turns a valid graph into index-based arrays the engine walks without lookups.
 */
import type { Window } from './windows.js';

export interface Edge {
  name: string;
  optional: boolean;
}

export interface RippleSpec {
  name: string;
  parents: Edge[];
}

export interface PondSpec {
  name: string;
  sources: Edge[];
  ripples: RippleSpec[];
  windows: Window[];
  /** Ripple re-attempts inside one Pond Run (Duck side). */
  immediateRetries: number;
  /** Extra Pond Runs after failures, taken when Sources advance (Catchment side). */
  sourceRetries: number;
  /** Dispatch even when no Source content changed (never a no-change pass). */
  alwaysRun: boolean;
}

export interface TopologyIssue {
  /** JSON path of the offending field, e.g. `ponds[2].sources[0]`. */
  path: string;
  message: string;
}

/**
 * Finds every structural error: duplicate names, unknown Sources or parents, Pond-level and
 * Ripple-level cycles, windows with a non-positive interval. `basePath` prefixes reported paths.
 */
export function validateTopology(ponds: readonly PondSpec[], basePath = 'ponds'): TopologyIssue[] {
  const issues: TopologyIssue[] = [];
  const index = new Map<string, number>();
  ponds.forEach((p, i) => {
    if (index.has(p.name)) {
      issues.push({ path: `${basePath}[${i}].name`, message: `duplicate pond name "${p.name}"` });
    } else index.set(p.name, i);
  });
  ponds.forEach((p, i) => {
    const seenSources = new Set<string>();
    p.sources.forEach((s, j) => {
      const path = `${basePath}[${i}].sources[${j}]`;
      if (s.name === p.name) issues.push({ path, message: `pond "${p.name}" lists itself as a source` });
      else if (!index.has(s.name)) issues.push({ path, message: `unknown source pond "${s.name}"` });
      if (seenSources.has(s.name)) issues.push({ path, message: `source "${s.name}" is listed twice` });
      seenSources.add(s.name);
    });
    const rippleNames = new Map<string, number>();
    p.ripples.forEach((r, k) => {
      if (rippleNames.has(r.name)) {
        issues.push({
          path: `${basePath}[${i}].ripples[${k}].name`,
          message: `duplicate ripple name "${r.name}" in pond "${p.name}"`,
        });
      } else rippleNames.set(r.name, k);
    });
    p.ripples.forEach((r, k) => {
      r.parents.forEach((q, j) => {
        const path = `${basePath}[${i}].ripples[${k}].parents[${j}]`;
        if (!rippleNames.has(q.name)) {
          issues.push({ path, message: `unknown parent ripple "${q.name}" in pond "${p.name}"` });
        }
      });
    });
    const cycle = findCycle(
      p.ripples.map((r) => r.name),
      (name) =>
        p.ripples[rippleNames.get(name)!]!.parents.map((q) => q.name).filter((q) => rippleNames.has(q)),
    );
    if (cycle) {
      const at = rippleNames.get(cycle[0]!)!;
      issues.push({
        path: `${basePath}[${i}].ripples[${at}].parents`,
        message: `ripple cycle in pond "${p.name}": ${cycle.join(' → ')}`,
      });
    }
    p.windows.forEach((w, k) => {
      if (!(w.everyMs > 0)) {
        issues.push({
          path: `${basePath}[${i}].windows[${k}].every`,
          message: 'window interval must be > 0',
        });
      }
      if (!(w.durationMs > 0)) {
        issues.push({
          path: `${basePath}[${i}].windows[${k}].duration`,
          message: 'window duration must be > 0',
        });
      }
    });
    for (const key of ['immediateRetries', 'sourceRetries'] as const) {
      if (!Number.isInteger(p[key]) || p[key] < 0) {
        issues.push({ path: `${basePath}[${i}].${key}`, message: `${key} must be a non-negative integer` });
      }
    }
  });
  const pondCycle = findCycle(
    ponds.map((p) => p.name),
    (name) => {
      const i = index.get(name);
      return i === undefined
        ? []
        : ponds[i]!.sources.map((s) => s.name).filter((s) => index.has(s) && s !== name);
    },
  );
  if (pondCycle) {
    issues.push({
      path: `${basePath}[${index.get(pondCycle[0]!)}].sources`,
      message: `pond cycle: ${pondCycle.join(' → ')}`,
    });
  }
  return issues;
}

/** Returns one cycle as a list of names (first repeated at the end), or null. Iterative DFS. */
function findCycle(names: readonly string[], next: (name: string) => string[]): string[] | null {
  const state = new Map<string, 1 | 2>();
  for (const root of names) {
    if (state.has(root)) continue;
    const stack: Array<{ name: string; children: string[]; i: number }> = [
      { name: root, children: next(root), i: 0 },
    ];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i >= top.children.length) {
        state.set(top.name, 2);
        stack.pop();
        continue;
      }
      const child = top.children[top.i++]!;
      const s = state.get(child);
      if (s === 1) {
        const from = stack.findIndex((e) => e.name === child);
        return [...stack.slice(from).map((e) => e.name), child];
      }
      if (s === undefined) {
        state.set(child, 1);
        stack.push({ name: child, children: next(child), i: 0 });
      }
    }
  }
  return null;
}

/** Index-based view of a valid topology. */
export interface CompiledTopology {
  ponds: CompiledPond[];
  ripples: CompiledRipple[];
  pondIndex: Map<string, number>;
}

export interface CompiledPond {
  index: number;
  spec: PondSpec;
  sources: number[];
  /** Parallel to `sources`. */
  sourceOptional: boolean[];
  requiredSources: number[];
  /** Every Pond that lists this one as a Source (required or optional). */
  sinks: number[];
  /** Ponds that list this one as a required Source (blocking propagates along these). */
  requiredSinks: number[];
  /** Global ripple indices of this Pond, in declaration order. */
  ripples: number[];
  roots: number[];
  leaves: number[];
  rippleIndex: Map<string, number>;
}

export interface CompiledRipple {
  index: number;
  pond: number;
  name: string;
  parents: number[];
  parentOptional: boolean[];
  requiredParents: number[];
  children: number[];
}

export function compileTopology(specs: readonly PondSpec[]): CompiledTopology {
  const issues = validateTopology(specs);
  if (issues.length > 0) {
    throw new Error(`invalid topology: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  const pondIndex = new Map(specs.map((p, i) => [p.name, i]));
  const ripples: CompiledRipple[] = [];
  const ponds: CompiledPond[] = specs.map((spec, index) => {
    const sources = spec.sources.map((s) => pondIndex.get(s.name)!);
    const sourceOptional = spec.sources.map((s) => s.optional);
    const base = ripples.length;
    const rippleIndex = new Map(spec.ripples.map((r, k) => [r.name, base + k]));
    for (const r of spec.ripples) {
      const parents = r.parents.map((q) => rippleIndex.get(q.name)!);
      ripples.push({
        index: ripples.length,
        pond: index,
        name: r.name,
        parents,
        parentOptional: r.parents.map((q) => q.optional),
        requiredParents: parents.filter((_, j) => !r.parents[j]!.optional),
        children: [],
      });
    }
    const mine = spec.ripples.map((_, k) => base + k);
    for (const ri of mine) for (const q of ripples[ri]!.parents) ripples[q]!.children.push(ri);
    return {
      index,
      spec,
      sources,
      sourceOptional,
      requiredSources: sources.filter((_, j) => !sourceOptional[j]),
      sinks: [],
      requiredSinks: [],
      ripples: mine,
      roots: mine.filter((ri) => ripples[ri]!.parents.length === 0),
      leaves: [],
      rippleIndex,
    };
  });
  for (const p of ponds) {
    p.leaves = p.ripples.filter((ri) => ripples[ri]!.children.length === 0);
    p.sources.forEach((s, j) => {
      ponds[s]!.sinks.push(p.index);
      if (!p.sourceOptional[j]) ponds[s]!.requiredSinks.push(p.index);
    });
  }
  return { ponds, ripples, pondIndex };
}
