/**
 * The Catchment's side of the Duck dial-back protocol: which line a Duck token belongs to, what the
 * Duck runs, its jobs (long poll) and the events it reports. Every call from a Duck counts as a sign
 * of life for the supervisor.
 */
import { duckEventSchema } from '../../duck/protocol.js';
import { RequestError } from '../../shared/errors.js';
import type { Catchment } from '../catchment.js';
import { lineId } from '../orchestrator.js';
import type { LineRef } from './line-access.js';

export class DuckService {
  constructor(private readonly catchment: Catchment) {}

  /** The line a Duck token belongs to (401 for an unknown token). */
  whoami(token: string | undefined) {
    const duck = this.catchment.store.findDuckByToken(token);
    if (!duck) throw new RequestError(401, 'unauthenticated', 'invalid Duck token');
    return { name: duck.pond, major: duck.major, line: lineId(duck.pond, duck.major) };
  }

  /** Checks a Duck token against its line (401 if it is not that line's) and records the contact. */
  authenticate(line: LineRef, token: string): void {
    if (!this.catchment.store.verifyDuckToken(line.pond, line.major, token))
      throw new RequestError(401, 'unauthenticated', 'invalid Duck token');
    this.catchment.supervisor.contact(lineId(line.pond, line.major));
  }

  config(line: LineRef) {
    return this.catchment.duckConfig(lineId(line.pond, line.major));
  }

  /**
   * Waits up to `waitMs` for commands to the line's Duck. Jobs taken for a poll whose Duck is gone
   * (`abandoned`: it exited while its poll waited) or whose token is no longer the line's (a
   * replacement Duck was issued one while it waited) go back to the queue for the current Duck.
   */
  async jobs(line: LineRef, waitMs: number, token: string, abandoned: () => boolean = () => false) {
    const id = lineId(line.pond, line.major);
    const jobs = await this.catchment.jobs.take(id, waitMs);
    const stale = () => !this.catchment.store.verifyDuckToken(line.pond, line.major, token);
    if (jobs.length > 0 && (abandoned() || stale())) {
      for (const job of jobs) this.catchment.jobs.push(id, job);
      return [];
    }
    this.catchment.supervisor.contact(id, jobs.length > 0);
    return jobs;
  }

  /** Applies the events a Duck reports (each checked against the protocol); how many were applied. */
  report(line: LineRef, events: readonly unknown[]): number {
    const parsed = events.map((e, i) => {
      const r = duckEventSchema.safeParse(e);
      if (!r.success)
        throw new RequestError(400, 'invalid_request', `body.events[${i}]: ${r.error.issues[0]?.message}`);
      return r.data;
    });
    this.catchment.duckEvents(lineId(line.pond, line.major), parsed);
    return parsed.length;
  }
}
