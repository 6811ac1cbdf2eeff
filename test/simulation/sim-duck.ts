/**
 * A simulated Duck for the simulation tests. Everything on the Catchment's side of the dial-back
 * protocol is real; this is the outside boundary. The Duck's scheduling is the real one (the
 * push-only DuckEngine, rebuilt from a durable ledger after a crash, as src/duck/duck.ts does); only
 * its data work is simulated: a Ripple "runs" for a seeded number of ManualClock steps, and a publish
 * is instant. Its calls go to the application service a real Duck's HTTP requests reach
 * (DuckService: authenticate, jobs, report), and its events leave through an outbox that is
 * acknowledged only after the Catchment accepted them, like the real ledger's outbox (client.ts
 * `flush`): a lost request is retried with the same events, a lost answer re-sends applied ones.
 */
import type { DuckService } from '../../src/catchment/app/duck-service.js';
import type { DuckInstance } from '../../src/catchment/fleet/fleet.js';
import type { DuckEvent } from '../../src/duck/protocol.js';
import { DuckEngine } from '../../src/engine/duck-engine.js';
import type { RippleSpec } from '../../src/engine/topology.js';
import type { Rng } from '../support/prng.js';

/** What a real Duck keeps on disk (its ledger): survives the Duck's crash, read by the next Duck. */
export interface SimLedger {
  endF: Record<string, number | null>;
  runs: Map<number, number>;
  outbox: Array<{ seq: number; event: DuckEvent }>;
  nextSeq: number;
  /** Every publish this line's Ducks made, in order (f). */
  published: number[];
}

export function emptyLedger(): SimLedger {
  return { endF: {}, runs: new Map(), outbox: [], nextSeq: 1, published: [] };
}

/** What the world decides for one events request. */
export type Fate = 'deliver' | 'drop' | 'ack-lost' | 'deliver-and-replay-later';

export interface SimNetwork {
  /** The live Catchment's Duck service, or null while it is down (the Duck sees it unreachable). */
  service(): DuckService | null;
  fate(): Fate;
  /** A copy of a delivered request that the network will deliver again later, after newer ones. */
  replayLater(line: string, token: string, events: DuckEvent[]): void;
  /**
   * Called right after the Catchment applied a batch (and saved the engine), before anything awaits;
   * true if the Catchment crashed there (the Duck then never sees the answer).
   */
  applied(): boolean;
}

interface Running {
  ripple: string;
  f: number;
  attempt: number;
  due: number;
}

export class SimDuck {
  alive = true;
  private engine: DuckEngine;
  private running: Running[] = [];
  private readonly ref: { pond: string; major: number };
  private nextFlushAt = 0;

  constructor(
    readonly line: string,
    readonly token: string,
    readonly instance: DuckInstance,
    private readonly ripples: RippleSpec[],
    private readonly ledger: SimLedger,
    private readonly rng: Rng,
    private readonly now: () => number,
    private readonly net: SimNetwork,
    private readonly stepMs: number,
  ) {
    const at = line.lastIndexOf('@');
    this.ref = { pond: line.slice(0, at), major: Number(line.slice(at + 1)) };
    const runs = [...ledger.runs].map(([f, immediateRetries]) => ({ f, immediateRetries }));
    const { engine, runCompleted } = DuckEngine.fromLedger(ripples, { endF: ledger.endF, runs }, line);
    this.engine = engine;
    for (const f of runCompleted) this.publish(f);
  }

  /** One tick: poll jobs, finish Ripples that are due, start what can start, flush the outbox. */
  async step(): Promise<void> {
    if (!this.alive) return;
    const service = this.net.service();
    if (service) {
      try {
        service.authenticate(this.ref, this.token);
      } catch {
        // Another Duck holds the line's token now: this one leaves (the real one does once idle).
        this.alive = false;
        return;
      }
      const jobs = await service.jobs(this.ref, 0, this.token);
      for (const job of jobs) {
        if (job.kind === 'stop') {
          this.alive = false;
          return;
        }
        if (job.refresh) {
          this.ledger.endF = {};
          this.engine = DuckEngine.fromLedger(this.ripples, { endF: {}, runs: [] }, this.line).engine;
          this.running = [];
        }
        if (!this.ledger.runs.has(job.f)) this.ledger.runs.set(job.f, 0);
        const { runCompleted } = this.engine.beginRun(job.f, 0, { force: job.force });
        for (const f of runCompleted) this.publish(f);
      }
    }
    this.finishDue();
    this.startReady();
    if (this.now() >= this.nextFlushAt) this.flush();
  }

  private finishDue(): void {
    const due = this.running.filter((r) => r.due <= this.now());
    this.running = this.running.filter((r) => r.due > this.now());
    for (const r of due) {
      const { runCompleted } = this.engine.completed(r.ripple, r.f);
      let changed = runCompleted.length > 0 ? false : this.rng.chance(0.8);
      for (const f of runCompleted) if (this.publish(f)) changed = true;
      this.ledger.endF[r.ripple] = r.f;
      this.emit({
        kind: 'ripple-done',
        at: this.now(),
        f: r.f,
        ripple: r.ripple,
        attempt: r.attempt,
        changed,
        rows: 1,
      });
    }
  }

  private startReady(): void {
    for (const s of this.engine.takeStarts()) {
      this.emit({ kind: 'ripple-start', at: this.now(), f: s.f, ripple: s.ripple, attempt: s.attempt });
      this.running.push({ ...s, due: this.now() + this.rng.int(0, 5) * this.stepMs });
    }
  }

  /** Publishes run f (instant); whether its content changed. */
  private publish(f: number): boolean {
    this.ledger.published.push(f);
    this.ledger.runs.delete(f);
    this.emit({ kind: 'run-published', at: this.now(), f, tables: {} });
    return this.rng.chance(0.8);
  }

  private emit(event: DuckEvent): void {
    this.ledger.outbox.push({ seq: this.ledger.nextSeq++, event });
  }

  /** Sends every unacknowledged event, oldest first, until the outbox is empty or a request fails. */
  private flush(): void {
    for (;;) {
      const batch = [...this.ledger.outbox];
      if (batch.length === 0) return;
      const service = this.net.service();
      const fate = this.net.fate();
      if (!service || fate === 'drop') {
        // Unreachable: the real Duck retries after RETRY_MS (500 ms).
        this.nextFlushAt = this.now() + 500;
        return;
      }
      const events = batch.map((b) => b.event);
      service.report(this.ref, events);
      const crashed = this.net.applied();
      if (fate === 'deliver-and-replay-later') this.net.replayLater(this.line, this.token, events);
      if (crashed || fate === 'ack-lost') {
        this.nextFlushAt = this.now() + 500;
        return;
      }
      const last = batch[batch.length - 1]!.seq;
      this.ledger.outbox = this.ledger.outbox.filter((b) => b.seq > last);
    }
  }
}
