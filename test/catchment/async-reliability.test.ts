/**
 * Async queries under crashes, with real Catchment processes (`bin/duckstring.js catchment start`)
 * (issue 11, "Reliability this issue must prove with real processes"):
 *
 * 1. 500 jobs of 5 principals, the Catchment killed with SIGKILL while some are finished and some
 *    are not, restarted on the same root: each job reaches a final state exactly once (one terminal
 *    audit entry per job), each result equals the interactive answer, nothing is lost or duplicated.
 * 2. QUERY_RESULT_TTL: the job turns EXPIRED, its results answer 410 and its file goes, both while
 *    the Catchment runs and when the TTL passed while it was down.
 * 3. Readers paging a 1 M-row result while the cleanup timer runs and the TTL passes: every page is
 *    complete and consistent, or a clean 410.
 *
 * Synchronised on observed states (job states, duck.db after the kill), never on fixed sleeps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  call,
  deployTo,
  isAlive,
  removeDir,
  stopCatchmentProcess,
  tempDir,
  waitFor,
  writePond,
} from '../support/runtime.js';

const BIN = fileURLToPath(new URL('../../bin/duckstring.js', import.meta.url));
const ON = { FEATURE_ASYNC_QUEUE: 'on', FEATURE_CURSOR_MODE: 'on' };
const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELED'];
const TERMINAL_ACTIONS: Record<string, string> = {
  'query_job.succeeded': 'SUCCEEDED',
  'query_job.failed': 'FAILED',
  'query_job.canceled': 'CANCELED',
};

interface Proc {
  url: string;
  key: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** `duckstring catchment start` on `root` in its own process, with the async settings in `env`. */
async function start(root: string, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, 'catchment', 'start', '--root', root, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  child.stderr!.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await waitFor(
    'the Catchment to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`the Catchment exited: ${out}`);
      return /listening on (http:\/\/\S+)/.exec(out)?.[1];
    },
    30_000,
  );
  const key = (await readFile(path.join(root, 'admin.key'), 'utf8')).trim();
  return { url, key, child, output: () => out, exited };
}

async function kill9(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

async function scratch(prefix: string): Promise<{ work: string; root: string }> {
  const work = await tempDir(prefix);
  cleanups.push(() => removeDir(work));
  return { work, root: path.join(work, 'root') };
}

/** Stops the process (if still running) and every Duck it recorded, at the end of the test. */
function stopAtEnd(get: () => Proc, root: string): void {
  cleanups.push(() => stopCatchmentProcess(get(), root));
}

/** Runs `fn` over `items`, at most `width` at once. */
async function pool<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Every page of a finished job's result, checking each page's shape on the way. */
async function allPages(who: { url: string; key: string }, id: string, maxRows: number) {
  const rows: unknown[][] = [];
  let columns: unknown;
  let cursor: string | null = null;
  do {
    const query: string = `max_rows=${maxRows}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await call(who, 'GET', `/api/queries/${id}/results?${query}`);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    expect(page.body.rows).toHaveLength(page.body.row_count);
    columns = page.body.columns;
    rows.push(...page.body.rows);
    cursor = page.body.next_cursor;
    if (cursor) expect(page.body.row_count).toBe(maxRows);
  } while (cursor);
  return { columns, rows };
}

function auditOf(p: Proc) {
  return call(p, 'GET', '/api/audit?kind=query&limit=10000').then((a) => {
    expect(a.status).toBe(200);
    expect(a.body.entries.length).toBeLessThan(10_000); // the whole log, not its newest slice
    return a.body.entries as Array<{ action: string; principal: string; detail: Record<string, unknown> }>;
  });
}

describe('500 jobs of 5 principals and a kill -9 in the middle', () => {
  const PRINCIPALS = ['p1', 'p2', 'p3', 'p4', 'p5'];
  const PER_PRINCIPAL = 100;
  /** Each principal's last submissions race the kill. */
  const LATE_FROM = 80;
  const POLICY = `principals:\n${PRINCIPALS.map((p) => `  - name: ${p}\n`).join('')}grants:\n${PRINCIPALS.map(
    (p) => `  - to: ${p}\n    privileges: [SELECT]\n    on: nums\n`,
  ).join('')}`;
  // A few small distinct queries (some paged over several pages), and one that governance refuses.
  const QUERIES = [
    'SELECT k, count(*) AS c, sum(n) AS total, min(s) AS first FROM nums.t GROUP BY k ORDER BY k',
    'SELECT n, s, n * 1.5 AS x FROM nums.t WHERE n % 97 = 5 ORDER BY n',
    'SELECT max(n) AS top, avg(n) AS mean, list(n ORDER BY n)[1:4] AS firsts FROM nums.t',
    'SELECT k, n FROM nums.t WHERE k = 3 ORDER BY n DESC LIMIT 45',
    'SELECT a.k, count(*) AS pairs FROM nums.t a JOIN nums.t b ON a.k = b.k AND a.n < b.n GROUP BY ALL ORDER BY 1',
    'SELECT n FROM nums.missing',
  ];

  it('every job reaches one final state exactly once, results equal the interactive answers, none lost or duplicated', async () => {
    const { work, root } = await scratch('async-kill9');
    let cp = await start(root, ON);
    stopAtEnd(() => cp, root);
    const ducks = new Set<number>();
    cleanups.push(async () => {
      for (const pid of ducks) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });

    const pond = await writePond(work, {
      name: 'nums',
      files: { 'ripples/t.sql': "SELECT range AS n, range % 7 AS k, 'row ' || range AS s FROM range(3000)" },
    });
    expect(await deployTo(cp, pond)).toBe(201);
    await call(cp, 'POST', '/api/ponds/nums/pulse', {});
    const published = await waitFor('nums to publish', async () => {
      const line = (await call(cp, 'GET', '/api/ponds/nums')).body.lines[0];
      return line.runs.completed >= 1 && line;
    });
    if (published.duck?.pid) ducks.add(published.duck.pid);
    expect((await call(cp, 'POST', '/api/policy/apply', { file: POLICY })).status).toBe(200);
    const keys: Record<string, string> = {};
    for (const p of PRINCIPALS) {
      const k = await call(cp, 'POST', '/api/keys', { principal: p });
      expect(k.status).toBe(201);
      keys[p] = k.body.key;
    }
    const as = (p: string) => ({ url: cp.url, key: keys[p]! });

    // Each principal's share of the mix, every job with its own request_id.
    const plan = PRINCIPALS.flatMap((p) =>
      Array.from({ length: PER_PRINCIPAL }, (_, i) => ({
        principal: p,
        request_id: `${p}-${i}`,
        sql: QUERIES[(i + PRINCIPALS.indexOf(p)) % QUERIES.length]!,
      })),
    );
    const t0 = Date.now();
    const ids: Array<string | undefined> = new Array(plan.length);
    const submit = async (i: number) => {
      const job = plan[i]!;
      return call(as(job.principal), 'POST', '/api/queries', { sql: job.sql, request_id: job.request_id });
    };
    const indexes = plan.map((_, i) => i);
    const early = indexes.filter((i) => i % PER_PRINCIPAL < LATE_FROM);
    const late = indexes.filter((i) => i % PER_PRINCIPAL >= LATE_FROM);
    await pool(early, 16, async (i) => {
      const answer = await submit(i);
      expect(answer.status, JSON.stringify(answer.body)).toBe(202);
      ids[i] = answer.body.job.id;
    });
    const submittedIn = Date.now() - t0;

    // Some jobs finished, others not: the last submissions go out and the Catchment dies among
    // them, so some are acknowledged, some cut off in flight, some never reach it.
    await waitFor(
      'some jobs to finish',
      async () => {
        const lists = await Promise.all(
          PRINCIPALS.map((p) => call(as(p), 'GET', `/api/queries?limit=${PER_PRINCIPAL}`)),
        );
        const states = lists.flatMap((l) => l.body.jobs.map((j: any) => j.state as string));
        return states.filter((s) => FINAL.includes(s)).length >= 40;
      },
      60_000,
    );
    let unanswered = 0;
    const lateRun = pool(late, 4, async (i) => {
      let answer: Awaited<ReturnType<typeof submit>>;
      try {
        answer = await submit(i);
      } catch {
        unanswered++; // the kill cut this request off: the client cannot know whether it landed
        return;
      }
      expect(answer.status, JSON.stringify(answer.body)).toBe(202);
      ids[i] = answer.body.job.id;
    });
    await waitFor(
      'some late submissions to be acknowledged',
      async () => late.filter((i) => ids[i]).length >= 10,
    );
    await kill9(cp);
    await lateRun;
    const acknowledged = indexes.filter((i) => ids[i] !== undefined);

    // What the crash left, read from duck.db: every acknowledged job, some final and some not, and
    // never two jobs for one request_id.
    const db = new Database(path.join(root, 'duck.db'), { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT id, state, principal, request_id FROM query_jobs').all() as Array<{
      id: string;
      state: string;
      principal: string;
      request_id: string;
    }>;
    db.close();
    const atKill = new Map(rows.map((r) => [r.id, r.state]));
    for (const i of acknowledged) expect(atKill.has(ids[i]!)).toBe(true);
    expect(new Set(rows.map((r) => `${r.principal}/${r.request_id}`)).size).toBe(rows.length);
    const finishedAtKill = [...atKill.values()].filter((s) => FINAL.includes(s)).length;
    const runningAtKill = [...atKill].filter(([, s]) => s === 'RUNNING').map(([id]) => id);
    expect(finishedAtKill).toBeGreaterThan(0);
    expect(finishedAtKill, 'jobs left unfinished by the kill').toBeLessThan(rows.length);

    cp = await start(root, ON);
    // The client retries every submission with its request_id: an acknowledged one gets its job
    // back, one that landed unanswered gets the job it created, the rest are created now.
    const retried = await pool(indexes, 16, async (i) => {
      const answer = await submit(i);
      expect([200, 202], JSON.stringify(answer.body)).toContain(answer.status);
      if (ids[i] !== undefined) expect(answer.body.job.id).toBe(ids[i]);
      return answer.body.job.id as string;
    });
    const landedUnanswered = retried.filter((id, i) => ids[i] === undefined && atKill.has(id)).length;
    const jobIds: string[] = retried;
    expect(new Set(jobIds).size).toBe(500);
    console.log(
      `500 jobs: ${early.length} submitted in ${submittedIn} ms; at the kill (${((Date.now() - t0) / 1000).toFixed(1)} s in) ` +
        `${acknowledged.length} acknowledged, ${unanswered} unanswered (${landedUnanswered} of them had landed), ` +
        `${finishedAtKill} final, ${runningAtKill.length} RUNNING`,
    );

    const byId = new Map<string, any>();
    await waitFor(
      'every job to finish after the restart',
      async () => {
        const lists = await Promise.all(
          PRINCIPALS.map((p) => call(as(p), 'GET', `/api/queries?limit=${PER_PRINCIPAL + 1}`)),
        );
        for (const l of lists) for (const j of l.body.jobs) byId.set(j.id, j);
        return [...byId.values()].every((j) => FINAL.includes(j.state));
      },
      90_000,
    );
    console.log(`all 500 final ${((Date.now() - t0) / 1000).toFixed(1)} s after the first submission`);
    // Nothing lost, nothing duplicated: exactly one job per request_id, each its principal's own.
    expect([...byId.keys()].sort()).toEqual([...jobIds].sort());
    plan.forEach((job, i) => {
      expect(byId.get(jobIds[i]!)).toMatchObject({ sql: job.sql, request_id: job.request_id });
    });
    // None was canceled, and only the refused query failed.
    for (const [i, job] of plan.entries()) {
      const state = byId.get(jobIds[i]!).state;
      expect(state, `${job.request_id}: ${job.sql}`).toBe(
        job.sql.includes('missing') ? 'FAILED' : 'SUCCEEDED',
      );
    }

    // Exactly one terminal audit entry per job, naming its final state; one submission each.
    const audit = await auditOf(cp);
    const terminal = new Map<string, string[]>();
    const submitted = new Map<string, number>();
    for (const e of audit) {
      const job = e.detail.job as string | undefined;
      if (!job) continue;
      if (e.action in TERMINAL_ACTIONS) terminal.set(job, [...(terminal.get(job) ?? []), e.action]);
      if (e.action === 'query_job.submitted') submitted.set(job, (submitted.get(job) ?? 0) + 1);
    }
    expect([...terminal.keys()].sort()).toEqual([...jobIds].sort());
    for (const id of jobIds) {
      const actions = terminal.get(id)!;
      expect(actions, id).toHaveLength(1);
      expect(TERMINAL_ACTIONS[actions[0]!]).toBe(byId.get(id).state);
      expect(submitted.get(id), id).toBe(1);
    }
    // A job the kill interrupted ran again: it was requeued (audited) and took a second attempt.
    for (const id of runningAtKill) {
      expect(byId.get(id).attempts, id).toBe(2);
      expect(audit.filter((e) => e.action === 'query_job.requeued' && e.detail.job === id)).toHaveLength(1);
    }

    // Each result equals the same query run interactively by the same principal.
    const interactive = new Map<string, any>();
    for (const p of PRINCIPALS) {
      for (const sql of QUERIES) {
        const answer = await call(as(p), 'POST', '/api/query', { sql });
        interactive.set(`${p}\n${sql}`, answer);
      }
    }
    await pool(plan, 8, async (job, i) => {
      const id = jobIds[i]!;
      const direct = interactive.get(`${job.principal}\n${job.sql}`);
      if (byId.get(id).state === 'FAILED') {
        expect(direct.status).toBeGreaterThanOrEqual(400);
        expect(byId.get(id).error.code).toBe(direct.body.error.code);
        return;
      }
      expect(direct.status).toBe(200);
      const paged = await allPages(as(job.principal), id, 20);
      expect(paged.columns).toEqual(direct.body.columns);
      expect(paged.rows).toEqual(direct.body.rows);
    });

    // Submitting again returns the same finished job, not a new one (with its first page: 200).
    const again = await pool(plan, 16, async (job, i) => {
      const answer = await call(as(job.principal), 'POST', '/api/queries', {
        sql: job.sql,
        request_id: job.request_id,
      });
      expect(answer.status).toBe(byId.get(jobIds[i]!).state === 'SUCCEEDED' ? 200 : 202);
      expect(answer.body.job.state).toBe(byId.get(jobIds[i]!).state);
      return answer.body.job.id as string;
    });
    expect(again).toEqual(jobIds);
    for (const p of PRINCIPALS) {
      const list = await call(as(p), 'GET', `/api/queries?limit=${PER_PRINCIPAL + 1}`);
      expect(list.body.jobs).toHaveLength(PER_PRINCIPAL);
    }
  }, 180_000);
});

describe('QUERY_RESULT_TTL', () => {
  const SQL = 'SELECT range AS n, range % 3 AS k FROM range(1000)';

  async function succeeded(p: Proc, id: string): Promise<any> {
    return waitFor(`job ${id} to succeed`, async () => {
      const { body } = await call(p, 'GET', `/api/queries/${id}`);
      if (body.state === 'FAILED') throw new Error(JSON.stringify(body.error));
      return body.state === 'SUCCEEDED' && body;
    });
  }

  async function expectExpired(p: Proc, id: string, file: string): Promise<void> {
    const gone = await call(p, 'GET', `/api/queries/${id}/results`);
    expect(gone.status).toBe(410);
    expect(gone.body.error).toEqual({
      code: 'query_job_expired',
      message: `the results of query job ${id} expired and were deleted`,
    });
    expect(existsSync(file)).toBe(false);
    const expired = (await auditOf(p)).filter((e) => e.action === 'query_job.expired' && e.detail.job === id);
    expect(expired).toHaveLength(1);
  }

  it('expires a finished job after the TTL: EXPIRED, 410 on results, its file deleted', async () => {
    const { root } = await scratch('async-ttl');
    const cp = await start(root, { ...ON, QUERY_RESULT_TTL: '3s', QUERY_CLEANUP_INTERVAL: '200ms' });
    stopAtEnd(() => cp, root);
    const id = (await call(cp, 'POST', '/api/queries', { sql: SQL })).body.job.id;
    const done = await succeeded(cp, id);
    expect(Date.parse(done.expires_at) - Date.parse(done.finished_at)).toBe(3000);
    const file = path.join(root, 'results', `${id}.parquet`);
    // Before the TTL the result is there (or, on a very slow machine, already expired).
    const early = await call(cp, 'GET', `/api/queries/${id}/results?max_rows=10000`);
    if (early.status === 200) expect(early.body.rows).toHaveLength(1000);
    else expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(done.expires_at));

    const expired = await waitFor(
      'the job to expire',
      async () => {
        const { body } = await call(cp, 'GET', `/api/queries/${id}`);
        return body.state === 'EXPIRED' && body;
      },
      30_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(done.expires_at));
    expect(expired.expires_at).toBe(done.expires_at);
    await expectExpired(cp, id, file);
  });

  it('expires, at the next start, a job whose TTL passed while the Catchment was down', async () => {
    const { root } = await scratch('async-ttl-restart');
    let cp = await start(root, { ...ON, QUERY_RESULT_TTL: '2s', QUERY_CLEANUP_INTERVAL: '1h' });
    stopAtEnd(() => cp, root);
    const id = (await call(cp, 'POST', '/api/queries', { sql: SQL })).body.job.id;
    const done = await succeeded(cp, id);
    const file = path.join(root, 'results', `${id}.parquet`);
    expect(existsSync(file)).toBe(true);
    await kill9(cp);
    // The TTL passes while no Catchment runs; the file stays until one starts.
    await waitFor('the TTL to pass', async () => Date.now() > Date.parse(done.expires_at), 30_000);
    expect(existsSync(file)).toBe(true);

    // The cleanup timer's first tick is an hour away: only the start itself can have expired it.
    cp = await start(root, { ...ON, QUERY_RESULT_TTL: '2s', QUERY_CLEANUP_INTERVAL: '1h' });
    expect((await call(cp, 'GET', `/api/queries/${id}`)).body.state).toBe('EXPIRED');
    await expectExpired(cp, id, file);
  });
});

describe('paging a 1 M-row result while the TTL passes', () => {
  const TOTAL = 1_000_000;
  const PAGE = 10_000;
  const SQL = `SELECT range AS n, range * 2 AS twice, 'r' || range AS label FROM range(${TOTAL})`;

  it('every page arrives complete and consistent, or the request answers 410; never a 500 or a short page', async () => {
    const { root } = await scratch('async-torn');
    const cp = await start(root, { ...ON, QUERY_RESULT_TTL: '4s', QUERY_CLEANUP_INTERVAL: '100ms' });
    stopAtEnd(() => cp, root);
    const submitted = await call(cp, 'POST', '/api/queries', { sql: SQL, wait: 30 });
    expect(submitted.status, JSON.stringify(submitted.body).slice(0, 500)).toBe(200);
    const job = submitted.body.job;
    expect(job).toMatchObject({ state: 'SUCCEEDED', row_count: TOTAL });
    const file = path.join(root, 'results', `${job.id}.parquet`);
    expect(existsSync(file)).toBe(true);
    const columns = [
      { name: 'n', type: 'BIGINT' },
      { name: 'twice', type: 'BIGINT' },
      { name: 'label', type: 'VARCHAR' },
    ];

    /** Reads the result from the start, again and again, until the job answers 410. */
    async function reader(): Promise<{ pages: number; passes: number }> {
      let pages = 0;
      let passes = 0;
      for (;;) {
        let offset = 0;
        let cursor: string | null = null;
        do {
          const query: string = `max_rows=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const page = await call(cp, 'GET', `/api/queries/${job.id}/results?${query}`);
          if (page.status === 410) {
            expect(page.body.error.code).toBe('query_job_expired');
            return { pages, passes };
          }
          expect(page.status, JSON.stringify(page.body).slice(0, 500)).toBe(200);
          const { rows } = page.body;
          const expected = Math.min(PAGE, TOTAL - offset);
          expect(page.body).toMatchObject({ row_count: expected, total_rows: TOTAL, columns });
          expect(rows).toHaveLength(expected);
          // Consistent: exactly rows offset … offset + expected − 1, each intact.
          for (let i = 0; i < rows.length; i++) {
            const n = offset + i;
            const row = rows[i];
            if (row[0] !== n || row[1] !== 2 * n || row[2] !== `r${n}`) {
              expect(row, `row ${n} of the page at ${offset}`).toEqual([n, 2 * n, `r${n}`]);
            }
          }
          offset += expected;
          cursor = page.body.next_cursor;
          expect(cursor === null).toBe(offset === TOTAL);
          pages++;
        } while (cursor);
        passes++;
      }
    }

    const results = await Promise.all([reader(), reader(), reader()]);
    // Pages were read before the TTL passed, and every reader then met the expiry cleanly.
    expect(results.reduce((sum, r) => sum + r.pages, 0)).toBeGreaterThan(0);
    expect((await call(cp, 'GET', `/api/queries/${job.id}`)).body.state).toBe('EXPIRED');
    // The last reader done, the deletion the readers held back has happened.
    expect(existsSync(file)).toBe(false);
    console.log(
      `1 M-row paging until the TTL: ${results.map((r) => `${r.pages} pages/${r.passes} passes`).join(', ')}`,
    );
  }, 120_000);
});
