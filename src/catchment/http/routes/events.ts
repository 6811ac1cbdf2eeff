/**
 * `GET /api/events`: the run activity feed (../../activity-hub.ts) as server-sent events, each
 * caller seeing only what it may (`activityView`). The reply is hijacked and written by hand; a
 * stream ends when its client goes away or the Catchment closes (the server's preClose hook).
 */
import { events } from '../../../api/index.js';
import type { Clock, Timer } from '../../../shared/clock.js';
import type { RunActivity } from '../../activity.js';
import { type ActivityHub, activityView, type Sequenced } from '../../activity-hub.js';
import type { Application } from '../../app/index.js';
import { secretsEqual } from '../../store/index.js';
import { bearer } from '../guard.js';
import type { RouteTable } from '../routes.js';

/** Where a stream's text goes: an HTTP response, in practice. */
export interface EventSink {
  /** False when the sink's buffer is full: wait for `onDrain` before writing more. */
  write(chunk: string): boolean;
  end(): void;
  onDrain(fn: () => void): void;
}

export interface StreamTiming {
  /** At most one write per this many ms once activity flows (the first after a lull goes at once). */
  flushMs: number;
  /** A comment line this often keeps proxies and clients from timing the stream out. */
  keepAliveMs: number;
  /** Frames waiting on a slow client past which its stream is ended (it resumes by event id). */
  maxQueued: number;
}

export const STREAM_TIMING: StreamTiming = { flushMs: 50, keepAliveMs: 15_000, maxQueued: 10_000 };

/** One server-sent event. `data` is one line of JSON, so it needs no splitting. */
export function sseFrame(event: string, data: unknown, id?: string): string {
  return `event: ${event}\n${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}

/**
 * Writes frames to a sink in batches: whatever arrives within `flushMs` of the last write goes out
 * in one chunk, so a burst of a thousand activities costs one write, not a thousand.
 */
export class EventStreamWriter {
  private queued: string[] = [];
  private scheduled: Timer | NodeJS.Immediate | null = null;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private blocked = false;
  private done = false;
  private readonly keepAlive: Timer;

  constructor(
    private readonly sink: EventSink,
    private readonly clock: Clock,
    private readonly timing: StreamTiming = STREAM_TIMING,
  ) {
    this.keepAlive = clock
      .setInterval(() => {
        if (!this.blocked) this.sink.write(': keep-alive\n\n');
      }, timing.keepAliveMs)
      .unref();
  }

  /** Queues frames for the next write. */
  push(frames: readonly string[]): void {
    if (this.done || frames.length === 0) return;
    this.queued.push(...frames);
    if (this.queued.length > this.timing.maxQueued) {
      this.end(false);
      return;
    }
    this.schedule();
  }

  /** Writes what is queued now, in one chunk. */
  flush(): void {
    this.cancelScheduled();
    if (this.done || this.blocked || this.queued.length === 0) return;
    const chunk = this.queued.join('');
    this.queued = [];
    this.lastFlush = this.clock.now();
    if (!this.sink.write(chunk)) {
      this.blocked = true;
      this.sink.onDrain(() => {
        this.blocked = false;
        this.schedule();
      });
    }
  }

  /** Ends the stream; `flushFirst` writes what is queued before ending (a clean shutdown). */
  end(flushFirst = true): void {
    if (this.done) return;
    if (flushFirst && !this.blocked) this.flush();
    this.stop();
    this.sink.end();
  }

  /** Stops writing (the client went away). */
  stop(): void {
    this.done = true;
    this.queued = [];
    this.cancelScheduled();
    this.keepAlive.cancel();
  }

  private schedule(): void {
    if (this.scheduled || this.blocked || this.done) return;
    const wait = this.lastFlush + this.timing.flushMs - this.clock.now();
    // setImmediate still gathers everything published in the same turn of the event loop.
    this.scheduled =
      wait <= 0 ? setImmediate(() => this.flush()) : this.clock.setTimeout(() => this.flush(), wait);
  }

  private cancelScheduled(): void {
    const s = this.scheduled;
    this.scheduled = null;
    if (!s) return;
    if ('cancel' in s) s.cancel();
    else clearImmediate(s);
  }
}

export function registerEventRoutes(routes: RouteTable, app: Application, hub: ActivityHub): void {
  routes.implement(events.stream, async ({ query, identity, raw, reply }) => {
    // A Pond the caller may not know answers 404 like one that does not exist.
    if (query.pond) await app.access.resolve(identity, query.pond, undefined);
    const header = raw.headers['last-event-id'];
    const since = typeof header === 'string' && header !== '' ? header : query.since;

    const frames = (batch: readonly Sequenced[]): string[] => {
      const view = activityView(app.access, app.governance, identity);
      const out: string[] = [];
      for (const s of batch) {
        if (query.pond !== undefined && s.activity.pond !== query.pond) continue;
        const seen: RunActivity | null = view(s.activity);
        if (seen) out.push(sseFrame('run', seen, s.id));
      }
      return out;
    };

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const writer = new EventStreamWriter(
      {
        write: (chunk) => res.write(chunk),
        end: () => res.end(),
        onDrain: (fn) => res.once('drain', fn),
      },
      app.catchment.clock,
    );
    const sub = hub.subscribe(since, {
      activities: (batch) => writer.push(frames(batch)),
      closed: () => writer.end(),
    });
    // A key revoked (or a principal deleted) while its stream is open ends the stream; grants are
    // read afresh for every batch anyway.
    const key = bearer(raw);
    const recheck = app.catchment.clock
      .setInterval(() => {
        try {
          app.governance.authenticate(key, secretsEqual);
        } catch {
          writer.end();
        }
      }, STREAM_TIMING.keepAliveMs)
      .unref();
    res.on('close', () => {
      sub.unsubscribe();
      writer.stop();
      recheck.cancel();
    });
    // The reconnection delay for EventSource clients, then what the cursor missed, in one write.
    writer.push(['retry: 1000\n\n', ...(sub.gap ? [sseFrame('gap', sub.gap)] : []), ...frames(sub.replay)]);
    writer.flush();
  });
}
