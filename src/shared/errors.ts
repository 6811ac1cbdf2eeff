/**
 * The one error model. Every refusal or failure a caller can be told about is a DomainError carrying
 * a stable snake_case `code` (callers branch on it; messages may be reworded), the HTTP status the API
 * answers with, and optional `details` (for example one entry per invalid field). The transports map
 * it in one place each: HTTP in src/catchment/http/error-handler.ts; a gRPC transport would use
 * `grpcStatus`.
 *
 * The pure engine (src/engine) imports nothing from the rest, so its errors are not DomainErrors; the
 * HTTP table maps them by class.
 */

/** gRPC status codes (grpc/status.proto), for the transport that will answer with them. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** The gRPC status for an HTTP status, after the mapping gRPC-gateway uses; a code may override it. */
const GRPC_FOR_HTTP: Readonly<Record<number, GrpcStatus>> = {
  400: GrpcStatus.INVALID_ARGUMENT,
  401: GrpcStatus.UNAUTHENTICATED,
  403: GrpcStatus.PERMISSION_DENIED,
  404: GrpcStatus.NOT_FOUND,
  408: GrpcStatus.DEADLINE_EXCEEDED,
  409: GrpcStatus.ALREADY_EXISTS,
  413: GrpcStatus.INVALID_ARGUMENT,
  422: GrpcStatus.INVALID_ARGUMENT,
  429: GrpcStatus.RESOURCE_EXHAUSTED,
  503: GrpcStatus.UNAVAILABLE,
};

export function grpcStatusForHttp(httpStatus: number): GrpcStatus {
  return (
    GRPC_FOR_HTTP[httpStatus] ?? (httpStatus < 500 ? GrpcStatus.FAILED_PRECONDITION : GrpcStatus.INTERNAL)
  );
}

export interface DomainErrorInit {
  /** Stable, snake_case: part of the API. */
  code: string;
  /** 4xx: the caller's request; 5xx: ours. */
  httpStatus: number;
  message: string;
  /** Structured detail for the caller, such as one entry per problem found. */
  details?: unknown;
  /** Correlates the answer with the server's log or audit entry (execution failures). */
  errorId?: string;
  /** Headers the HTTP answer carries, such as Retry-After. */
  headers?: Readonly<Record<string, string>>;
  /**
   * Whether the message may reach the caller. By default a 4xx's does and a 5xx's does not: a
   * server fault's message can name paths and internals, so it goes to the log and the caller gets
   * `internal`. Set it for a 5xx written for the caller (such as "the Catchment is shutting down").
   */
  expose?: boolean;
  cause?: unknown;
}

export class DomainError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly details?: unknown;
  readonly errorId?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly expose: boolean;

  constructor(init: DomainErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.httpStatus = init.httpStatus;
    if (init.details !== undefined) this.details = init.details;
    if (init.errorId !== undefined) this.errorId = init.errorId;
    this.headers = init.headers ?? {};
    this.expose = init.expose ?? init.httpStatus < 500;
  }

  /** The HTTP status (the name older callers use). */
  get status(): number {
    return this.httpStatus;
  }

  /** The status a gRPC transport answers with. */
  get grpcStatus(): GrpcStatus {
    return grpcStatusForHttp(this.httpStatus);
  }
}

/**
 * A refusal of the request itself, decided by the edge or a use case: a malformed field, a missing
 * key, a name the caller may not know.
 */
export class RequestError extends DomainError {
  constructor(httpStatus: number, code: string, message: string, details?: unknown) {
    super({ code, httpStatus, message, ...(details !== undefined ? { details } : {}) });
  }
}
