/**
 * Errors that help without leaking (issue 9, item 4), over real HTTP against a real Catchment:
 * - an administrator's failed query answers with DuckDB's message (no raw relation, path or excerpt
 *   of the rewritten SQL); an ordinary principal's keeps the generic message, since an error raised
 *   while rows flow may quote a value its row filter hides;
 * - a bind error names only what the caller can see: a column of a table it may not read answers
 *   like a table that does not exist;
 * - `GET /api/errors/:id` (and `duckstring audit --error-id`): administrators see any failure with
 *   its full text, its principal sees its own SQL and message only, anyone else gets what an unknown
 *   id gets;
 * - `duckstring history` prints a Ripple's error whole, wrapped and indented.
 *
 * Fixture: `sales@1` (daily: a row filter hides the US row from all but administrators; costs);
 * alice may SELECT sales.daily only; bob holds nothing.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { wrapIndented } from '../../src/cli/wrap.js';
import { QueryError } from '../../src/compute/query.js';
import { sanitizeExecutionError } from '../../src/governance/sanitize.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};

const POLICY = `
principals:
  - name: alice
  - name: bob
grants:
  - to: alice
    privileges: [SELECT]
    on: sales.daily
row_filters:
  - on: sales.daily
    where: "is_member('admins') OR region = 'EMEA'"
`;

/** Fails on every row: DuckDB's message quotes the value it could not convert. */
const LEAKY = 'SELECT CAST(customer_email || region AS INTEGER) AS n FROM sales.daily';
const LONG_ERROR = `${'this Ripple failed for a reason that takes many words to explain, '.repeat(4)}END`;

async function as(who: string, method: string, route: string, body?: unknown) {
  return c.api(method, route, body, keys[who] ?? null);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, out: out.join(''), err: err.join('') };
}

/** What no answer to a non-administrator may hold: the hidden row's values, internals. */
function assertNothingHidden(text: string): void {
  for (const secret of ['hidden_us', 'US', 'Conver', 'raw_', 'region =', work])
    expect(text).not.toContain(secret);
}

beforeAll(async () => {
  work = await tempDir('errorhelp');
  c = await TestCatchment.start(path.join(work, 'root'), { livenessMs: 60_000, watchdogMs: 60_000 });
  keys.admin = c.running.adminKey;
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/daily.sql': `SELECT * FROM (VALUES (1, 'EMEA', '42'), (2, 'US', 'hidden_us@b.example')) t(id, region, customer_email)`,
      'ripples/costs.sql': 'SELECT 1 AS id, 5 AS secret_cost',
    },
  });
  const broken = await writePond(work, {
    name: 'broken',
    files: { 'ripples/oops.sql': `SELECT error('${LONG_ERROR}') AS x` },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  expect((await c.deploy(broken)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await c.api('POST', '/api/ponds/broken/pulse', {});
  await waitFor('sales to publish and broken to fail', async () => {
    const [s, b] = [await c.status('sales'), await c.runs('broken')];
    return s.runs.completed >= 1 && b.some((r) => r.status === 'failed');
  });
  const applied = await c.api('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
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

describe('the message a failed query answers with', () => {
  it('an ordinary principal: generic, quoting nothing of the row its filter hides', async () => {
    const q = await as('alice', 'POST', '/api/query', { sql: LEAKY });
    expect(q.status).toBe(400);
    expect(q.body.error.code).toBe('execution_failed');
    expect(q.body.error.message).toBe(`the query failed while executing (error id ${q.body.error.error_id})`);
    assertNothingHidden(JSON.stringify(q.body));
  });

  it('an administrator: DuckDB’s message, without raw relations, paths or the rewritten SQL', async () => {
    const q = await as('admin', 'POST', '/api/query', { sql: LEAKY });
    expect(q.status).toBe(400);
    expect(q.body.error.code).toBe('execution_failed');
    expect(q.body.error.message).toMatch(/^Conversion Error: Could not convert string '[^']+' to INT32/);
    expect(q.body.error.message).toMatch(new RegExp(`\\(error id ${q.body.error.error_id}\\)$`));
    expect(q.body.error.message).not.toMatch(/raw_[0-9a-f]{32}|LINE \d+:|\.parquet|<snapshot>/);
    expect(q.body.error.message).not.toContain(work);
  });

  it('a bind error names only what the caller may read: a column of an invisible table is an unknown table', async () => {
    const own = await as('alice', 'POST', '/api/query', { sql: 'SELECT nme FROM sales.daily' });
    expect(own.status).toBe(400);
    expect(own.body.error.code).toBe('invalid_sql');
    expect(own.body.error.message).toMatch(/^Binder Error: Referenced column "nme" not found/);
    expect(own.body.error.message).not.toContain('secret_cost');
    const hidden = await as('alice', 'POST', '/api/query', { sql: 'SELECT secret_cost FROM sales.costs' });
    const missing = await as('alice', 'POST', '/api/query', { sql: 'SELECT secret_cost FROM sales.nope' });
    expect(hidden.status).toBe(404);
    expect(JSON.stringify(hidden.body).replaceAll('sales.costs', 'sales.nope')).toBe(
      JSON.stringify(missing.body),
    );
    // The administrator, who may read costs, gets the typo explained.
    const admin = await as('admin', 'POST', '/api/query', { sql: 'SELECT nme FROM sales.costs' });
    expect(admin.body.error.message).toMatch(
      /^Binder Error: Referenced column "nme" not found[\s\S]*secret_cost/,
    );
  });
});

describe('an administrator’s message names no internals', () => {
  const raw = `raw_${'ab12'.repeat(8)}`;
  const other = `raw_${'cd34'.repeat(8)}`;
  const error = new QueryError(
    'execution_failed',
    `IO Error: could not read "/srv/duck/links/q1/0.parquet" behind "${other}"."t1" and ${raw}.t0 = '/x'\nLINE 1: SELECT CASE WHEN secret`,
  );

  it('relations it knows become tables; others, paths and the excerpt of the rewritten SQL go', () => {
    const safe = sanitizeExecutionError(error, new Map([[`${raw}.t0`, 'sales@1.daily']]), { admin: true });
    expect(safe.code).toBe('execution_failed');
    expect(safe.publicMessage).toBe(
      `IO Error: could not read "<path>" behind <relation> and sales@1.daily = '/x' (error id ${safe.errorId})`,
    );
    expect(safe.detail).toContain('/srv/duck/links');
  });

  it('anyone else: the generic message, as before', () => {
    const safe = sanitizeExecutionError(error, new Map(), { admin: false });
    expect(safe.publicMessage).toBe(`the query failed while executing (error id ${safe.errorId})`);
    expect(sanitizeExecutionError(error).publicMessage).toMatch(/^the query failed while executing/);
  });
});

describe('looking an error up', () => {
  it('administrators see any failure with its full text', async () => {
    const q = await as('alice', 'POST', '/api/query', { sql: LEAKY });
    const id = q.body.error.error_id as string;
    const found = await as('admin', 'GET', `/api/errors/${id}`);
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ error_id: id, principal: 'alice', action: 'query', sql: LEAKY });
    expect(found.body.message).toBe(q.body.error.message);
    expect(found.body.error).toMatch(/Conversion Error: Could not convert string '42EMEA'/);
    expect(found.body.detail.rewritten_sql).toContain('raw_');
  });

  it('the principal whose query failed sees its SQL and what it was told, never the full text', async () => {
    const q = await as('alice', 'POST', '/api/query', { sql: LEAKY });
    const id = q.body.error.error_id as string;
    const found = await as('alice', 'GET', `/api/errors/${id}`);
    expect(found.status).toBe(200);
    expect(found.body).toEqual({
      error_id: id,
      at: expect.any(String),
      principal: 'alice',
      action: 'query',
      sql: LEAKY,
      message: q.body.error.message,
    });
    assertNothingHidden(JSON.stringify(found.body));
  });

  it('anyone else gets exactly what an unknown id gets', async () => {
    const alices = (await as('alice', 'POST', '/api/query', { sql: LEAKY })).body.error.error_id as string;
    const admins = (await as('admin', 'POST', '/api/query', { sql: LEAKY })).body.error.error_id as string;
    const unknown = '00000000-0000-4000-8000-000000000000';
    const none = await as('bob', 'GET', `/api/errors/${unknown}`);
    expect(none.status).toBe(404);
    expect(none.body).toEqual({ error: { code: 'not_found', message: `unknown error id "${unknown}"` } });
    for (const [who, id] of [
      ['bob', alices],
      ['alice', admins],
    ] as const) {
      const other = await as(who, 'GET', `/api/errors/${id}`);
      expect(other.status).toBe(404);
      expect(JSON.stringify(other.body).replaceAll(id, unknown)).toBe(JSON.stringify(none.body));
    }
    expect((await as('', 'GET', `/api/errors/${alices}`)).status).toBe(401);
  });

  it('duckstring audit --error-id ID prints it; the owner sees no full text, others the unknown answer', async () => {
    const id = (await as('alice', 'POST', '/api/query', { sql: LEAKY })).body.error.error_id as string;
    const conn = ['--catchment', c.url];
    const admin = await cli(['audit', '--error-id', id, ...conn, '--key', keys.admin!]);
    expect(admin.code, admin.err).toBe(0);
    expect(admin.out).toContain(`error ${id}`);
    expect(admin.out).toMatch(/principal: alice/);
    expect(admin.out).toMatch(/^error:\n {2}Conversion Error: Could not convert string '42EMEA'/m);
    const own = await cli(['audit', '--error-id', id, ...conn, '--key', keys.alice!]);
    expect(own.code, own.err).toBe(0);
    expect(own.out).toContain(
      `sql:\n  ${LEAKY}\nmessage:\n  the query failed while executing (error id ${id})`,
    );
    assertNothingHidden(own.out);
    const other = await cli(['audit', '--error-id', id, ...conn, '--key', keys.bob!]);
    expect(other.code).not.toBe(0);
    expect(other.err).toContain(`unknown error id "${id}"`);
  });
});

describe('history', () => {
  it('prints a Ripple’s error whole, wrapped to 100 columns under its row', async () => {
    const { code, out, err } = await cli(['history', 'broken', '--catchment', c.url, '--key', keys.admin!]);
    expect(code, err).toBe(0);
    const lines = out.trimEnd().split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
    const start = lines.findIndex((l) => l.startsWith('    error: '));
    expect(start).toBeGreaterThan(2);
    const block = [lines[start]!.slice(11)];
    for (const l of lines.slice(start + 1)) {
      if (!l.startsWith('           ')) break;
      block.push(l.slice(11));
    }
    expect(block.length).toBeGreaterThan(2);
    expect(block.join(' ')).toContain(LONG_ERROR);
  });

  it('wraps at word boundaries, keeps line breaks and splits a word longer than a line', () => {
    expect(wrapIndented('aaa bbb ccc\nddd', 30, '> ', '  ')).toEqual(['> aaa bbb ccc', '  ddd']);
    const words = wrapIndented(`${'word '.repeat(12)}end`, 24, '', '');
    expect(words.every((l) => l.length <= 24)).toBe(true);
    expect(words.join(' ')).toBe(`${'word '.repeat(12)}end`);
    const long = wrapIndented('x'.repeat(50), 22, '', '');
    expect(long).toEqual(['x'.repeat(22), 'x'.repeat(22), 'x'.repeat(6)]);
  });
});
