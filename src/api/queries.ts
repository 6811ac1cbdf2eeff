/**
 * Async queries (behind FEATURE_ASYNC_QUEUE): submit a governed SELECT, poll its job, page through
 * its stored result with an opaque cursor. A job of another principal answers like an unknown one.
 */
import { z } from 'zod/v4';
import { instant, okResponse } from './common.js';
import { endpoint } from './endpoint.js';

export const JOB_STATES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'EXPIRED'] as const;

/** Longest `wait` a submission may ask for, in seconds. */
export const MAX_SUBMIT_WAIT_SECONDS = 30;

export const queryJobSchema = z.object({
  /** `q_` and 32 hex digits. */
  id: z.string(),
  state: z.enum(JOB_STATES),
  sql: z.string(),
  request_id: z.string().nullable(),
  /** Attempts started: a restart runs a RUNNING job again, a failed path moves it to another target. */
  attempts: z.number().int(),
  created_at: instant,
  started_at: instant.nullable(),
  finished_at: instant.nullable(),
  /** When the job and its result are deleted (set once it finished). */
  expires_at: instant.nullable(),
  /** Why it FAILED or was CANCELED. */
  error: z.object({ code: z.string(), message: z.string(), error_id: z.string().nullable() }).nullable(),
  row_count: z.number().int().nullable(),
  /** Where it ran: local, remote:NAME (its result is kept on that worker) or fallback:NAME. */
  placement: z.string().nullable(),
  /** Every attempt, oldest first: where it ran, how it ended and why. */
  attempt_log: z.array(
    z.object({
      attempt: z.number().int(),
      /** local, remote:NAME or fallback:NAME. */
      target: z.string(),
      outcome: z.enum(['running', 'succeeded', 'failed', 'canceled', 'interrupted']),
      /** Why it did not succeed, e.g. "unavailable: the worker is unreachable". */
      reason: z.string().nullable(),
      started_at: instant,
      finished_at: instant.nullable(),
      /** The worker's id of the job (remote attempts). */
      remote_job_id: z.string().nullable(),
    }),
  ),
});
export type QueryJobView = z.infer<typeof queryJobSchema>;

export const resultsPageSchema = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
  rows: z.array(z.array(z.unknown())),
  row_count: z.number().int(),
  total_rows: z.number().int(),
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
  truncated: z.boolean(),
});

const jobParams = z.object({ id: z.string().min(1).max(64) });

export const submit = endpoint({
  method: 'POST',
  path: '/api/queries',
  summary:
    'Submit an async governed SELECT: 202 with the job, or 200 with the job and its first page when it finishes within `wait` seconds',
  auth: 'principal',
  body: z
    .object({
      sql: z.string().min(1, 'sql must not be empty'),
      /** Makes the submission idempotent: the same request_id returns the same job. */
      request_id: z
        .string()
        .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'request_id is 1-128 letters, digits or . _ : -')
        .optional(),
      wait: z
        .number()
        .min(0)
        .max(MAX_SUBMIT_WAIT_SECONDS, `wait is at most ${MAX_SUBMIT_WAIT_SECONDS} seconds`)
        .optional(),
    })
    .strict(),
  statuses: [202, 200],
  response: z.object({ job: queryJobSchema, results: resultsPageSchema.optional() }),
});

export const list = endpoint({
  method: 'GET',
  path: '/api/queries',
  summary: "The caller's async query jobs, newest first, paged",
  auth: 'principal',
  query: z.object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(32).optional(),
  }),
  response: z.object({ jobs: z.array(queryJobSchema), next_cursor: z.string().nullable() }),
});

export const show = endpoint({
  method: 'GET',
  path: '/api/queries/:id',
  summary: 'One async query job of the caller',
  auth: 'principal',
  params: jobParams,
  response: queryJobSchema,
});

export const results = endpoint({
  method: 'GET',
  path: '/api/queries/:id/results',
  summary: "A page of a finished job's result: `cursor` from the previous page, at most `max_rows` rows",
  auth: 'principal',
  params: jobParams,
  query: z.object({
    cursor: z.string().max(200).optional(),
    max_rows: z.coerce
      .number()
      .int('max_rows must be an integer')
      .min(1, 'max_rows must be at least 1')
      .max(10_000, 'max_rows is at most 10000')
      .optional(),
  }),
  response: resultsPageSchema,
});

export const cancel = endpoint({
  method: 'POST',
  path: '/api/queries/:id/cancel',
  summary: 'Cancel a QUEUED or RUNNING job of the caller',
  auth: 'principal',
  params: jobParams,
  response: queryJobSchema,
});

export const remove = endpoint({
  method: 'DELETE',
  path: '/api/queries/:id',
  summary: 'Delete a finished job of the caller and its result',
  auth: 'principal',
  params: jobParams,
  response: okResponse,
});
