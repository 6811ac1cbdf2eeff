/**
 * What can go wrong on the way to a worker, and whose fault it is. A worker answers a query's own
 * error (bad SQL, over its memory, out of time) with the QueryError code in the
 * `x-duckstring-error-code` header: those surface exactly as a local run would have raised them and
 * are never retried elsewhere. Everything else is the path's fault (connection refused, worker gone,
 * wrong token, draining, full) and carries a reason the router falls back on, the breaker counts and
 * the status report groups by.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { DomainError } from '../../shared/errors.js';
import { QueryError, type QueryErrorCode } from '../query.js';
import { ERROR_CODE_HEADER } from '../worker/wire-errors.js';

/** Why an endpoint could not take a call (health reports and fallbacks group by it). */
export type FailureReason =
  | 'authentication'
  | 'unavailable'
  | 'deadline'
  | 'draining'
  | 'resource'
  | 'snapshot'
  | 'protocol'
  | 'circuit_open'
  | 'unhealthy';

export { ERROR_CODE_HEADER };

/** Query error codes a worker may report as the query's own fault: they surface as is. */
const QUERY_FAULTS: ReadonlySet<QueryErrorCode> = new Set([
  'invalid_request',
  'invalid_sql',
  'unknown_table',
  'not_allowed',
  'timeout',
  'resource_limit',
  'execution_failed',
]);

/** Codes a worker gives for its own state (src/compute/worker/wire-errors.ts), not the query's. */
const WORKER_STATE_REASONS: Readonly<Record<string, FailureReason>> = {
  snapshot_unavailable: 'snapshot',
  unauthenticated: 'authentication',
  worker_draining: 'draining',
  worker_busy: 'resource',
};

/** The remote path failed before the query produced its answer; another place may run it. */
export class RemoteCallFailed extends Error {
  constructor(
    readonly endpoint: string,
    readonly reason: FailureReason,
    message: string,
  ) {
    super(`endpoint ${endpoint}: ${message}`);
    this.name = 'RemoteCallFailed';
  }
}

/** The caller's answer when its endpoint could not run the query and its assignment forbids fallback. */
export class ComputeUnavailable extends DomainError {
  constructor(
    readonly endpoint: string,
    readonly reason: FailureReason,
  ) {
    super({
      code: 'compute_unavailable',
      httpStatus: 503,
      message: `compute endpoint "${endpoint}" could not run the query (${reasonText(reason)}) and fallback to local execution is off for this assignment`,
      expose: true,
      headers: { 'x-duckstring-executed-on': `remote:${endpoint}` },
    });
  }
}

export function reasonText(reason: FailureReason): string {
  switch (reason) {
    case 'authentication':
      return 'the worker refused the endpoint token';
    case 'unavailable':
      return 'the worker is unreachable';
    case 'deadline':
      return 'the worker did not answer in time';
    case 'draining':
      return 'the worker is draining';
    case 'resource':
      return 'the worker is at capacity';
    case 'snapshot':
      return 'the worker could not obtain the snapshot files';
    case 'protocol':
      return 'the worker sent an answer that does not follow the protocol';
    case 'circuit_open':
      return 'recent calls to the worker failed';
    case 'unhealthy':
      return 'the worker failed its health check';
  }
}

/** The reason a failed call's ConnectError gives, without looking at any query error header. */
export function reasonOfCode(code: Code, message = ''): FailureReason {
  switch (code) {
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return 'authentication';
    case Code.DeadlineExceeded:
      return 'deadline';
    case Code.ResourceExhausted:
      return 'resource';
    case Code.Unavailable:
      return /drain/i.test(message) ? 'draining' : 'unavailable';
    case Code.Canceled:
    case Code.Aborted:
    case Code.Unknown:
      return 'unavailable';
    default:
      return 'protocol';
  }
}

/**
 * Turns what an Execute call threw into either the query's own QueryError (surfaced as local) or a
 * RemoteCallFailed. Messages never carry the token: Connect's messages hold codes and the worker's
 * text, and the worker never echoes a credential.
 */
export function classifyCallError(endpoint: string, error: unknown): QueryError | RemoteCallFailed {
  if (error instanceof RemoteCallFailed || error instanceof QueryError) return error;
  const connect = ConnectError.from(error);
  const code = connect.metadata.get(ERROR_CODE_HEADER);
  if (code && QUERY_FAULTS.has(code as QueryErrorCode))
    return new QueryError(code as QueryErrorCode, connect.rawMessage);
  const workerReason = code ? WORKER_STATE_REASONS[code] : undefined;
  if (workerReason) return new RemoteCallFailed(endpoint, workerReason, connect.rawMessage);
  return new RemoteCallFailed(endpoint, reasonOfCode(connect.code, connect.rawMessage), connect.rawMessage);
}
