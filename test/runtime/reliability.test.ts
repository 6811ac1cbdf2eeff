/**
 * "No single process is precious", proven with real processes: a Duck killed with SIGKILL mid-run, a
 * Catchment stopped mid-run and restarted on the same root, and readers querying while a table is
 * republished in a loop.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  deployTo,
  isAlive,
  removeDir,
  sleepyRipple,
  spawnCatchment,
  stopCatchmentProcess,
  TestCatchment,
  tempDir,
  waitFor,
  writePond,
} from '../support/runtime.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(prefix: string) {
  const work = await tempDir(prefix);
  const root = path.join(work, 'root');
  cleanups.push(() => removeDir(work));
  return { work, root };
}

async function startOn(root: string, opts = {}) {
  const c = await TestCatchment.start(root, opts);
  cleanups.push(() => c.close());
  return c;
}

describe('a Duck killed mid-run', () => {
  it('fails the run through the fault path as soon as the process exits, and the next run succeeds on a new Duck', async () => {
    const { work, root } = await setup('kill9');
    // A long liveness window: the exit itself must fail the run (a short window would also make a
    // healthy but CPU-starved Duck of the second run look dead on a loaded machine).
    const c = await startOn(root, { livenessMs: 60_000 });
    const slow = await writePond(work, {
      name: 'slow',
      sourceRetries: 0,
      files: { 'ripples/slow.ts': sleepyRipple('slow', 1500) },
    });
    const sink = await writePond(work, {
      name: 'sink',
      sources: { slow: '1.0.0' },
      files: { 'ripples/s.sql': 'SELECT answer FROM slow.slow' },
    });
    expect((await c.deploy(slow)).status).toBe(201);
    expect((await c.deploy(sink)).status).toBe(201);

    await c.api('POST', '/api/ponds/slow/tap', {});
    const pid = await waitFor('the slow Duck to start running', async () => {
      const s = await c.status('slow');
      return s.status === 'running' && s.duck.pid;
    });
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const failed = await waitFor('the run to fail', async () => {
      const s = await c.status('slow');
      return s.status === 'failed' && s;
    });
    // Far inside the liveness window: the process exit, not silence, failed the run.
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(failed.faults).toMatchObject({ failed: true, failures: 1, blocked: true });
    expect((await c.status('sink')).status).toBe('blocked');
    const runs = await c.runs('slow');
    expect(runs[0].status).toBe('failed');
    expect(runs[0].error).toMatch(/Duck process exited \(SIGKILL\)/);

    // Clear, then the next run succeeds on a fresh Duck.
    await c.api('POST', '/api/ponds/slow/clear', {});
    expect((await c.status('sink')).status).toBe('idle');
    await c.api('POST', '/api/ponds/sink/pulse', {});
    await waitFor(
      'sink to complete',
      async () => (await c.status('sink')).runs.completed === 1,
      30_000,
    ).catch(async (e) => {
      console.log(
        'slow, its runs and sink when sink did not complete:',
        JSON.stringify([await c.status('slow'), await c.runs('slow'), await c.status('sink')]),
      );
      throw e;
    });
    const after = await c.status('slow');
    expect(after.duck.pid).not.toBe(pid);
    expect(after.status).toBe('idle');
    const q = await c.api('POST', '/api/query', { sql: 'SELECT answer FROM sink.s' });
    expect(q.body.rows).toEqual([[42]]);
  });

  it('a silent Duck (stopped with SIGSTOP) is declared dead after the liveness window', async () => {
    const { work, root } = await setup('silent');
    const c = await startOn(root, { livenessMs: 1500 });
    expect(
      (
        await c.deploy(
          await writePond(work, { name: 'quiet', files: { 'ripples/q.ts': sleepyRipple('q', 4000) } }),
        )
      ).status,
    ).toBe(201);
    await c.api('POST', '/api/ponds/quiet/tap', {});
    // Silence counts once the Duck has dialled in (before that its start-up grace applies; see
    // test/catchment/supervisor.test.ts): stop it once it reported its Ripple started.
    const pid = await waitFor('the Duck to run its Ripple', async () => {
      const s = await c.status('quiet');
      const started = ((await c.runs('quiet'))[0]?.attempts?.length ?? 0) > 0;
      return s.status === 'running' && started && s.duck.pid;
    });
    process.kill(pid, 'SIGSTOP');
    try {
      const s = await waitFor('the silent run to fail', async () => {
        const st = await c.status('quiet');
        return st.status === 'failed' && st;
      });
      expect(s.faults.failures).toBe(1);
      expect((await c.runs('quiet'))[0].error).toMatch(/silent/);
      await waitFor('the stuck Duck to be killed', async () => !isAlive(pid));
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('operator verbs on a running Pond', () => {
  it('kill stops the Duck and parks the Pond; its Sink is blocked; wake runs it again', async () => {
    const { work, root } = await setup('killverb');
    const c = await startOn(root);
    expect(
      (
        await c.deploy(
          await writePond(work, { name: 'slow', files: { 'ripples/slow.ts': sleepyRipple('slow', 3000) } }),
        )
      ).status,
    ).toBe(201);
    expect(
      (
        await c.deploy(
          await writePond(work, {
            name: 'sink',
            sources: { slow: '1.0.0' },
            files: { 'ripples/s.sql': 'SELECT answer FROM slow.slow' },
          }),
        )
      ).status,
    ).toBe(201);
    await c.api('POST', '/api/ponds/slow/pulse', {});
    const pid = await waitFor('slow running', async () => {
      const s = await c.status('slow');
      return s.status === 'running' && s.duck.pid;
    });
    const kill = await c.api('POST', '/api/ponds/slow/kill', {});
    expect(kill.status).toBe(200);
    expect(kill.body.status.status).toBe('killed');
    await waitFor('the Duck to be gone', async () => !isAlive(pid));
    expect((await c.status('sink')).status).toBe('blocked');
    expect((await c.runs('slow'))[0]).toMatchObject({ status: 'killed', error: 'killed by an operator' });
    // a Tap on the blocked Sink is ignored
    await c.api('POST', '/api/ponds/sink/tap', {});
    expect((await c.status('sink')).demand.pull).toBe(false);

    await c.api('POST', '/api/ponds/slow/wake', {});
    await waitFor(
      'slow to complete after wake',
      async () => (await c.status('slow')).runs.completed === 1,
      20_000,
    );
    expect((await c.status('sink')).status).toBe('idle');
  });

  it('windows and budgets: validated, listed, removed', async () => {
    const { work, root } = await setup('windows');
    const c = await startOn(root);
    expect(
      (await c.deploy(await writePond(work, { name: 'inlet', files: { 'ripples/i.sql': 'SELECT 1 AS i' } })))
        .status,
    ).toBe(201);
    expect(
      (
        await c.deploy(
          await writePond(work, {
            name: 'child',
            sources: { inlet: '1.0.0' },
            files: { 'ripples/c.sql': 'SELECT i FROM inlet.i' },
          }),
        )
      ).status,
    ).toBe(201);
    const bad = await c.api('POST', '/api/ponds/inlet/windows', { name: 'w', every: '1h30m' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/body\.every/);
    const notInlet = await c.api('POST', '/api/ponds/child/windows', { name: 'w', every: '1h' });
    expect(notInlet.status).toBe(422);
    const ok = await c.api('POST', '/api/ponds/inlet/windows', {
      name: 'hourly',
      every: '1h',
      duration: '10m',
      on: ['MON', 'TUE'],
    });
    expect(ok.status).toBe(201);
    expect(ok.body.window).toMatchObject({
      name: 'hourly',
      every_ms: 3_600_000,
      duration_ms: 600_000,
      on: ['MON', 'TUE'],
    });
    const dup = await c.api('POST', '/api/ponds/inlet/windows', { name: 'hourly', every: '1d' });
    expect(dup.status).toBe(409);
    expect((await c.api('GET', '/api/ponds/inlet/windows')).body.windows).toHaveLength(1);
    expect((await c.api('DELETE', '/api/ponds/inlet/windows/hourly')).status).toBe(200);
    expect((await c.api('GET', '/api/ponds/inlet/windows')).body.windows).toHaveLength(0);
    expect(
      (await c.api('PUT', '/api/ponds/inlet/budgets', { immediate_retries: -1, source_retries: 0 })).status,
    ).toBe(400);
    expect(
      (await c.api('PUT', '/api/ponds/inlet/budgets', { immediate_retries: 3, source_retries: 1 })).body,
    ).toEqual({ immediate_retries: 3, source_retries: 1 });
  });

  it('a failing Ripple spends its immediate retries, then fails the Pond with the error and stack in history', async () => {
    const { work, root } = await setup('failing');
    const c = await startOn(root);
    const boom = `import { ripple } from 'duckstring/pond';
export const boom = ripple({ name: 'boom', run() { throw new Error('no data for this day'); } });
`;
    expect(
      (
        await c.deploy(
          await writePond(work, { name: 'flaky', immediateRetries: 2, files: { 'ripples/boom.ts': boom } }),
        )
      ).status,
    ).toBe(201);
    await c.api('POST', '/api/ponds/flaky/pulse', {});
    const s = await waitFor('flaky to fail', async () => {
      const st = await c.status('flaky');
      return st.status === 'failed' && st;
    });
    expect(s.faults.failures).toBe(1);
    const [run] = await c.runs('flaky');
    expect(run.status).toBe('failed');
    expect(run.attempts.map((a: { attempt: number; status: string }) => [a.attempt, a.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'failed'],
    ]);
    expect(run.attempts[0].error).toMatch(/no data for this day/);
    expect(run.attempts[0].stack).toMatch(/boom\.ts/);
  });
});

describe('the Catchment crashes and restarts', () => {
  /**
   * A TS Ripple that logs every execution, sleeps, then writes a row. It logs through `ctx.log`: the
   * Ripple sandbox lets it write no file, and the line's Duck log outlives Duck restarts.
   */
  const countingRipple = (
    name: string,
    ms: number,
    parents: string[] = [],
  ) => `import { ripple } from 'duckstring/pond';
export const ${name} = ripple({
  name: '${name}',
  parents: ${JSON.stringify(parents)},
  async run(ctx) {
    ctx.log.info('executed', { f: ctx.f.toISOString() });
    await new Promise((resolve) => setTimeout(resolve, ${ms}));
    await ctx.writeTable('${name}', 'SELECT 1 AS x');
  },
});
`;
  /** How many times `ripple` of `pond@1` started executing, from the line's Duck log. */
  const executions = (root: string, pond: string, ripple: string): number => {
    const file = path.join(root, 'ponds', pond, 'm1', 'duck.log');
    if (!existsSync(file)) return 0;
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes(`"ripple":"${ripple}"`) && l.includes('"msg":"executed"')).length;
  };

  /** Whether the line's Duck holds an unacknowledged event of `kind` in its ledger's outbox. */
  const outboxHas = (root: string, pond: string, kind: string): boolean => {
    const file = path.join(root, 'ponds', pond, 'm1', 'pond.db');
    if (!existsSync(file)) return false;
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const row = db
        .prepare('SELECT count(*) AS n FROM outbox WHERE event LIKE ?')
        .get(`%"kind":"${kind}"%`) as { n: number };
      return row.n > 0;
    } finally {
      db.close();
    }
  };

  it('the Duck finishes, buffers its events and replays them; every attempt appears once; state survives', async () => {
    const { work, root } = await setup('restart');
    let cp = await spawnCatchment(root, ['--port', '0', '--liveness', '30s']);
    const port = new URL(cp.url).port;
    cleanups.push(() => stopCatchmentProcess(cp, root));
    const slow = await writePond(work, {
      name: 'slow',
      files: { 'ripples/slow.ts': countingRipple('slow', 2500) },
    });
    expect(await deployTo(cp, slow)).toBe(201);
    expect(
      (await call(cp, 'POST', '/api/ponds/slow/windows', { name: 'daily', every: '1d', start: '00:00' }))
        .status,
    ).toBe(201);
    expect(
      (await call(cp, 'PUT', '/api/ponds/slow/budgets', { immediate_retries: 2, source_retries: 1 })).status,
    ).toBe(200);
    await call(cp, 'POST', '/api/ponds/slow/tap', {});
    const running = await waitFor('the Duck to run', async () => {
      const s = (await call(cp, 'GET', '/api/ponds/slow')).body.lines[0];
      // A run starts (its inputs are prepared) before its Duck is spawned, and a Duck fetches its
      // configuration before it runs anything: wait until the Ripple itself is executing.
      return s.status === 'running' && s.duck.pid !== null && executions(root, 'slow', 'slow') === 1 && s;
    });
    const pid: number = running.duck.pid;
    cleanups.push(async () => {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });

    cp.child.kill('SIGKILL'); // a crash: no shutdown, the Duck is orphaned and keeps working
    await cp.exited;
    // The Ripple finishes while nobody listens: its completion waits in the Duck's outbox.
    await waitFor('the Duck to buffer the completion', async () => outboxHas(root, 'slow', 'ripple-done'));
    expect(isAlive(pid)).toBe(true);

    cp = await spawnCatchment(root, ['--port', port, '--liveness', '30s']);
    const done = await waitFor('the replayed completion', async () => {
      const s = (await call(cp, 'GET', '/api/ponds/slow')).body.lines[0];
      return s.runs.completed === 1 && s;
    });
    expect(done.freshness.end).toBe(running.freshness.start);
    const runs = (await call(cp, 'GET', '/api/ponds/slow/runs')).body.runs;
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('succeeded');
    expect(runs[0].attempts).toHaveLength(1);
    expect(runs[0].attempts[0]).toMatchObject({ ripple: 'slow', attempt: 1, status: 'succeeded' });
    expect(executions(root, 'slow', 'slow')).toBe(1); // executed once, not re-run
    expect(
      (await call(cp, 'GET', '/api/ponds/slow/windows')).body.windows.map((w: { name: string }) => w.name),
    ).toEqual(['daily']);
    expect((await call(cp, 'GET', '/api/ponds/slow/budgets')).body).toEqual({
      immediate_retries: 2,
      source_retries: 1,
    });
  });

  it('restores triggers and faults, re-dispatches the interrupted run, and the new Duck re-runs only incomplete Ripples', async () => {
    const { work, root } = await setup('redispatch');
    let cp = await spawnCatchment(root, ['--port', '0', '--liveness', '30s']);
    cleanups.push(() => stopCatchmentProcess(cp, root));
    const two = await writePond(work, {
      name: 'two',
      files: {
        'ripples/a.ts': countingRipple('a', 10),
        'ripples/b.ts': countingRipple('b', 2500, ['a']),
      },
    });
    const other = await writePond(work, { name: 'other', files: { 'ripples/o.sql': 'SELECT 1 AS o' } });
    const broken = await writePond(work, {
      name: 'broken',
      files: { 'ripples/x.sql': "SELECT error('boom') AS x" },
    });
    for (const d of [two, other, broken]) expect(await deployTo(cp, d)).toBe(201);
    await call(cp, 'POST', '/api/ponds/other/tide', { bound: '1h' });
    await call(cp, 'POST', '/api/ponds/broken/tap', {});
    await waitFor(
      'broken to fail',
      async () => (await call(cp, 'GET', '/api/ponds/broken')).body.lines[0].status === 'failed',
    );
    // A Pulse, not a Tap: a Tap's Ripple-level pull would also start a second run of `two` when b starts.
    await call(cp, 'POST', '/api/ponds/two/pulse', {});
    const pid: number = await waitFor('b to run', async () => {
      const s = (await call(cp, 'GET', '/api/ponds/two')).body.lines[0];
      return executions(root, 'two', 'b') > 0 && s.duck.pid;
    });
    const before = (await call(cp, 'GET', '/api/ponds/two')).body.lines[0];
    // The whole machine's processes die: Catchment and Duck.
    cp.child.kill('SIGKILL');
    process.kill(pid, 'SIGKILL');
    await cp.exited;

    cp = await spawnCatchment(root, ['--port', '0', '--liveness', '30s']);
    expect((await call(cp, 'GET', '/api/ponds/other')).body.lines[0].trigger).toEqual({
      kind: 'tide',
      bound_ms: 3_600_000,
    });
    const broke = (await call(cp, 'GET', '/api/ponds/broken')).body.lines[0];
    expect(broke.status).toBe('failed');
    expect(broke.faults.failures).toBe(1);
    const after = await waitFor(
      'two re-dispatched and completed',
      async () => {
        const s = (await call(cp, 'GET', '/api/ponds/two')).body.lines[0];
        return s.runs.completed === 1 && s;
      },
      30_000,
    );
    expect(after.freshness.end).toBe(before.freshness.start);
    expect(after.runs.started).toBe(1);
    expect(after.duck.pid).not.toBe(pid);
    expect(executions(root, 'two', 'a')).toBe(1); // a was complete in the ledger
    expect(executions(root, 'two', 'b')).toBe(2); // b was interrupted: re-run
    // The re-run is the next attempt, and the interrupted one is closed rather than left running.
    const { runs } = (await call(cp, 'GET', '/api/ponds/two/runs')).body;
    expect(
      runs[0].attempts.map((a: { ripple: string; attempt: number; status: string }) => [
        a.ripple,
        a.attempt,
        a.status,
      ]),
    ).toEqual([
      ['a', 1, 'succeeded'],
      ['b', 1, 'failed'],
      ['b', 2, 'succeeded'],
    ]);
    expect(runs[0].attempts[1].error).toBe('interrupted: its Duck stopped before the attempt finished');
  });
});

describe('readers during republishing', () => {
  it('never see an error or a mix of two versions while a Pond republishes in a loop', async () => {
    const { work, root } = await setup('readers');
    // A tiny grace period, so superseded files are deleted while the readers run.
    const c = await startOn(root, { snapshotGraceMs: 300 });
    const pair = await writePond(work, {
      name: 'pair',
      files: {
        'ripples/a.sql': 'SELECT epoch_ms(now())::BIGINT AS v, range AS i FROM range(20000)',
        'ripples/b.sql': 'SELECT max(v) AS v FROM a',
      },
    });
    expect((await c.deploy(pair)).status).toBe(201);
    await c.api('POST', '/api/ponds/pair/wave', {});
    await waitFor('a first publish', async () => (await c.status('pair')).runs.completed >= 1);
    const seen = new Set<number>();
    let queries = 0;
    let lastA = 0;
    let lastB = 0;
    // Read until enough reads saw the Pond republish underneath them (not for a fixed time: a loaded
    // machine answers fewer queries per second); the deadline only bounds a broken republish.
    const deadline = Date.now() + 60_000;
    while ((queries <= 10 || seen.size <= 1) && Date.now() < deadline) {
      const q = await c.api('POST', '/api/query', {
        sql: 'SELECT (SELECT count(DISTINCT v) FROM pair.a) AS versions_in_a, (SELECT min(v) FROM pair.a) AS a_v, (SELECT count(*) FROM pair.a) AS n, (SELECT count(*) FROM pair.b) AS b_rows, (SELECT v FROM pair.b) AS b_v',
      });
      expect(q.status, JSON.stringify(q.body)).toBe(200);
      const [versions, aV, n, bRows, bV] = q.body.rows[0];
      expect(versions).toBe(1); // one version of a, never a mix
      expect(n).toBe(20000); // and all of it
      expect(bRows).toBe(1);
      expect(aV).toBeGreaterThanOrEqual(lastA); // versions only move forward for a reader
      expect(bV).toBeGreaterThanOrEqual(lastB);
      lastA = aV;
      lastB = bV;
      seen.add(aV);
      queries++;
    }
    await c.api('POST', '/api/ponds/pair/untrigger', {});
    expect(queries).toBeGreaterThan(10);
    expect(seen.size).toBeGreaterThan(1); // it really was republished underneath the readers
    // and superseded files were collected meanwhile: far fewer files than publishes remain
    const files = readdirSync(path.join(root, 'ponds/pair/m1/data/a')).filter((f) => f.endsWith('.parquet'));
    expect(files.length).toBeLessThan((await c.status('pair')).runs.completed);
  });
});
