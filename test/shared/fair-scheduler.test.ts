/**
 * The query slot scheduler, driven by hand: every work item is a promise the test settles, so the
 * order of grants is observed exactly (no timers, no sleeps).
 */
import { describe, expect, it } from 'vitest';
import { FairScheduler } from '../../src/shared/fair-scheduler.js';

/** A work item whose start is recorded and whose end the test decides. */
class Item {
  started = false;
  private finish!: (value: string) => void;
  private fail!: (error: Error) => void;
  readonly body: Promise<string>;
  outcome: Promise<string> | undefined;

  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {
    this.body = new Promise<string>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
  }

  submit(scheduler: FairScheduler, principal: string, signal?: AbortSignal): this {
    this.outcome = scheduler.run(
      () => {
        this.started = true;
        this.log.push(this.name);
        return this.body;
      },
      { principal, ...(signal ? { signal } : {}) },
    );
    // Observed by the tests that expect a rejection; keeps others from reporting it as unhandled.
    this.outcome.catch(() => undefined);
    return this;
  }

  /** Ends the item and waits until the caller has its result (the next grant has happened then). */
  async end(): Promise<void> {
    this.finish(this.name);
    await this.outcome;
  }

  async crash(): Promise<void> {
    this.fail(new Error(`${this.name} failed`));
    await this.outcome?.catch(() => undefined);
  }
}

function setup(options: ConstructorParameters<typeof FairScheduler>[0]) {
  const log: string[] = [];
  const scheduler = new FairScheduler(options);
  const item = (name: string) => new Item(name, log);
  return { log, scheduler, item };
}

describe('FairScheduler', () => {
  it('keeps a slot free for others: one principal runs at most slots − 1 items by default', async () => {
    const { log, scheduler, item } = setup({ slots: 3 });
    const a = ['a1', 'a2', 'a3', 'a4'].map((n) => item(n).submit(scheduler, 'A'));
    expect(log).toEqual(['a1', 'a2']);
    expect(scheduler.load()).toMatchObject({
      running: 2,
      waiting: 2,
      principals: { a: { running: 2, waiting: 2 } },
    });
    const b1 = item('b1').submit(scheduler, 'B');
    expect(b1.started).toBe(true);
    await a[0]!.end();
    // The slot a1 held goes back to A (nobody else waits), still at most two of A's at once.
    expect(log).toEqual(['a1', 'a2', 'b1', 'a3']);
    expect(a[3]!.started).toBe(false);
    for (const x of [a[1]!, a[2]!, b1]) await x.end();
    expect(log).toEqual(['a1', 'a2', 'b1', 'a3', 'a4']);
    await a[3]!.end();
    expect(scheduler.load()).toEqual({ running: 0, waiting: 0, principals: {} });
  });

  it("serves a newly arriving principal before another principal's backlog (one slot)", async () => {
    const { log, scheduler, item } = setup({ slots: 1 });
    const a = ['a1', 'a2', 'a3', 'a4'].map((n) => item(n).submit(scheduler, 'A'));
    const b1 = item('b1').submit(scheduler, 'B');
    const c1 = item('c1').submit(scheduler, 'C');
    expect(log).toEqual(['a1']);
    await a[0]!.end();
    // b1 waited for exactly one of A's items, c1 for one of A's and b1.
    expect(log).toEqual(['a1', 'b1']);
    await b1.end();
    expect(log).toEqual(['a1', 'b1', 'c1']);
    await c1.end();
    await a[1]!.end();
    const b2 = item('b2').submit(scheduler, 'B');
    await a[2]!.end();
    expect(log).toEqual(['a1', 'b1', 'c1', 'a2', 'a3', 'b2']);
    await b2.end();
    await a[3]!.end();
    expect(log).toEqual(['a1', 'b1', 'c1', 'a2', 'a3', 'b2', 'a4']);
  });

  it('alternates between principals that both keep a backlog', async () => {
    const { log, scheduler, item } = setup({ slots: 1 });
    const items = new Map<string, Item>();
    for (const name of ['a1', 'a2', 'a3']) items.set(name, item(name).submit(scheduler, 'A'));
    for (const name of ['b1', 'b2', 'b3']) items.set(name, item(name).submit(scheduler, 'B'));
    for (let i = 0; i < 6; i++) await items.get(log[log.length - 1]!)!.end();
    expect(log).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it("bounds another principal's wait by one running item per busy principal (two slots)", async () => {
    const { log, scheduler, item } = setup({ slots: 2 });
    const a = ['a1', 'a2', 'a3'].map((n) => item(n).submit(scheduler, 'A'));
    const c = ['c1', 'c2', 'c3'].map((n) => item(n).submit(scheduler, 'C'));
    expect(log).toEqual(['a1', 'c1']);
    const b1 = item('b1').submit(scheduler, 'B');
    expect(b1.started).toBe(false);
    await c[0]!.end();
    expect(log).toEqual(['a1', 'c1', 'b1']);
    await b1.end();
    // a1 still runs and A may run one at a time, so the free slot goes to C.
    expect(log).toEqual(['a1', 'c1', 'b1', 'c2']);
    await c[1]!.end();
    await a[0]!.end();
    expect(log).toEqual(['a1', 'c1', 'b1', 'c2', 'c3', 'a2']);
    for (const x of [a[1]!, c[2]!, a[2]!]) await x.end();
    expect(scheduler.load().running).toBe(0);
  });

  it('runs one principal alone on every slot when allowed, and frees a slot when work fails', async () => {
    const { log, scheduler, item } = setup({ slots: 2, maxRunningPerPrincipal: 2 });
    const a = ['a1', 'a2', 'a3'].map((n) => item(n).submit(scheduler, 'A'));
    expect(log).toEqual(['a1', 'a2']);
    await a[1]!.crash();
    await expect(a[1]!.outcome).rejects.toThrow('a2 failed');
    expect(log).toEqual(['a1', 'a2', 'a3']);
    await a[0]!.end();
    await a[2]!.end();
  });

  it('drops a waiting item when its signal aborts, with the signal reason, and never runs it', async () => {
    const { log, scheduler, item } = setup({ slots: 1 });
    const a1 = item('a1').submit(scheduler, 'A');
    const waiting = new AbortController();
    const b1 = item('b1').submit(scheduler, 'B', waiting.signal);
    const c1 = item('c1').submit(scheduler, 'C');
    expect(scheduler.load().waiting).toBe(2);
    waiting.abort(new Error('deadline passed'));
    await expect(b1.outcome).rejects.toThrow('deadline passed');
    expect(scheduler.load()).toMatchObject({ running: 1, waiting: 1 });
    await a1.end();
    expect(log).toEqual(['a1', 'c1']);
    await c1.end();
    const late = new AbortController();
    late.abort(new Error('already late'));
    await expect(item('d1').submit(scheduler, 'D', late.signal).outcome).rejects.toThrow('already late');
    expect(log).toEqual(['a1', 'c1']);
  });

  it('aborting an item that is already running changes nothing', async () => {
    const { log, scheduler, item } = setup({ slots: 1 });
    const signal = new AbortController();
    const a1 = item('a1').submit(scheduler, 'A', signal.signal);
    signal.abort(new Error('too late to drop'));
    await a1.end();
    await expect(a1.outcome).resolves.toBe('a1');
    expect(log).toEqual(['a1']);
  });

  it('treats principal names case-insensitively and reports how long an item waited', async () => {
    let clock = 0;
    const scheduler = new FairScheduler({ slots: 2, now: () => clock });
    const waited: number[] = [];
    const ends: (() => void)[] = [];
    const submit = (principal: string) =>
      scheduler.run(
        (ms) => {
          waited.push(ms);
          return new Promise<void>((resolve) => ends.push(resolve));
        },
        { principal },
      );
    const first = submit('Alice');
    const second = submit('ALICE');
    expect(scheduler.load().principals).toEqual({ alice: { running: 1, waiting: 1 } });
    clock = 250;
    ends[0]!();
    await first;
    expect(waited).toEqual([0, 250]);
    ends[1]!();
    await second;
  });

  it('notifies subscribers of every change of load', async () => {
    const { scheduler, item } = setup({ slots: 1 });
    const seen: string[] = [];
    const stop = scheduler.subscribe(() => {
      const { running, waiting } = scheduler.load();
      seen.push(`${running}/${waiting}`);
    });
    const a1 = item('a1').submit(scheduler, 'A');
    const b1 = item('b1').submit(scheduler, 'B');
    await a1.end();
    await b1.end();
    stop();
    item('c1').submit(scheduler, 'C');
    expect(seen).toEqual(['1/0', '1/1', '1/0', '0/0']);
  });

  it('refuses nonsense sizes', () => {
    expect(() => new FairScheduler({ slots: 0 })).toThrow('slots must be a positive integer');
    expect(() => new FairScheduler({ slots: 2, maxRunningPerPrincipal: 0 })).toThrow(
      'maxRunningPerPrincipal must be a positive integer',
    );
  });
});
