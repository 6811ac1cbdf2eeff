/**
 * The one place that turns an error thrown anywhere below HTTP into an answer. Every error answer has
 * the shape `{"error":{"code","message","details"?,"error_id"?}}`; the table below decides status and
 * body from the error alone.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DurationError } from '../../engine/duration.js';
import { EngineError } from '../../engine/engine.js';
import { formatBytes } from '../../query/limits.js';
import { DomainError } from '../../shared/errors.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; error_id?: string };
}

export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
  headers?: Readonly<Record<string, string>>;
  /** A server fault: the error goes to the log, the caller only learns it happened. */
  internal?: true;
}

export interface ErrorHandlerOptions {
  /** The query size limit, quoted when a query request's body is too large. */
  maxSqlBytes: () => number;
}

const INTERNAL: ErrorAnswer = {
  status: 500,
  body: { error: { code: 'internal', message: 'internal error (see the Catchment log)' } },
  internal: true,
};

function answer(status: number, code: string, message: string): ErrorAnswer {
  return { status, body: { error: { code, message } } };
}

/** The answer to `err`, thrown while serving `req`. */
export function errorAnswer(
  err: unknown,
  req: Pick<FastifyRequest, 'url'>,
  opts: ErrorHandlerOptions,
): ErrorAnswer {
  if (err instanceof DomainError) {
    if (!err.expose) return INTERNAL;
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (err.details !== undefined) body.error.details = err.details;
    if (err.errorId !== undefined) body.error.error_id = err.errorId;
    return { status: err.httpStatus, body, headers: err.headers };
  }
  // The pure engine imports nothing from the rest of duckstring, so its errors are not DomainErrors:
  // the one exception to "map by code", mapped here by class.
  if (err instanceof EngineError) return answer(404, 'not_found', err.message);
  if (err instanceof DurationError) return answer(400, 'invalid_request', err.message);
  // fastify's own refusals (unparsable JSON, unsupported media type, body past its limit).
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && req.url.startsWith('/api/query')) {
    const limit = formatBytes(opts.maxSqlBytes());
    const message = `the request is too large to carry a query: queries are limited to ${limit} (maxSqlBytes)`;
    return answer(413, 'sql_too_large', message);
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return answer(e.statusCode, 'invalid_request', typeof e.message === 'string' ? e.message : 'bad request');
  }
  return INTERNAL;
}

export function installErrorHandler(app: FastifyInstance, opts: ErrorHandlerOptions): void {
  app.setErrorHandler((err, req, reply) => {
    const a = errorAnswer(err, req, opts);
    if (a.internal) req.log.error(err);
    for (const [name, value] of Object.entries(a.headers ?? {})) reply.header(name, value);
    return reply.status(a.status).send(a.body);
  });
}
