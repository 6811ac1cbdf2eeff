/**
 * Async queries through a real Catchment (issue 11): the job lifecycle, idempotent submission,
 * another principal's job answering like an unknown one, the 409/410/400 answers, pages that equal
 * the interactive answer (types included), restart recovery and the TTL deleting result files.
 *
 * Synchronised by polling the job's state, never by sleeps; retention runs on a ManualClock.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../../src/api/index.js';
import { runCli } from '../../src/cli/main.js';
import { BOOTSTRAP_ADMIN } from '../../src/governance/store.js';
import { ManualClock } from '../support/manual-clock.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

const ON = { FEATURE_ASYNC_QUEUE: 'on', FEATURE_CURSOR_MODE: 'on' };

const POLICY = `
principals:
  - name: alice
  - name: bob
grants:
  - to: alice
    privileges: [SELECT]
    on: sales
  - to: bob
    privileges: [SELECT]
    on: sales
`;

/** Runs until its time limit or a cancel: 10^10 rows. */
const LONG = 'SELECT sum(a.range * b.range) AS s FROM range(100000) a, range(100000) b';
const ROWS = 'SELECT n, k, s FROM sales.numbers ORDER BY n';
const TYPED = `SELECT k, sum(n) AS total, sum(n)::HUGEINT * 100000000000000000000 AS huge, avg(n) AS mean,
  min(d) AS first_day, list(n ORDER BY n)[1:3] AS firsts, {'k': k, 'label': 'x' || k} AS st,
  sum(n)::DECIMAL(18,2) AS dec, (max(n) % 200)::UTINYINT AS tiny, min(n)::UBIGINT AS ubig,
  TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(k) AS tz, INTERVAL 1 DAY * k AS span,
  TIME '01:02:03.456789' AS t, 'ab'::BLOB AS bytes, gen_random_uuid() IS NOT NULL AS has_uuid,
  '00000000-0000-0000-0000-00000000000' || k::VARCHAR AS id_text,
  ('x' || (k % 2))::ENUM('x0', 'x1') AS label
  FROM sales.numbers GROUP BY k ORDER BY k`;

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};

async function as<T = any>(who: string, method: string, route: string, body?: unknown) {
  return c.api<T>(method, route, body, keys[who]!);
}

async function finished(who: string, id: string): Promise<any> {
  return waitFor(`job ${id} to finish`, async () => {
    const { body } = await as(who, 'GET', `/api/queries/${id}`);
    return ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(body.state) ? body : undefined;
  });
}

async function inState(who: string, id: string, state: string): Promise<any> {
  return waitFor(`job ${id} to be ${state}`, async () => {
    const { body } = await as(who, 'GET', `/api/queries/${id}`);
    return body.state === state ? body : undefined;
  });
}

async function allPages(
  who: string,
  id: string,
  maxRows: number,
): Promise<{ columns: unknown; rows: unknown[] }> {
  const rows: unknown[] = [];
  let columns: unknown;
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `max_rows=${maxRows}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await as(who, 'GET', `/api/queries/${id}/results?${query}`);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    expect(page.body.row_count).toBeLessThanOrEqual(maxRows);
    columns = page.body.columns;
    rows.push(...page.body.rows);
    cursor = page.body.next_cursor;
    pages++;
  } while (cursor);
  expect(pages).toBe(Math.max(1, Math.ceil(rows.length / maxRows)));
  return { columns, rows };
}

async function interactive(who: string, sql: string): Promise<any> {
  const answer = await c.client.exchange(api.query.query, { body: { sql } }, { key: keys[who]! });
  expect(answer.status).toBe(200);
  return answer.body;
}

beforeAll(async () => {
  work = await tempDir('async-queries');
  c = await TestCatchment.start(path.join(work, 'root'), { env: ON, queries: { timeoutMs: 20_000 } });
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/numbers.sql':
        "SELECT range AS n, range % 7 AS k, 'row ' || range AS s, DATE '2026-01-01' + (range % 300)::INTEGER AS d FROM range(2500)",
    },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await waitFor('sales to publish', async () => (await c.status('sales')).runs.completed >= 1);
  expect((await c.api('POST', '/api/policy/apply', { file: POLICY })).status).toBe(200);
  for (const name of ['alice', 'bob']) {
    const k = await c.api('POST', '/api/keys', { principal: name });
    expect(k.status).toBe(201);
    keys[name] = k.body.key;
  }
}, 120_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('lifecycle and results', () => {
  it('runs a job to SUCCEEDED and its pages, concatenated, equal the interactive answer', async () => {
    const submitted = await as('alice', 'POST', '/api/queries', { sql: ROWS });
    expect(submitted.status).toBe(202);
    expect(submitted.body.job).toMatchObject({ state: 'QUEUED', sql: ROWS, request_id: null, attempts: 0 });
    expect(submitted.body.job.id).toMatch(/^q_[0-9a-f]{32}$/);
    const job = await finished('alice', submitted.body.job.id);
    expect(job).toMatchObject({
      state: 'SUCCEEDED',
      row_count: 2500,
      attempts: 1,
      placement: 'local',
      error: null,
    });
    expect(Date.parse(job.expires_at)).toBeGreaterThan(Date.parse(job.finished_at));
    const paged = await allPages('alice', job.id, 700);
    const direct = await interactive('alice', ROWS);
    expect(paged.columns).toEqual(direct.columns);
    expect(paged.rows).toEqual(direct.rows);
    expect(paged.rows).toHaveLength(2500);
  });

  it('types a page exactly like the interactive answer (HUGEINT, ENUM, DECIMAL, unsigned, temporal, LIST, STRUCT, BLOB)', async () => {
    const { body } = await as('alice', 'POST', '/api/queries', { sql: TYPED });
    const job = await finished('alice', body.job.id);
    expect(job.state, JSON.stringify(job.error)).toBe('SUCCEEDED');
    const paged = await allPages('alice', job.id, 3);
    const direct = await interactive('alice', TYPED);
    expect(paged.columns).toEqual(direct.columns);
    expect((paged.columns as Array<{ type: string }>).map((col) => col.type)).toContain('HUGEINT');
    expect(paged.rows).toEqual(direct.rows);
  });

  it('answers 200 with the first page when the job finishes within `wait`', async () => {
    const answer = await as('alice', 'POST', '/api/queries', { sql: TYPED, wait: 30 });
    expect(answer.status).toBe(200);
    expect(answer.body.job.state).toBe('SUCCEEDED');
    expect(answer.body.results.rows).toEqual((await interactive('alice', TYPED)).rows);
  });

  it('lists only the caller’s jobs, newest first, paged', async () => {
    const a = (await as('bob', 'POST', '/api/queries', { sql: 'SELECT 1 AS one' })).body.job.id;
    const b = (await as('bob', 'POST', '/api/queries', { sql: 'SELECT 2 AS two' })).body.job.id;
    const first = await as('bob', 'GET', '/api/queries?limit=1');
    expect(first.body.jobs.map((j: any) => j.id)).toEqual([b]);
    const second = await as('bob', 'GET', `/api/queries?limit=1&cursor=${first.body.next_cursor}`);
    expect(second.body.jobs.map((j: any) => j.id)).toEqual([a]);
    expect(second.body.next_cursor).toBeNull();
    const alices = await as('alice', 'GET', '/api/queries?limit=500');
    expect(alices.body.jobs.map((j: any) => j.id)).not.toContain(a);
  });

  it('refuses non-SELECT SQL at submission as the interactive query does, and fails a job on a table it may not read', async () => {
    const interactive = async (sql: string) =>
      (await c.client.exchange(api.query.query, { body: { sql } }, { key: keys.alice! })) as any;
    const refused = await as('alice', 'POST', '/api/queries', { sql: 'DELETE FROM sales.numbers' });
    const direct = await interactive('DELETE FROM sales.numbers');
    expect(refused.status).toBe(direct.status);
    expect(refused.body).toEqual(direct.body);
    const listed = await as('alice', 'GET', '/api/queries?limit=500');
    expect(listed.body.jobs.map((j: any) => j.sql)).not.toContain('DELETE FROM sales.numbers');
    // Tables are governed when the job runs: a missing one fails the job with the interactive error.
    const { body } = await as('alice', 'POST', '/api/queries', { sql: 'SELECT * FROM ghost.t' });
    const job = await finished('alice', body.job.id);
    const ghost = await interactive('SELECT * FROM ghost.t');
    expect(job.state).toBe('FAILED');
    expect(job.error).toMatchObject({ code: ghost.body.error.code, message: ghost.body.error.message });
  });
});

describe('idempotency and ownership', () => {
  it('returns the same job for the same request_id and refuses it with other SQL (409)', async () => {
    const one = await as('alice', 'POST', '/api/queries', { sql: ROWS, request_id: 'report-1' });
    const two = await as('alice', 'POST', '/api/queries', { sql: ROWS, request_id: 'report-1' });
    expect(two.status).toBe(202);
    expect(two.body.job.id).toBe(one.body.job.id);
    const other = await as('alice', 'POST', '/api/queries', { sql: TYPED, request_id: 'report-1' });
    expect(other.status).toBe(409);
    expect(other.body.error).toEqual({
      code: 'request_id_reused',
      message: `request_id "report-1" was already used for a different query (job ${one.body.job.id})`,
    });
    // Another principal's request_id is its own.
    const bobs = await as('bob', 'POST', '/api/queries', { sql: TYPED, request_id: 'report-1' });
    expect(bobs.status).toBe(202);
    expect(bobs.body.job.id).not.toBe(one.body.job.id);
    await finished('alice', one.body.job.id);
  });

  it('answers another principal’s job exactly like an unknown one (404), and changes nothing', async () => {
    const { body } = await as('alice', 'POST', '/api/queries', { sql: ROWS });
    const id = body.job.id;
    await finished('alice', id);
    const unknown = 'q_00000000000000000000000000000000';
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/results'],
      ['POST', '/cancel'],
      ['DELETE', ''],
    ] as const) {
      const foreign = await as('bob', method, `/api/queries/${id}${suffix}`);
      const missing = await as('bob', method, `/api/queries/${unknown}${suffix}`);
      expect(foreign.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(foreign.body.error.code).toBe('query_job_not_found');
      expect(foreign.body.error.message.replace(id, 'ID')).toBe(
        missing.body.error.message.replace(unknown, 'ID'),
      );
    }
    expect((await as('alice', 'GET', `/api/queries/${id}`)).body.state).toBe('SUCCEEDED');
  });
});

describe('refusals', () => {
  it('409 for results of an unfinished job, cancels it, then 409 for cancelling it again', async () => {
    const { body } = await as('alice', 'POST', '/api/queries', { sql: LONG });
    const id = body.job.id;
    await inState('alice', id, 'RUNNING');
    const early = await as('alice', 'GET', `/api/queries/${id}/results`);
    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'query_job_not_finished', details: { state: 'RUNNING' } });
    const notYet = await as('alice', 'DELETE', `/api/queries/${id}`);
    expect(notYet.status).toBe(409);
    expect(notYet.body.error.message).toBe(`query job ${id} is RUNNING: cancel it before deleting it`);
    const canceled = await as('alice', 'POST', `/api/queries/${id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ state: 'CANCELED', error: { code: 'canceled' } });
    const again = await as('alice', 'POST', `/api/queries/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'query_job_finished',
      message: `query job ${id} is already CANCELED`,
    });
    expect((await as('alice', 'GET', `/api/queries/${id}`)).body.state).toBe('CANCELED');
    // The canceled run leaves no result file behind once it has stopped.
    const file = path.join(c.root, 'results', `${id}.parquet`);
    await waitFor('the canceled run to stop', async () => !existsSync(file));
  });

  it('400 for a tampered cursor, a cursor of another job, and max_rows out of range', async () => {
    const a = (await as('alice', 'POST', '/api/queries', { sql: ROWS })).body.job.id;
    const b = (await as('alice', 'POST', '/api/queries', { sql: ROWS })).body.job.id;
    await finished('alice', a);
    await finished('alice', b);
    const page = await as('alice', 'GET', `/api/queries/${a}/results?max_rows=10`);
    const cursor: string = page.body.next_cursor;
    expect(cursor).toEqual(expect.any(String));
    const [offset, signature] = cursor.split('.');
    const forged = `${Buffer.from('20').toString('base64url')}.${signature}`;
    expect(forged).not.toBe(`${offset}.${signature}`);
    const tampered = await as('alice', 'GET', `/api/queries/${a}/results?cursor=${forged}`);
    expect(tampered.status).toBe(400);
    expect(tampered.body.error).toEqual({
      code: 'invalid_cursor',
      message: 'the cursor was not issued for this query job (changed, or from another job)',
    });
    const moved = await as('alice', 'GET', `/api/queries/${b}/results?cursor=${cursor}`);
    expect(moved.status).toBe(400);
    expect(moved.body.error.code).toBe('invalid_cursor');
    const garbage = await as('alice', 'GET', `/api/queries/${a}/results?cursor=%00%01`);
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.code).toBe('invalid_cursor');
    for (const bad of ['0', '-1', '10001', '1.5']) {
      const answer = await as('alice', 'GET', `/api/queries/${a}/results?max_rows=${bad}`);
      expect(answer.status, bad).toBe(400);
    }
    const next = await as('alice', 'GET', `/api/queries/${a}/results?cursor=${cursor}&max_rows=5`);
    expect(next.body.rows).toEqual((await interactive('alice', ROWS)).rows.slice(10, 15));
  });

  it('deletes a finished job and its result file', async () => {
    const id = (await as('alice', 'POST', '/api/queries', { sql: ROWS })).body.job.id;
    await finished('alice', id);
    const file = path.join(c.root, 'results', `${id}.parquet`);
    expect(existsSync(file)).toBe(true);
    const deleted = await as('alice', 'DELETE', `/api/queries/${id}`);
    expect(deleted).toEqual({ status: 200, body: { ok: true } });
    expect(existsSync(file)).toBe(false);
    expect((await as('alice', 'GET', `/api/queries/${id}`)).status).toBe(404);
  });

  it('audits every state change of a job', async () => {
    const id = (await as('alice', 'POST', '/api/queries', { sql: 'SELECT 7 AS seven' })).body.job.id;
    await finished('alice', id);
    const audit = await c.api('GET', '/api/audit?kind=query&principal=alice&limit=200');
    const mine = audit.body.entries.filter((e: any) => e.detail.job === id || e.detail.async_job === id);
    expect(mine.map((e: any) => e.action).sort()).toEqual(
      ['query', 'query_job.running', 'query_job.submitted', 'query_job.succeeded'].sort(),
    );
  });
});

describe('the CLI', () => {
  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli([...args, '--catchment', c.url, '--key', keys.alice!], {
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
      readStdin: async () => '',
    });
    return { code, out: out.join(''), err: err.join('') };
  }

  it('submits with --async, shows, lists, prints results, refuses a cancel of a finished job, deletes', async () => {
    const submitted = await cli(['query', '--async', 'SELECT 42 AS answer']);
    expect(submitted.code, submitted.err).toBe(0);
    const id = submitted.out.trim();
    expect(id).toMatch(/^q_[0-9a-f]{32}$/);
    await finished('alice', id);
    const shown = await cli(['queries', 'show', id]);
    expect(shown.out).toContain(`${id}  SUCCEEDED`);
    expect(shown.out).toContain('rows:      1');
    expect((await cli(['queries', 'list'])).out).toContain(id);
    const results = await cli(['queries', 'results', id, '--csv']);
    expect(results).toMatchObject({ code: 0, out: 'answer\n42\n' });
    const json = await cli(['queries', 'results', id, '--json']);
    expect(JSON.parse(json.out)).toEqual({
      columns: [{ name: 'answer', type: 'INTEGER' }],
      rows: [[42]],
      row_count: 1,
      truncated: false,
    });
    const cancel = await cli(['queries', 'cancel', id]);
    expect(cancel.code).not.toBe(0);
    expect(cancel.err).toContain(`query job ${id} is already SUCCEEDED`);
    expect(await cli(['queries', 'delete', id])).toMatchObject({ code: 0, out: `deleted ${id}\n` });
    expect((await cli(['queries', 'show', id])).err).toContain(`no query job ${id}`);
  });

  it('queries show|results --wait wait for the job first; a malformed --wait changes nothing', async () => {
    const id = (await cli(['query', '--async', 'SELECT 7 AS seven'])).out.trim();
    const results = await cli(['queries', 'results', id, '--wait', '60s', '--csv']);
    expect(results).toMatchObject({ code: 0, out: 'seven\n7\n' });
    expect((await cli(['queries', 'show', id, '--wait', '1s'])).out).toContain(`${id}  SUCCEEDED`);
    const bad = await cli(['queries', 'show', id, '--wait', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--wait: invalid duration "soon"');
    expect((await cli(['queries', 'show', id])).out).toContain(`${id}  SUCCEEDED`);
  });

  it('query --wait pages through the whole result, equal to the interactive answer', async () => {
    const waited = await cli(['query', '--wait', '60s', '--json', ROWS]);
    expect(waited.code, waited.err).toBe(0);
    const direct = await interactive('alice', ROWS);
    expect(JSON.parse(waited.out)).toEqual({ ...direct, truncated: false });
  });
});

describe('restart and retention', () => {
  it('after a restart runs a RUNNING job again and a QUEUED one once; the TTL then deletes the files', async () => {
    const root = path.join(work, 'restart-root');
    const clock = new ManualClock(Date.now());
    const env = { ...ON, QUERY_RESULT_TTL: '60s', QUERY_CLEANUP_INTERVAL: '10s' };
    let first: TestCatchment | undefined = await TestCatchment.start(root, {
      env,
      clock,
      queries: { timeoutMs: 60_000 },
      asyncQueries: { maxQueuedPerPrincipal: 2 },
    });
    const admin = (x: TestCatchment, method: string, route: string, body?: unknown) =>
      x.api(method, route, body);
    // One principal runs one job at a time of two slots: the second waits QUEUED behind the first.
    const long = (await admin(first, 'POST', '/api/queries', { sql: LONG })).body.job.id;
    const small = (await admin(first, 'POST', '/api/queries', { sql: 'SELECT 42 AS answer' })).body.job.id;
    await waitFor(
      'the long job to run',
      async () => (await admin(first!, 'GET', `/api/queries/${long}`)).body.state === 'RUNNING',
    );
    expect((await admin(first, 'GET', `/api/queries/${small}`)).body.state).toBe('QUEUED');
    // A third unfinished job is one past this principal's limit: refused, nothing recorded.
    const third = await admin(first, 'POST', '/api/queries', { sql: 'SELECT 3 AS three' });
    expect(third.status).toBe(429);
    expect(third.body.error).toEqual({
      code: 'too_many_queued_queries',
      message: 'you already have 2 async queries queued or running; wait for some to finish',
    });
    expect((await admin(first, 'GET', '/api/queries')).body.jobs).toHaveLength(2);
    await first.close();
    first = undefined;

    const second = await TestCatchment.start(root, { env, clock, queries: { timeoutMs: 60_000 } });
    try {
      // Requeued first (it was submitted first), the long job runs again: attempt 2.
      const rerun = await waitFor('the long job to run again', async () => {
        const { body } = await admin(second, 'GET', `/api/queries/${long}`);
        return body.state === 'RUNNING' ? body : undefined;
      });
      expect(rerun.attempts).toBe(2);
      expect((await admin(second, 'GET', `/api/queries/${small}`)).body.state).toBe('QUEUED');
      expect((await admin(second, 'POST', `/api/queries/${long}/cancel`)).body.state).toBe('CANCELED');
      const done = await waitFor('the queued job to finish', async () => {
        const { body } = await admin(second, 'GET', `/api/queries/${small}`);
        return body.state === 'SUCCEEDED' ? body : undefined;
      });
      expect(done.attempts).toBe(1);
      const page = await admin(second, 'GET', `/api/queries/${small}/results`);
      expect(page.body.rows).toEqual([[42]]);
      const audit = await admin(second, 'GET', '/api/audit?kind=query&limit=200');
      const succeeded = audit.body.entries.filter(
        (e: any) => e.action === 'query_job.succeeded' && e.detail.job === small,
      );
      expect(succeeded).toHaveLength(1);
      const requeued = audit.body.entries.filter(
        (e: any) => e.action === 'query_job.requeued' && e.detail.job === long,
      );
      expect(requeued).toHaveLength(1);

      // Retention: one cleanup tick past the TTL expires both, and their files go.
      const file = path.join(root, 'results', `${small}.parquet`);
      expect(existsSync(file)).toBe(true);
      clock.advance(59_000);
      expect((await admin(second, 'GET', `/api/queries/${small}`)).body.state).toBe('SUCCEEDED');
      // A page being read when the TTL passes: the job expires, the file stays until the read is done.
      const reading = second.running.asyncQueries.results(
        { principal: BOOTSTRAP_ADMIN, keyId: null },
        small,
        {},
      );
      clock.advance(11_000);
      expect(existsSync(file)).toBe(true);
      expect((await reading).rows).toEqual([[42]]);
      expect((await admin(second, 'GET', `/api/queries/${small}`)).body.state).toBe('EXPIRED');
      expect((await admin(second, 'GET', `/api/queries/${long}`)).body.state).toBe('EXPIRED');
      expect(existsSync(file)).toBe(false);
      const gone = await admin(second, 'GET', `/api/queries/${small}/results`);
      expect(gone.status).toBe(410);
      expect(gone.body.error).toEqual({
        code: 'query_job_expired',
        message: `the results of query job ${small} expired and were deleted`,
      });
    } finally {
      await second.close();
    }
  }, 120_000);

  it('with cursor mode off answers the whole result in one page up to the cap, and refuses a larger one', async () => {
    const single = await TestCatchment.start(path.join(work, 'single-page-root'), {
      env: { FEATURE_ASYNC_QUEUE: 'on' },
    });
    try {
      const submit = async (sql: string) => {
        const { body } = await single.api('POST', '/api/queries', { sql, wait: 30 });
        expect(body.job.state, JSON.stringify(body)).toBe('SUCCEEDED');
        return body.job.id as string;
      };
      const fits = await submit('SELECT range AS n FROM range(10000)');
      const page = await single.api('GET', `/api/queries/${fits}/results?max_rows=10`);
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ row_count: 10000, total_rows: 10000, next_cursor: null });
      expect(page.body.rows[9999]).toEqual([9999]);
      const cursor = await single.api('GET', `/api/queries/${fits}/results?cursor=abc`);
      expect(cursor.status).toBe(400);
      expect(cursor.body.error).toEqual({
        code: 'invalid_cursor',
        message: 'cursors are off on this Catchment (FEATURE_CURSOR_MODE): results come in one page',
      });
      const big = await submit('SELECT range AS n FROM range(10001)');
      const refused = await single.api('GET', `/api/queries/${big}/results`);
      expect(refused.status).toBe(422);
      expect(refused.body.error).toEqual({
        code: 'result_too_large',
        message:
          'the result has 10001 rows, more than the 10000 one page may hold; turn FEATURE_CURSOR_MODE on to page through it',
      });
    } finally {
      await single.close();
    }
  });

  it('answers 404 async_disabled while FEATURE_ASYNC_QUEUE is off', async () => {
    const off = await TestCatchment.start(path.join(work, 'off-root'), { env: {} });
    try {
      const answer = await off.api('POST', '/api/queries', { sql: 'SELECT 1' });
      expect(answer.status).toBe(404);
      expect(answer.body.error).toEqual({
        code: 'async_disabled',
        message: 'async queries are disabled on this Catchment (set FEATURE_ASYNC_QUEUE=on)',
      });
      expect(existsSync(path.join(off.root, 'results'))).toBe(false);
    } finally {
      await off.close();
    }
  });
});
