/**
 * One endpoint of the Catchment's HTTP API, declared once: method, path, who may call it and the zod
 * schemas of its request and its success response. The server implements these declarations (its
 * route table validates requests, enforces `auth` and writes `/openapi.json` from them) and the typed
 * client calls them, so both sides share one description. Pure zod: importing this never pulls the
 * HTTP server into a client process (the CLI, a Duck).
 */
import type { z } from 'zod/v4';
import type { Privilege } from '../governance/policy.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Who may call an endpoint, checked once by the server before the handler runs:
 * - `'none'`: anyone;
 * - `'principal'`: any authenticated principal (what it may do is the use case's to decide);
 * - `{admin: what}`: an administrator ("permission denied: only administrators may <what>");
 * - `{on: 'line', privilege}`: holding `privilege` on the line the request names (path `:name`,
 *   `major` in the query or body, default the newest line the caller knows);
 * - `{on: 'line', any: true}`: holding any privilege on that line;
 * - `{on: 'line'}`: knowing the line exists (any privilege on it, or SELECT on one of its tables).
 *   A line or Pond the caller may not know of answers exactly like one that does not exist;
 * - `'duck'`: the Duck token of the line in the path (`:name/:major`).
 */
export type RouteAuth =
  | 'none'
  | 'principal'
  | 'duck'
  | { admin: string }
  | { on: 'line'; privilege?: Privilege; any?: true };

type Schema = z.ZodType | undefined;

export interface Endpoint<
  P extends Schema = undefined,
  Q extends Schema = undefined,
  B extends Schema = undefined,
  R extends Schema = undefined,
> {
  method: Method;
  /** Path with `:param` placeholders, e.g. `/api/ponds/:name/runs`. */
  path: string;
  summary: string;
  auth: RouteAuth;
  params?: P;
  query?: Q;
  body?: B;
  /** The body is raw bytes (a Pond archive), not JSON. */
  binaryBody?: boolean;
  /** The success response; a plain string schema means a text (not JSON) answer. */
  response?: R;
  /** Success statuses, the usual one first (default 200). */
  statuses?: readonly number[];
  /**
   * The answer is a server-sent-event stream (`text/event-stream`), not one body: each event name
   * with the schema of its `data` (JSON). Such an endpoint declares no `response`.
   */
  events?: Readonly<Record<string, z.ZodType>>;
}

/** Declares an endpoint (an identity function that keeps the schema types). */
export function endpoint<
  P extends Schema = undefined,
  Q extends Schema = undefined,
  B extends Schema = undefined,
  R extends Schema = undefined,
>(e: Endpoint<P, Q, B, R>): Endpoint<P, Q, B, R> {
  return e;
}

// biome-ignore lint/suspicious/noExplicitAny: matches any endpoint whatever its schemas
export type AnyEndpoint = Endpoint<any, any, any, any>;

type Input<S> = S extends z.ZodType ? z.input<S> : never;
type Output<S> = S extends z.ZodType ? z.output<S> : never;

/** What a caller sends: params, query and body as their schemas accept them. */
export type RequestOf<E> =
  E extends Endpoint<infer P, infer Q, infer B, infer _R>
    ? (P extends z.ZodType ? { params: Input<P> } : { params?: undefined }) &
        (Q extends z.ZodType ? { query?: Input<Q> } : { query?: undefined }) &
        (B extends z.ZodType ? { body?: Input<B> } : { body?: Buffer | Uint8Array })
    : never;

/** What a caller gets back on success. */
export type ResponseOf<E> = E extends Endpoint<infer _P, infer _Q, infer _B, infer R> ? Output<R> : never;

/** What the server's handler of an endpoint receives and returns. */
export type ParamsOf<E> = E extends Endpoint<infer P, infer _Q, infer _B, infer _R> ? Output<P> : never;
export type QueryOf<E> = E extends Endpoint<infer _P, infer Q, infer _B, infer _R> ? Output<Q> : never;
export type BodyOf<E> =
  E extends Endpoint<infer _P, infer _Q, infer B, infer _R>
    ? B extends z.ZodType
      ? z.output<B>
      : unknown
    : never;
export type ResultOf<E> =
  E extends Endpoint<infer _P, infer _Q, infer _B, infer R>
    ? R extends z.ZodType
      ? z.input<R>
      : unknown
    : never;

/** The concrete path of a request: `:param` placeholders filled in, URL-encoded. */
export function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/:(\w+)/g, (_m, key: string) => {
    const v = params?.[key];
    if (v === undefined || v === null) throw new Error(`${template}: missing path parameter "${key}"`);
    return encodeURIComponent(String(v));
  });
}

/** A query string (with its `?`) from the defined values of `query`; empty when there are none. */
export function queryString(query: Record<string, unknown> | undefined): string {
  const entries = Object.entries(query ?? {}).filter(([, v]) => v !== undefined && v !== null);
  if (entries.length === 0) return '';
  return `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)]))}`;
}
