/**
 * The router: where one governed query runs. In order —
 * 1. remote routing is on (both feature flags) and the principal is in the canary audience;
 * 2. the directory's assignments give candidate endpoints (none: local);
 * 3. among candidates not known unhealthy and below their capacity, the one with the fewest
 *    outstanding queries (ties: endpoint name, the directory's order);
 * 4. the call; when the path fails (not the query) before any row reached the caller, the query
 *    runs locally if the assignment allows fallback, else the caller gets a 503 naming the endpoint.
 * A candidate known unhealthy is never called: the query goes straight to fallback.
 */
import type { QueryResult } from '../query.js';
import type { QueryBackend, QueryBackendRequest } from '../query-backend.js';
import type { ComputeDirectory, JobKind, Placement, RouteCandidate } from '../topology.js';
import type { WorkerConnection } from './client-pool.js';
import { ComputeUnavailable, type FailureReason, RemoteCallFailed } from './errors.js';
import { inCanary, type RemoteRoutingFlags } from './flags.js';
import type { HealthTracker } from './health-tracker.js';
import type { FleetTelemetry } from './telemetry.js';

/** The two ways one job can run: here, or on a chosen candidate's worker. */
export interface JobRunners<T> {
  local(): Promise<T>;
  remote(candidate: RouteCandidate, connect: () => WorkerConnection): Promise<T>;
}

/** Runs a governed query somewhere and says where (again, if it moved) before it answers. */
export interface QueryRouter {
  execute(
    request: QueryBackendRequest,
    kind: JobKind,
    placed: (placement: Placement) => void,
  ): Promise<QueryResult>;
  /**
   * One attempt of a job the caller runs itself (async queries): planned like `execute`, but a
   * failed path is not fallen back on here — the RemoteCallFailed reaches the caller, which may
   * try again with that endpoint in `avoid` (then treated as refused for that reason).
   */
  attempt<T>(
    principal: string,
    kind: JobKind,
    runners: JobRunners<T>,
    placed: (placement: Placement) => void,
    avoid?: ReadonlyMap<string, FailureReason>,
  ): Promise<T>;
}

/** Every query local: the router of a Catchment without remote routing. */
export function localRouter(local: QueryBackend): QueryRouter {
  return {
    execute(request, _kind, placed) {
      placed({ kind: 'local' });
      return local.execute(request);
    },
    attempt(_principal, _kind, runners, placed) {
      placed({ kind: 'local' });
      return runners.local();
    },
  };
}

/** The plan for one query: local (and why), or a chosen candidate / one known unusable. */
export type RoutePlan =
  | { kind: 'local'; reason: string }
  | { kind: 'remote'; candidate: RouteCandidate; reason: string }
  | { kind: 'unusable'; candidate: RouteCandidate; failure: FailureReason; reason: string };

export interface ComputeRouterOptions {
  directory: ComputeDirectory;
  flags: RemoteRoutingFlags;
  /** Nested group membership (governance's policy). */
  isMember: (principal: string, group: string) => boolean;
  health: HealthTracker;
  telemetry: FleetTelemetry;
  local: QueryBackend;
  /** A backend that runs the query on `candidate`'s worker over `connection`. */
  remote: (connection: () => WorkerConnection, candidate: RouteCandidate) => QueryBackend;
  connect: (candidate: RouteCandidate) => WorkerConnection;
}

export class ComputeRouter implements QueryRouter {
  constructor(private readonly options: ComputeRouterOptions) {}

  /** Decides without running anything (also what `compute explain`-like reports use). */
  plan(principal: string, kind: JobKind, avoid?: ReadonlyMap<string, FailureReason>): RoutePlan {
    const { flags, directory, health, telemetry } = this.options;
    if (!flags.enabled) {
      const off = [
        flags.featureRemoteRouting ? null : 'FEATURE_REMOTE_ROUTING',
        flags.featureInternalGrpc ? null : 'FEATURE_INTERNAL_GRPC',
      ].filter((v) => v !== null);
      return { kind: 'local', reason: `remote routing is off (${off.join(' and ')})` };
    }
    if (!inCanary(flags.canary, principal, this.options.isMember))
      return { kind: 'local', reason: 'not in REMOTE_CANARY_USERS' };
    const decision = directory.route(principal, kind);
    if (decision.candidates.length === 0) return { kind: 'local', reason: decision.reason };
    let best: RouteCandidate | null = null;
    let firstRefusal: { candidate: RouteCandidate; failure: FailureReason } | null = null;
    for (const candidate of decision.candidates) {
      const failed = avoid?.get(candidate.endpoint.name);
      if (failed) {
        firstRefusal ??= { candidate, failure: failed };
        continue;
      }
      const usable = health.usable(candidate.endpoint);
      const outstanding = telemetry.outstanding(candidate.endpoint.name);
      const full = candidate.endpoint.capacity !== null && outstanding >= candidate.endpoint.capacity;
      if (!usable.ok || full) {
        firstRefusal ??= { candidate, failure: usable.ok ? 'resource' : usable.reason };
        continue;
      }
      if (!best || outstanding < telemetry.outstanding(best.endpoint.name)) best = candidate;
    }
    if (best) return { kind: 'remote', candidate: best, reason: decision.reason };
    // No best means every candidate was refused.
    const refused = firstRefusal!;
    return { kind: 'unusable', ...refused, reason: decision.reason };
  }

  async execute(
    request: QueryBackendRequest,
    kind: JobKind,
    placed: (placement: Placement) => void,
  ): Promise<QueryResult> {
    const { health, telemetry, local } = this.options;
    const plan = this.plan(request.principal, kind);
    if (plan.kind === 'local') {
      placed({ kind: 'local' });
      telemetry.placed({ kind: 'local' });
      return local.execute(request);
    }
    const { candidate } = plan;
    const name = candidate.endpoint.name;
    if (plan.kind === 'unusable' || !health.tryCall(candidate.endpoint)) {
      return this.fallback(
        request,
        candidate,
        plan.kind === 'unusable' ? plan.failure : 'circuit_open',
        placed,
      );
    }
    placed({ kind: 'remote', endpoint: name });
    const end = telemetry.begin(name);
    try {
      const backend = this.options.remote(() => this.options.connect(candidate), candidate);
      const result = await backend.execute(request);
      end(null);
      health.callEnded(candidate.endpoint, null);
      telemetry.placed({ kind: 'remote', endpoint: name });
      return result;
    } catch (error) {
      if (!(error instanceof RemoteCallFailed)) {
        // The worker answered: the query's own error, raised as a local run would raise it.
        end(null);
        health.callEnded(candidate.endpoint, null);
        telemetry.placed({ kind: 'remote', endpoint: name });
        throw error;
      }
      end(error.reason);
      health.callEnded(candidate.endpoint, error.reason);
      // The whole answer is assembled before the caller sees a row, so no row has reached it yet.
      return this.fallback(request, candidate, error.reason, placed);
    }
  }

  async attempt<T>(
    principal: string,
    kind: JobKind,
    runners: JobRunners<T>,
    placed: (placement: Placement) => void,
    avoid?: ReadonlyMap<string, FailureReason>,
  ): Promise<T> {
    const { health, telemetry } = this.options;
    const plan = this.plan(principal, kind, avoid);
    if (plan.kind === 'local') {
      placed({ kind: 'local' });
      telemetry.placed({ kind: 'local' });
      return runners.local();
    }
    const { candidate } = plan;
    const name = candidate.endpoint.name;
    if (plan.kind === 'unusable' || !health.tryCall(candidate.endpoint)) {
      const reason = plan.kind === 'unusable' ? plan.failure : 'circuit_open';
      if (!candidate.fallbackLocal) {
        placed({ kind: 'remote', endpoint: name });
        throw new ComputeUnavailable(name, reason);
      }
      const placement: Placement = { kind: 'fallback', endpoint: name, reason };
      placed(placement);
      telemetry.placed(placement);
      return runners.local();
    }
    placed({ kind: 'remote', endpoint: name });
    // Outstanding on the endpoint for the whole job: its capacity bounds async jobs too.
    const end = telemetry.begin(name);
    try {
      const result = await runners.remote(candidate, () => this.options.connect(candidate));
      end(null);
      health.callEnded(candidate.endpoint, null);
      telemetry.placed({ kind: 'remote', endpoint: name });
      return result;
    } catch (error) {
      const failure = error instanceof RemoteCallFailed ? error.reason : null;
      end(failure);
      health.callEnded(candidate.endpoint, failure);
      if (!failure) telemetry.placed({ kind: 'remote', endpoint: name });
      throw error;
    }
  }

  private async fallback(
    request: QueryBackendRequest,
    candidate: RouteCandidate,
    reason: FailureReason,
    placed: (placement: Placement) => void,
  ): Promise<QueryResult> {
    const name = candidate.endpoint.name;
    if (!candidate.fallbackLocal) {
      placed({ kind: 'remote', endpoint: name });
      throw new ComputeUnavailable(name, reason);
    }
    const placement: Placement = { kind: 'fallback', endpoint: name, reason };
    placed(placement);
    this.options.telemetry.placed(placement);
    return this.options.local.execute(request);
  }
}
