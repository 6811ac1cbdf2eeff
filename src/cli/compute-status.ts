/**
 * `duckstring compute status`: the fleet at a glance — per endpoint its health and since when, what
 * is in flight and queued, p50/p95 latency, and failures and fallbacks by reason over the recent
 * window. The directory's commands (`compute endpoint …`, `compute assign …`) share the `compute`
 * command, whichever registers it first.
 */
import type { Command } from 'commander';
import type { z } from 'zod/v4';
import type { asyncTargetStatus, endpointStatus } from '../api/compute-status.js';
import { computeStatus } from '../api/index.js';
import { CatchmentClient, type ConnectionOptions } from './client.js';
import type { CliIO } from './io.js';
import { withConnection } from './runtime.js';

type StatusOptions = ConnectionOptions & { json?: boolean };
type EndpointStatus = z.infer<typeof endpointStatus>;
type AsyncTargetStatus = z.infer<typeof asyncTargetStatus>;

const stamp = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
const byReason = (counts: Record<string, number>) =>
  Object.keys(counts).length === 0
    ? '0'
    : Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([reason, n]) => `${reason}=${n}`)
        .join(' ');
const ms = (v: number | null) => (v === null ? '—' : `${v < 10 ? v.toFixed(2) : Math.round(v)}ms`);

/** One endpoint, as printed: a headline and indented details. */
export function formatEndpointStatus(e: EndpointStatus): string {
  const health =
    e.state === 'unknown'
      ? 'health unknown (not checked yet)'
      : `${e.state === 'healthy' ? 'healthy' : `UNHEALTHY (${e.reason})`} since ${stamp(e.since!)}`;
  const capacity = e.capacity === null ? '' : `/${e.capacity}`;
  return [
    `${e.name}  ${e.url}  ${e.status}  ${health}`,
    `  in flight ${e.in_flight}${capacity}  worker queued ${e.worker_queued ?? '—'} running ${e.worker_running ?? '—'}  breaker ${e.breaker}`,
    `  calls ${e.calls}  p50 ${ms(e.p50_ms)}  p95 ${ms(e.p95_ms)}`,
    `  failures ${byReason(e.failures)}`,
    `  fallbacks ${byReason(e.fallbacks)}`,
  ].join('\n');
}

/** One async-query target, as printed: one line. */
export function formatAsyncTarget(t: AsyncTargetStatus): string {
  return `  ${t.target}  queued ${t.queued}  finished ${t.finished}  queue p50 ${ms(t.queue_p50_ms)} p95 ${ms(t.queue_p95_ms)}  end to end p95 ${ms(t.e2e_p95_ms)}  failures ${byReason(t.failures)}`;
}

/** The `compute` command: the one another module registered, or a new one. */
export function computeCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'compute') ??
    program.command('compute').description('Compute topology: query workers, assignments, routing')
  );
}

export function registerComputeStatusCommand(program: Command, io: CliIO): void {
  withConnection(
    computeCommand(program)
      .command('status')
      .description(
        'Per compute endpoint: health and since when, in-flight and queued queries, p50/p95 latency, failures and fallbacks by reason over the recent window; the async query queue per target',
      ),
  )
    .option('--json', 'print the answer as JSON')
    .action(async (opts: StatusOptions) => {
      const report = await new CatchmentClient(opts).call(computeStatus.status, {});
      if (opts.json) {
        io.stdout(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const routing = report.routing_enabled
        ? `remote routing on${report.canary ? ` for ${report.canary.join(', ')}` : ' for everyone'}`
        : 'remote routing off (set FEATURE_REMOTE_ROUTING and FEATURE_INTERNAL_GRPC on the Catchment)';
      io.stdout(`${routing}; figures over the last ${report.window_seconds}s\n`);
      if (report.endpoints.length === 0)
        io.stdout('no compute endpoints registered (duckstring compute endpoint create …)\n');
      for (const e of report.endpoints) io.stdout(`${formatEndpointStatus(e)}\n`);
      const queue = report.async_queries;
      if (queue) {
        io.stdout(
          `async queries (pending: not placed yet); figures over the last ${queue.window_seconds}s\n`,
        );
        for (const t of queue.targets) io.stdout(`${formatAsyncTarget(t)}\n`);
      }
      if (report.ducks.length > 0) {
        io.stdout('ducks\n');
        for (const d of report.ducks)
          io.stdout(`  ${d.line}  ${d.runs_on}${d.pid === null ? '' : `  pid ${d.pid}`}\n`);
      }
    });
}
