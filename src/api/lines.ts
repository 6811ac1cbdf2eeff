/** Configuring and controlling a line: trigger and control verbs, availability windows, retry budgets. */
import { z } from 'zod/v4';
import { NAME_PATTERN } from '../shared/ids.js';
import { durationField, instant, majorField, majorQuery, okResponse, pondParams } from './common.js';
import { endpoint } from './endpoint.js';
import { lineStatusSchema } from './ponds.js';

/** Verbs that place demand (TRIGGER on the line); the others operate it (OPERATE). */
export const TRIGGER_VERBS = ['tap', 'pulse', 'wave', 'tide', 'untrigger'] as const;
export const OPERATE_VERBS = ['wake', 'force', 'sleep', 'kill', 'clear', 'refresh'] as const;
export type Verb = (typeof TRIGGER_VERBS)[number] | (typeof OPERATE_VERBS)[number];

const VERB_SUMMARY: Record<Verb, string> = {
  tap: 'Tap: pull once (resupply with anything fresher)',
  pulse: 'Pulse: push once to now (the Pond and every ancestor)',
  wave: 'Wave: standing pull (replaces a Tide)',
  tide: 'Tide: standing push keeping staleness under `bound` (replaces a Wave)',
  untrigger: 'Remove the standing trigger',
  wake: 'Wake: one run without soliciting Sources; lifts a kill or failure',
  force: 'Force: recompute at the current freshness; lifts a kill or failure',
  sleep: 'Sleep: drop demand (upstream: also on every ancestor) and cancel standing triggers',
  kill: 'Kill: stop the Duck, cancel the in-flight run, park the Pond as killed',
  clear: 'Clear: reset a killed or failed Pond without running it',
  refresh: 'Refresh: the next run rebuilds from scratch',
};

const verbBody = z
  .object({
    major: majorField,
    bound: durationField.optional(),
    bound_seconds: z.number().positive().optional(),
    upstream: z.boolean().optional(),
  })
  .strict()
  .optional();

const verbResponse = z.object({
  ok: z.literal(true),
  pond: z.string(),
  major: z.number().int(),
  status: lineStatusSchema,
});

function verbEndpoint(verb: Verb) {
  return endpoint({
    method: 'POST',
    path: `/api/ponds/:name/${verb}`,
    summary: VERB_SUMMARY[verb],
    auth: {
      on: 'line',
      privilege: (TRIGGER_VERBS as readonly string[]).includes(verb) ? 'TRIGGER' : 'OPERATE',
    },
    params: pondParams,
    body: verbBody,
    response: verbResponse,
  });
}

/** One endpoint per verb: `POST /api/ponds/:name/<verb>`. */
export const verbs = Object.fromEntries(
  [...TRIGGER_VERBS, ...OPERATE_VERBS].map((v) => [v, verbEndpoint(v)]),
) as Record<Verb, ReturnType<typeof verbEndpoint>>;

export const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const windowSchema = z.object({
  name: z.string(),
  start: instant,
  every_ms: z.number().int(),
  duration_ms: z.number().int(),
  on: z.array(z.string()),
  until: instant.nullable(),
});

export const listWindows = endpoint({
  method: 'GET',
  path: '/api/ponds/:name/windows',
  summary: 'Availability windows of an Inlet line',
  auth: { on: 'line', any: true },
  params: pondParams,
  query: majorQuery,
  response: z.object({ windows: z.array(windowSchema) }),
});

export const addWindow = endpoint({
  method: 'POST',
  path: '/api/ponds/:name/windows',
  summary: 'Add a window (anchor + fixed interval; overlapping windows and duplicate names are refused)',
  auth: { on: 'line', privilege: 'OPERATE' },
  params: pondParams,
  body: z
    .object({
      name: z.string().regex(NAME_PATTERN, 'window names are lowercase identifiers (letters, digits, _)'),
      every: z.string(),
      start: z.string().optional(),
      duration: durationField.optional(),
      on: z.array(z.enum(WEEKDAYS)).optional(),
      until: z.iso.datetime({ offset: true }).optional(),
      major: majorField,
    })
    .strict(),
  statuses: [201],
  response: z.object({ window: windowSchema }),
});

export const removeWindow = endpoint({
  method: 'DELETE',
  path: '/api/ponds/:name/windows/:window',
  summary: 'Remove a window',
  auth: { on: 'line', privilege: 'OPERATE' },
  params: pondParams.extend({ window: z.string().min(1) }),
  query: majorQuery,
  response: okResponse,
});

const budgetsSchema = z.object({
  immediate_retries: z.number().int(),
  source_retries: z.number().int(),
});

export const budgets = endpoint({
  method: 'GET',
  path: '/api/ponds/:name/budgets',
  summary: 'Retry budgets of a line',
  auth: { on: 'line', any: true },
  params: pondParams,
  query: majorQuery,
  response: budgetsSchema,
});

export const setBudgets = endpoint({
  method: 'PUT',
  path: '/api/ponds/:name/budgets',
  summary: 'Set retry budgets (operator-owned after the first deploy)',
  auth: { on: 'line', privilege: 'OPERATE' },
  params: pondParams,
  body: z
    .object({
      immediate_retries: z.number().int().min(0).max(100),
      source_retries: z.number().int().min(0).max(100),
      major: majorField,
    })
    .strict(),
  response: budgetsSchema,
});
