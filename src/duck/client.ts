/**
 * The Duck's only channel to the Catchment: plain HTTP requests it initiates itself, authenticated
 * with its per-Duck token. Events go through the ledger's outbox first, so nothing is lost while the
 * Catchment is unreachable; they are replayed in order once it answers again.
 */

import type { RunLedger } from './ledger.js';
import {
  type DuckConfig,
  type DuckEvent,
  type DuckJobMessage,
  duckConfigSchema,
  duckPath,
  jobsResponseSchema,
} from './protocol.js';

export class CatchmentUnreachable extends Error {}

export class DuckClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly name: string,
    private readonly major: number,
  ) {}

  async config(): Promise<DuckConfig> {
    return duckConfigSchema.parse(await this.request('GET', duckPath(this.name, this.major, 'config')));
  }

  async jobs(waitMs: number, signal?: AbortSignal): Promise<DuckJobMessage[]> {
    const body = await this.request(
      'GET',
      `${duckPath(this.name, this.major, 'jobs')}?wait=${waitMs}`,
      undefined,
      signal,
    );
    return jobsResponseSchema.parse(body).jobs;
  }

  /** Sends everything in the outbox, oldest first; returns false if the Catchment did not take it. */
  async flush(ledger: RunLedger): Promise<boolean> {
    for (;;) {
      const batch = ledger.pending();
      if (batch.length === 0) return true;
      try {
        await this.request('POST', duckPath(this.name, this.major, 'events'), {
          events: batch.map((b) => b.event),
        } satisfies { events: DuckEvent[] });
      } catch (err) {
        if (err instanceof CatchmentUnreachable) return false;
        throw err;
      }
      ledger.acknowledge(batch[batch.length - 1]!.seq);
    }
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new CatchmentUnreachable(`Catchment unreachable at ${this.baseUrl}: ${(err as Error).message}`);
    }
    if (res.status >= 500) throw new CatchmentUnreachable(`Catchment answered ${res.status}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`Catchment refused ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  }
}
