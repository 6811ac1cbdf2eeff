/**
 * `ctx.log` end to end with real parts: a TS Ripple logs in a spawned Duck, the lines travel in the
 * Duck's events, the Catchment stores them per attempt, and `GET /api/ponds/:name/logs` and
 * `duckstring logs [--follow]` read them back.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { MAX_LOG_LINES } from '../../src/duck/attempt-log.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;

const chatty = `import { ripple } from 'duckstring/pond';
export const counts = ripple({
  name: 'counts',
  async run(ctx) {
    ctx.log.info('counting rows', { n: 3n, day: 'monday' });
    ctx.log.warn('one row looks odd');
    await ctx.writeTable('counts', 'SELECT 3 AS n');
  },
});
export const flood = ripple({
  name: 'flood',
  async run(ctx) {
    for (let i = 0; i < ${MAX_LOG_LINES + 200}; i++) ctx.log.info('line ' + i);
    await ctx.writeTable('flood', 'SELECT 1 AS n');
  },
});
`;

const failing = `import { ripple } from 'duckstring/pond';
export const broken = ripple({
  name: 'broken',
  run(ctx) {
    ctx.log.error('about to fail', { reason: 'no input' });
    throw new Error('no data for this day');
  },
});
`;

async function logs(name: string, query = '', key?: string | null) {
  return c.api('GET', `/api/ponds/${name}/logs${query}`, undefined, key);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--catchment', c.url, '--key', c.running.adminKey], {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
  });
  return { code, out: out.join(''), err: err.join('') };
}

beforeAll(async () => {
  work = await tempDir('logs');
  c = await TestCatchment.start(path.join(work, 'root'));
  expect(
    (await c.deploy(await writePond(work, { name: 'chatty', files: { 'ripples/chatty.ts': chatty } })))
      .status,
  ).toBe(201);
  expect(
    (await c.deploy(await writePond(work, { name: 'failing', files: { 'ripples/broken.ts': failing } })))
      .status,
  ).toBe(201);
  await c.api('POST', '/api/ponds/chatty/pulse', {});
  await c.api('POST', '/api/ponds/failing/pulse', {});
  await waitFor('chatty to complete', async () => (await c.status('chatty')).runs.completed === 1);
  await waitFor('failing to fail', async () => (await c.status('failing')).status === 'failed');
}, 120_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('ctx.log on the Catchment', () => {
  it('stores each attempt’s lines with level, fields and attempt, readable by ripple', async () => {
    const res = await logs('chatty', '?ripple=counts');
    expect(res.status).toBe(200);
    expect(res.body.lines.map((l: any) => [l.ripple, l.attempt, l.level, l.message, l.fields])).toEqual([
      ['counts', 1, 'info', 'counting rows', { n: '3', day: 'monday' }],
      ['counts', 1, 'warn', 'one row looks odd', null],
    ]);
    expect(res.body.next).toBe(res.body.lines[1].id);
    // Nothing newer than the cursor.
    const after = await logs('chatty', `?ripple=counts&since=${res.body.next}`);
    expect(after.body).toMatchObject({ lines: [], next: res.body.next });
  });

  it('keeps the lines a failing attempt logged before it threw', async () => {
    const res = await logs('failing');
    expect(res.body.lines.map((l: any) => [l.ripple, l.level, l.message, l.fields])).toEqual([
      ['broken', 'error', 'about to fail', { reason: 'no input' }],
    ]);
  });

  it('bounds an attempt’s lines and says how many were dropped', async () => {
    const seen: any[] = [];
    let since = 0;
    for (;;) {
      const page = await logs('chatty', `?ripple=flood&limit=1000&since=${since}`);
      seen.push(...page.body.lines);
      if (page.body.lines.length < 1000) break;
      since = page.body.next;
    }
    expect(seen).toHaveLength(MAX_LOG_LINES + 1);
    expect(seen[0].message).toBe('line 0');
    expect(seen[MAX_LOG_LINES - 1].message).toBe(`line ${MAX_LOG_LINES - 1}`);
    expect(seen[MAX_LOG_LINES].message).toMatch(/^… truncated: 200 more lines not kept/);
    // Without a cursor: the newest `limit` lines, oldest first.
    const tail = await logs('chatty', '?ripple=flood&limit=2');
    expect(tail.body.lines.map((l: any) => l.message)).toEqual([
      `line ${MAX_LOG_LINES - 1}`,
      seen[MAX_LOG_LINES].message,
    ]);
  });

  it('needs OPERATE on the line, like run history', async () => {
    const policy = await c.api('POST', '/api/policy/apply', {
      file: 'principals:\n  - name: reader\ngrants:\n  - to: reader\n    privileges: [SELECT]\n    on: chatty\n',
    });
    expect(policy.status, JSON.stringify(policy.body)).toBe(200);
    const key = await c.api('POST', '/api/keys', { principal: 'reader' });
    expect(key.status).toBe(201);
    expect((await logs('chatty', '', key.body.key)).status).toBe(403);
    expect((await c.api('GET', '/api/ponds/chatty/runs', undefined, key.body.key)).status).toBe(403);
    expect((await logs('chatty', '', null)).status).toBe(401);
  });
});

describe('a running attempt', () => {
  it('sends its lines while it runs, and each line once', async () => {
    // The Ripple logs, then holds until the test drops a file into the deployed Pond's folder.
    const held = `import { existsSync } from 'node:fs';
import { ripple } from 'duckstring/pond';
export const held = ripple({
  name: 'held',
  async run(ctx) {
    ctx.log.info('waiting for go');
    const until = Date.now() + 60_000;
    while (!existsSync('go') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    ctx.log.info('going');
    await ctx.writeTable('held', 'SELECT 1 AS n');
  },
});
`;
    expect(
      (await c.deploy(await writePond(work, { name: 'live', files: { 'ripples/held.ts': held } }))).status,
    ).toBe(201);
    await c.api('POST', '/api/ponds/live/pulse', {});
    await waitFor('the first line while the Ripple runs', async () =>
      (await logs('live')).body.lines.some((l: any) => l.message === 'waiting for go'),
    );
    const [running] = await c.runs('live');
    expect(running.attempts.map((a: any) => a.status)).toEqual(['running']);
    await writeFile(path.join(c.root, 'ponds', 'live', '1.0.0', 'go'), '');
    await waitFor('live to complete', async () => (await c.status('live')).runs.completed === 1);
    expect((await logs('live')).body.lines.map((l: any) => l.message)).toEqual(['waiting for go', 'going']);
  });
});

describe('a failed Ripple’s stack on the Catchment', () => {
  it('names the Pond’s own file and line, relative to the Pond, and nothing of the root', async () => {
    const [run] = await c.runs('failing');
    const [attempt] = run.attempts;
    expect(attempt.error).toMatch(/no data for this day/);
    // broken.ts line 6 is the throw (source-mapped from the deploy-time bundle).
    expect(attempt.stack).toMatch(/^Error: no data for this day\n\s+at .*\bripples\/broken\.ts:6:\d+/);
    expect(attempt.stack).not.toContain(work);
    expect(attempt.stack).not.toMatch(/\(\/|at \/|file:|node:/);
  });
});

describe('duckstring logs', () => {
  it('prints the stored lines of one Ripple', async () => {
    const r = await cli(['logs', 'chatty', '--ripple', 'counts']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ info {2}counts#1 counting rows n=3 day=monday$/,
    );
    expect(lines[1]).toMatch(/ warn {2}counts#1 one row looks odd$/);
  });

  it('--follow prints lines of later runs as they arrive and exits 0 on Ctrl-C', async () => {
    const bin = path.resolve(import.meta.dirname, '../../bin/duckstring.js');
    const child = spawn(
      process.execPath,
      [
        bin,
        'logs',
        'chatty',
        '--ripple',
        'counts',
        '--follow',
        '--catchment',
        c.url,
        '--key',
        c.running.adminKey,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      out += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the stored lines', async () => out.split('counting rows').length === 2);
    await c.api('POST', '/api/ponds/chatty/pulse', {});
    await waitFor('the next run’s lines', async () => out.split('counting rows').length === 3, 60_000);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out.split('one row looks odd').length).toBe(3);
  });
});
