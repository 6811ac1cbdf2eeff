/**
 * The Catchment's HTTP API (fastify). Every route is declared once in the route table with its auth
 * level and zod schemas; errors always come back as `{"error":{"code","message"}}` with a proper status.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import { httpStatusForQueryError, QueryError } from '../../compute/query.js';
import { duckEventSchema } from '../../duck/protocol.js';
import { type DurationError, parseDuration, parseSingleUnit } from '../../engine/duration.js';
import { EngineError } from '../../engine/engine.js';
import type { Catchment } from '../catchment.js';
import type { DataService } from '../data.js';
import { deployArchive } from '../deploy.js';
import type { Metrics } from '../metrics.js';
import { lineId, OrchestratorStopped } from '../orchestrator.js';
import { lineStatus } from '../status.js';
import { ConflictError, NotFoundError, secretsEqual, ValidationError } from '../store/index.js';
import { HttpError, RouteTable } from './routes.js';

const VERSION = '0.1.0';

export interface ServerDeps {
  catchment: Catchment;
  adminKey: string;
  data: DataService;
  metrics: Metrics;
  logger?: boolean | object;
}

const pondParams = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'pond names are lowercase identifiers'),
});
const majorQuery = z.object({ major: z.coerce.number().int().nonnegative().optional() });
const duckParams = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  major: z.coerce.number().int().nonnegative(),
});

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.toLowerCase().startsWith('bearer ')) return h.slice(7).trim();
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x : undefined;
}

const durationField = z.string().refine(
  (s) => {
    try {
      return parseDuration(s) > 0;
    } catch {
      return false;
    }
  },
  { message: 'expected a positive duration such as "30s", "1h30m"' },
);

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { catchment, data, metrics } = deps;
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 512 * 1024 * 1024 });
  app.addContentTypeParser(
    ['application/octet-stream', 'application/gzip'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof HttpError) {
      return reply.status(err.status).send({
        error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      });
    }
    if (err instanceof OrchestratorStopped) {
      return reply.status(503).send({ error: { code: 'unavailable', message: err.message } });
    }
    if (err instanceof QueryError) {
      return reply
        .status(httpStatusForQueryError(err.code))
        .send({ error: { code: err.code, message: err.message } });
    }
    if (err instanceof EngineError || err instanceof NotFoundError) {
      return reply.status(404).send({ error: { code: 'not_found', message: err.message } });
    }
    if (err instanceof ConflictError)
      return reply.status(409).send({ error: { code: 'conflict', message: err.message } });
    if (err instanceof ValidationError) {
      return reply
        .status(422)
        .send({ error: { code: 'invalid_request', message: err.message, details: err.issues } });
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) {
      return reply
        .status(e.statusCode)
        .send({ error: { code: 'invalid_request', message: e.message ?? 'bad request' } });
    }
    _req.log.error(err);
    return reply
      .status(500)
      .send({ error: { code: 'internal', message: 'internal error (see the Catchment log)' } });
  });
  // Between listening and rebuilding the engine (a restart), answer 503 so Ducks simply retry.
  app.addHook('onRequest', async (_req, reply) => {
    if (!catchment.ready)
      return reply.status(503).send({ error: { code: 'unavailable', message: 'the Catchment is starting' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }),
  );

  const routes = new RouteTable(app, (req, auth, params) => {
    if (auth === 'none') return;
    const key = bearer(req);
    if (!key)
      throw new HttpError(401, 'unauthenticated', 'missing API key (send "Authorization: Bearer KEY")');
    if (auth === 'admin') {
      if (!secretsEqual(key, deps.adminKey)) throw new HttpError(401, 'unauthenticated', 'invalid API key');
      return;
    }
    const { name, major } = params as { name: string; major: number };
    if (!catchment.store.verifyDuckToken(name, major, key))
      throw new HttpError(401, 'unauthenticated', 'invalid Duck token');
    catchment.supervisor.contact(lineId(name, major));
  });

  /** The major a request means: explicit, else the newest deployed line of that Pond. */
  const resolveMajor = (name: string, major: number | undefined): number => {
    if (major !== undefined) {
      if (!catchment.store.getSelectedVersion(name, major)) {
        throw new HttpError(404, 'not_found', `pond "${name}" has no deployed major ${major}`);
      }
      return major;
    }
    const m = catchment.store.highestMajor(name);
    if (m === null) throw new HttpError(404, 'not_found', `unknown pond "${name}"`);
    return m;
  };

  // ───────────── operations ─────────────
  routes.add({
    method: 'GET',
    url: '/health',
    summary: 'Liveness and a summary of the engine and job queues (no authentication)',
    auth: 'none',
    handler: () => metrics.health(),
  });
  routes.add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics',
    auth: 'admin',
    handler: async ({ reply }) => {
      reply.header('content-type', metrics.contentType);
      return metrics.render();
    },
  });
  routes.add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This API description',
    auth: 'none',
    handler: () => routes.openapi({ title: 'duckstring Catchment API', version: VERSION }),
  });

  // ───────────── deploy & status ─────────────
  routes.add({
    method: 'POST',
    url: '/api/deploy',
    summary: 'Deploy a Pond archive (body: the archive made by `duckstring pond deploy`)',
    auth: 'admin',
    binaryBody: true,
    handler: async ({ body, reply }) => {
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new HttpError(
          400,
          'invalid_archive',
          'send the Pond archive as the request body (Content-Type: application/octet-stream)',
        );
      }
      const outcome = await deployArchive(catchment, body);
      reply.status(outcome.created ? 201 : 200);
      return outcome;
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds',
    summary: 'Every deployed Pond line: freshness, demand, status, Duck, last runs',
    auth: 'admin',
    handler: () => ({
      ponds: catchment.store.listLines().map((l) => lineStatus(catchment, l.pond, l.major)),
    }),
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name',
    summary: 'One Pond: every major line with its status',
    auth: 'admin',
    params: pondParams,
    handler: ({ params }) => {
      const lines = catchment.store.listLines(params.name);
      if (lines.length === 0) throw new HttpError(404, 'not_found', `unknown pond "${params.name}"`);
      return { pond: params.name, lines: lines.map((l) => lineStatus(catchment, l.pond, l.major)) };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/runs',
    summary: 'Run history: Pond Runs with one row per Ripple attempt (errors and stack traces included)',
    auth: 'admin',
    params: pondParams,
    query: majorQuery.extend({
      limit: z.coerce.number().int().min(1).max(1000).default(20),
      status: z.enum(['running', 'succeeded', 'failed', 'killed', 'passed']).optional(),
    }),
    handler: ({ params, query }) => {
      const major = resolveMajor(params.name, query.major);
      const runs = catchment.store.listPondRuns({
        pond: params.name,
        major,
        limit: query.limit,
        ...(query.status ? { status: query.status } : {}),
      });
      return {
        pond: params.name,
        major,
        runs: runs.map((r) => ({ ...r, attempts: catchment.store.listRunAttempts(r.id) })),
      };
    },
  });

  // ───────────── triggers & control ─────────────
  const verbBody = z
    .object({
      major: z.number().int().nonnegative().optional(),
      bound: durationField.optional(),
      bound_seconds: z.number().positive().optional(),
      upstream: z.boolean().optional(),
    })
    .strict()
    .optional();
  const verbs = [
    'tap',
    'pulse',
    'wave',
    'tide',
    'untrigger',
    'wake',
    'force',
    'sleep',
    'kill',
    'clear',
    'refresh',
  ] as const;
  for (const verb of verbs) {
    routes.add({
      method: 'POST',
      url: `/api/ponds/:name/${verb}`,
      summary: VERB_SUMMARY[verb]!,
      auth: 'admin',
      params: pondParams,
      body: verbBody,
      handler: ({ params, body }) => {
        const major = resolveMajor(params.name, body?.major);
        const line = lineId(params.name, major);
        let boundMs = 0;
        if (verb === 'tide') {
          if (body?.bound === undefined && body?.bound_seconds === undefined) {
            throw new HttpError(
              400,
              'invalid_request',
              'body.bound: a tide needs a staleness bound, e.g. {"bound": "10m"}',
            );
          }
          boundMs =
            body.bound !== undefined ? parseDuration(body.bound) : Math.round(body.bound_seconds! * 1000);
        }
        catchment.control(line, verb, { boundMs, upstream: body?.upstream ?? false });
        return { ok: true, pond: params.name, major, status: lineStatus(catchment, params.name, major) };
      },
    });
  }

  // ───────────── windows & budgets ─────────────
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/windows',
    summary: 'Availability windows of an Inlet line',
    auth: 'admin',
    params: pondParams,
    query: majorQuery,
    handler: ({ params, query }) => {
      const major = resolveMajor(params.name, query.major);
      return { windows: catchment.store.listWindows(params.name, major).map(windowOut) };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/ponds/:name/windows',
    summary: 'Add a window (anchor + fixed interval; overlapping windows and duplicate names are refused)',
    auth: 'admin',
    params: pondParams,
    body: z
      .object({
        name: z
          .string()
          .regex(/^[a-z][a-z0-9_]*$/, 'window names are lowercase identifiers (letters, digits, _)'),
        every: z.string(),
        start: z.string().optional(),
        duration: durationField.optional(),
        on: z.array(z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'])).optional(),
        until: z.iso.datetime({ offset: true }).optional(),
        major: z.number().int().nonnegative().optional(),
      })
      .strict(),
    handler: ({ params, body, reply }) => {
      const major = resolveMajor(params.name, body.major);
      let every: number;
      try {
        every = parseSingleUnit(body.every).ms;
      } catch (err) {
        throw new HttpError(400, 'invalid_request', `body.every: ${(err as DurationError).message}`);
      }
      if (every <= 0) throw new HttpError(400, 'invalid_request', 'body.every: must be > 0');
      const window = {
        name: body.name,
        startAnchor: parseStart(body.start),
        everyMs: every,
        durationMs: body.duration ? parseDuration(body.duration) : every,
        validDays: body.on ?? [],
        until: body.until ? Date.parse(body.until) : null,
      };
      if (window.durationMs > every)
        throw new HttpError(400, 'invalid_request', 'body.duration: must not exceed every');
      const config = catchment.store.getLineConfig(params.name, major);
      const manifest = config.selected.manifest as { sources?: unknown[] };
      if ((manifest.sources ?? []).length > 0) {
        throw new HttpError(
          422,
          'invalid_request',
          `windows apply to Inlets only; ${params.name} has Sources`,
        );
      }
      catchment.store.addWindow(params.name, major, window, Date.now());
      catchment.reloadTopology();
      reply.status(201);
      return { window: windowOut(window) };
    },
  });
  routes.add({
    method: 'DELETE',
    url: '/api/ponds/:name/windows/:window',
    summary: 'Remove a window',
    auth: 'admin',
    params: pondParams.extend({ window: z.string().min(1) }),
    query: majorQuery,
    handler: ({ params, query }) => {
      const major = resolveMajor(params.name, query.major);
      catchment.store.removeWindow(params.name, major, params.window);
      catchment.reloadTopology();
      return { ok: true };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/budgets',
    summary: 'Retry budgets of a line',
    auth: 'admin',
    params: pondParams,
    query: majorQuery,
    handler: ({ params, query }) => {
      const b = catchment.store.getBudgets(params.name, resolveMajor(params.name, query.major));
      return { immediate_retries: b.immediateRetries, source_retries: b.sourceRetries };
    },
  });
  routes.add({
    method: 'PUT',
    url: '/api/ponds/:name/budgets',
    summary: 'Set retry budgets (operator-owned after the first deploy)',
    auth: 'admin',
    params: pondParams,
    body: z
      .object({
        immediate_retries: z.number().int().min(0).max(100),
        source_retries: z.number().int().min(0).max(100),
        major: z.number().int().nonnegative().optional(),
      })
      .strict(),
    handler: ({ params, body }) => {
      const major = resolveMajor(params.name, body.major);
      const b = catchment.store.setBudgets(
        params.name,
        major,
        { immediateRetries: body.immediate_retries, sourceRetries: body.source_retries },
        Date.now(),
      );
      catchment.reloadTopology();
      return { immediate_retries: b.immediateRetries, source_retries: b.sourceRetries };
    },
  });

  // ───────────── data ─────────────
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/tables',
    summary: 'Published tables of a line: schema, rows, freshness',
    auth: 'admin',
    params: pondParams,
    query: majorQuery,
    handler: async ({ params, query }) => data.describe(params.name, resolveMajor(params.name, query.major)),
  });
  routes.add({
    method: 'POST',
    url: '/api/query',
    summary: 'Run one SELECT over published snapshots; tables are named pond.table or "pond@2".table',
    auth: 'admin',
    body: z.object({ sql: z.string().min(1, 'sql must not be empty').max(1_000_000) }).strict(),
    handler: async ({ body }) => data.query(body.sql),
  });

  // ───────────── Duck dial-back ─────────────
  routes.add({
    method: 'GET',
    url: '/api/duck/whoami',
    summary: 'Duck: which line this Duck token belongs to (so a Duck needs only the URL and its token)',
    auth: 'none',
    handler: ({ raw }) => {
      const duck = catchment.store.findDuckByToken(bearer(raw));
      if (!duck) throw new HttpError(401, 'unauthenticated', 'invalid Duck token');
      return { name: duck.pond, major: duck.major, line: lineId(duck.pond, duck.major) };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/duck/:name/:major/config',
    summary: 'Duck: what to run and where (Duck token)',
    auth: 'duck',
    params: duckParams,
    handler: ({ params }) => catchment.duckConfig(lineId(params.name, params.major)),
  });
  routes.add({
    method: 'GET',
    url: '/api/duck/:name/:major/jobs',
    summary: 'Duck: long poll for commands (Duck token)',
    auth: 'duck',
    params: duckParams,
    query: z.object({ wait: z.coerce.number().int().min(0).max(60_000).default(0) }),
    handler: async ({ params, query }) => {
      const line = lineId(params.name, params.major);
      const jobs = await catchment.jobs.take(line, query.wait);
      catchment.supervisor.contact(line, jobs.length > 0);
      return { jobs };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/duck/:name/:major/events',
    summary: 'Duck: report progress (idempotent on freshness; Duck token)',
    auth: 'duck',
    params: duckParams,
    body: z.object({ events: z.array(z.unknown()).max(10_000) }),
    handler: ({ params, body }) => {
      const events = body.events.map((e, i) => {
        const r = duckEventSchema.safeParse(e);
        if (!r.success)
          throw new HttpError(400, 'invalid_request', `body.events[${i}]: ${r.error.issues[0]?.message}`);
        return r.data;
      });
      catchment.duckEvents(lineId(params.name, params.major), events);
      return { ok: true, applied: events.length };
    },
  });

  return app;
}

const VERB_SUMMARY: Record<string, string> = {
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

function parseStart(start: string | undefined): number {
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  if (start === undefined) return today.getTime();
  const hhmm = /^(\d{2}):(\d{2})$/.exec(start);
  if (hhmm) return today.getTime() + (Number(hhmm[1]) * 60 + Number(hhmm[2])) * 60_000;
  const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(start) ? start : `${start}Z`;
  const t = Date.parse(iso);
  if (Number.isNaN(t))
    throw new HttpError(400, 'invalid_request', `body.start: "${start}" is neither ISO-8601 nor HH:MM`);
  return t;
}

function windowOut(w: {
  name: string;
  startAnchor: number;
  everyMs: number;
  durationMs: number;
  validDays: string[];
  until: number | null;
}) {
  return {
    name: w.name,
    start: new Date(w.startAnchor).toISOString(),
    every_ms: w.everyMs,
    duration_ms: w.durationMs,
    on: w.validDays,
    until: w.until === null ? null : new Date(w.until).toISOString(),
  };
}
