/**
 * Watching a Catchment: `GET /api/events` streams what happens to runs (started, published, a
 * no-change pass, failed) as server-sent events, filtered to the lines the caller may know. The
 * `duckstring watch` command and the web UI read it.
 */
import { z } from 'zod/v4';
import { pondName } from './common.js';
import { endpoint } from './endpoint.js';

/** One run activity: the same record `duckstring up` prints a line for (src/catchment/activity.ts). */
export const runActivitySchema = z.object({
  /** Epoch ms of the engine event. */
  at: z.number(),
  kind: z.enum(['run-started', 'run-published', 'run-unchanged', 'run-failed']),
  pond: z.string(),
  major: z.number().int(),
  /** The run's freshness (epoch ms). */
  f: z.number(),
  /** Rows written by the run's Ripples, once it ended. */
  rows: z.number().int().nullable(),
  /** From the run's start to its end, once it ended. */
  durationMs: z.number().nullable(),
  /** The run's error; `"hidden"` unless the caller holds OPERATE on the line (as in status). */
  error: z.string().nullable(),
});
export type RunActivityEvent = z.infer<typeof runActivitySchema>;

/**
 * Sent first when the cursor given (`Last-Event-ID` or `since`) cannot be continued exactly: the
 * Catchment restarted since (`restarted`: what follows is everything since it started), or the
 * activity after it is no longer kept (`expired`: what follows starts at the oldest kept).
 */
export const gapSchema = z.object({
  reason: z.enum(['restarted', 'expired']),
  /** The cursor the client gave. */
  since: z.string(),
  message: z.string(),
});
export type GapEvent = z.infer<typeof gapSchema>;

/** Declared with its events spread in, so the client knows each event's type by name. */
const streamEvents = { run: runActivitySchema, gap: gapSchema };

export const stream = {
  ...endpoint({
    method: 'GET',
    path: '/api/events',
    summary:
      'Run activity as server-sent events (`event: run`), only for lines the caller holds a privilege on; ' +
      'resume with `Last-Event-ID` (or `since`); keep-alive comments every 15 s',
    auth: 'principal',
    query: z.object({
      /** Only this Pond's lines. */
      pond: pondName.optional(),
      /** Resume after this event id (the `Last-Event-ID` header wins when both are sent). */
      since: z.string().max(100).optional(),
    }),
  }),
  events: streamEvents,
};
