/** Deploying Ponds and reading them: status, run history, published tables and the catalog. */
import { z } from 'zod/v4';
import { instant, majorQuery, pondParams } from './common.js';
import { endpoint } from './endpoint.js';

const RUN_STATUSES = ['running', 'succeeded', 'failed', 'killed', 'passed'] as const;
const runStatus = z.enum(RUN_STATUSES);

/** One Pond line as `duckstring status` shows it. */
export const lineStatusSchema = z.object({
  pond: z.string(),
  major: z.number().int(),
  version: z.string().nullable(),
  status: z.enum(['failed', 'killed', 'blocked', 'running', 'queued', 'idle']),
  freshness: z.object({ start: instant.nullable(), end: instant.nullable(), changed: instant.nullable() }),
  demand: z.object({ pull: z.boolean(), targets: z.array(instant) }),
  trigger: z.object({ kind: z.enum(['wave', 'tide']), bound_ms: z.number().optional() }).nullable(),
  faults: z.object({
    failed: z.boolean(),
    failures: z.number(),
    failed_f: instant.nullable(),
    killed: z.boolean(),
    blocked: z.boolean(),
  }),
  /**
   * Null while the line takes demand. Otherwise the state that makes it ignore (or, sleeping outside
   * its windows, hold) Taps and Pulses, since
   * when, why (a run error's text only for holders of OPERATE) and the command that gets it out.
   */
  attention: z
    .object({
      state: z.enum(['failed', 'killed', 'blocked', 'sleeping']),
      since: instant.nullable(),
      reason: z.string(),
      way_out: z.string(),
    })
    .nullable(),
  runs: z.object({ started: z.number().int(), completed: z.number().int() }),
  duck: z.object({
    /** The local Duck's process id (null for none, or one on a worker). */
    pid: z.number().int().nullable(),
    /** Where it runs: local, remote:ENDPOINT, fallback:ENDPOINT; null while the line has no Duck. */
    runs_on: z.string().nullable(),
    queued_jobs: z.number().int(),
  }),
  last_runs: z.array(
    z.object({
      f: instant,
      version: z.string(),
      status: runStatus,
      started_at: instant,
      finished_at: instant.nullable(),
      /** "hidden" unless the caller holds OPERATE (errors may quote data). */
      error: z.string().nullable(),
    }),
  ),
});
export type LineStatus = z.infer<typeof lineStatusSchema>;

export const deploy = endpoint({
  method: 'POST',
  path: '/api/deploy',
  summary: 'Deploy a Pond archive (body: the archive made by `duckstring pond deploy`)',
  auth: 'principal',
  binaryBody: true,
  statuses: [201, 200],
  response: z.object({
    name: z.string(),
    version: z.string(),
    major: z.number().int(),
    checksum: z.string(),
    /** False when this exact version was already deployed (200): an idempotent redeploy or a rollback. */
    created: z.boolean(),
    previousVersion: z.string().nullable(),
    ripples: z.array(z.string()),
    tables: z.array(z.string()),
    principal: z.string().nullable(),
    granted: z.array(z.string()),
  }),
});

export const listLines = endpoint({
  method: 'GET',
  path: '/api/ponds',
  summary: 'Every deployed Pond line: freshness, demand, status, Duck, last runs',
  auth: 'principal',
  response: z.object({ ponds: z.array(lineStatusSchema) }),
});

export const pond = endpoint({
  method: 'GET',
  path: '/api/ponds/:name',
  summary: 'One Pond: every major line with its status',
  auth: 'principal',
  params: pondParams,
  response: z.object({ pond: z.string(), lines: z.array(lineStatusSchema) }),
});

const rippleAttempt = z.object({
  runId: z.number().int(),
  pond: z.string(),
  major: z.number().int(),
  version: z.string(),
  f: z.number(),
  ripple: z.string(),
  attempt: z.number().int(),
  status: runStatus,
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
  rowsWritten: z.number().int().nullable(),
  error: z.string().nullable(),
  stack: z.string().nullable(),
  duckId: z.string().nullable(),
});

export const runs = endpoint({
  method: 'GET',
  path: '/api/ponds/:name/runs',
  summary: 'Run history: Pond Runs with one row per Ripple attempt (errors and stack traces included)',
  auth: { on: 'line', privilege: 'OPERATE' },
  params: pondParams,
  query: majorQuery.extend({
    limit: z.coerce.number().int().min(1).max(1000).default(20),
    status: runStatus.optional(),
  }),
  response: z.object({
    pond: z.string(),
    major: z.number().int(),
    runs: z.array(
      z.object({
        id: z.number().int(),
        pond: z.string(),
        major: z.number().int(),
        f: z.number(),
        version: z.string(),
        status: runStatus,
        startedAt: z.number(),
        finishedAt: z.number().nullable(),
        triggerReason: z.string().nullable(),
        error: z.string().nullable(),
        attempts: z.array(rippleAttempt),
      }),
    ),
  }),
});

const column = z.object({ name: z.string(), type: z.string() });

export const tables = endpoint({
  method: 'GET',
  path: '/api/ponds/:name/tables',
  summary: 'Published tables of a line: schema, rows, freshness',
  auth: { on: 'line' },
  params: pondParams,
  query: majorQuery,
  response: z.object({
    pond: z.string(),
    major: z.number().int(),
    f: z.number().nullable(),
    freshness: instant.nullable(),
    publishedAt: instant.nullable(),
    tables: z.array(
      z.object({
        name: z.string(),
        /** Null when a row filter applies and the caller does not manage it. */
        rows: z.number().int().nullable(),
        bytes: z.number().int().nullable(),
        columns: z.array(column),
        publishedAt: instant,
      }),
    ),
  }),
});

export const catalog = endpoint({
  method: 'GET',
  path: '/api/tables',
  summary:
    'The catalog: every published table the caller may SELECT, of every Pond and major (columns, masked or not; filtered or not)',
  auth: 'principal',
  response: z.object({
    tables: z.array(
      z.object({
        key: z.string(),
        pond: z.string(),
        major: z.number().int(),
        name: z.string(),
        selected: z.boolean(),
        filtered: z.boolean(),
        columns: z.array(z.object({ name: z.string(), type: z.string(), masked: z.boolean() })),
      }),
    ),
  }),
});
