/**
 * A tiny route table over fastify: every route declares its auth level and zod schemas once, and the
 * same declaration validates requests and produces the OpenAPI document at `/openapi.json`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import { DomainError } from '../../shared/errors.js';

/** none: open; principal: any authenticated principal (privileges are checked per handler); duck: a Duck token. */
export type Auth = 'none' | 'principal' | 'duck';

/** A refusal decided by the HTTP layer itself (a malformed request, a missing key). */
export class HttpError extends DomainError {
  constructor(httpStatus: number, code: string, message: string, details?: unknown) {
    super({ code, httpStatus, message, ...(details !== undefined ? { details } : {}) });
  }
}

export interface RouteDef<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  summary: string;
  auth: Auth;
  params?: P;
  query?: Q;
  body?: B;
  /** Raw binary body (deploy archives) instead of JSON. */
  binaryBody?: boolean;
  /** Largest request body (bytes) for this route, if smaller than the server's; 413 past it. */
  bodyLimit?: number;
  handler: (input: {
    params: z.infer<P>;
    query: z.infer<Q>;
    body: z.infer<B>;
    raw: FastifyRequest;
    reply: FastifyReply;
  }) => unknown | Promise<unknown>;
}

type AnyRoute = RouteDef<z.ZodType, z.ZodType, z.ZodType>;

function describe(issues: readonly z.core.$ZodIssue[], where: string): string {
  return issues.map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> {
  if (!schema) return undefined as z.infer<T>;
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw new HttpError(400, 'invalid_request', describe(r.error.issues, where), r.error.issues);
  return r.data;
}

export class RouteTable {
  private routes: AnyRoute[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly authorize: (req: FastifyRequest, auth: Auth, params: unknown) => void,
  ) {}

  add<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(def: RouteDef<P, Q, B>): void {
    this.routes.push(def as unknown as AnyRoute);
    this.app.route({
      method: def.method,
      url: def.url,
      ...(def.bodyLimit ? { bodyLimit: def.bodyLimit } : {}),
      handler: async (req, reply) => {
        const params = parse(def.params, req.params, 'params');
        this.authorize(req, def.auth, params);
        const query = parse(def.query, req.query, 'query');
        const body = def.binaryBody ? (req.body as z.infer<B>) : parse(def.body, req.body, 'body');
        const result = await def.handler({ params, query, body, raw: req, reply });
        if (reply.sent) return reply;
        return result;
      },
    });
  }

  openapi(info: { title: string; version: string }): unknown {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = r.url.replace(/:(\w+)/g, '{$1}');
      const op: Record<string, unknown> = {
        summary: r.summary,
        security: r.auth === 'none' ? [] : [{ bearer: [] }],
        responses: {
          '200': { description: 'success' },
          '400': {
            description: 'invalid request',
            content: { 'application/json': { schema: ERROR_SCHEMA } },
          },
          ...(r.auth === 'none' ? {} : { '401': { description: 'missing or invalid key' } }),
        },
      };
      const parameters: unknown[] = [];
      for (const [loc, schema] of [
        ['path', r.params],
        ['query', r.query],
      ] as const) {
        if (!schema) continue;
        const js = z.toJSONSchema(schema, { io: 'input' }) as {
          properties?: Record<string, unknown>;
          required?: string[];
        };
        for (const [name, s] of Object.entries(js.properties ?? {})) {
          parameters.push({
            name,
            in: loc,
            required: loc === 'path' || (js.required ?? []).includes(name),
            schema: s,
          });
        }
      }
      if (parameters.length > 0) op.parameters = parameters;
      if (r.body) {
        op.requestBody = {
          required: true,
          content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input' }) } },
        };
      } else if (r.binaryBody) {
        op.requestBody = {
          required: true,
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        };
      }
      paths[path] = { ...(paths[path] ?? {}), [r.method.toLowerCase()]: op };
    }
    return {
      openapi: '3.1.0',
      info,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      paths,
    };
  }
}

const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
};
