/**
 * How a worker's refusals and failures travel: a ConnectError whose gRPC code says how to react
 * (retry elsewhere, fall back, give up) and whose `x-duckstring-error-code` metadata carries the
 * stable code the Catchment answers with, so a remote query fails exactly as a local one would.
 * Messages are the executor's, already scrubbed of paths; a token never reaches one.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { QueryError, type QueryErrorCode } from '../query.js';

export const ERROR_CODE_HEADER = 'x-duckstring-error-code';

/** Codes only a worker produces (beyond QueryErrorCode). */
export type WorkerOnlyErrorCode =
  | 'unauthenticated'
  | 'worker_draining'
  | 'worker_busy'
  | 'not_found'
  | 'internal';
export type WorkerErrorCode = QueryErrorCode | WorkerOnlyErrorCode;

const GRPC_CODE: Record<WorkerErrorCode, Code> = {
  invalid_request: Code.InvalidArgument,
  invalid_sql: Code.InvalidArgument,
  execution_failed: Code.InvalidArgument,
  unknown_table: Code.NotFound,
  not_allowed: Code.PermissionDenied,
  // The snapshot could not be read here; another worker or the Catchment itself may succeed.
  snapshot_unavailable: Code.Unavailable,
  timeout: Code.DeadlineExceeded,
  resource_limit: Code.ResourceExhausted,
  unauthenticated: Code.Unauthenticated,
  worker_draining: Code.Unavailable,
  worker_busy: Code.ResourceExhausted,
  not_found: Code.NotFound,
  internal: Code.Internal,
};

export function workerError(code: WorkerErrorCode, message: string): ConnectError {
  return new ConnectError(message, GRPC_CODE[code], { [ERROR_CODE_HEADER]: code });
}

/** Any failure inside a handler → the ConnectError to answer with (unknown ones say nothing). */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof QueryError) return workerError(error.code, error.message);
  return workerError('internal', 'the worker failed while running the query');
}

const QUERY_ERROR_CODES = new Set<string>([
  'invalid_request',
  'invalid_sql',
  'unknown_table',
  'not_allowed',
  'snapshot_unavailable',
  'timeout',
  'resource_limit',
  'execution_failed',
]);

/**
 * The QueryError a Catchment rebuilds from a worker's answer, when the worker judged the query
 * itself (so it fails the same way locally); null for transport and worker-state failures.
 */
export function queryErrorFromWorker(error: ConnectError): QueryError | null {
  const code = error.metadata.get(ERROR_CODE_HEADER);
  if (code === null || !QUERY_ERROR_CODES.has(code)) return null;
  return new QueryError(code as QueryErrorCode, error.rawMessage);
}
