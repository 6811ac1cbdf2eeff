/**
 * Starting and stopping a Catchment process: storage, engine, Duck supervision and the HTTP API on
 * one address. `duckstring catchment start` and `npm start` both come through here.
 */

import { statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadOrCreateCapabilityKey, mintCapability } from '../compute/capability.js';
import { WorkerClientPool } from '../compute/remote/client-pool.js';
import { createRemoteRouting, type RemoteRouting, readRemoteRoutingFlags } from '../compute/remote/index.js';
import { ResultPageReader } from '../compute/result-pages.js';
import { constrainLinePrincipals, linePrincipal } from '../governance/line-principals.js';
import { GovernanceService } from '../governance/service.js';
import { GovernanceStore } from '../governance/store.js';
import { type QueryLimitsInput, resolveQueryLimits } from '../query/limits.js';
import { QueryService } from '../query/query-service.js';
import { type AsyncQueryConfig, readAsyncQueryConfig } from './async/config.js';
import { CursorCodec, loadOrCreateCursorKey } from './async/cursor.js';
import { QueryJobRepository } from './async/job-store.js';
import { AsyncQueryService, RESULTS_DIRECTORY } from './async/service.js';
import { AsyncQueryTelemetry } from './async/telemetry.js';
import { Catchment, type CatchmentOptions, type StoredManifest } from './catchment.js';
import { createComputeDirectory } from './compute/index.js';
import { ComputeService } from './compute/service.js';
import { DataService } from './data.js';
import { GovernedInputs } from './governed-inputs.js';
import { buildServer } from './http/server.js';
import { Metrics } from './metrics.js';
import { lineId } from './orchestrator.js';
import { ensureLinePrincipals } from './pond-principals.js';
import { lockRoot, type RootLock } from './root-lock.js';
import { ensureAdminKey } from './store/index.js';

export interface StartOptions extends Omit<CatchmentOptions, 'root'> {
  root: string;
  host?: string;
  port?: number;
  httpLogger?: boolean | object;
  /** How long superseded snapshot files are kept (default 10 min). */
  snapshotGraceMs?: number;
  /** Query limits: SQL size and nesting, per-principal concurrency, time limit, governor threads. */
  queries?: QueryLimitsInput;
  /**
   * Where the remote-routing flags (FEATURE_REMOTE_ROUTING, FEATURE_INTERNAL_GRPC,
   * REMOTE_CANARY_USERS) and DUCKSTRING_WORKER_CA_FILE are read (default process.env).
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Async-query settings over what the environment says (FEATURE_ASYNC_QUEUE, QUERY_RESULT_TTL, …). */
  asyncQueries?: Partial<AsyncQueryConfig>;
  /** Between background health checks of compute endpoints (default 5 s). */
  computeHealthIntervalMs?: number;
}

export interface RunningCatchment {
  url: string;
  adminKey: string;
  /** True when this start created the admin key (print it once). */
  keyCreated: boolean;
  catchment: Catchment;
  /** Published data and the query executor (its slots' load is observable). */
  data: DataService;
  /** Remote routing: the compute directory's router, endpoint health and fleet telemetry. */
  fleet: RemoteRouting;
  /** Async query jobs (FEATURE_ASYNC_QUEUE). */
  asyncQueries: AsyncQueryService;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startCatchment(opts: StartOptions): Promise<RunningCatchment> {
  const lock = lockRoot(opts.root);
  try {
    return await startLocked(opts, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(opts: StartOptions, lock: RootLock): Promise<RunningCatchment> {
  // Malformed routing flags stop the start before anything opens (the message names the variable).
  const env = opts.env ?? process.env;
  const flags = readRemoteRoutingFlags(env);
  const asyncConfig = { ...readAsyncQueryConfig(env), ...opts.asyncQueries };
  const workerPool = WorkerClientPool.fromEnv(env);
  const catchment = new Catchment(opts);
  const { key, created } = ensureAdminKey(opts.root);
  const data = new DataService(catchment, opts.snapshotGraceMs);
  const metrics = new Metrics(catchment);
  const limits = resolveQueryLimits(opts.queries);
  const governance = new GovernanceService(new GovernanceStore(catchment.store.db), {
    adminKey: key,
    catalog: async () => (await data.snapshot()).catalog,
    governorThreads: limits.governorThreads,
    now: () => catchment.clock.now(),
    constrain: (before, next, action) =>
      constrainLinePrincipals(before, next, action, livePrincipals(catchment)),
  });
  const computeDirectory = createComputeDirectory({
    db: catchment.store.db,
    root: opts.root,
    policy: () => governance.current(),
  });
  const compute = new ComputeService(
    governance,
    computeDirectory.store,
    computeDirectory.cipher,
    computeDirectory.directory,
    () => catchment.clock.now(),
  );
  const capabilityKey = loadOrCreateCapabilityKey(opts.root);
  let catchmentUrl = '';
  const fleet = createRemoteRouting({
    directory: computeDirectory.directory,
    flags,
    isMember: (principal, group) => governance.policy().isMember(principal, group),
    local: data.backend,
    clock: catchment.clock,
    pool: workerPool,
    registry: metrics.registry,
    ...(opts.computeHealthIntervalMs ? { healthIntervalMs: opts.computeHealthIntervalMs } : {}),
    grant: {
      sizeOf: (ref) => statSync(data.snapshots.pathOf(ref)).size,
      capability: (files, ttlMs) =>
        mintCapability(capabilityKey, { files, expiresAt: catchment.clock.now() + ttlMs }),
      snapshotUrl: () => catchmentUrl,
    },
    onHealthChange: (h) =>
      opts.log?.(
        h.healthy ? 'info' : 'warn',
        `compute endpoint ${h.endpoint} is ${h.healthy ? 'healthy' : 'unhealthy'}`,
        {
          endpoint: h.endpoint,
          ...(h.reason ? { reason: h.reason } : {}),
        },
      ),
  });
  compute.useLines(() => catchment.store.listLines().map((l) => ({ pond: l.pond, major: l.major })));
  // Pond runs follow their `pond_run` assignments only with routing on, like queries; a canary
  // narrows them by the line's own principal (pond.NAME@MAJOR, or a group it is in).
  if (flags.enabled)
    catchment.routedFleet?.bind({
      route: (line) => {
        const canary = flags.canary;
        const principal = `pond.${line}`;
        if (
          canary &&
          !canary.principals.has(principal) &&
          ![...canary.groups].some((g) => governance.policy().isMember(principal, g))
        )
          return { candidates: [], reason: 'the line is not in the canary audience' };
        return computeDirectory.directory.route(line, 'pond_run');
      },
      unhealthy: (endpoint) => {
        const usable = fleet.health.usable(endpoint);
        return usable.ok ? undefined : usable.reason;
      },
      connect: (endpoint) => fleet.pool.acquire(endpoint),
      log: (level, msg, data) => opts.log?.(level, msg, data),
    });
  const queries = new QueryService({
    governance,
    snapshots: data.querySnapshots,
    router: fleet.router,
    limits,
    exporter: data.backend,
    remoteJobs: fleet.jobs,
    onTapRead: (name, major) => tapDemand(catchment, name, major),
  });
  const resultPages = new ResultPageReader(path.join(opts.root, RESULTS_DIRECTORY));
  const asyncQueries = new AsyncQueryService({
    jobs: new QueryJobRepository(catchment.store.db),
    queries,
    governance,
    pages: resultPages,
    remote: fleet.jobs,
    cursors: new CursorCodec(loadOrCreateCursorKey(opts.root)),
    root: opts.root,
    clock: catchment.clock,
    config: asyncConfig,
    telemetry: new AsyncQueryTelemetry({ clock: catchment.clock, registry: metrics.registry }),
    ...(opts.log ? { log: opts.log } : {}),
  });
  catchment.useGovernance(governance, new GovernedInputs(opts.root, data, governance));
  try {
    await ensureLinePrincipals(
      governance,
      catchment.store.listLineConfigs().map((cfg) => ({
        pond: cfg.pond,
        major: cfg.major,
        sources: (cfg.selected.manifest as unknown as StoredManifest).sources,
      })),
    );
  } catch (error) {
    // Their runs then fail with a clear error until an administrator fixes the policy.
    opts.log?.('error', 'could not create the principals of lines deployed before Ponds were principals', {
      error: (error as Error).message,
    });
  }
  const app = buildServer({
    catchment,
    adminKey: key,
    data,
    metrics,
    governance,
    queries,
    asyncQueries,
    compute,
    fleet,
    logger: opts.httpLogger ?? false,
  });
  let address: string;
  try {
    address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 7474 });
  } catch (err) {
    catchment.store.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE')
      throw new Error(`port ${opts.port ?? 7474} is already in use (choose another with --port)`);
    throw err;
  }
  const url = address.replace('[::1]', '127.0.0.1');
  catchmentUrl = url;
  // `compute endpoint health` reads what the background checks know (they run only with routing on).
  if (flags.enabled)
    compute.useHealthView({
      health: (name) => {
        const e = fleet.status().endpoints.find((x) => x.name === name);
        return (
          e && {
            state: e.state,
            since: e.since,
            reason: e.reason,
            detail: { breaker: e.breaker, last_check_at: e.last_check_at, in_flight: e.inFlight },
          }
        );
      },
    });
  fleet.start();
  lock.listening(url);
  catchment.start(url);
  // Jobs a previous process left queued or running run again, now that the Catchment is ready.
  asyncQueries.start();
  let closed = false;
  return {
    url,
    adminKey: key,
    keyCreated: created,
    catchment,
    data,
    fleet,
    asyncQueries,
    app,
    async close() {
      if (closed) return;
      closed = true;
      await catchment.stopWork();
      await asyncQueries.stop();
      await app.close();
      await fleet.stop();
      await governance.close();
      await resultPages.close();
      catchment.store.close();
      lock.release();
    },
  };
}

/**
 * A tap principal's read is pull demand on the Pond line it read, as `trigger tap` — but at most one
 * pending per line, so a dashboard polling every second does not queue a run per poll.
 */
function tapDemand(catchment: Catchment, name: string, major: number): void {
  const line = lineId(name, major);
  try {
    if (!catchment.ready || catchment.orchestrator.state.pondState(line).hasPull) return;
    catchment.control(line, 'tap');
  } catch {
    // The line went away between the read and now: nothing to demand.
  }
}

/** The principals deployed lines run as (lower-cased): they cannot be deleted. */
function livePrincipals(catchment: Catchment): Set<string> {
  return new Set(catchment.store.listLines().map((l) => linePrincipal(l.pond, l.major).toLowerCase()));
}
