/**
 * The Duck's only channel to the Catchment: plain HTTP requests it initiates itself, authenticated
 * with its per-Duck token, through the typed API client (src/api). Events go through the ledger's
 * outbox first, so nothing is lost while the Catchment is unreachable; they are replayed in order
 * once it answers again.
 */

import { type Answer, ApiUnreachable, CatchmentApi, type SendOptions } from '../api/client.js';
import { duckConfig, duckEvents, duckJobs } from '../api/duck.js';
import { duckManifest, duckPublish } from '../api/duck-data.js';
import { type AnyEndpoint, fillPath, queryString, type RequestOf, type ResponseOf } from '../api/endpoint.js';
import { type Manifest, manifestSchema } from '../compute/snapshots.js';
import type { RunLedger } from './ledger.js';
import {
  type DuckConfig,
  type DuckEvent,
  type DuckJobMessage,
  duckConfigSchema,
  jobsResponseSchema,
} from './protocol.js';

export class CatchmentUnreachable extends Error {}

export class DuckClient {
  private readonly api: CatchmentApi;

  constructor(
    readonly baseUrl: string,
    readonly token: string,
    private readonly name: string,
    private readonly major: number,
  ) {
    this.api = new CatchmentApi(baseUrl, token);
  }

  async config(): Promise<DuckConfig> {
    return duckConfigSchema.parse(await this.request(duckConfig, { params: this.line() }));
  }

  async jobs(waitMs: number, signal?: AbortSignal): Promise<DuckJobMessage[]> {
    const body = await this.request(
      duckJobs,
      { params: this.line(), query: { wait: waitMs } },
      signal ? { signal } : {},
    );
    return jobsResponseSchema.parse(body).jobs;
  }

  /** The line's published manifest, as the Catchment has it (http storage: never from disk). */
  async manifest(): Promise<Manifest | null> {
    const { manifest } = await this.request(duckManifest, { params: this.line() });
    return manifest === null ? null : manifestSchema.parse(manifest);
  }

  /** Asks the Catchment to publish run f's uploaded tables (table → sha256 of its upload). */
  async publish(f: number, tables: Record<string, { sha256: string }>): Promise<Manifest> {
    const { manifest } = await this.request(duckPublish, { params: this.line(), body: { f, tables } });
    return manifestSchema.parse(manifest);
  }

  /** Sends everything in the outbox, oldest first; returns false if the Catchment did not take it. */
  async flush(ledger: RunLedger): Promise<boolean> {
    for (;;) {
      const batch = ledger.pending();
      if (batch.length === 0) return true;
      try {
        await this.request(duckEvents, {
          params: this.line(),
          body: { events: batch.map((b) => b.event) satisfies DuckEvent[] },
        });
      } catch (err) {
        if (err instanceof CatchmentUnreachable) return false;
        throw err;
      }
      ledger.acknowledge(batch[batch.length - 1]!.seq);
    }
  }

  private line() {
    return { name: this.name, major: this.major };
  }

  /** No answer or a 5xx: CatchmentUnreachable (retry later); another error status: an Error. */
  private async request<E extends AnyEndpoint>(
    e: E,
    request: RequestOf<E>,
    opts: Pick<SendOptions, 'signal'> = {},
  ): Promise<ResponseOf<E>> {
    let answer: Answer<ResponseOf<E>>;
    try {
      answer = await this.api.exchange(e, request, opts);
    } catch (err) {
      const message = err instanceof ApiUnreachable ? err.failure.message : (err as Error).message;
      throw new CatchmentUnreachable(`Catchment unreachable at ${this.baseUrl}: ${message}`);
    }
    if (answer.status >= 500) throw new CatchmentUnreachable(`Catchment answered ${answer.status}`);
    if (answer.status < 200 || answer.status >= 300) {
      const r = request as { params?: Record<string, unknown>; query?: Record<string, unknown> };
      const path = `${fillPath(e.path, r.params)}${queryString(r.query)}`;
      throw new Error(`Catchment refused ${e.method} ${path}: ${answer.status} ${answer.text}`);
    }
    return (answer.body ?? {}) as ResponseOf<E>;
  }
}
