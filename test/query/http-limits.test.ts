/**
 * Load limits through a real Catchment: SQL size (413) and nesting (400) refused before any work,
 * a principal past its queries in progress (429 + Retry-After), another principal's small query
 * and /health answering while one principal's long queries hold the slots, and one time limit
 * covering a query that waited for its slot (408).
 *
 * Synchronised on the executor's slot events, never on sleeps.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../../src/api/index.js';
import type { FairScheduler } from '../../src/shared/fair-scheduler.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

const TIMEOUT_MS = 10_000;
const PER_PRINCIPAL = 2;

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};

const POLICY = `
principals:
  - name: alice
  - name: bob
  - name: carol
grants:
  - to: alice
    privileges: [SELECT]
    on: sales
  - to: bob
    privileges: [SELECT]
    on: sales
  - to: carol
    privileges: [SELECT]
    on: sales
`;

/** Runs far longer than TIMEOUT_MS: 4 rows × 4 billion. */
const LONG = 'SELECT sum(r.range * d.amount) FROM sales.daily d, range(4000000000) r';
const SMALL = 'SELECT region, amount FROM sales.daily ORDER BY region';

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function query(who: string, sql: string): Promise<Answer> {
  const { status, headers, body } = await c.client.exchange(
    api.query.query,
    { body: { sql } },
    { key: keys[who] ?? null },
  );
  return { status, headers, body };
}

/** Resolves once `ready()` holds, re-checked on every change of the executor's slots. */
function slotsReach(slots: FairScheduler, ready: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (ready()) return resolve();
    const stop = slots.subscribe(() => {
      if (!ready()) return;
      stop();
      resolve();
    });
  });
}

beforeAll(async () => {
  work = await tempDir('query-limits');
  c = await TestCatchment.start(path.join(work, 'root'), {
    queries: { timeoutMs: TIMEOUT_MS, maxQueriesPerPrincipal: PER_PRINCIPAL },
  });
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/daily.sql':
        "SELECT * FROM (VALUES ('EMEA', 10), ('US', 20), ('APAC', 30), ('EMEA', 40)) t(region, amount)",
    },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await waitFor('sales to publish', async () => (await c.status('sales')).runs.completed >= 1);
  const applied = await c.api('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const name of ['alice', 'bob', 'carol']) {
    const k = await c.api('POST', '/api/keys', { principal: name });
    expect(k.status).toBe(201);
    keys[name] = k.body.key;
  }
  // Warm the governor workers so the timed scenario below does not include their start.
  expect((await query('bob', SMALL)).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('SQL size and nesting', () => {
  it('refuses SQL past 64 KiB with 413 sql_too_large, before governing, and audits only its size', async () => {
    const padding = 64 * 1024 - 'SELECT 1 -- '.length;
    expect((await query('alice', `SELECT 1 -- ${'x'.repeat(padding)}`)).status).toBe(200);
    const big = await query('alice', `SELECT 1 -- ${'x'.repeat(padding + 1)}`);
    expect(big.status).toBe(413);
    expect(big.body.error).toEqual({
      code: 'sql_too_large',
      message: 'the SQL text is 65537 bytes; queries are limited to 64 KiB (maxSqlBytes)',
    });
    // Past what the request body may carry, fastify refuses it before parsing JSON: same answer.
    const huge = await query('alice', `SELECT 1 -- ${'x'.repeat(1024 * 1024)}`);
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('sql_too_large');
    expect(huge.body.error.message).toContain('queries are limited to 64 KiB (maxSqlBytes)');
    const audit = await c.api('GET', '/api/audit?kind=query&principal=alice&limit=5');
    const refused = audit.body.entries.find((e: any) => e.detail.sql_bytes === 65537);
    expect(refused).toMatchObject({ decision: 'denied' });
    expect(refused.detail.sql).toBeUndefined();
    expect(refused.detail.rewritten_sql).toBeUndefined();
  });

  it('refuses nesting deeper than 64 with 400 sql_too_complex, naming the limit', async () => {
    const nested = (depth: number) => `SELECT ${'('.repeat(depth)}1${')'.repeat(depth)}`;
    expect((await query('alice', nested(64))).status).toBe(200);
    const deep = await query('alice', nested(65));
    expect(deep.status).toBe(400);
    expect(deep.body.error).toEqual({
      code: 'sql_too_complex',
      message:
        'the SQL nests brackets (subqueries, expressions, lists) more than 64 levels deep (maxNestingDepth); flatten it, for example with CTEs',
    });
    // Brackets inside literals and comments do not count, whatever their number.
    const quoted = await query('alice', `SELECT '${'('.repeat(100)}' AS s -- ${')'.repeat(100)}`);
    expect(quoted.status).toBe(200);
  });
});

describe("one principal's load", () => {
  it('429 past the queries in progress; others and /health still answer; one deadline covers waiting', async () => {
    const slots = c.running.data.executor.slots;
    const settled: string[] = [];
    const long = (who: string, name: string) =>
      query(who, LONG).finally(() => {
        settled.push(name);
      });
    const alice1 = long('alice', 'alice1');
    const alice2 = long('alice', 'alice2');
    // alice runs one query at a time (one slot stays free for others); her second waits for it.
    await slotsReach(slots, () => {
      const a = slots.load().principals.alice;
      return a?.running === 1 && a.waiting === 1;
    });

    const third = await query('alice', SMALL);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.body.error).toEqual({
      code: 'too_many_queries',
      message:
        '"alice" already has 2 queries in progress, the most one principal may have at once (maxQueriesPerPrincipal); retry when one has finished',
    });

    // bob is not behind alice's backlog: the free slot is his.
    const bob = await query('bob', SMALL);
    expect(bob.status).toBe(200);
    expect(bob.body.rows.length).toBe(4);
    expect(settled).toEqual([]);

    // carol's long query takes the other slot: every slot is busy now.
    const carol = long('carol', 'carol');
    await slotsReach(slots, () => slots.load().running === 2 && slots.load().principals.carol?.running === 1);
    const health = await c.api('GET', '/health', undefined, null);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(slots.load().running).toBe(2);
    expect(settled).toEqual([]);

    // One deadline from acceptance: alice's second query never got a slot within it.
    const answers = await Promise.all([alice1, alice2, carol]);
    for (const answer of answers) {
      expect(answer.status).toBe(408);
      expect(answer.body.error.code).toBe('timeout');
      expect(answer.body.error.message).toMatch(
        new RegExp(`^query exceeded its time limit of ${TIMEOUT_MS} ms \\(while (executing|waiting)`),
      );
    }
    // Her two queries were sent together: whichever was governed first ran, the other waited.
    const stages = [answers[0]!, answers[1]!].map(
      (a) => /\(while ([a-z ]+)\)/.exec(a.body.error.message)?.[1],
    );
    expect(stages.sort()).toEqual(['executing', 'waiting for a query slot']);
    expect(answers[2]!.body.error.message).toContain('(while executing)');
    expect(slots.load()).toEqual({ running: 0, waiting: 0, principals: {} });
    // Her queries have ended, so alice may query again.
    expect((await query('alice', SMALL)).status).toBe(200);
  }, 60_000);
});
