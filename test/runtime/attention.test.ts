/**
 * A line that ignores demand says so when demand is placed, and `status` says why: real HTTP and the
 * CLI against an in-process Catchment whose Inlet's Ripple fails.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
let conn: string[];

beforeAll(async () => {
  work = await tempDir('attention');
  c = await TestCatchment.start(path.join(work, 'root'));
  conn = ['--catchment', c.url, '--key', c.running.adminKey];
});

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

async function cli(args: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, ...conn], {
    stdout: (s: string) => out.push(s),
    stderr: (s: string) => err.push(s),
  });
  expect(err.join('')).toBe('');
  expect(code).toBe(0);
  return out.join('');
}

/** As `iso` in the CLI prints an instant. */
const shown = (instant: string) => instant.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

describe('failures explain the way out', () => {
  it('a failed Inlet and its blocked Sink answer demand with state, since, reason and command', async () => {
    const inlet = await writePond(work, {
      name: 'orders',
      files: { 'ripples/orders.sql': "SELECT error('bad order 17\nsecond line') AS x" },
    });
    const sink = await writePond(work, {
      name: 'sales',
      sources: { orders: '1.0.0' },
      files: { 'ripples/sales.sql': 'SELECT count(*) AS n FROM orders.orders' },
    });
    expect((await c.deploy(inlet)).status).toBe(201);
    expect((await c.deploy(sink)).status).toBe(201);
    expect((await c.status('orders')).attention).toBeNull();

    await c.api('POST', '/api/ponds/orders/pulse', {});
    const failed = await waitFor('orders to fail', async () => {
      const s = await c.status('orders');
      return s.status === 'failed' && s;
    });
    const [run] = await c.runs('orders');
    const f = new Date(run.f).toISOString();
    const error = run.attempts.at(-1).error as string;
    expect(error).toContain('bad order 17');
    const firstLine = error.split('\n')[0];
    expect(failed.attention).toEqual({
      state: 'failed',
      since: new Date(run.finishedAt).toISOString(),
      reason: `the run at F ${f} failed in Ripple orders: ${firstLine}`,
      way_out: 'duckstring control clear orders',
    });

    const failedLine = `orders@1 is failed since ${shown(failed.attention.since)}: the run at F ${f} failed in Ripple orders: ${firstLine}. It ignores demand until cleared: duckstring control clear orders\n`;
    expect(await cli(['trigger', 'pulse', 'orders'])).toBe(`pulse orders@1: now failed\n${failedLine}`);
    expect(await cli(['trigger', 'tap', 'orders'])).toBe(`tap orders@1: now failed\n${failedLine}`);

    const blockedLine = `sales@1 is blocked since ${shown(failed.attention.since)}: its Source orders@1 is failed: the run at F ${f} failed in Ripple orders (its error is shown to holders of OPERATE on orders@1). It ignores demand until cleared: duckstring control clear orders\n`;
    expect(await cli(['trigger', 'pulse', 'sales'])).toBe(`pulse sales@1: now blocked\n${blockedLine}`);
    expect(await cli(['trigger', 'wave', 'sales'])).toBe(`wave sales@1: now blocked\n${blockedLine}`);
    expect(await cli(['trigger', 'remove', 'sales'])).toBe(
      `removed the standing trigger of sales@1 (now blocked)\n${blockedLine}`,
    );

    const status = await cli(['status']);
    expect(status).toContain(failedLine);
    expect(status).toContain(blockedLine);

    // A run error may quote data: a caller who may trigger but not operate the line gets the state,
    // the reason without the error's text, and the way out.
    const policy =
      'principals:\n  - name: bob\ngrants:\n  - to: bob\n    privileges: [TRIGGER]\n    on: orders\n';
    expect((await c.api('POST', '/api/policy/apply', { file: policy })).status).toBe(200);
    const bob = (await c.api('POST', '/api/keys', { principal: 'bob' })).body.key as string;
    const asBob = await c.api('POST', '/api/ponds/orders/pulse', {}, bob);
    expect(asBob.status).toBe(200);
    expect(asBob.body.status.attention).toEqual({
      ...failed.attention,
      reason: `the run at F ${f} failed in Ripple orders (its error is shown to holders of OPERATE on orders@1)`,
    });
    expect(JSON.stringify(asBob.body)).not.toContain('bad order');

    // The way out works: cleared, the Inlet takes demand again and the Sink is no longer blocked.
    expect(await cli(['control', 'clear', 'orders'])).toBe('clear orders@1: now idle\n');
    expect((await c.status('sales')).attention).toBeNull();
  });

  it('an Inlet outside its windows says it sleeps until the next one opens', async () => {
    const inlet = await writePond(work, {
      name: 'nightly',
      files: { 'ripples/nightly.sql': 'SELECT 1 AS x' },
    });
    expect((await c.deploy(inlet)).status).toBe(201);
    await cli([
      'trigger',
      'window',
      'add',
      'nightly',
      '--name',
      'later',
      '--every',
      '1d',
      '--start',
      '2099-01-01T00:00:00Z',
    ]);
    expect(await cli(['trigger', 'pulse', 'nightly'])).toBe(
      'pulse nightly@1: now queued\nnightly@1 is sleeping: an Inlet outside its availability windows: the demand waits until window later opens at 2099-01-01T00:00:00.000Z. It holds demand until then; to run outside the windows: duckstring trigger window remove nightly later\n',
    );
    // Removing the window is the way out: the held demand runs.
    await cli(['trigger', 'window', 'remove', 'nightly', 'later']);
    await waitFor('nightly to run', async () => (await c.status('nightly')).runs.completed === 1);
    expect((await c.status('nightly')).attention).toBeNull();
  });

  it('a killed line names the kill and the command that lifts it', async () => {
    expect(await cli(['control', 'kill', 'sales'])).toBe(
      'kill sales@1: now killed\nsales@1 is killed: killed by an operator. It ignores demand until cleared: duckstring control clear sales\n',
    );
    expect(await cli(['trigger', 'tap', 'sales'])).toBe(
      'tap sales@1: now killed\nsales@1 is killed: killed by an operator. It ignores demand until cleared: duckstring control clear sales\n',
    );
    expect(await cli(['control', 'clear', 'sales'])).toBe('clear sales@1: now idle\n');
  });
});
