/** Operating the Catchment itself: liveness, metrics and this API's own description. */
import { z } from 'zod/v4';
import { endpoint } from './endpoint.js';

export const health = endpoint({
  method: 'GET',
  path: '/health',
  summary: 'Liveness and a summary of the engine and job queues (no authentication)',
  auth: 'none',
  response: z.object({
    /** "ok" whenever the Catchment answers. */
    status: z.string(),
    /** Pond lines in the engine (`ponds`), standing triggers, and how many lines are in each status. */
    engine: z.record(z.string(), z.number().int()),
    queue: z.object({ depth: z.number().int() }),
    ducks: z.number().int(),
  }),
});

export const metrics = endpoint({
  method: 'GET',
  path: '/metrics',
  summary: 'Prometheus metrics',
  auth: { admin: 'read metrics' },
  /** Prometheus text exposition format. */
  response: z.string(),
});

export const openapi = endpoint({
  method: 'GET',
  path: '/openapi.json',
  summary: 'This API description (any authenticated principal)',
  auth: 'principal',
  response: z.looseObject({
    openapi: z.string(),
    info: z.object({ title: z.string(), version: z.string() }),
    paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  }),
});
