/**
 * `npm start` (`duckstring up`) as a user runs it: a real process, the bundled demo Ponds, Ctrl-C, and
 * a second start on the same root that resumes.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CatchmentStore } from '../../src/catchment/store/index.js';
import { isAlive, removeDir, tempDir, waitFor } from '../support/runtime.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/duckstring.js');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeDir(d);
});

function start(root: string, ...extra: string[]) {
  const child = spawn(
    process.execPath,
    [BIN, 'up', '--root', root, '--port', '0', '--rows', '20000', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += String(d);
  });
  child.stderr.on('data', (d) => {
    out += String(d);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

describe('duckstring up (npm start)', () => {
  it('deploys and runs the demo, serves queries, stops cleanly on Ctrl-C and resumes on the same root', async () => {
    const work = await tempDir('up');
    dirs.push(work);
    const root = path.join(work, '.duckstring');
    const first = start(root);
    await waitFor('the demo run', async () => first.output().includes('Press Ctrl-C to stop.'), 60_000);
    const out = first.output();
    expect(out).toMatch(/deployed transactions 1\.0\.0/);
    expect(out).toMatch(/\[6\/6\] reports\.monthly_summary done, \d+ rows written/);
    expect(out).toMatch(/transactions\.transaction\s+20000 rows/);
    expect(out).toContain('npx duckstring query');
    const url = /Catchment at (http:\/\/\S+)/.exec(out)![1]!;
    const key = readFileSync(path.join(root, 'admin.key'), 'utf8').trim();
    const res = await fetch(`${url}/api/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT sum(tx_count) AS n FROM reports.monthly_summary' }),
    });
    expect(((await res.json()) as { rows: unknown[][] }).rows).toEqual([[20000]]);
    expect(out).toMatch(/\d\d:\d\d:\d\d {2}✔ reports published in \d+\.\d s, 60 rows written\n/);

    // After startup the terminal keeps telling what runs: a force of reports (its Sources are fresh)
    // prints its start and its publication.
    const ready = first.output().length;
    const forced = await fetch(`${url}/api/ponds/reports/force`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(forced.status).toBe(200);
    const later = await waitFor(
      'a line for the forced run',
      async () =>
        /✔ reports published in \d+\.\d s, 60 rows written/.test(first.output().slice(ready)) &&
        first.output().slice(ready),
      60_000,
    );
    expect(later).toMatch(/▶ reports run started \(freshness /);

    const store = CatchmentStore.open(root);
    const pids = store
      .listDucks()
      .map((d) => d.pid)
      .filter((p): p is number => p !== null);
    store.close();
    expect(pids.length).toBe(4);
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
    expect(first.output()).toContain('Stopping the Catchment and its Ducks');
    for (const pid of pids) expect(isAlive(pid), `duck ${pid} still running`).toBe(false);

    const second = start(root);
    await waitFor('the second run', async () => second.output().includes('Press Ctrl-C to stop.'), 60_000);
    expect(second.output()).toMatch(/already deployed transactions 1\.0\.0/);
    expect(second.output()).not.toMatch(/Admin key/);
    second.child.kill('SIGINT');
    expect(await second.exit).toBe(0);
    // Two cold starts of a whole Catchment and four Ducks: generous for a loaded machine.
  }, 240_000);

  it('with --workers 2 routes queries to two local worker processes, and falls back when they die', async () => {
    const work = await tempDir('up-workers');
    dirs.push(work);
    const root = path.join(work, '.duckstring');
    const up = start(root, '--workers', '2');
    await waitFor('the demo run', async () => up.output().includes('Press Ctrl-C to stop.'), 60_000);
    const out = up.output();
    const workers = [...out.matchAll(/^ {2}(local-\d) +grpc:\/\/127\.0\.0\.1:\d+ {2}pid (\d+)$/gm)].map(
      (m) => ({
        name: m[1]!,
        pid: Number(m[2]),
      }),
    );
    expect(workers.map((w) => w.name)).toEqual(['local-1', 'local-2']);
    expect(out).toContain(
      `npx duckstring compute status           # where queries ran; kill ${workers[0]!.pid}`,
    );
    const url = /Catchment at (http:\/\/\S+)/.exec(out)![1]!;
    const key = readFileSync(path.join(root, 'admin.key'), 'utf8').trim();
    const query = async () => {
      const res = await fetch(`${url}/api/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: 'SELECT sum(tx_count) AS n FROM reports.monthly_summary' }),
      });
      return {
        status: res.status,
        on: res.headers.get('x-duckstring-executed-on'),
        rows: ((await res.json()) as { rows: unknown[][] }).rows,
      };
    };
    // The workers fetched the snapshots over HTTP (their own directories, no shared root).
    const remote = await query();
    expect(remote).toMatchObject({ status: 200, rows: [[20000]] });
    expect(remote.on).toMatch(/^remote:local-[12]$/);

    // Both workers die: the next query still answers, run by the Catchment, and says so.
    for (const w of workers) process.kill(w.pid, 'SIGKILL');
    await waitFor('the workers to die', async () => workers.every((w) => !isAlive(w.pid)), 30_000);
    const fallback = await query();
    expect(fallback).toMatchObject({ status: 200, rows: [[20000]] });
    expect(fallback.on).toMatch(/^fallback:local-[12]$/);

    up.child.kill('SIGINT');
    expect(await up.exit).toBe(0);
    expect(up.output()).toContain('Stopping the Catchment, its query workers and its Ducks');
  }, 240_000);
});
