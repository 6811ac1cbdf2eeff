/**
 * The simulation scenario format (engine.md §7): parsing, validation with JSON-path errors, and the
 * conversion into engine topology. Nothing is simulated unless the whole file is valid.
 */
import { z } from 'zod';
import { DurationError, parseDuration, parseSingleUnit } from '../engine/duration.js';
import type { Edge, PondSpec } from '../engine/topology.js';
import { validateTopology } from '../engine/topology.js';
import type { Weekday, Window } from '../engine/windows.js';

export const DEFAULT_START = '2026-01-01T00:00:00Z';

const durationString = z.string().superRefine((text, ctx) => {
  try {
    parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

const isoInstant = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), {
  message: 'expected an ISO-8601 instant, e.g. "2026-01-01T00:00:00Z"',
});

const weekday = z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']);

const windowSchema = z
  .object({
    name: z.string().min(1),
    start: z
      .string()
      .refine((s) => (s.startsWith('+') ? isDuration(s.slice(1)) : isoInstant.safeParse(s).success), {
        message: 'expected an ISO-8601 instant or "+<duration>" (offset from start)',
      })
      .optional(),
    every: z.string().superRefine((text, ctx) => {
      try {
        if (parseSingleUnit(text).ms <= 0)
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'every must be > 0' });
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
      }
    }),
    duration: durationString.optional(),
    on: z.array(weekday).optional(),
    until: isoInstant.optional(),
  })
  .strict();

const rippleSchema = z
  .object({
    name: z.string().min(1),
    parents: z.array(z.string().min(1)).default([]),
    duration: durationString.default('1s'),
  })
  .strict();

const failSchema = z.union([
  z.object({ ripple: z.string().min(1), attempts: z.array(z.number().int().positive()) }).strict(),
  z.object({ ripple: z.string().min(1), always: z.literal(true) }).strict(),
]);

const pondSchema = z
  .object({
    name: z.string().min(1),
    sources: z.array(z.string().min(1)).default([]),
    ripples: z.array(rippleSchema).optional(),
    windows: z.array(windowSchema).default([]),
    immediate_retries: z.number().int().nonnegative().default(0),
    source_retries: z.number().int().nonnegative().default(0),
    always_run: z.boolean().default(false),
    fail: z.array(failSchema).default([]),
    unchanged: z.array(z.number()).default([]),
  })
  .strict();

export const EVENT_KINDS = [
  'tap',
  'pulse',
  'wave',
  'tide',
  'untrigger',
  'sleep',
  'wake',
  'force',
  'kill',
  'clear',
  'refresh',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

const eventSchema = z
  .object({
    at: durationString,
    kind: z.enum(EVENT_KINDS),
    pond: z.string().min(1),
    bound: durationString.optional(),
    upstream: z.boolean().optional(),
  })
  .strict();

const scenarioSchema = z
  .object({
    start: isoInstant.default(DEFAULT_START),
    step: durationString.default('100ms'),
    until: durationString,
    options: z
      .object({
        passes: z.boolean().optional(),
        prune_targets: z.boolean().optional(),
        minted_freshness: z.boolean().optional(),
      })
      .strict()
      .default({}),
    ponds: z.array(pondSchema).min(1),
    events: z.array(eventSchema).default([]),
  })
  .strict();

function isDuration(s: string): boolean {
  try {
    parseDuration(s);
    return true;
  } catch (err) {
    if (err instanceof DurationError) return false;
    throw err;
  }
}

export interface ScenarioIssue {
  path: string;
  message: string;
}

export class ScenarioError extends Error {
  constructor(readonly issues: ScenarioIssue[]) {
    super(issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('\n'));
  }
}

export interface SimRipple {
  name: string;
  durationMs: number;
  failAttempts: Set<number> | 'always';
}

export interface SimEvent {
  atMs: number;
  kind: EventKind;
  pond: string;
  boundMs?: number;
  upstream: boolean;
}

/** A validated scenario, with every time in milliseconds (offsets from `startMs` unless stated). */
export interface Scenario {
  startMs: number;
  stepMs: number;
  untilMs: number;
  options: { passes: boolean; pruneTargets: boolean; mintedFreshness: boolean };
  ponds: PondSpec[];
  /** Per pond name, per ripple name: duration and failure injection. */
  ripples: Map<string, Map<string, SimRipple>>;
  /** Per pond name: freshness values (epoch ms) at which its runs report "no change". */
  unchanged: Map<string, Set<number>>;
  events: SimEvent[];
}

/** `a.b[2].c` from a zod path. */
export function jsonPath(path: ReadonlyArray<string | number>): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

function edge(text: string): Edge {
  return text.endsWith('?') ? { name: text.slice(0, -1), optional: true } : { name: text, optional: false };
}

/** Parses and validates scenario JSON text; throws ScenarioError listing every problem with its path. */
export function parseScenario(text: string): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError([{ path: '', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ScenarioError(parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })));
  }
  const doc = parsed.data;
  const startMs = Date.parse(doc.start);
  const stepMs = parseDuration(doc.step);
  const issues: ScenarioIssue[] = [];
  if (stepMs <= 0) issues.push({ path: 'step', message: 'step must be > 0' });

  const ripples = new Map<string, Map<string, SimRipple>>();
  const unchanged = new Map<string, Set<number>>();
  const ponds: PondSpec[] = doc.ponds.map((p, i) => {
    const rippleDocs = p.ripples ?? [{ name: `${p.name}_r`, parents: [], duration: '1s' }];
    const sims = new Map<string, SimRipple>();
    rippleDocs.forEach((r) => {
      sims.set(r.name, { name: r.name, durationMs: parseDuration(r.duration), failAttempts: new Set() });
    });
    p.fail.forEach((f, k) => {
      const sim = sims.get(f.ripple);
      if (!sim) {
        issues.push({
          path: `ponds[${i}].fail[${k}].ripple`,
          message: `unknown ripple "${f.ripple}" in pond "${p.name}"`,
        });
      } else if ('always' in f) sim.failAttempts = 'always';
      else if (sim.failAttempts !== 'always') for (const a of f.attempts) sim.failAttempts.add(a);
    });
    ripples.set(p.name, sims);
    unchanged.set(p.name, new Set(p.unchanged.map((s) => startMs + Math.round(s * 1000))));
    const windows: Window[] = p.windows.map((w) => {
      const every = parseSingleUnit(w.every).ms;
      const anchor =
        w.start === undefined
          ? startMs
          : w.start.startsWith('+')
            ? startMs + parseDuration(w.start.slice(1))
            : Date.parse(w.start);
      return {
        name: w.name,
        startAnchor: anchor,
        everyMs: every,
        durationMs: w.duration === undefined ? every : parseDuration(w.duration),
        validDays: (w.on ?? []) as Weekday[],
        until: w.until === undefined ? null : Date.parse(w.until),
      };
    });
    return {
      name: p.name,
      sources: p.sources.map(edge),
      ripples: rippleDocs.map((r) => ({ name: r.name, parents: r.parents.map(edge) })),
      windows,
      immediateRetries: p.immediate_retries,
      sourceRetries: p.source_retries,
      alwaysRun: p.always_run,
    };
  });
  issues.push(...validateTopology(ponds));

  const names = new Set(doc.ponds.map((p) => p.name));
  const events: SimEvent[] = doc.events.map((e, k) => {
    if (!names.has(e.pond)) issues.push({ path: `events[${k}].pond`, message: `unknown pond "${e.pond}"` });
    if (e.kind === 'tide' && e.bound === undefined) {
      issues.push({ path: `events[${k}].bound`, message: 'a tide event needs a bound, e.g. "10s"' });
    }
    if (e.kind === 'tide' && e.bound !== undefined && parseDuration(e.bound) <= 0) {
      issues.push({ path: `events[${k}].bound`, message: 'tide bound must be > 0' });
    }
    if (e.bound !== undefined && e.kind !== 'tide') {
      issues.push({ path: `events[${k}].bound`, message: 'bound is only valid on a tide event' });
    }
    if (e.upstream !== undefined && e.kind !== 'sleep') {
      issues.push({ path: `events[${k}].upstream`, message: 'upstream is only valid on a sleep event' });
    }
    return {
      atMs: parseDuration(e.at),
      kind: e.kind,
      pond: e.pond,
      upstream: e.upstream ?? false,
      ...(e.bound !== undefined ? { boundMs: parseDuration(e.bound) } : {}),
    };
  });
  if (issues.length > 0) throw new ScenarioError(issues);

  const usesPasses = doc.ponds.some((p) => p.unchanged.length > 0 || p.always_run);
  return {
    startMs,
    stepMs,
    untilMs: parseDuration(doc.until),
    options: {
      passes: doc.options.passes ?? usesPasses,
      pruneTargets: doc.options.prune_targets ?? false,
      mintedFreshness: doc.options.minted_freshness ?? false,
    },
    ponds,
    ripples,
    unchanged,
    events,
  };
}
