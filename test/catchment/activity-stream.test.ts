/**
 * The run activity feed without HTTP: the hub numbers activities, keeps a bounded ring and resumes a
 * cursor exactly (or says why it cannot); the stream writer batches a burst into one write, keeps
 * the stream alive on the injected clock, and ends a client that cannot keep up.
 */
import { describe, expect, it } from 'vitest';
import type { RunActivity } from '../../src/catchment/activity.js';
import { ActivityHub, type Sequenced } from '../../src/catchment/activity-hub.js';
import { type EventSink, EventStreamWriter } from '../../src/catchment/http/routes/events.js';
import { ManualClock } from '../support/manual-clock.js';

/** A hub fed by hand: no engine events, so nothing but `publish` reaches it. */
function hub(capacity?: number): ActivityHub {
  return new ActivityHub(
    { onEvents: () => () => {}, store: { getPondRun: () => null, listRunAttempts: () => [] } },
    capacity,
  );
}

const activity = (n: number): RunActivity => ({
  at: n,
  kind: 'run-started',
  pond: 'p',
  major: 1,
  f: n,
  rows: null,
  durationMs: null,
  error: null,
});

function collecting() {
  const batches: Sequenced[][] = [];
  let closed = 0;
  return {
    batches,
    get closed() {
      return closed;
    },
    watcher: { activities: (b: readonly Sequenced[]) => batches.push([...b]), closed: () => closed++ },
  };
}

describe('the activity hub', () => {
  it('tells watchers one batch per publish, numbered in order', () => {
    const h = hub();
    const w = collecting();
    h.subscribe(undefined, w.watcher);
    h.publish([activity(1), activity(2)]);
    h.publish([activity(3)]);
    expect(w.batches.map((b) => b.map((s) => s.seq))).toEqual([[1, 2], [3]]);
    expect(w.batches[0]![0]!.id).toBe(`${h.boot}-1`);
  });

  it('replays exactly what came after a cursor of this process', () => {
    const h = hub();
    h.publish([1, 2, 3, 4].map(activity));
    const sub = h.subscribe(`${h.boot}-2`, collecting().watcher);
    expect(sub.gap).toBeNull();
    expect(sub.replay.map((s) => s.activity.f)).toEqual([3, 4]);
    expect(h.subscribe(`${h.boot}-4`, collecting().watcher).replay).toEqual([]);
  });

  it('says the activity expired when the cursor is older than the ring, and replays what is kept', () => {
    const h = hub(3);
    for (let i = 1; i <= 10; i++) h.publish([activity(i)]);
    const sub = h.subscribe(`${h.boot}-2`, collecting().watcher);
    expect(sub.gap).toMatchObject({ reason: 'expired', since: `${h.boot}-2` });
    expect(sub.replay.map((s) => s.seq)).toEqual([8, 9, 10]);
    // the cursor just before the oldest kept is still exact
    const exact = h.subscribe(`${h.boot}-7`, collecting().watcher);
    expect(exact.gap).toBeNull();
    expect(exact.replay.map((s) => s.seq)).toEqual([8, 9, 10]);
  });

  it('recognises a cursor of an earlier process: a restart, then everything since this one started', () => {
    const before = hub();
    before.publish([activity(1)]);
    const after = hub();
    after.publish([activity(2)]);
    const sub = after.subscribe(`${before.boot}-1`, collecting().watcher);
    expect(sub.gap).toMatchObject({ reason: 'restarted' });
    expect(sub.replay.map((s) => s.activity.f)).toEqual([2]);
    expect(after.subscribe('not-an-id', collecting().watcher).gap?.reason).toBe('restarted');
  });

  it('ends every watcher on close and takes no more', () => {
    const h = hub();
    const w = collecting();
    h.subscribe(undefined, w.watcher);
    h.close();
    expect(w.closed).toBe(1);
    h.publish([activity(1)]);
    expect(w.batches).toEqual([]);
    const late = collecting();
    h.subscribe(undefined, late.watcher);
    expect(late.closed).toBe(1);
  });
});

function sink(accept = true) {
  const writes: string[] = [];
  const drains: Array<() => void> = [];
  let ended = 0;
  const s: EventSink = {
    write: (chunk) => {
      writes.push(chunk);
      return accept;
    },
    end: () => {
      ended++;
    },
    onDrain: (fn) => drains.push(fn),
  };
  return {
    s,
    writes,
    drains,
    get ended() {
      return ended;
    },
  };
}

const timing = { flushMs: 50, keepAliveMs: 15_000, maxQueued: 5_000 };
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('the event stream writer', () => {
  it('writes a burst of 1,000 events as one chunk, and throttles the next writes to one per window', async () => {
    const clock = new ManualClock();
    const out = sink();
    const w = new EventStreamWriter(out.s, clock, timing);
    for (let i = 0; i < 1000; i++) w.push([`data: ${i}\n\n`]);
    await nextTurn();
    expect(out.writes).toHaveLength(1);
    expect(out.writes[0]!.split('\n\n').filter(Boolean)).toHaveLength(1000);

    // Within the window, further events wait for it to pass, then go out together.
    w.push(['data: a\n\n']);
    w.push(['data: b\n\n']);
    await nextTurn();
    expect(out.writes).toHaveLength(1);
    clock.advance(50);
    expect(out.writes).toEqual([expect.any(String), 'data: a\n\ndata: b\n\n']);
    w.stop();
  });

  it('sends a keep-alive comment every 15 s of the injected clock, and none once stopped', () => {
    const clock = new ManualClock();
    const out = sink();
    const w = new EventStreamWriter(out.s, clock, timing);
    clock.advance(14_999);
    expect(out.writes).toEqual([]);
    clock.advance(1);
    expect(out.writes).toEqual([': keep-alive\n\n']);
    w.stop();
    clock.advance(60_000);
    expect(out.writes).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('holds writes while the client is slow, resumes on drain, and ends a client too far behind', async () => {
    const clock = new ManualClock();
    const out = sink(false);
    const w = new EventStreamWriter(out.s, clock, timing);
    w.push(['data: 1\n\n']);
    await nextTurn();
    expect(out.writes).toHaveLength(1);
    w.push(['data: 2\n\n']);
    clock.advance(1000);
    await nextTurn();
    expect(out.writes).toHaveLength(1); // blocked until drain
    out.drains.shift()!();
    await nextTurn();
    expect(out.writes).toEqual(['data: 1\n\n', 'data: 2\n\n']);
    // Blocked again: past maxQueued frames the stream ends (the client resumes by event id).
    w.push(Array.from({ length: 5_001 }, (_, i) => `data: ${i}\n\n`));
    expect(out.ended).toBe(1);
  });

  it('writes what is queued before ending on shutdown', () => {
    const clock = new ManualClock();
    const out = sink();
    const w = new EventStreamWriter(out.s, clock, timing);
    w.push(['data: last\n\n']);
    w.end();
    expect(out.writes).toEqual(['data: last\n\n']);
    expect(out.ended).toBe(1);
    expect(clock.pending).toBe(0);
  });
});
