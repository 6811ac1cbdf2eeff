/**
 * Watching a Catchment (issue 9, item 5) with real parts: `GET /api/events` over HTTP from a
 * Catchment whose Ducks run real Pond runs, filtered per principal and resumable by event id, and
 * `duckstring watch` (the built binary) printing the lines, surviving a Catchment restart and
 * exiting 0 on Ctrl-C. Every wait is on an event the stream delivers, never on a sleep.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type CatchmentApi, type StreamEvent } from '../../src/api/client.js';
import { api } from '../../src/api/index.js';
import { removeDir, TestCatchment, tempDir, writePond } from '../support/runtime.js';

type Event = StreamEvent<typeof api.events.stream>;

/** One open stream, collecting its events; `until` resolves on the first event matching. */
class Feed {
  readonly events: Event[] = [];
  readonly done: Promise<void>;
  private readonly opened: Promise<void>;
  private readonly abort = new AbortController();
  private waiters: Array<{ match: (e: Event) => boolean; resolve: (e: Event) => void }> = [];

  constructor(
    client: CatchmentApi,
    key: string,
    opts: { lastEventId?: string; query?: { pond?: string; since?: string } } = {},
  ) {
    let open!: () => void;
    this.opened = new Promise((resolve) => {
      open = resolve;
    });
    const stream = client.stream(
      api.events.stream,
      { query: opts.query ?? {} },
      {
        key,
        signal: this.abort.signal,
        onOpen: open,
        ...(opts.lastEventId ? { lastEventId: opts.lastEventId } : {}),
      },
    );
    this.done = (async () => {
      try {
        for await (const e of stream) {
          this.events.push(e);
          for (const w of this.waiters.filter((w) => w.match(e))) w.resolve(e);
          this.waiters = this.waiters.filter((w) => !w.match(e));
        }
      } catch (err) {
        if (!this.abort.signal.aborted) throw err;
      }
    })();
    // The stream's own failure ends `opened` too, so a refused stream fails the test at once.
    this.done.catch(() => {});
  }

  async open(): Promise<this> {
    await Promise.race([this.opened, this.done.then(() => Promise.reject(new Error('stream ended')))]);
    return this;
  }

  until(match: (e: Event) => boolean): Promise<Event> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve });
      this.done.then(() => reject(new Error('the stream ended before the event came')), reject);
    });
  }

  runs(): Array<Extract<Event, { event: 'run' }>['data']> {
    return this.events.flatMap((e) => (e.event === 'run' ? [e.data] : []));
  }

  close(): void {
    this.abort.abort();
  }
}

const is = (pond: string, kind: string) => (e: Event) =>
  e.event === 'run' && e.data.pond === pond && e.data.kind === kind;

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};
const feeds: Feed[] = [];
const feed = (who: string, opts?: ConstructorParameters<typeof Feed>[2]) => {
  const f = new Feed(c.client, keys[who]!, opts);
  feeds.push(f);
  return f.open();
};

async function newPrincipal(name: string, grant: { privileges: string[]; on: string }): Promise<void> {
  expect((await c.api('POST', '/api/principals', { name })).status).toBe(201);
  expect((await c.api('POST', '/api/grants', { to: name, ...grant })).status).toBe(200);
  const k = await c.api('POST', '/api/keys', { principal: name });
  expect(k.status).toBe(201);
  keys[name] = k.body.key;
}

beforeAll(async () => {
  work = await tempDir('watch');
  c = await TestCatchment.start(path.join(work, 'root'));
  keys.admin = c.running.adminKey;
  expect(
    (
      await c.deploy(
        await writePond(work, {
          name: 'alpha',
          files: { 'ripples/numbers.sql': 'SELECT n::BIGINT AS n FROM range(25) t(n)' },
        }),
      )
    ).status,
  ).toBe(201);
  const boom = `import { ripple } from 'duckstring/pond';
export const boom = ripple({ name: 'boom', run() { throw new Error('no data for this day'); } });
`;
  expect(
    (await c.deploy(await writePond(work, { name: 'broken', files: { 'ripples/boom.ts': boom } }))).status,
  ).toBe(201);
  await newPrincipal('reader', { privileges: ['SELECT'], on: 'broken@1' });
  await newPrincipal('ops', { privileges: ['OPERATE'], on: 'broken@1' });
}, 120_000);

afterAll(async () => {
  for (const f of feeds) f.close();
  await c?.close();
  await removeDir(work);
});

describe('GET /api/events', { timeout: 180_000 }, () => {
  let admin: Feed;
  let reader: Feed;
  let ops: Feed;

  it('streams a run starting and publishing, in order, with rows and duration', async () => {
    // All three watch from before anything runs, so what reader and ops miss is filtered, not late.
    [admin, reader, ops] = await Promise.all([feed('admin'), feed('reader'), feed('ops')]);
    await c.client.call(api.lines.verbs.pulse, { params: { name: 'alpha' }, body: {} });
    await admin.until(is('alpha', 'run-published'));
    const alpha = admin.runs().filter((a) => a.pond === 'alpha');
    expect(alpha.map((a) => a.kind)).toEqual(['run-started', 'run-published']);
    expect(alpha[1]).toMatchObject({ major: 1, rows: 25, error: null, f: alpha[0]!.f });
    expect(alpha[1]!.durationMs).toEqual(expect.any(Number));
    // ids count up within the process
    const seqs = admin.events.map((e) => Number(e.id.split('-')[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('shows a principal only the lines it holds a privilege on, and the error text only with OPERATE', async () => {
    await c.client.call(api.lines.verbs.pulse, { params: { name: 'broken' }, body: {} });
    const failedForAdmin = await admin.until(is('broken', 'run-failed'));
    expect(failedForAdmin.event === 'run' && failedForAdmin.data.error).toMatch(/no data for this day/);

    const readerFailed = await reader.until(is('broken', 'run-failed'));
    expect(readerFailed.event === 'run' && readerFailed.data.error).toBe('hidden');
    const opsFailed = await ops.until(is('broken', 'run-failed'));
    expect(opsFailed.event === 'run' && opsFailed.data.error).toMatch(/no data for this day/);
    // Both streams were open while alpha ran: the same activity, under the same ids, and nothing of
    // alpha (they hold no privilege on it).
    for (const f of [reader, ops]) {
      expect(f.runs().map((a) => [a.pond, a.kind])).toEqual([
        ['broken', 'run-started'],
        ['broken', 'run-failed'],
      ]);
    }
    expect(reader.events.map((e) => e.id)).toEqual(ops.events.map((e) => e.id));
  });

  it('filters a replay the same way', async () => {
    // A stream resumed from before alpha ran (a replay) shows nothing of alpha either.
    const boot = admin.events[0]!.id.split('-')[0];
    const replayed = await feed('reader', { query: { since: `${boot}-0` } });
    await replayed.until(is('broken', 'run-failed'));
    expect(replayed.runs()).toEqual(reader.runs());
  });

  it('resumes after Last-Event-ID (or ?since) with exactly what followed, no duplicates', async () => {
    const all = admin.events;
    const startedAlpha = all.findIndex(is('alpha', 'run-started'));
    const last = all.at(-1)!.id;
    for (const opts of [
      { lastEventId: all[startedAlpha]!.id },
      { query: { since: all[startedAlpha]!.id } },
    ]) {
      const resumed = await feed('admin', opts);
      await resumed.until((e) => e.id === last);
      expect(resumed.events.map((e) => e.id)).toEqual(all.slice(startedAlpha + 1).map((e) => e.id));
      expect(resumed.runs()).toEqual(admin.runs().slice(startedAlpha + 1));
    }
    // The header wins over the query.
    const both = await feed('admin', {
      lastEventId: all.at(-2)!.id,
      query: { since: all[startedAlpha]!.id },
    });
    await both.until((e) => e.id === last);
    expect(both.events.map((e) => e.id)).toEqual([last]);
  });

  it('says so when the cursor comes from another Catchment process, and replays what this one has', async () => {
    const resumed = await feed('admin', { lastEventId: 'deadbeef-7' });
    const last = admin.events.at(-1)!.id;
    await resumed.until((e) => e.id === last);
    expect(resumed.events[0]).toMatchObject({
      event: 'gap',
      data: { reason: 'restarted', since: 'deadbeef-7' },
    });
    expect(resumed.runs()).toEqual(admin.runs());
  });

  it('filters by Pond, answers an unknown Pond 404 and no key 401', async () => {
    const boot = admin.events[0]!.id.split('-')[0];
    const onlyAlpha = await feed('admin', { query: { pond: 'alpha', since: `${boot}-0` } });
    await onlyAlpha.until(is('alpha', 'run-published'));
    expect(onlyAlpha.runs().map((a) => a.pond)).toEqual(['alpha', 'alpha']);

    const refused = async (key: string | null, query: { pond?: string }) => {
      try {
        for await (const _ of c.client.stream(api.events.stream, { query }, { key })) break;
      } catch (err) {
        return err as ApiError;
      }
      throw new Error('the stream was not refused');
    };
    expect(await refused(keys.admin!, { pond: 'nope' })).toMatchObject({ status: 404, code: 'not_found' });
    // reader may not know alpha: it answers like a Pond that does not exist
    expect(await refused(keys.reader!, { pond: 'alpha' })).toMatchObject({ status: 404, code: 'not_found' });
    expect(await refused(null, {})).toBeInstanceOf(ApiError);
    expect((await refused(null, {})).status).toBe(401);
  });

  it('is described in the OpenAPI document as text/event-stream with its event schemas', async () => {
    const doc = await c.client.call(api.operations.openapi, {});
    const op = doc.paths['/api/events']!.get as any;
    const content = op.responses['200'].content['text/event-stream'];
    const events = content.itemSchema.oneOf.map((o: any) => o.properties.event.const);
    expect(events).toEqual(['run', 'gap']);
    expect(content.itemSchema.oneOf[0].properties.data.contentSchema.properties.kind.enum).toContain(
      'run-failed',
    );
  });
});

const BIN = fileURLToPath(new URL('../../bin/duckstring.js', import.meta.url));

/** The built CLI as a process, its output gathered; `until` waits for a line matching. */
function spawnCli(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const waiters: Array<() => void> = [];
  for (const name of ['stdout', 'stderr'] as const) {
    child[name]!.setEncoding('utf8');
    child[name]!.on('data', (s: string) => {
      out[name] += s;
      for (const w of [...waiters]) w();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = (name: 'stdout' | 'stderr', re: RegExp, count = 1) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if ((out[name].match(new RegExp(re.source, 'g')) ?? []).length >= count) resolve();
      };
      waiters.push(check);
      check();
      void exited.then((code) =>
        reject(new Error(`watch exited (${code}) before ${re}:\n${out.stdout}\n${out.stderr}`)),
      );
    });
  return { child, out, until, exited };
}

describe('duckstring watch', { timeout: 240_000 }, () => {
  it('prints a line per run, reconnects after the Catchment restarts, and exits 0 on SIGINT', async () => {
    const port = Number(new URL(c.url).port);
    const w = spawnCli(['watch', '--catchment', c.url, '--key', keys.admin!]);
    try {
      await w.until('stderr', /watching .* \(Ctrl-C to stop\)/);
      await c.client.call(api.lines.verbs.pulse, { params: { name: 'alpha' }, body: {} });
      await w.until('stdout', /✔ alpha published in [\d.]+ s, 25 rows written/);
      expect(w.out.stdout).toMatch(/▶ alpha run started \(freshness .*\)\n.*✔ alpha published/);

      // The Catchment stops (closing with the stream open must not hang) and starts again.
      const open = await feed('admin');
      await c.close();
      await open.done;
      await w.until('stderr', /reconnecting to .*…/);
      c = await TestCatchment.start(c.root, { port });
      await w.until('stderr', /reconnected/);
      await c.client.call(api.lines.verbs.pulse, { params: { name: 'alpha' }, body: {} });
      await w.until('stdout', /▶ alpha run started/, 2);
      await w.until('stdout', /(✔ alpha published|= alpha is current)/, 2);
      // Nothing printed twice: one start line per run.
      expect(w.out.stdout.match(/▶ alpha run started/g)).toHaveLength(2);

      w.child.kill('SIGINT');
      expect(await w.exited).toBe(0);
    } finally {
      w.child.kill('SIGKILL');
    }
  });

  it('prints JSON with --json, only the Pond asked for with --pond', async () => {
    const w = spawnCli(['watch', '--catchment', c.url, '--key', keys.admin!, '--json', '--pond', 'broken']);
    try {
      await w.until('stderr', /watching/);
      await c.client.call(api.lines.verbs.force, { params: { name: 'alpha' }, body: {} });
      await c.client.call(api.lines.verbs.force, { params: { name: 'broken' }, body: {} });
      await w.until('stdout', /"kind":"run-failed"/);
      const lines = w.out.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.pond, l.kind])).toEqual([
        ['broken', 'run-started'],
        ['broken', 'run-failed'],
      ]);
      w.child.kill('SIGINT');
      expect(await w.exited).toBe(0);
    } finally {
      w.child.kill('SIGKILL');
    }
  });

  it('refuses an unknown Pond with status 2', async () => {
    const w = spawnCli(['watch', '--catchment', c.url, '--key', keys.admin!, '--pond', 'nope']);
    expect(await w.exited).toBe(2);
    expect(w.out.stderr).toMatch(/unknown pond "nope"/);
  });
});
