/**
 * The Catchment's HTTP API (fastify), composed: the application services, the guard that enforces
 * each endpoint's declared auth, the error handler, and one route module per area. Every route
 * implements an endpoint declared in src/api; errors always come back as
 * `{"error":{"code","message"}}` with a proper status.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { loadOrCreateCapabilityKey } from '../../compute/capability.js';
import type { RemoteRouting } from '../../compute/remote/index.js';
import type { GovernanceService } from '../../governance/service.js';
import type { QueryService } from '../../query/query-service.js';
import { ActivityHub } from '../activity-hub.js';
import { createApplication } from '../app/index.js';
import type { AsyncQueryService } from '../async/service.js';
import type { Catchment } from '../catchment.js';
import type { ComputeService } from '../compute/service.js';
import type { DataService } from '../data.js';
import type { Metrics } from '../metrics.js';
import { installErrorHandler } from './error-handler.js';
import { createGuard } from './guard.js';
import { registerComputeRoutes } from './routes/compute.js';
import { registerComputeStatusRoutes } from './routes/compute-status.js';
import { registerDuckDataRoutes } from './routes/duck-data.js';
import { registerDuckRoutes } from './routes/ducks.js';
import { registerEventRoutes } from './routes/events.js';
import { registerGovernanceRoutes } from './routes/governance.js';
import { registerLineRoutes } from './routes/lines.js';
import { registerLogRoutes } from './routes/logs.js';
import { registerOperationsRoutes } from './routes/operations.js';
import { registerPondRoutes } from './routes/ponds.js';
import { registerAsyncQueryRoutes } from './routes/queries.js';
import { registerQueryRoutes } from './routes/query.js';
import { registerSnapshotRoutes } from './routes/snapshots.js';
import { RouteTable } from './routes.js';

export interface ServerDeps {
  catchment: Catchment;
  adminKey: string;
  data: DataService;
  /** Authentication, authorization, policy management, governed queries and the audit log. */
  governance: GovernanceService;
  /** Governed queries: govern → route → execute → audit. */
  queries: QueryService;
  /** Async queries: jobs, their runner and stored results (FEATURE_ASYNC_QUEUE). */
  asyncQueries: AsyncQueryService;
  /** The compute directory: query workers and who is routed to them. */
  compute: ComputeService;
  metrics: Metrics;
  /** Remote routing (compute status); absent when every query runs locally. */
  fleet?: RemoteRouting;
  logger?: boolean | object;
  /**
   * Check every success answer against its endpoint's response schema (a mismatch answers 500).
   * Default: on under the test runner (VITEST set), off otherwise.
   */
  validateResponses?: boolean;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { catchment } = deps;
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 512 * 1024 * 1024 });
  app.addContentTypeParser(
    ['application/octet-stream', 'application/gzip'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );

  installErrorHandler(app, { maxSqlBytes: () => deps.queries.limits.maxSqlBytes });
  // Between listening and rebuilding the engine (a restart), answer 503 so Ducks simply retry.
  app.addHook('onRequest', async (_req, reply) => {
    if (!catchment.ready)
      return reply.status(503).send({ error: { code: 'unavailable', message: 'the Catchment is starting' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }),
  );

  const application = createApplication(deps);
  const routes = new RouteTable(app, createGuard(application), {
    validateResponses: deps.validateResponses ?? process.env.VITEST !== undefined,
  });
  registerOperationsRoutes(routes, application);
  registerPondRoutes(routes, application);
  registerLineRoutes(routes, application);
  registerLogRoutes(routes, application);
  registerQueryRoutes(routes, application);
  registerAsyncQueryRoutes(routes, application);
  registerGovernanceRoutes(routes, application);
  registerComputeRoutes(routes, application);
  registerDuckRoutes(routes, application);
  registerDuckDataRoutes(routes, application, app);
  registerComputeStatusRoutes(routes, application);
  // Run activity for watchers; their streams end before the server closes, or close would wait on them.
  const hub = new ActivityHub(catchment);
  registerEventRoutes(routes, application, hub);
  // Workers' snapshot downloads: capability-authorized, binary, internal (see routes/snapshots.ts).
  registerSnapshotRoutes(app, {
    snapshots: deps.data.snapshots,
    key: loadOrCreateCapabilityKey(catchment.options.root),
    clock: catchment.clock,
  });
  app.addHook('preClose', async () => hub.close());
  return app;
}
