/**
 * Governance wired into a real Catchment: API keys, who may manage what over HTTP, governed queries
 * over real published snapshots (filters, masks, sanitized errors, audit), privileges on the
 * existing endpoints, tap reads as pull demand, and the CLI.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { removeDir, sleepyRipple, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};

const POLICY = `
groups:
  - name: analysts
  - name: emea
    members: [analysts]
  - name: support
principals:
  - name: alice
    groups: [analysts]
  - name: bob
  - name: mgr
  - name: dashboard
    kind: tap
grants:
  - to: analysts
    privileges: [SELECT]
    on: sales
  - to: mgr
    privileges: [MANAGE, TRIGGER]
    on: sales
  - to: bob
    privileges: [TRIGGER]
    on: sales
  - to: dashboard
    privileges: [SELECT]
    on: sales.daily
row_filters:
  - on: sales.daily
    where: "is_member('admins') OR region = 'EMEA'"
column_masks:
  - on: sales.daily
    column: customer_email
    as: "CASE WHEN is_member('support') THEN customer_email ELSE '***' END"
`;

async function as(who: string, method: string, route: string, body?: unknown) {
  return c.api(method, route, body, keys[who] ?? null);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, out: out.join(''), err: err.join('') };
}

beforeAll(async () => {
  work = await tempDir('governance');
  // Generous liveness: a loaded machine must not fail runs this file does not test.
  c = await TestCatchment.start(path.join(work, 'root'), { livenessMs: 60_000, watchdogMs: 60_000 });
  keys.admin = c.running.adminKey;
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/daily.sql': `SELECT * FROM (VALUES (1, 'EMEA', 'ann@a.example', 10), (2, 'US', 'hidden_us@b.example', 20),
        (3, 'EMEA', 'cid@c.example', 30), (4, 'APAC', 'hidden_apac@d.example', 40)) t(id, region, customer_email, amount)`,
    },
  });
  const hr = await writePond(work, {
    name: 'hr',
    files: { 'ripples/salaries.sql': "SELECT 'erin' AS employee, 120 AS salary" },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  expect((await c.deploy(hr)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await c.api('POST', '/api/ponds/hr/pulse', {});
  await waitFor('sales and hr to publish', async () => {
    const [s, h] = [await c.status('sales'), await c.status('hr')];
    return s.runs.completed >= 1 && h.runs.completed >= 1;
  });
  const applied = await c.api('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const name of ['alice', 'bob', 'mgr', 'dashboard']) {
    const k = await c.api('POST', '/api/keys', { principal: name });
    expect(k.status).toBe(201);
    keys[name] = k.body.key;
  }
}, 60_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('authentication', () => {
  it('every endpoint but /health needs a valid key; keys are 256-bit, shown once, stored hashed', async () => {
    expect((await c.api('GET', '/health', undefined, null)).status).toBe(200);
    for (const [method, route] of [
      ['GET', '/api/ponds'],
      ['POST', '/api/query'],
      ['GET', '/api/audit'],
      ['POST', '/api/keys'],
      ['POST', '/api/policy/apply'],
      ['GET', '/metrics'],
    ] as const) {
      const none = await c.api(method, route, method === 'POST' ? { sql: 'SELECT 1' } : undefined, null);
      expect(none.status, `${method} ${route}`).toBe(401);
      const forged = await c.api(method, route, undefined, `dsk_0123456789abcdef_${'0'.repeat(64)}`);
      expect(forged.status, `${method} ${route}`).toBe(401);
    }
    expect(keys.alice).toMatch(/^dsk_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const viaHeader = await fetch(`${c.url}/api/whoami`, { headers: { 'x-api-key': keys.alice! } });
    expect(await viaHeader.json()).toMatchObject({
      principal: 'alice',
      admin: false,
      groups: ['analysts', 'emea'],
    });
    const stored = c.running.catchment.store.db
      .prepare('SELECT key_hash FROM gov_api_keys')
      .all()
      .map((r) => (r as { key_hash: string }).key_hash);
    expect(stored.some((h) => keys.alice!.includes(h))).toBe(false);
    expect((await as('admin', 'GET', '/api/whoami')).body).toMatchObject({ principal: 'admin', admin: true });
  });

  it('a revoked, expired or orphaned key stops working at once', async () => {
    const made = await as('admin', 'POST', '/api/keys', { principal: 'bob' });
    expect((await c.api('GET', '/api/whoami', undefined, made.body.key)).status).toBe(200);
    expect((await as('admin', 'DELETE', `/api/keys/${made.body.id}`)).status).toBe(200);
    expect((await c.api('GET', '/api/whoami', undefined, made.body.key)).status).toBe(401);

    const past = await as('admin', 'POST', '/api/keys', {
      principal: 'bob',
      expires_at: '2020-01-01T00:00:00Z',
    });
    expect(past.status).toBe(422);
    // Valid when made, refused once its instant passed. The margin is wide enough for a loaded
    // machine; the expiry is then awaited (the Catchment reads the wall clock), not slept on.
    const expiresAt = Date.now() + 3000;
    const soon = await as('admin', 'POST', '/api/keys', {
      principal: 'bob',
      expires_at: new Date(expiresAt).toISOString(),
    });
    expect((await c.api('GET', '/api/whoami', undefined, soon.body.key)).status).toBe(200);
    await waitFor(
      'the key to expire',
      async () => (await c.api('GET', '/api/whoami', undefined, soon.body.key)).status === 401,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);

    expect((await as('admin', 'POST', '/api/principals', { name: 'temp', kind: 'service' })).status).toBe(
      201,
    );
    const temp = await as('admin', 'POST', '/api/keys', { principal: 'temp' });
    expect((await c.api('GET', '/api/whoami', undefined, temp.body.key)).status).toBe(200);
    expect((await as('admin', 'DELETE', '/api/principals/temp')).status).toBe(200);
    expect((await c.api('GET', '/api/whoami', undefined, temp.body.key)).status).toBe(401);
    expect((await as('admin', 'POST', '/api/principals', { name: 'temp', kind: 'service' })).status).toBe(
      201,
    );
    expect((await c.api('GET', '/api/whoami', undefined, temp.body.key)).status).toBe(401);
    expect((await as('admin', 'DELETE', '/api/principals/temp')).status).toBe(200);
  });
});

describe('who may manage what', () => {
  it('only administrators create principals and groups, change memberships, apply policy and read the audit log', async () => {
    const before = (await as('admin', 'GET', '/api/policy')).body.revision;
    const attempts: [string, string, unknown?][] = [
      ['POST', '/api/principals', { name: 'mallory' }],
      ['DELETE', '/api/principals/bob'],
      ['POST', '/api/groups', { name: 'g2' }],
      ['DELETE', '/api/groups/analysts'],
      ['PUT', '/api/groups/admins/members/alice'],
      ['DELETE', '/api/groups/analysts/members/alice'],
      ['POST', '/api/policy/apply', { file: 'principals: []' }],
      ['GET', '/api/policy'],
      ['GET', '/api/audit'],
      ['GET', '/metrics'],
    ];
    for (const who of ['alice', 'mgr', 'dashboard']) {
      for (const [method, route, body] of attempts) {
        const r = await as(who, method, route, body);
        expect(r.status, `${who} ${method} ${route}`).toBe(403);
        expect(r.body.error.code).toBe('permission_denied');
      }
    }
    expect((await as('admin', 'GET', '/api/policy')).body.revision).toBe(before);
    const denied = await as('admin', 'GET', '/api/audit?kind=change&principal=alice');
    expect(denied.body.entries.some((e: { decision: string }) => e.decision === 'denied')).toBe(true);
  });

  it('grants, revokes, filters and masks need MANAGE on the object (or an administrator)', async () => {
    const grantBob = { to: 'bob', privileges: ['SELECT'], on: 'sales' };
    expect((await as('alice', 'POST', '/api/grants', grantBob)).status).toBe(403);
    expect((await as('bob', 'POST', '/api/grants', grantBob)).status).toBe(403);
    const byMgr = await as('mgr', 'POST', '/api/grants', grantBob);
    expect(byMgr.status).toBe(200);
    expect(byMgr.body).toMatchObject({ changed: true, diff: ['+ grant SELECT on sales to bob'] });
    expect(
      (await as('bob', 'POST', '/api/query', { sql: 'SELECT count(*) FROM sales.daily' })).body.rows,
    ).toEqual([[2]]);
    expect((await as('mgr', 'POST', '/api/revokes', grantBob)).status).toBe(200);
    expect((await as('bob', 'POST', '/api/query', { sql: 'SELECT count(*) FROM sales.daily' })).status).toBe(
      404, // not granted: like an unknown table
    );
    // MANAGE on sales says nothing about hr.
    expect(
      (await as('mgr', 'POST', '/api/grants', { to: 'bob', privileges: ['SELECT'], on: 'hr' })).status,
    ).toBe(403);
    expect((await as('mgr', 'PUT', '/api/row-filters/hr.salaries', { where: 'true' })).status).toBe(403);
    expect((await as('alice', 'PUT', '/api/row-filters/sales.daily', { where: 'true' })).status).toBe(403);
    const mask = await as('mgr', 'PUT', '/api/column-masks/sales.daily/region', { as: "'?'" });
    expect(mask.status, JSON.stringify(mask.body)).toBe(200);
    expect(
      (await as('alice', 'POST', '/api/query', { sql: 'SELECT DISTINCT region FROM sales.daily' })).body.rows,
    ).toEqual([['?']]);
    expect((await as('mgr', 'DELETE', '/api/column-masks/sales.daily/region')).status).toBe(200);
  });

  it('keys: administrators for anyone, everyone for themselves; key ids of others look unknown', async () => {
    expect((await as('alice', 'POST', '/api/keys', { principal: 'bob' })).status).toBe(403);
    const own = await as('alice', 'POST', '/api/keys', { principal: 'alice' });
    expect(own.status).toBe(201);
    const listed = await as('alice', 'GET', '/api/keys');
    expect(listed.body.keys.every((k: { principal: string }) => k.principal === 'alice')).toBe(true);
    expect(JSON.stringify(listed.body)).not.toContain(own.body.key.slice(-64));
    expect((await as('alice', 'GET', '/api/keys?principal=bob')).status).toBe(403);
    const bobKey = (await as('admin', 'GET', '/api/keys?principal=bob')).body.keys[0].id;
    expect((await as('alice', 'DELETE', `/api/keys/${bobKey}`)).status).toBe(404);
    expect((await c.api('GET', '/api/whoami', undefined, keys.bob)).status).toBe(200);
    expect((await as('alice', 'DELETE', `/api/keys/${own.body.id}`)).status).toBe(200);
  });

  it('refuses a bad filter, mask, cycle or file precisely and changes nothing', async () => {
    const before = (await as('admin', 'GET', '/api/policy')).body;
    const badColumn = await as('admin', 'PUT', '/api/row-filters/sales.daily', {
      where: 'no_such_column = 1',
    });
    expect(badColumn.status).toBe(422);
    expect(badColumn.body.error.code).toBe('invalid_policy');
    expect(badColumn.body.error.message).toMatch(/row filter of sales@1\.daily/);
    const badType = await as('admin', 'PUT', '/api/column-masks/sales.daily/amount', { as: "'x'" });
    expect(badType.status).toBe(422);
    expect(badType.body.error.message).toMatch(
      /mask of sales@1\.daily\.amount: yields VARCHAR, expected INTEGER/,
    );
    const cycle = await as('admin', 'POST', '/api/policy/apply', {
      file: 'groups:\n  - name: a\n    members: [b]\n  - name: b\n    members: [a]\n',
    });
    expect(cycle.status).toBe(422);
    expect(cycle.body.error.message).toMatch(/cycle/);
    const unknownGroup = await as('admin', 'POST', '/api/policy/apply', {
      file: POLICY.replace("is_member('support')", "is_member('nobody_group')"),
    });
    expect(unknownGroup.status).toBe(422);
    expect(unknownGroup.body.error.message).toMatch(/is_member\('nobody_group'\): no such group/);
    const yaml = await as('admin', 'POST', '/api/policy/apply', { file: 'grants: [ {to: x' });
    expect(yaml.status).toBe(422);
    expect((await as('admin', 'POST', '/api/groups', { name: 'alice' })).status).toBe(409);
    expect((await as('admin', 'DELETE', '/api/principals/admin')).status).toBe(422);
    expect((await as('admin', 'GET', '/api/policy')).body).toEqual(before);
  });
});

describe('groups nest, and membership cycles are refused', () => {
  it('membership changes through HTTP take effect on the next request; a cycle changes nothing', async () => {
    expect((await as('admin', 'POST', '/api/groups', { name: 'readers', members: [] })).status).toBe(201);
    expect(
      (await as('admin', 'POST', '/api/grants', { to: 'readers', privileges: ['SELECT'], on: 'hr' })).status,
    ).toBe(200);
    expect((await as('bob', 'POST', '/api/query', { sql: 'SELECT count(*) FROM hr.salaries' })).status).toBe(
      404, // not granted: like an unknown table
    );
    expect((await as('admin', 'POST', '/api/groups', { name: 'outer', members: ['readers'] })).status).toBe(
      201,
    );
    expect((await as('admin', 'PUT', '/api/groups/readers/members/bob')).status).toBe(200);
    expect(
      (await as('bob', 'POST', '/api/query', { sql: 'SELECT count(*) FROM hr.salaries' })).body.rows,
    ).toEqual([[1]]);
    expect((await as('bob', 'GET', '/api/whoami')).body.groups).toEqual(['outer', 'readers']);
    const before = (await as('admin', 'GET', '/api/policy')).body;
    const cycle = await as('admin', 'PUT', '/api/groups/readers/members/outer');
    expect(cycle.status).toBe(422);
    expect(cycle.body.error.message).toMatch(/group membership cycle/);
    expect((await as('admin', 'GET', '/api/policy')).body).toEqual(before);
    expect((await as('admin', 'DELETE', '/api/groups/readers/members/bob')).status).toBe(200);
    expect((await as('bob', 'POST', '/api/query', { sql: 'SELECT count(*) FROM hr.salaries' })).status).toBe(
      404, // not granted: like an unknown table
    );
    expect((await as('admin', 'DELETE', '/api/groups/outer')).status).toBe(200);
    expect((await as('admin', 'DELETE', '/api/groups/readers')).status).toBe(200);
    expect((await as('admin', 'GET', '/api/policy')).body.policy.grants).not.toContainEqual(
      expect.objectContaining({ to: 'readers' }),
    );
  });
});

describe('governed queries over published snapshots', () => {
  it('applies the row filter and mask, refuses what is not granted, and audits each query', async () => {
    const q = await as('alice', 'POST', '/api/query', {
      sql: 'SELECT id, region, customer_email FROM sales.daily ORDER BY id',
    });
    expect(q.status).toBe(200);
    expect(q.body).toMatchObject({
      columns: [
        { name: 'id', type: 'INTEGER' },
        { name: 'region', type: 'VARCHAR' },
        { name: 'customer_email', type: 'VARCHAR' },
      ],
      rows: [
        [1, 'EMEA', '***'],
        [3, 'EMEA', '***'],
      ],
      row_count: 2,
    });
    const admin = await as('admin', 'POST', '/api/query', { sql: 'SELECT count(*) FROM "sales@1".daily' });
    expect(admin.body.rows).toEqual([[4]]);

    // A table not granted answers exactly like one that does not exist.
    const denied = await as('alice', 'POST', '/api/query', { sql: 'SELECT * FROM hr.salaries' });
    const unknown = await as('alice', 'POST', '/api/query', { sql: 'SELECT * FROM nope.salaries' });
    expect(denied.status).toBe(404);
    expect(denied.body.error.code).toBe('unknown_table');
    expect(JSON.stringify(denied).replaceAll('hr.', 'nope.')).toBe(JSON.stringify(unknown));
    const invalid = await as('alice', 'POST', '/api/query', { sql: 'SELEC 1' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('invalid_sql');
    const files = await as('alice', 'POST', '/api/query', {
      sql: "SELECT * FROM read_parquet('/etc/passwd')",
    });
    expect(files.status).toBe(403);

    const audit = await as('admin', 'GET', '/api/audit?kind=query&principal=alice&limit=20');
    const allowed = audit.body.entries.find(
      (e: { detail: { sql: string } }) =>
        e.detail.sql === 'SELECT id, region, customer_email FROM sales.daily ORDER BY id',
    );
    expect(allowed).toMatchObject({
      principal: 'alice',
      decision: 'allowed',
      detail: { tables: ['sales@1.daily'], rows: 2 },
    });
    expect(allowed.detail.rewritten_sql).toMatch(/region = 'EMEA'|'EMEA'/);
    expect(allowed.detail.columns).toEqual(
      expect.arrayContaining(['sales@1.daily.id', 'sales@1.daily.customer_email']),
    );
    expect(typeof allowed.detail.duration_ms).toBe('number');
    expect(audit.body.entries.some((e: { decision: string }) => e.decision === 'denied')).toBe(true);
  });

  it('an execution error reaches the caller as a generic message with an error id; the audit log has the text', async () => {
    const q = await as('alice', 'POST', '/api/query', {
      sql: "SELECT CAST(customer_email || region AS INTEGER) FROM sales.daily WHERE region <> 'EMEA' OR id > 0",
    });
    expect(q.status).toBe(400);
    expect(q.body.error.code).toBe('execution_failed');
    expect(q.body.error.message).toMatch(/^the query failed while executing \(error id [0-9a-f-]{36}\)$/);
    for (const secret of ['hidden', 'EMEA', '@', 'Could not convert'])
      expect(q.body.error.message).not.toContain(secret);
    const logged = await as('admin', 'GET', `/api/audit?error_id=${q.body.error.error_id}`);
    expect(logged.body.entries).toHaveLength(1);
    expect(logged.body.entries[0]).toMatchObject({ principal: 'alice', decision: 'failed' });
    expect(logged.body.entries[0].detail.error).toMatch(/Conver/);
  });
});

describe('privileges on the existing endpoints', () => {
  it('TRIGGER, OPERATE, DEPLOY and visibility are checked per line', async () => {
    expect((await as('bob', 'POST', '/api/ponds/sales/untrigger', {})).status).toBe(200);
    // bob holds nothing on hr: it answers like a Pond that does not exist
    const hrTap = await as('bob', 'POST', '/api/ponds/hr/tap', {});
    expect(hrTap.status).toBe(404);
    expect(hrTap.body.error).toEqual({ code: 'not_found', message: 'unknown pond "hr"' });
    const kill = await as('bob', 'POST', '/api/ponds/sales/kill', {});
    expect(kill.status).toBe(403);
    expect(kill.body.error).toEqual({
      code: 'permission_denied',
      message: 'permission denied: OPERATE on sales@1',
    });
    expect(
      (await as('bob', 'PUT', '/api/ponds/sales/budgets', { immediate_retries: 1, source_retries: 1 }))
        .status,
    ).toBe(403);
    expect((await as('bob', 'GET', '/api/ponds/sales/runs')).status).toBe(403);
    expect((await as('bob', 'GET', '/api/ponds/sales/budgets')).status).toBe(200);
    const listed = await as('bob', 'GET', '/api/ponds');
    expect(listed.body.ponds.map((p: { pond: string }) => p.pond)).toEqual(['sales']);
    // a Pond bob may not see answers exactly like one that does not exist
    const hidden = await as('bob', 'GET', '/api/ponds/hr');
    const missing = await as('bob', 'GET', '/api/ponds/nope');
    expect([hidden.status, missing.status]).toEqual([404, 404]);
    expect(hidden.body.error).toEqual({ code: 'not_found', message: 'unknown pond "hr"' });
    expect(missing.body.error).toEqual({ code: 'not_found', message: 'unknown pond "nope"' });
    const tables = await as('alice', 'GET', '/api/ponds/sales/tables');
    expect(tables.body.tables.map((t: { name: string }) => t.name)).toEqual(['daily']);
    // alice's rows are filtered: the snapshot's row count would tell how many she cannot see.
    expect(tables.body.tables[0]).toMatchObject({ rows: null, bytes: null });
    expect((await as('admin', 'GET', '/api/ponds/sales/tables')).body.tables[0].rows).toBe(4);
    expect((await as('alice', 'GET', '/api/ponds/hr/tables')).status).toBe(404); // invisible = unknown

    const pond = await writePond(work, {
      name: 'sales',
      version: '1.0.1',
      files: { 'ripples/daily.sql': 'SELECT 1 AS id' },
    });
    const { packPond } = await import('../../src/pond/archive.js');
    const archive = await packPond(pond);
    const deploy = await fetch(`${c.url}/api/deploy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.mgr}`, 'content-type': 'application/octet-stream' },
      body: archive,
    });
    expect(deploy.status).toBe(403);
    expect((await c.status('sales')).version).toBe('1.0.0');
  });
});

describe('taps', () => {
  it("a tap principal's read is pull demand on the Pond; an analyst's is not", async () => {
    await waitFor('sales to be idle', async () => (await c.status('sales')).status === 'idle');
    const started = (await c.status('sales')).runs.started;
    const read = await as('dashboard', 'POST', '/api/query', { sql: 'SELECT count(*) FROM sales.daily' });
    expect(read.body.rows).toEqual([[2]]);
    // The demand is placed before the answer: pull demand held, or the run already started.
    const placed = await c.status('sales');
    expect(placed.demand.pull || placed.runs.started > started).toBe(true);
    await waitFor('the tap run', async () => (await c.status('sales')).runs.started > started);
    await waitFor('sales to be idle again', async () => (await c.status('sales')).status === 'idle');
    const after = (await c.status('sales')).runs.started;
    // A tap read places its demand before the query answers (the dashboard's run above was
    // started by then), so nothing can still be on its way once the analyst's answer is back.
    await as('alice', 'POST', '/api/query', { sql: 'SELECT 1 FROM sales.daily' });
    const status = await c.status('sales');
    expect(status.runs.started).toBe(after);
    expect(status.demand.pull).toBe(false);
  });

  it('reads during a run leave at most one run pending', async () => {
    const slow = await writePond(work, {
      name: 'slowtap',
      files: { 'ripples/slow.ts': sleepyRipple('slow', 1500) },
    });
    expect((await c.deploy(slow)).status).toBe(201);
    await c.api('POST', '/api/ponds/slowtap/pulse', {});
    await waitFor('slowtap to publish', async () => (await c.status('slowtap')).runs.completed >= 1);
    await waitFor('slowtap to be idle', async () => (await c.status('slowtap')).status === 'idle');
    expect(
      (await as('admin', 'POST', '/api/grants', { to: 'dashboard', privileges: ['SELECT'], on: 'slowtap' }))
        .status,
    ).toBe(200);
    const base = (await c.status('slowtap')).runs.started;
    const read = () => as('dashboard', 'POST', '/api/query', { sql: 'SELECT answer FROM slowtap.slow' });
    expect((await read()).body.rows).toEqual([[42]]);
    await waitFor('the first tap run', async () => (await c.status('slowtap')).status === 'running');
    for (let i = 0; i < 5; i++) expect((await read()).status).toBe(200);
    expect((await c.status('slowtap')).status).toBe('running');
    await waitFor('slowtap to settle', async () => {
      const s = await c.status('slowtap');
      return s.status === 'idle' && s.runs.completed === s.runs.started;
    });
    expect((await c.status('slowtap')).runs.started - base).toBe(2);
    const grant = { to: 'dashboard', privileges: ['SELECT'], on: 'slowtap' };
    expect((await as('admin', 'POST', '/api/revokes', grant)).body.diff).toEqual([
      '- grant SELECT on slowtap to dashboard',
    ]);
  }, 30_000);
});

describe('CLI', () => {
  it('key create prints the key alone; policy apply is idempotent and --dry-run only prints the diff; audit', async () => {
    const conn = ['--catchment', c.url, '--key', c.running.adminKey];
    const created = await cli(['key', 'create', 'bob', ...conn]);
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/^dsk_[0-9a-f]{16}_[0-9a-f]{64}\n$/);
    expect((await c.api('GET', '/api/whoami', undefined, created.out.trim())).body.principal).toBe('bob');

    const file = path.join(work, 'policy.yaml');
    await writeFile(
      file,
      POLICY.replace('row_filters:', '  - to: bob\n    privileges: [SELECT]\n    on: hr\nrow_filters:'),
    );
    const revision = (await c.api('GET', '/api/policy')).body.revision;
    const dry = await cli(['policy', 'apply', file, '--dry-run', ...conn]);
    expect(dry.code).toBe(0);
    expect(dry.out).toBe('would change (1 change):\n  + grant SELECT on hr to bob\n');
    expect((await c.api('GET', '/api/policy')).body.revision).toBe(revision);

    const prev = process.env.DUCKSTRING_KEY;
    const prevUrl = process.env.DUCKSTRING_CATCHMENT_URL;
    process.env.DUCKSTRING_KEY = c.running.adminKey;
    process.env.DUCKSTRING_CATCHMENT_URL = c.url;
    try {
      const applied = await cli(['policy', 'apply', file]);
      expect(applied.code).toBe(0);
      expect(applied.out).toContain('+ grant SELECT on hr to bob');
      const again = await cli(['policy', 'apply', file]);
      expect(again.out).toBe('policy is up to date: no changes\n');
    } finally {
      if (prev === undefined) delete process.env.DUCKSTRING_KEY;
      else process.env.DUCKSTRING_KEY = prev;
      if (prevUrl === undefined) delete process.env.DUCKSTRING_CATCHMENT_URL;
      else process.env.DUCKSTRING_CATCHMENT_URL = prevUrl;
    }
    expect(
      (await as('bob', 'POST', '/api/query', { sql: 'SELECT employee FROM hr.salaries' })).body.rows,
    ).toEqual([['erin']]);

    const asAlice = await cli(['policy', 'apply', file, '--catchment', c.url, '--key', keys.alice!]);
    expect(asAlice.code).toBe(2);
    expect(asAlice.err).toMatch(/403 permission_denied/);

    const audit = await cli(['audit', '--kind', 'change', '--json', ...conn]);
    expect(audit.code).toBe(0);
    const entries = audit.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(entries.some((e) => e.action === 'policy.apply' && e.decision === 'allowed')).toBe(true);

    const grant = await cli(['grant', 'SELECT', '--on', 'hr.salaries', '--to', 'alice', ...conn]);
    expect(grant.code).toBe(0);
    expect(grant.out).toContain('+ grant SELECT on hr.salaries to alice');
    const revoke = await cli(['revoke', 'SELECT', '--on', 'hr.salaries', '--to', 'alice', ...conn]);
    expect(revoke.out).toContain('- grant SELECT on hr.salaries to alice');
  });
});

describe('restart', () => {
  it('principals, policy, keys and the audit log survive a Catchment restart', async () => {
    const before = (await as('admin', 'GET', '/api/policy')).body;
    const audited = (await as('admin', 'GET', '/api/audit?limit=10000')).body.entries.length;
    const root = c.root;
    await c.close();
    c = await TestCatchment.start(root, { livenessMs: 60_000, watchdogMs: 60_000 });
    expect((await as('admin', 'GET', '/api/policy')).body).toEqual(before);
    const q = await as('alice', 'POST', '/api/query', { sql: 'SELECT id FROM sales.daily ORDER BY id' });
    expect(q.body.rows).toEqual([[1], [3]]);
    const entries = (await as('admin', 'GET', '/api/audit?limit=10000')).body.entries;
    expect(entries.length).toBe(audited + 1);
    expect(entries[0]).toMatchObject({ principal: 'alice', kind: 'query', decision: 'allowed' });
  });
});
