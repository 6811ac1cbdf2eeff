/**
 * The one place that turns an error thrown anywhere below HTTP into an answer. Every error answer has
 * the shape `{"error":{"code","message",...}}`.
 */
import type { FastifyInstance } from 'fastify';
import { httpStatusForQueryError, QueryError } from '../../compute/query.js';
import { EngineError } from '../../engine/engine.js';
import { GovernanceError, PolicyError } from '../../governance/errors.js';
import {
  EntityConflict,
  QueryExecutionFailed,
  Unauthenticated,
  UnknownEntity,
} from '../../governance/service.js';
import { QueryLimitError } from '../../query/errors.js';
import { formatBytes } from '../../query/limits.js';
import { OrchestratorStopped } from '../orchestrator.js';
import { ConflictError, NotFoundError, ValidationError } from '../store/index.js';
import { HttpError } from './routes.js';

export interface ErrorHandlerOptions {
  /** The query size limit, quoted when a query request's body is too large. */
  maxSqlBytes: () => number;
}

export function installErrorHandler(app: FastifyInstance, opts: ErrorHandlerOptions): void {
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof GovernanceError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    }
    if (err instanceof QueryLimitError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    }
    if (
      (err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE' &&
      _req.url.startsWith('/api/query')
    ) {
      const limit = formatBytes(opts.maxSqlBytes());
      const message = `the request is too large to carry a query: queries are limited to ${limit} (maxSqlBytes)`;
      return reply.status(413).send({ error: { code: 'sql_too_large', message } });
    }
    if (err instanceof PolicyError) {
      return reply
        .status(422)
        .send({ error: { code: 'invalid_policy', message: err.message, details: err.issues } });
    }
    if (err instanceof Unauthenticated) {
      return reply.status(401).send({ error: { code: 'unauthenticated', message: err.message } });
    }
    if (err instanceof UnknownEntity) {
      return reply.status(404).send({ error: { code: 'not_found', message: err.message } });
    }
    if (err instanceof EntityConflict) {
      return reply.status(409).send({ error: { code: 'conflict', message: err.message } });
    }
    if (err instanceof QueryExecutionFailed) {
      const status = err.code === 'execution_failed' ? 400 : httpStatusForQueryError(err.code as never);
      return reply
        .status(status)
        .send({ error: { code: err.code, message: err.message, error_id: err.errorId } });
    }
    if (err instanceof HttpError) {
      return reply.status(err.status).send({
        error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
      });
    }
    if (err instanceof OrchestratorStopped) {
      return reply.status(503).send({ error: { code: 'unavailable', message: err.message } });
    }
    if (err instanceof QueryError) {
      return reply
        .status(httpStatusForQueryError(err.code))
        .send({ error: { code: err.code, message: err.message } });
    }
    if (err instanceof EngineError || err instanceof NotFoundError) {
      return reply.status(404).send({ error: { code: 'not_found', message: err.message } });
    }
    if (err instanceof ConflictError)
      return reply.status(409).send({ error: { code: 'conflict', message: err.message } });
    if (err instanceof ValidationError) {
      return reply
        .status(422)
        .send({ error: { code: 'invalid_request', message: err.message, details: err.issues } });
    }
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) {
      return reply
        .status(e.statusCode)
        .send({ error: { code: 'invalid_request', message: e.message ?? 'bad request' } });
    }
    _req.log.error(err);
    return reply
      .status(500)
      .send({ error: { code: 'internal', message: 'internal error (see the Catchment log)' } });
  });
}
