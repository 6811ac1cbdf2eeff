/**
 * The Catchment's HTTP API (fastify). Every route is declared once in the route table with its auth
 * level and zod schemas; errors always come back as `{"error":{"code","message"}}` with a proper status.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import { duckEventSchema } from '../../duck/protocol.js';
import { type DurationError, parseDuration, parseSingleUnit } from '../../engine/duration.js';
import { listVisibleTables } from '../../governance/catalog.js';
import { GovernanceError } from '../../governance/errors.js';
import { registerGovernanceRoutes } from '../../governance/http.js';
import { PRIVILEGES, type Privilege } from '../../governance/policy.js';
import type { GovernanceService, Identity } from '../../governance/service.js';
import { unpackPond } from '../../pond/archive.js';
import { majorOf, parseManifest } from '../../pond/manifest.js';
import { requestBodyLimit } from '../../query/limits.js';
import type { QueryService } from '../../query/query-service.js';
import type { Catchment } from '../catchment.js';
import type { DataService } from '../data.js';
import { deployArchive } from '../deploy.js';
import type { Metrics } from '../metrics.js';
import { lineId } from '../orchestrator.js';
import { lineStatus } from '../status.js';
import { secretsEqual } from '../store/index.js';
import { installErrorHandler } from './error-handler.js';
import { HttpError, RouteTable } from './routes.js';

const VERSION = '0.1.0';

export interface ServerDeps {
  catchment: Catchment;
  adminKey: string;
  data: DataService;
  /** Authentication, authorization, policy management, governed queries and the audit log. */
  governance: GovernanceService;
  /** Governed queries: govern → route → execute → audit. */
  queries: QueryService;
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
  const { catchment, data, metrics, governance, queries } = deps;
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 512 * 1024 * 1024 });
  app.addContentTypeParser(
    ['application/octet-stream', 'application/gzip'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );

  installErrorHandler(app, { maxSqlBytes: () => governance.queryLimits.maxSqlBytes });
  // Between listening and rebuilding the engine (a restart), answer 503 so Ducks simply retry.
  app.addHook('onRequest', async (_req, reply) => {
    if (!catchment.ready)
      return reply.status(503).send({ error: { code: 'unavailable', message: 'the Catchment is starting' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }),
  );

  // Route auth 'principal': an authenticated principal (the root admin key or an API key); what
  // that principal may do is checked in each handler against the policy.
  const identities = new WeakMap<FastifyRequest, Identity>();
  const who = (req: FastifyRequest): Identity => {
    const id = identities.get(req);
    if (!id) throw new HttpError(401, 'unauthenticated', 'not authenticated');
    return id;
  };
  const routes = new RouteTable(app, (req, auth, params) => {
    if (auth === 'none') return;
    const key = bearer(req);
    if (!key)
      throw new HttpError(401, 'unauthenticated', 'missing API key (send "Authorization: Bearer KEY")');
    if (auth === 'principal') {
      identities.set(req, governance.authenticate(key, secretsEqual));
      return;
    }
    const { name, major } = params as { name: string; major: number };
    if (!catchment.store.verifyDuckToken(name, major, key))
      throw new HttpError(401, 'unauthenticated', 'invalid Duck token');
    catchment.supervisor.contact(lineId(name, major));
  });

  /** 403 unless the caller holds `privilege` on the line `name@major`. */
  const gate = (req: FastifyRequest, privilege: Privilege, name: string, major: number): void =>
    governance.require(who(req), privilege, { kind: 'pond', pond: name, major });
  /** Seeing a line's status, windows and budgets takes any privilege on it. */
  const mayView = (req: FastifyRequest, name: string, major: number): boolean =>
    PRIVILEGES.some((p) => governance.can(who(req), p, { kind: 'pond', pond: name, major }));
  const gateView = (req: FastifyRequest, name: string, major: number): void => {
    if (!mayView(req, name, major))
      throw new GovernanceError('permission_denied', `permission denied: no privilege on ${name}@${major}`);
  };

  /**
   * A line's status; run errors (which may quote data) only for holders of OPERATE, who can read the
   * full run history anyway.
   */
  const statusFor = (req: FastifyRequest, name: string, major: number) => {
    const status = lineStatus(catchment, name, major);
    if (governance.can(who(req), 'OPERATE', { kind: 'pond', pond: name, major })) return status;
    return {
      ...status,
      last_runs: status.last_runs.map((r) => ({ ...r, error: r.error === null ? null : 'hidden' })),
    };
  };

  /** The published tables of a line the caller may SELECT (a table grant alone shows these). */
  const readableTables = async (req: FastifyRequest, name: string, major: number) => {
    const id = who(req);
    const described = await data.describe(name, major);
    return {
      described,
      tables: described.tables.filter((t) =>
        governance.can(id, 'SELECT', { kind: 'table', pond: name, major, table: t.name }),
      ),
    };
  };
  /** A line the caller may know exists: it holds a privilege on it, or SELECT on one of its tables. */
  const knowsLine = async (req: FastifyRequest, name: string, major: number): Promise<boolean> =>
    mayView(req, name, major) || (await readableTables(req, name, major)).tables.length > 0;
  const unknownPond = (name: string) => new HttpError(404, 'not_found', `unknown pond "${name}"`);

  /**
   * The major a request means: explicit, else the newest line of that Pond the caller knows. A Pond,
   * or a line, the caller may not know of answers exactly like one that does not exist — the same
   * status, code and message with the name substituted — and never becomes the default major.
   */
  const resolveMajor = async (req: FastifyRequest, name: string, major: number | undefined) => {
    const known: number[] = [];
    for (const l of catchment.store.listLines(name)) {
      if (await knowsLine(req, l.pond, l.major)) known.push(l.major);
    }
    if (known.length === 0) throw unknownPond(name);
    if (major === undefined) return Math.max(...known);
    if (!known.includes(major)) throw new HttpError(404, 'not_found', `unknown line "${name}@${major}"`);
    return major;
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
    auth: 'principal',
    handler: async ({ raw, reply }) => {
      governance.requireAdmin(who(raw), 'read metrics');
      reply.header('content-type', metrics.contentType);
      return metrics.render();
    },
  });
  routes.add({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This API description (any authenticated principal)',
    auth: 'principal',
    handler: () => routes.openapi({ title: 'duckstring Catchment API', version: VERSION }),
  });

  // ───────────── deploy & status ─────────────
  routes.add({
    method: 'POST',
    url: '/api/deploy',
    summary: 'Deploy a Pond archive (body: the archive made by `duckstring pond deploy`)',
    auth: 'principal',
    binaryBody: true,
    handler: async ({ body, raw, reply }) => {
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new HttpError(
          400,
          'invalid_archive',
          'send the Pond archive as the request body (Content-Type: application/octet-stream)',
        );
      }
      if (!governance.can(who(raw), 'DEPLOY', { kind: 'catalog' })) {
        const line = await archiveLine(body);
        if (!line) {
          throw new GovernanceError(
            'permission_denied',
            'permission denied: DEPLOY (the archive could not be read to tell which Pond it deploys)',
          );
        }
        gate(raw, 'DEPLOY', line.name, line.major);
      }
      const outcome = await deployArchive(catchment, body, who(raw));
      reply.status(outcome.created ? 201 : 200);
      return outcome;
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds',
    summary: 'Every deployed Pond line: freshness, demand, status, Duck, last runs',
    auth: 'principal',
    handler: ({ raw }) => ({
      ponds: catchment.store
        .listLines()
        .filter((l) => mayView(raw, l.pond, l.major))
        .map((l) => statusFor(raw, l.pond, l.major)),
    }),
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name',
    summary: 'One Pond: every major line with its status',
    auth: 'principal',
    params: pondParams,
    handler: async ({ params, raw }) => {
      const all = catchment.store.listLines(params.name);
      const lines = all.filter((l) => mayView(raw, l.pond, l.major));
      if (lines.length === 0) {
        // A table grant alone shows the tables, not the lines' status; a Pond the caller may not
        // know of answers exactly like one that does not exist.
        await resolveMajor(raw, params.name, undefined);
        throw new GovernanceError(
          'permission_denied',
          `permission denied: no privilege on a line of ${params.name} (the tables you may read: GET /api/ponds/${params.name}/tables, or GET /api/tables)`,
        );
      }
      return { pond: params.name, lines: lines.map((l) => statusFor(raw, l.pond, l.major)) };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/runs',
    summary: 'Run history: Pond Runs with one row per Ripple attempt (errors and stack traces included)',
    auth: 'principal',
    params: pondParams,
    query: majorQuery.extend({
      limit: z.coerce.number().int().min(1).max(1000).default(20),
      status: z.enum(['running', 'succeeded', 'failed', 'killed', 'passed']).optional(),
    }),
    handler: async ({ params, query, raw }) => {
      const major = await resolveMajor(raw, params.name, query.major);
      gate(raw, 'OPERATE', params.name, major);
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
      auth: 'principal',
      params: pondParams,
      body: verbBody,
      handler: async ({ params, body, raw }) => {
        const major = await resolveMajor(raw, params.name, body?.major);
        gate(raw, TRIGGER_VERBS.has(verb) ? 'TRIGGER' : 'OPERATE', params.name, major);
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
          if (!(boundMs >= 1)) {
            throw new HttpError(
              400,
              'invalid_request',
              'body.bound: a tide bound must be at least 1 ms (e.g. {"bound": "10m"} or {"bound_seconds": 600})',
            );
          }
        }
        catchment.control(line, verb, { boundMs, upstream: body?.upstream ?? false });
        return { ok: true, pond: params.name, major, status: statusFor(raw, params.name, major) };
      },
    });
  }

  // ───────────── windows & budgets ─────────────
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/windows',
    summary: 'Availability windows of an Inlet line',
    auth: 'principal',
    params: pondParams,
    query: majorQuery,
    handler: async ({ params, query, raw }) => {
      const major = await resolveMajor(raw, params.name, query.major);
      gateView(raw, params.name, major);
      return { windows: catchment.store.listWindows(params.name, major).map(windowOut) };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/ponds/:name/windows',
    summary: 'Add a window (anchor + fixed interval; overlapping windows and duplicate names are refused)',
    auth: 'principal',
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
    handler: async ({ params, body, reply, raw }) => {
      const major = await resolveMajor(raw, params.name, body.major);
      gate(raw, 'OPERATE', params.name, major);
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
      catchment.store.addWindow(params.name, major, window, catchment.clock.now());
      catchment.reloadTopology();
      reply.status(201);
      return { window: windowOut(window) };
    },
  });
  routes.add({
    method: 'DELETE',
    url: '/api/ponds/:name/windows/:window',
    summary: 'Remove a window',
    auth: 'principal',
    params: pondParams.extend({ window: z.string().min(1) }),
    query: majorQuery,
    handler: async ({ params, query, raw }) => {
      const major = await resolveMajor(raw, params.name, query.major);
      gate(raw, 'OPERATE', params.name, major);
      catchment.store.removeWindow(params.name, major, params.window);
      catchment.reloadTopology();
      return { ok: true };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/ponds/:name/budgets',
    summary: 'Retry budgets of a line',
    auth: 'principal',
    params: pondParams,
    query: majorQuery,
    handler: async ({ params, query, raw }) => {
      const major = await resolveMajor(raw, params.name, query.major);
      gateView(raw, params.name, major);
      const b = catchment.store.getBudgets(params.name, major);
      return { immediate_retries: b.immediateRetries, source_retries: b.sourceRetries };
    },
  });
  routes.add({
    method: 'PUT',
    url: '/api/ponds/:name/budgets',
    summary: 'Set retry budgets (operator-owned after the first deploy)',
    auth: 'principal',
    params: pondParams,
    body: z
      .object({
        immediate_retries: z.number().int().min(0).max(100),
        source_retries: z.number().int().min(0).max(100),
        major: z.number().int().nonnegative().optional(),
      })
      .strict(),
    handler: async ({ params, body, raw }) => {
      const major = await resolveMajor(raw, params.name, body.major);
      gate(raw, 'OPERATE', params.name, major);
      const b = catchment.store.setBudgets(
        params.name,
        major,
        { immediateRetries: body.immediate_retries, sourceRetries: body.source_retries },
        catchment.clock.now(),
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
    auth: 'principal',
    params: pondParams,
    query: majorQuery,
    handler: async ({ params, query, raw }) => {
      const major = await resolveMajor(raw, params.name, query.major);
      const id = who(raw);
      const { described, tables: readable } = await readableTables(raw, params.name, major);
      const policy = governance.policy();
      // Row and byte counts of a filtered table would tell how many rows the caller cannot see; only
      // those who manage the filter get them.
      const tables = readable.map((t) =>
        policy.rowFilter(params.name, major, t.name) === undefined ||
        governance.can(id, 'MANAGE', { kind: 'table', pond: params.name, major, table: t.name })
          ? t
          : { ...t, rows: null, bytes: null },
      );
      if (mayView(raw, params.name, major)) return { ...described, tables };
      // The line's own publish time moves when any table is republished; a reader of some tables
      // gets the newest of theirs instead, so it learns nothing about the others.
      const publishedAt =
        tables
          .map((t) => t.publishedAt)
          .sort()
          .at(-1) ?? null;
      return { ...described, publishedAt, tables };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/tables',
    summary:
      'The catalog: every published table the caller may SELECT, of every Pond and major (columns, masked or not; filtered or not)',
    auth: 'principal',
    handler: async ({ raw }) => {
      const { catalog } = await data.snapshot();
      return { tables: listVisibleTables(governance.policy(), who(raw).principal, catalog) };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/query',
    summary:
      'Run one governed SELECT over published snapshots (grants, row filters and masks applied); tables are pond.table or "pond@2".table',
    auth: 'principal',
    // The SQL's own size limit is the service's (413 sql_too_large); this only bounds what is parsed.
    bodyLimit: requestBodyLimit(governance.queryLimits),
    body: z.object({ sql: z.string().min(1, 'sql must not be empty') }).strict(),
    handler: async ({ body, raw }) => queries.query(who(raw), body.sql),
  });

  registerGovernanceRoutes(routes, governance, who);

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

/** Verbs that place demand (TRIGGER); the others operate the line (OPERATE). */
const TRIGGER_VERBS: ReadonlySet<string> = new Set(['tap', 'pulse', 'wave', 'tide', 'untrigger']);

/**
 * The line an archive would deploy to, read before deploying so DEPLOY can be checked on it; null
 * when the archive is unreadable (the deploy itself then answers with the precise error).
 */
async function archiveLine(archive: Buffer): Promise<{ name: string; major: number } | null> {
  const dir = await mkdtemp(path.join(tmpdir(), 'duckstring-peek-'));
  try {
    const target = path.join(dir, 'pond');
    await unpackPond(archive, target);
    const manifest = parseManifest(await readFile(path.join(target, 'pond.toml'), 'utf8'));
    return { name: manifest.name, major: majorOf(manifest.version) };
  } catch {
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
