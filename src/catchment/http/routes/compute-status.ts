/** The compute fleet's status (`duckstring compute status`): MANAGE on the catalog. */
import { computeStatus } from '../../../api/index.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function registerComputeStatusRoutes(routes: RouteTable, app: Application): void {
  routes.implement(computeStatus.status, ({ identity }) => {
    app.governance.require(identity, 'MANAGE', { kind: 'catalog' });
    const queue = app.asyncQueries.config.enabled ? app.asyncQueries.telemetry?.status() : undefined;
    const async_queries = queue ? { window_seconds: queue.window_ms / 1000, targets: queue.targets } : null;
    const supervisor = app.catchment.supervisor;
    const ducks = supervisor
      .live()
      .map((d) => ({ line: d.line, runs_on: supervisor.where(d.line) ?? 'local', pid: d.pid ?? null }))
      .sort((a, b) => (a.line < b.line ? -1 : 1));
    const fleet = app.fleet;
    if (!fleet)
      return { routing_enabled: false, canary: null, window_seconds: 0, endpoints: [], async_queries, ducks };
    const report = fleet.status();
    const canary = fleet.flags.canary;
    return {
      routing_enabled: report.routing_enabled,
      canary: canary ? [...canary.principals, ...[...canary.groups].map((g) => `group:${g}`)] : null,
      window_seconds: report.window_ms / 1000,
      endpoints: report.endpoints.map((e) => ({
        name: e.name,
        url: e.url,
        status: e.status,
        capacity: e.capacity,
        state: e.state,
        healthy: e.healthy,
        reason: e.reason,
        since: e.since === null ? null : iso(e.since),
        last_check_at: e.last_check_at === null ? null : iso(e.last_check_at),
        breaker: e.breaker as 'closed' | 'open' | 'half-open',
        in_flight: e.inFlight,
        worker_queued: e.worker_queued,
        worker_running: e.worker_running,
        calls: e.calls,
        p50_ms: e.p50Ms,
        p95_ms: e.p95Ms,
        failures: e.failures,
        fallbacks: e.fallbacks,
      })),
      async_queries,
      ducks,
    };
  });
}
