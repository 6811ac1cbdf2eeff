/**
 * The route table over fastify: each route implements one endpoint declaration of `src/api` (method,
 * path, auth, request and response schemas). The table validates the request against those schemas,
 * has the guard authenticate the caller and authorize it as the declaration says (resolving the
 * line the request names) before the handler runs, and writes the OpenAPI document from the same
 * declarations, responses included. In test mode it also checks every success answer against its
 * response schema, so a schema that drifts from what the server sends fails the tests.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import type { AnyEndpoint, BodyOf, ParamsOf, QueryOf, ResultOf, RouteAuth } from '../../api/endpoint.js';
import type { Identity } from '../../governance/service.js';
import { RequestError } from '../../shared/errors.js';
import type { LineRef } from '../app/line-access.js';

/** Authenticates and authorizes requests as their endpoints' `auth` declares (see ./guard.ts). */
export interface Guard {
  /** Who is calling (before the query and body are read): 401 unless `auth` is met. */
  authenticate(req: FastifyRequest, auth: RouteAuth, params: unknown): Identity | undefined;
  /** What the caller may touch (after the request is parsed): the line, when `auth` names one. */
  authorize(
    identity: Identity | undefined,
    auth: RouteAuth,
    request: { params: unknown; query: unknown; body: unknown },
  ): Promise<LineRef | undefined>;
}

/** What a handler gets: the parsed request, the authenticated caller and the authorized line. */
export interface RouteContext<E extends AnyEndpoint> {
  params: ParamsOf<E>;
  query: QueryOf<E>;
  body: BodyOf<E>;
  /** The authenticated principal (routes whose auth is a principal, an administrator or a line). */
  identity: Identity;
  /** The line the request names, resolved and authorized (routes whose auth is `{on: 'line'}`). */
  line: LineRef;
  raw: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteOptions {
  /** Largest request body (bytes) for this route, if smaller than the server's; 413 past it. */
  bodyLimit?: number;
}

function describe(issues: readonly z.core.$ZodIssue[], where: string): string {
  return issues.map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
}

function parse(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw new RequestError(400, 'invalid_request', describe(r.error.issues, where), r.error.issues);
  return r.data;
}

function context(
  input: Omit<RouteContext<AnyEndpoint>, 'identity' | 'line'>,
  identity: Identity | undefined,
  line: LineRef | undefined,
  e: AnyEndpoint,
): RouteContext<AnyEndpoint> {
  return {
    ...input,
    get identity(): Identity {
      if (!identity)
        throw new Error(`${e.method} ${e.path}: its auth (${JSON.stringify(e.auth)}) names no principal`);
      return identity;
    },
    get line(): LineRef {
      if (!line) throw new Error(`${e.method} ${e.path}: its auth (${JSON.stringify(e.auth)}) names no line`);
      return line;
    },
  };
}

export class RouteTable {
  private endpoints: AnyEndpoint[] = [];

  constructor(
    private readonly app: FastifyInstance,
    private readonly guard: Guard,
    private readonly opts: { validateResponses?: boolean } = {},
  ) {}

  implement<E extends AnyEndpoint>(
    e: E,
    handler: (ctx: RouteContext<E>) => ResultOf<E> | Promise<ResultOf<E>>,
    opts: RouteOptions = {},
  ): void {
    this.endpoints.push(e);
    this.app.route({
      method: e.method,
      url: e.path,
      ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
      handler: async (req, reply) => {
        const params = parse(e.params, req.params, 'params');
        const identity = this.guard.authenticate(req, e.auth, params);
        const query = parse(e.query, req.query, 'query');
        const body = e.binaryBody ? req.body : parse(e.body, req.body, 'body');
        const line = await this.guard.authorize(identity, e.auth, { params, query, body });
        const status = e.statuses?.[0];
        if (status !== undefined && status !== 200) reply.status(status);
        const ctx = context({ params, query, body, raw: req, reply }, identity, line, e);
        const result = await handler(ctx as unknown as RouteContext<E>);
        if (reply.sent) return reply;
        if (this.opts.validateResponses && e.response) checkResponse(e, result);
        return result;
      },
    });
  }

  openapi(info: { title: string; version: string }): {
    openapi: string;
    info: { title: string; version: string };
    paths: Record<string, Record<string, unknown>>;
    [k: string]: unknown;
  } {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const e of this.endpoints) {
      const path = e.path.replace(/:(\w+)/g, '{$1}');
      const open = e.auth === 'none';
      const success: Record<string, unknown> = {};
      for (const status of e.statuses ?? [200]) success[String(status)] = successResponse(e);
      const op: Record<string, unknown> = {
        summary: e.summary,
        security: open ? [] : [{ bearer: [] }],
        'x-auth': e.auth,
        responses: {
          ...success,
          '400': {
            description: 'invalid request',
            content: { 'application/json': { schema: ERROR_SCHEMA } },
          },
          ...(open ? {} : { '401': { description: 'missing or invalid key' } }),
        },
      };
      const parameters: unknown[] = [];
      for (const [loc, schema] of [
        ['path', e.params],
        ['query', e.query],
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
      if (e.body) {
        op.requestBody = {
          required: true,
          content: { 'application/json': { schema: z.toJSONSchema(e.body, { io: 'input' }) } },
        };
      } else if (e.binaryBody) {
        op.requestBody = {
          required: true,
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        };
      }
      paths[path] = { ...(paths[path] ?? {}), [e.method.toLowerCase()]: op };
    }
    return {
      openapi: '3.1.0',
      info,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      paths,
    };
  }
}

function successResponse(e: AnyEndpoint): unknown {
  if (e.events) return { description: 'a stream of server-sent events', content: eventStream(e.events) };
  if (!e.response) return { description: 'success' };
  const schema = z.toJSONSchema(e.response, { io: 'output', unrepresentable: 'any' });
  const type = (schema as { type?: string }).type === 'string' ? 'text/plain' : 'application/json';
  return { description: 'success', content: { [type]: { schema } } };
}

/**
 * A `text/event-stream` answer: the stream is text; `itemSchema` (as OpenAPI 3.2 writes it) says
 * which events it carries, each event's `data` being JSON of the declared schema.
 */
function eventStream(events: Readonly<Record<string, z.ZodType>>): unknown {
  const oneOf = Object.entries(events).map(([name, schema]) => ({
    type: 'object',
    properties: {
      event: { const: name },
      id: { type: 'string' },
      data: {
        type: 'string',
        contentMediaType: 'application/json',
        contentSchema: z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }),
      },
    },
    required: ['event', 'data'],
  }));
  return { 'text/event-stream': { schema: { type: 'string' }, itemSchema: { oneOf } } };
}

/** A success answer that does not match its declared schema: a bug in the server or the schema. */
function checkResponse(e: AnyEndpoint, result: unknown): void {
  const r = (e.response as z.ZodType).safeParse(result);
  if (!r.success) {
    throw new Error(
      `${e.method} ${e.path}: the answer does not match its response schema: ${describe(r.error.issues, 'response')}`,
    );
  }
}

const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
};
