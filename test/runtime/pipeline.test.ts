/**
 * The pipeline runtime end to end with real parts: a Catchment on 127.0.0.1, SQLite, Duck processes
 * spawned from the built CLI, DuckDB registries and published Parquet snapshots.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;

beforeAll(async () => {
  work = await tempDir('pipeline');
  c = await TestCatchment.start(path.join(work, 'root'));
});

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

const numbers = (version = '1.0.0', n = 100) => ({
  name: 'numbers',
  version,
  files: { 'ripples/numbers.sql': `SELECT n::BIGINT AS n, n % 3 AS bucket FROM range(${n}) t(n)` },
});

describe('deploy, trigger, query', () => {
  it('runs a two-Pond pipeline on a Pulse and serves typed results over published snapshots', async () => {
    expect((await c.deploy(await writePond(work, numbers()))).status).toBe(201);
    const stats = await writePond(work, {
      name: 'stats',
      sources: { numbers: '1.0.0' },
      files: {
        'ripples/by_bucket.sql':
          'SELECT bucket, count(*) AS c, sum(n) AS total FROM numbers.numbers GROUP BY bucket',
        'ripples/summary.sql':
          "SELECT sum(c) AS rows, max(total) AS biggest, NULL::VARCHAR AS nothing, TIMESTAMP '2024-01-02 03:04:05' AS at, 9007199254740993::BIGINT AS big FROM by_bucket",
      },
    });
    const dep = await c.deploy(stats);
    expect(dep.status).toBe(201);
    expect(dep.body).toMatchObject({ name: 'stats', major: 1, ripples: ['by_bucket', 'summary'] });

    const pulse = await c.api('POST', '/api/ponds/stats/pulse', {});
    expect(pulse.status).toBe(200);
    await waitFor('stats to complete', async () => (await c.status('stats')).runs.completed === 1);
    expect((await c.status('numbers')).runs).toEqual({ started: 1, completed: 1 });

    const q = await c.api('POST', '/api/query', { sql: 'SELECT * FROM stats.summary' });
    expect(q.status).toBe(200);
    expect(q.body.columns.map((col: { name: string }) => col.name)).toEqual([
      'rows',
      'biggest',
      'nothing',
      'at',
      'big',
    ]);
    expect(q.body.row_count).toBe(1);
    const [row] = q.body.rows;
    expect(row[0]).toBe(100);
    expect(row[2]).toBeNull();
    expect(row[3]).toMatch(/^2024-01-02T03:04:05(\.0+)?Z$/);
    expect(String(row[4])).toBe('9007199254740993'); // exact, beyond 2^53

    // Both majors' naming works: pond.table and "pond@1".table
    const q2 = await c.api('POST', '/api/query', { sql: 'SELECT count(*) AS c FROM "stats@1".by_bucket' });
    expect(q2.body.rows).toEqual([[3]]);

    const tables = await c.api('GET', '/api/ponds/stats/tables');
    expect(tables.body.tables.map((t: { name: string }) => t.name)).toEqual(['by_bucket', 'summary']);
    expect(tables.body.freshness).not.toBeNull();

    const runs = await c.runs('stats');
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('succeeded');
    expect(runs[0].attempts.map((a: { ripple: string; status: string }) => [a.ripple, a.status])).toEqual([
      ['by_bucket', 'succeeded'],
      ['summary', 'succeeded'],
    ]);
    // the storage layout of the spec
    const root = c.root;
    for (const rel of [
      'duck.db',
      'admin.key',
      'ponds/stats/1.0.0/pond.toml',
      'ponds/stats/m1/registry.duckdb',
      'ponds/stats/m1/pond.db',
    ]) {
      expect(existsSync(path.join(root, rel)), rel).toBe(true);
    }
    expect(statSync(path.join(root, 'admin.key')).mode & 0o777).toBe(0o600);
  });

  it('answers health, metrics and the OpenAPI description', async () => {
    const health = await c.api('GET', '/health', undefined, null);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.engine.ponds).toBeGreaterThanOrEqual(2);
    const metrics = await fetch(`${c.url}/metrics`, {
      headers: { authorization: `Bearer ${c.running.adminKey}` },
    });
    const text = await metrics.text();
    expect(text).toContain('duckstring_runs_completed_total{pond="stats@1"} 1');
    expect(text).toContain('duckstring_freshness_lag_seconds{pond="numbers@1"}');
    expect(text).toMatch(/duckstring_run_duration_seconds_count\{pond="stats@1"\} 1/);
    expect((await c.api('GET', '/openapi.json', undefined, null)).status).toBe(401); // only /health is open
    const api = await c.api('GET', '/openapi.json');
    expect(api.body.openapi).toBe('3.1.0');
    expect(Object.keys(api.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/query',
        '/api/deploy',
        '/api/ponds/{name}/tide',
        '/api/duck/{name}/{major}/jobs',
      ]),
    );
  });

  it('a redeploy is used by the next run (new code, same Duck line)', async () => {
    expect((await c.deploy(await writePond(work, numbers('1.1.0', 7)))).status).toBe(201);
    await c.api('POST', '/api/ponds/stats/pulse', {});
    await waitFor('stats run 2', async () => (await c.status('stats')).runs.completed === 2);
    const q = await c.api('POST', '/api/query', { sql: 'SELECT rows FROM stats.summary' });
    expect(q.body.rows).toEqual([[7]]);
    expect((await c.status('numbers')).version).toBe('1.1.0');
  });

  it('an Inlet whose re-run writes the same rows reports no change, and its reader passes', async () => {
    const before = await c.status('numbers');
    await c.api('POST', '/api/ponds/stats/pulse', {});
    await waitFor('stats run 3', async () => (await c.status('stats')).runs.completed === 3);
    const numbers = await c.status('numbers');
    expect(numbers.runs.completed).toBe(before.runs.completed + 1);
    // The run happened (freshness moved) but its output did not change.
    expect(Date.parse(numbers.freshness.end)).toBeGreaterThan(Date.parse(before.freshness.end));
    expect(numbers.freshness.changed).toBe(before.freshness.changed);
    const [numbersRun] = await c.runs('numbers');
    expect(numbersRun.status).toBe('succeeded');
    expect(numbersRun.attempts.map((a: { status: string }) => a.status)).toEqual(['succeeded']);
    const [pass] = await c.runs('stats');
    expect(pass).toMatchObject({ status: 'passed', triggerReason: 'no source changed', attempts: [] });
    const stats = await c.status('stats');
    expect(stats.freshness.end).toBe(numbers.freshness.end);
    const q = await c.api('POST', '/api/query', { sql: 'SELECT rows FROM stats.summary' });
    expect(q.body.rows).toEqual([[7]]);
  });
});

describe('bad input leaves state unchanged', () => {
  it('rejects requests without a valid key', async () => {
    expect((await c.api('GET', '/api/ponds', undefined, null)).status).toBe(401);
    const bad = await c.api('GET', '/api/ponds', undefined, 'nope');
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthenticated');
  });

  it('rejects an archive that is not a Pond, an unknown source, a conflicting version and a cycle', async () => {
    const before = (await c.api('GET', '/api/ponds')).body;
    const junk = await fetch(`${c.url}/api/deploy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.running.adminKey}`, 'content-type': 'application/octet-stream' },
      body: Buffer.from('definitely not a pond'),
    });
    expect(junk.status).toBe(400);
    expect(((await junk.json()) as { error: { code: string } }).error.code).toBe('invalid_archive');

    const orphan = await c.deploy(
      await writePond(work, {
        name: 'orphan',
        sources: { ghost: '1.0.0' },
        files: { 'ripples/x.sql': 'SELECT 1 AS x' },
      }),
    );
    expect(orphan.status).toBe(422);
    expect(orphan.body.error.message).toMatch(/unknown source Pond "ghost"/);

    const conflict = await c.deploy(await writePond(work, numbers('1.1.0', 8)));
    expect(conflict.status).toBe(409);

    // numbers → stats exists; numbers 1.2.0 reading stats would close a cycle
    const cyclic = await c.deploy(
      await writePond(work, {
        name: 'numbers',
        version: '1.2.0',
        sources: { stats: '1.0.0' },
        files: { 'ripples/numbers.sql': 'SELECT 1 AS n' },
      }),
    );
    expect(cyclic.status).toBe(422);
    expect(cyclic.body.error.message).toMatch(/cycle/);

    const syntax = await c.deploy(
      await writePond(work, {
        name: 'broken',
        files: { 'ripples/b.ts': 'export const b = ripple({ name: "b", run( {' },
      }),
    );
    expect(syntax.status).toBe(422);
    expect(syntax.body.error.message).toMatch(/b\.ts/);

    expect((await c.api('GET', '/api/ponds')).body).toEqual(before);
    expect((await c.status('numbers')).version).toBe('1.1.0');
  });

  it('answers unknown Ponds, bad verbs and bad SQL precisely', async () => {
    const unknown = await c.api('POST', '/api/ponds/ghost/tap', {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch(/unknown pond "ghost"/);
    const tide = await c.api('POST', '/api/ponds/stats/tide', {});
    expect(tide.status).toBe(400);
    expect(tide.body.error.message).toMatch(/bound/);
    const badBound = await c.api('POST', '/api/ponds/stats/tide', { bound: '10x' });
    expect(badBound.status).toBe(400);
    expect(badBound.body.error.message).toMatch(/body\.bound/);
    // A bound that rounds to 0 ms is bad input (400), not an unknown Pond (it used to be 404).
    const tinyBound = await c.api('POST', '/api/ponds/stats/tide', { bound_seconds: 0.0001 });
    expect(tinyBound.status).toBe(400);
    expect(tinyBound.body.error).toMatchObject({
      code: 'invalid_request',
      message:
        'body.bound: a tide bound must be at least 1 ms (e.g. {"bound": "10m"} or {"bound_seconds": 600})',
    });
    const sql = await c.api('POST', '/api/query', { sql: 'SELEC 1' });
    expect(sql.status).toBe(400);
    expect(sql.body.error.code).toBe('invalid_sql');
    const empty = await c.api('POST', '/api/query', {});
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/body\.sql/);
    const table = await c.api('POST', '/api/query', { sql: 'SELECT * FROM stats.nope' });
    expect(table.status).toBe(404);
    expect(table.body.error).toMatchObject({
      code: 'unknown_table',
      message: 'table stats.nope does not exist or you may not read it',
    });
  });
});

describe('Duck identity', () => {
  it('a Duck token alone tells a Duck its line (whoami); other tokens are refused', async () => {
    const { token } = c.running.catchment.store.registerDuck({
      pond: 'numbers',
      major: 1,
      pid: null,
      atMs: Date.now(),
    });
    const who = await c.api('GET', '/api/duck/whoami', undefined, token);
    expect(who.status).toBe(200);
    expect(who.body).toEqual({ name: 'numbers', major: 1, line: 'numbers@1' });
    expect((await c.api('GET', '/api/duck/whoami', undefined, 'forged')).status).toBe(401);
    expect((await c.api('GET', '/api/duck/numbers/1/config', undefined, c.running.adminKey)).status).toBe(
      401,
    );
    const cfg = await c.api('GET', '/api/duck/numbers/1/config', undefined, token);
    expect(cfg.status).toBe(200);
    expect(cfg.body).toMatchObject({
      line: 'numbers@1',
      version: '1.1.0',
      ripples: [{ name: 'numbers', parents: [] }],
    });
  });
});

describe('CLI against a live Catchment', () => {
  it('status, query --csv and an unreachable Catchment', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
    const conn = ['--catchment', c.url, '--key', c.running.adminKey];
    expect(await runCli(['status', ...conn], io)).toBe(0);
    expect(out.join('')).toMatch(/stats\s+1\s+1\.0\.0\s+idle/);
    out.length = 0;
    expect(
      await runCli(['query', 'SELECT bucket, c FROM stats.by_bucket ORDER BY bucket', '--csv', ...conn], io),
    ).toBe(0);
    expect(out.join('')).toBe('bucket,c\n0,3\n1,2\n2,2\n');
    out.length = 0;
    expect(
      await runCli(
        [
          'trigger',
          'window',
          'add',
          'numbers',
          '--name',
          'nightly',
          '--every',
          '1d',
          '--duration',
          '2h',
          '--on',
          'mon,fri',
          ...conn,
        ],
        io,
      ),
    ).toBe(0);
    expect(await runCli(['trigger', 'window', 'list', 'numbers', ...conn], io)).toBe(0);
    expect(out.join('')).toMatch(/nightly\s+\S+\s+1d\s+2h\s+MON,FRI/);
    expect(await runCli(['trigger', 'window', 'remove', 'numbers', 'nightly', ...conn], io)).toBe(0);
    expect(
      await runCli(['trigger', 'window', 'add', 'stats', '--name', 'x', '--every', '1h', ...conn], io),
    ).toBe(2);
    expect(err.join('')).toMatch(/windows apply to Inlets only/);
    out.length = 0;
    expect(await runCli(['budgets', 'stats', '--source', '3', ...conn], io)).toBe(0);
    expect(out.join('')).toContain('stats: immediate_retries=0 source_retries=3');
    expect(await runCli(['budgets', 'stats', '--immediate', '-1', ...conn], io)).toBe(2);
    out.length = 0;
    expect(await runCli(['trigger', 'tide', 'stats', '90m', ...conn], io)).toBe(0);
    expect(out.join('')).toMatch(/tide stats@1: now/);
    expect(await runCli(['trigger', 'remove', 'stats', ...conn], io)).toBe(0);
    expect(await runCli(['control', 'sleep', 'stats', '--upstream', ...conn], io)).toBe(0);
    expect(await runCli(['trigger', 'tap', 'ghost', ...conn], io)).toBe(2);
    expect(err.join('')).toMatch(/404 not_found: unknown pond "ghost"/);
    expect(await runCli(['duck'], io)).toBe(2); // a Duck started without its settings says which
    expect(err.join('')).toMatch(/duck: missing environment DUCKSTRING_CATCHMENT_URL, DUCKSTRING_DUCK_TOKEN/);
    expect(await runCli(['status', '--catchment', 'http://127.0.0.1:9', '--key', 'k'], io)).toBe(1);
    expect(err.join('')).toMatch(/cannot reach the Catchment at http:\/\/127\.0\.0\.1:9/);
  });
});
