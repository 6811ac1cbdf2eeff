/** Ripple logs: the `ctx.log` lines of each Ripple attempt, paged by a cursor for `duckstring logs --follow`. */
import { z } from 'zod/v4';
import { instant, majorQuery, pondParams } from './common.js';
import { endpoint } from './endpoint.js';

export const logLineSchema = z.object({
  /** The cursor: pass the last id seen as `since` to get only newer lines. */
  id: z.number().int(),
  f: instant,
  ripple: z.string(),
  attempt: z.number().int(),
  at: instant,
  level: z.enum(['info', 'warn', 'error']),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).nullable(),
});
export type LogLine = z.infer<typeof logLineSchema>;

export const logs = endpoint({
  method: 'GET',
  path: '/api/ponds/:name/logs',
  summary:
    "A line's Ripple log lines (ctx.log), oldest first: after the cursor `since`, or the newest `limit` without it",
  // Log lines may quote data, like errors in the run history: the same privilege reads both.
  auth: { on: 'line', privilege: 'OPERATE' },
  params: pondParams,
  query: majorQuery.extend({
    since: z.coerce.number().int().nonnegative().optional(),
    ripple: z.string().min(1).max(128).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  }),
  response: z.object({
    pond: z.string(),
    major: z.number().int(),
    lines: z.array(logLineSchema),
    /** Where to continue: the last line's id, or the newest id when no line was returned. */
    next: z.number().int(),
  }),
});
