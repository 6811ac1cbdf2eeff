/**
 * The one client of the Catchment's HTTP API, used by the CLI, the Duck and the tests. Requests and
 * answers are typed by the endpoint declarations the server implements (`src/api/*.ts`), so a change
 * to a route's schema shows up at every caller when it compiles. Plain `fetch`; no server code.
 */
import type { z } from 'zod/v4';
import {
  type AnyEndpoint,
  fillPath,
  type Method,
  queryString,
  type RequestOf,
  type ResponseOf,
} from './endpoint.js';
import { readServerEvents } from './sse.js';

/** The Catchment did not answer at all (not running, wrong URL, network down). */
export class ApiUnreachable extends Error {
  constructor(
    readonly url: string,
    /** The network error's code (ECONNREFUSED…) or message. */
    readonly reason: string,
    /** What fetch threw. */
    readonly failure: Error,
  ) {
    super(`cannot reach the Catchment at ${url} (${reason})`);
  }
}

/** The Catchment answered with an error status; `code` and `detail` come from its error body. */
export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** The `error.code` of the answer, when it has one. */
    readonly code: string | undefined,
    /** The `error.message` of the answer, when it has one. */
    readonly detail: string | undefined,
    /** The answer's raw text. */
    readonly text: string,
  ) {
    super(`${status} ${code ?? 'error'}: ${detail ?? text}`);
  }
}

/** An answer as it came: its status and its body (JSON when it parses, else the text). */
export interface Answer<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface SendOptions {
  /** A JSON body. */
  body?: unknown;
  /** Raw bytes instead (a Pond archive). */
  binary?: Buffer | Uint8Array;
  /** The key for this request instead of the client's; null sends none. */
  key?: string | null;
  signal?: AbortSignal;
}

/** One event of a stream endpoint: its name, the stream's last event id, and its parsed data. */
export type StreamEvent<E> = E extends { events: infer M }
  ? {
      [K in keyof M & string]: {
        event: K;
        id: string;
        data: M[K] extends z.ZodType ? z.output<M[K]> : never;
      };
    }[keyof M & string]
  : never;

export class CatchmentApi {
  /** The base URL, without a trailing slash. */
  readonly url: string;

  constructor(
    url: string,
    private readonly key?: string,
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  /** Calls an endpoint; an error status throws ApiError, no answer throws ApiUnreachable. */
  async call<E extends AnyEndpoint>(
    e: E,
    request: RequestOf<E>,
    opts: Omit<SendOptions, 'body' | 'binary'> = {},
  ): Promise<ResponseOf<E>> {
    const { path, send } = this.prepare(e, request);
    const answer = await this.send(e.method, path, { ...send, ...opts });
    if (answer.status < 200 || answer.status >= 300) {
      const err = (answer.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(e.method, path, answer.status, err?.code, err?.message, answer.text);
    }
    return answer.body as ResponseOf<E>;
  }

  /** Calls an endpoint and returns the answer whatever its status (tests check error answers). */
  async exchange<E extends AnyEndpoint>(
    e: E,
    request: RequestOf<E>,
    opts: Omit<SendOptions, 'body' | 'binary'> = {},
  ): Promise<Answer<ResponseOf<E>>> {
    const { path, send } = this.prepare(e, request);
    return (await this.send(e.method, path, { ...send, ...opts })) as Answer<ResponseOf<E>>;
  }

  /**
   * Opens an event-stream endpoint (`events` in its declaration) and yields its events, each `data`
   * parsed against the declared schema. An error status throws ApiError, no answer ApiUnreachable;
   * the iteration ends when the server ends the stream (abort `signal` to stop reading).
   */
  async *stream<E extends AnyEndpoint>(
    e: E,
    request: RequestOf<E>,
    opts: {
      lastEventId?: string;
      signal?: AbortSignal;
      key?: string | null;
      /** Called once the server has accepted the stream (before any event). */
      onOpen?: () => void;
    } = {},
  ): AsyncGenerator<StreamEvent<E>> {
    const schemas = e.events;
    if (!schemas) throw new Error(`${e.method} ${e.path} is not an event stream`);
    const { path } = this.prepare(e, request);
    const key = opts.key === undefined ? this.key : opts.key;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method: e.method,
        headers: {
          accept: 'text/event-stream',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}),
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiUnreachable(this.url, reason, err as Error);
    }
    if (res.status < 200 || res.status >= 300 || !res.body) {
      const text = await res.text();
      let err: { code?: string; message?: string } | undefined;
      try {
        err = (JSON.parse(text) as { error?: typeof err }).error;
      } catch {
        // Not a JSON error body.
      }
      throw new ApiError(e.method, path, res.status, err?.code, err?.message, text);
    }
    opts.onOpen?.();
    for await (const ev of readServerEvents(res.body)) {
      const schema = schemas[ev.event];
      if (!schema) continue; // an event this client does not know: a newer server
      yield {
        event: ev.event,
        id: ev.lastEventId,
        data: schema.parse(JSON.parse(ev.data)),
      } as StreamEvent<E>;
    }
  }

  /** Any request by method and path (for paths that are not endpoints, e.g. probing a wrong one). */
  async send(method: Method | string, path: string, opts: SendOptions = {}): Promise<Answer> {
    const key = opts.key === undefined ? this.key : opts.key;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(opts.binary
            ? { 'content-type': 'application/octet-stream' }
            : opts.body !== undefined
              ? { 'content-type': 'application/json' }
              : {}),
        },
        body: opts.binary ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ApiUnreachable(this.url, reason, err as Error);
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (metrics): the text itself.
    }
    return { status: res.status, body, text, headers: res.headers };
  }

  private prepare(e: AnyEndpoint, request: RequestOf<AnyEndpoint>) {
    const r = request as {
      params?: Record<string, unknown>;
      query?: Record<string, unknown>;
      body?: unknown;
    };
    const path = `${fillPath(e.path, r.params)}${queryString(r.query)}`;
    const send: SendOptions = e.binaryBody
      ? { binary: r.body as Buffer }
      : r.body === undefined
        ? {}
        : { body: r.body };
    return { path, send };
  }
}
