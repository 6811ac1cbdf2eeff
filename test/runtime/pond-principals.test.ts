/**
 * Ponds are principals (issue 7, item 5, the Catchment side), with real parts: a Catchment on
 * 127.0.0.1, Duck processes, published snapshots. Each Pond line runs as `pond.<name>@<major>`;
 * a deploy needs that principal to be able to read its Sources (granting it when the deployer may),
 * and a run reads its Sources through the policy: row filters and masks that apply to the principal
 * are applied to the files the Duck is given.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatchmentStore } from '../../src/catchment/store/index.js';
import { GovernanceStore } from '../../src/governance/store.js';
import { packPond } from '../../src/pond/archive.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};
const LONG = 90_000;

const SALES_ROWS = `SELECT * FROM (VALUES (1, 'EMEA', 'ann@a.example', 10), (2, 'US', 'hidden_us@b.example', 20),
  (3, 'EMEA', 'cid@c.example', 30), (4, 'APAC', 'hidden_apac@d.example', 40)) t(id, region, customer_email, amount)`;

async function as(who: string, method: string, route: string, body?: unknown) {
  return c.api(method, route, body, keys[who] ?? null);
}

async function deployAs(who: string, dir: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${c.url}/api/deploy`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys[who]}`, 'content-type': 'application/octet-stream' },
    body: await packPond(dir),
  });
  return { status: res.status, body: await res.json() };
}

async function policy(): Promise<{ revision: number; policy: any }> {
  return (await as('admin', 'GET', '/api/policy')).body;
}

async function newPrincipal(name: string, grants: Array<{ privileges: string[]; on: string }>) {
  expect((await as('admin', 'POST', '/api/principals', { name })).status).toBe(201);
  for (const g of grants) {
    const r = await as('admin', 'POST', '/api/grants', { to: name, ...g });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  const k = await as('admin', 'POST', '/api/keys', { principal: name });
  expect(k.status).toBe(201);
  keys[name] = k.body.key;
}

interface RunMark {
  id: number;
  startedAt: number;
}

/**
 * Waits for a run of the line started after `after` to end; returns it. A Force at an unchanged
 * freshness re-runs the same F, which keeps its history row (a new start time), hence both checks.
 */
async function lastRun(pond: string, after: RunMark): Promise<any> {
  return waitFor(
    `${pond} to finish a run`,
    async () => {
      const runs = (await as('admin', 'GET', `/api/ponds/${pond}/runs?limit=50`)).body.runs ?? [];
      const r = runs.find(
        (x: any) => (x.id > after.id || x.startedAt > after.startedAt) && x.status !== 'running',
      );
      return r ?? false;
    },
    LONG,
  );
}

async function newestRun(pond: string): Promise<RunMark> {
  const runs = (await as('admin', 'GET', `/api/ponds/${pond}/runs?limit=1`)).body.runs ?? [];
  return { id: runs[0]?.id ?? 0, startedAt: runs[0]?.startedAt ?? 0 };
}

function inputFiles(pond: string): string[] {
  const dir = path.join(c.root, 'ponds', pond, 'm1', 'inputs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

beforeAll(async () => {
  work = await tempDir('pond-principals');
  // Generous liveness: this suite runs on busy CI machines, and no test here is about liveness.
  c = await TestCatchment.start(path.join(work, 'root'), { livenessMs: 30_000, watchdogMs: 30_000 });
  keys.admin = c.running.adminKey;
  const sales = await writePond(work, { name: 'sales', files: { 'ripples/daily.sql': SALES_ROWS } });
  expect((await c.deploy(sales)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await waitFor('sales to publish', async () => (await c.status('sales')).runs.completed >= 1, LONG);
  // Filters and masks that apply to every reader but administrators — Pond principals included.
  const filter = await as('admin', 'PUT', '/api/row-filters/sales.daily', {
    where: "is_member('admins') OR region = 'EMEA'",
  });
  expect(filter.status, JSON.stringify(filter.body)).toBe(200);
  const mask = await as('admin', 'PUT', '/api/column-masks/sales.daily/customer_email', {
    as: "CASE WHEN is_member('admins') THEN customer_email ELSE '***' END",
  });
  expect(mask.status, JSON.stringify(mask.body)).toBe(200);
}, 180_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('a Pond line runs as its own principal', { timeout: 300_000 }, () => {
  it('an admin deploy creates the principal, grants it its Source, and the run sees only filtered, masked rows', async () => {
    const report = await writePond(work, {
      name: 'report',
      sources: { sales: '1.0.0' },
      files: { 'ripples/copy.sql': 'SELECT id, region, customer_email, amount FROM sales.daily' },
    });
    const dep = await c.deploy(report);
    expect(dep.status, JSON.stringify(dep.body)).toBe(201);
    expect(dep.body).toMatchObject({ principal: 'pond.report@1', granted: ['sales@1'] });

    const { policy: doc } = await policy();
    expect(doc.principals).toContainEqual({ name: 'pond.report@1', kind: 'service' });
    expect(doc.grants).toContainEqual({ to: 'pond.report@1', privilege: 'SELECT', on: 'sales@1' });
    const listed = await as('admin', 'GET', '/api/principals');
    expect(listed.body.principals).toContainEqual({ name: 'pond.report@1', kind: 'service' });
    const changes = (await as('admin', 'GET', '/api/audit?kind=change&limit=20')).body.entries;
    expect(changes).toContainEqual(
      expect.objectContaining({
        principal: 'admin',
        action: 'deploy.line_principal',
        decision: 'allowed',
        detail: expect.objectContaining({
          diff: ['+ principal pond.report@1 (service)', '+ grant SELECT on sales@1 to pond.report@1'],
        }),
      }),
    );

    const before = await newestRun('report');
    await c.api('POST', '/api/ponds/report/pulse', {});
    const run = await lastRun('report', before);
    expect(run.status, JSON.stringify(run)).toBe('succeeded');
    const q = await as('admin', 'POST', '/api/query', {
      sql: 'SELECT id, region, customer_email, amount FROM report.copy ORDER BY id',
    });
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    expect(q.body.rows).toEqual([
      [1, 'EMEA', '***', 10],
      [3, 'EMEA', '***', 30],
    ]);

    // Each input is audited as a query of the Pond's principal.
    const reads = (await as('admin', 'GET', '/api/audit?principal=pond.report@1&kind=query')).body.entries;
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads[0]).toMatchObject({ action: 'pond_input', decision: 'allowed' });
    expect(reads[0].detail).toMatchObject({ tables: ['sales@1.daily'], mode: 'governed', rows: 2 });
    // Once the run published, its input files are collected.
    await waitFor('inputs to be collected', async () => inputFiles('report').length === 0, LONG);
  });

  it('a table without filter or mask reaches the run as a copy of the published file', async () => {
    const hr = await writePond(work, {
      name: 'hr',
      files: { 'ripples/staff.sql': "SELECT 'erin' AS name, 3 AS level" },
    });
    expect((await c.deploy(hr)).status).toBe(201);
    await c.api('POST', '/api/ponds/hr/pulse', {});
    await waitFor('hr to publish', async () => (await c.status('hr')).runs.completed >= 1, LONG);
    const org = await writePond(work, {
      name: 'org',
      sources: { hr: '1.0.0' },
      files: { 'ripples/levels.sql': 'SELECT name, level + 1 AS next FROM hr.staff' },
    });
    expect((await c.deploy(org)).status).toBe(201);
    const before = await newestRun('org');
    await c.api('POST', '/api/ponds/org/pulse', {});
    const done = await lastRun('org', before);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const q = await as('admin', 'POST', '/api/query', { sql: 'SELECT * FROM org.levels' });
    expect(q.body.rows).toEqual([['erin', 4]]);
    const reads = (await as('admin', 'GET', '/api/audit?principal=pond.org@1&kind=query')).body.entries;
    expect(reads[0].detail).toMatchObject({ tables: ['hr@1.staff'], mode: 'file' });
  });
});

describe('deploying needs the Pond principal to be able to read its Sources', { timeout: 300_000 }, () => {
  it('refuses (403, nothing changed) a deployer holding DEPLOY but no right on the Source, naming the commands to run', async () => {
    await newPrincipal('dev', [{ privileges: ['DEPLOY', 'OPERATE', 'TRIGGER'], on: 'leak' }]);
    const revision = (await policy()).revision;
    const leak = await writePond(work, {
      name: 'leak',
      sources: { sales: '1.0.0' },
      files: { 'ripples/all.sql': 'SELECT * FROM sales.daily' },
    });
    const refused = await deployAs('dev', leak);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('permission_denied');
    expect(refused.body.error.message).toContain(
      'duckstring principal create pond.leak@1 --kind service && duckstring grant SELECT --on sales@1 --to pond.leak@1',
    );
    // No principal, no version, no policy change.
    expect((await policy()).revision).toBe(revision);
    expect((await policy()).policy.principals.map((p: any) => p.name)).not.toContain('pond.leak@1');
    expect((await as('admin', 'GET', '/api/ponds/leak')).status).toBe(404);
    expect(existsSync(path.join(c.root, 'ponds', 'leak', '1.0.0'))).toBe(false);

    // A Source that does not exist gets the same answer: a deploy tells nothing about what exists.
    const probe = await writePond(work, {
      name: 'leak',
      sources: { nosuch: '1.0.0' },
      files: { 'ripples/all.sql': 'SELECT * FROM nosuch.t' },
    });
    const unknown = await deployAs('dev', probe);
    expect(unknown.status).toBe(403);
    expect(unknown.body.error.message).toBe(refused.body.error.message.replaceAll('sales@1', 'nosuch@1'));

    // The administrator runs what the message says; the same deploy then succeeds and grants nothing more.
    expect(
      (await as('admin', 'POST', '/api/principals', { name: 'pond.leak@1', kind: 'service' })).status,
    ).toBe(201);
    expect(
      (await as('admin', 'POST', '/api/grants', { to: 'pond.leak@1', privileges: ['SELECT'], on: 'sales@1' }))
        .status,
    ).toBe(200);
    const ok = await deployAs('dev', leak);
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body).toMatchObject({ principal: 'pond.leak@1', granted: [] });
    // dev's code reads what the policy lets pond.leak@1 read: the filtered, masked rows.
    const before = await newestRun('leak');
    expect((await as('dev', 'POST', '/api/ponds/leak/pulse', {})).status).toBe(200);
    const done = await lastRun('leak', before);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const q = await as('admin', 'POST', '/api/query', {
      sql: 'SELECT customer_email FROM leak.all ORDER BY id',
    });
    expect(q.body.rows).toEqual([['***'], ['***']]);
  });

  it('a deployer holding MANAGE on the Source gets the grant made for it, audited under its name', async () => {
    await newPrincipal('owner', [
      { privileges: ['DEPLOY'], on: 'mine' },
      { privileges: ['MANAGE'], on: 'sales@1' },
    ]);
    const mine = await writePond(work, {
      name: 'mine',
      sources: { sales: '1.0.0' },
      files: { 'ripples/n.sql': 'SELECT count(*) AS n FROM sales.daily' },
    });
    const dep = await deployAs('owner', mine);
    expect(dep.status, JSON.stringify(dep.body)).toBe(201);
    expect(dep.body).toMatchObject({ principal: 'pond.mine@1', granted: ['sales@1'] });
    const entries = (await as('admin', 'GET', '/api/audit?principal=owner&kind=change')).body.entries;
    expect(entries[0]).toMatchObject({ action: 'deploy.line_principal', decision: 'allowed' });
  });
});

describe('a Pond principal is managed like any principal', { timeout: 300_000 }, () => {
  it('the pond. prefix is reserved; a live line principal cannot be deleted; policy apply keeps it', async () => {
    for (const body of [
      { name: 'pond.fake@1', kind: 'user' },
      { name: 'pond.fake', kind: 'service' },
      { name: 'POND.Fake@1', kind: 'service' },
    ]) {
      const r = await as('admin', 'POST', '/api/principals', body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body.error.message).toMatch(/reserved for Pond line principals|kind service|lower case/);
    }
    expect((await as('admin', 'POST', '/api/groups', { name: 'pond.group' })).status).toBe(422);
    const del = await as('admin', 'DELETE', '/api/principals/pond.report@1');
    expect(del.status).toBe(409);
    expect(del.body.error.message).toBe(
      'principal "pond.report@1" is the identity the deployed Pond line report@1 runs as and cannot be deleted; revoke its grants to stop it reading its Sources',
    );
    // Groups, filters and masks apply to it: a mask naming the principal changes what it reads.
    const joined = await as('admin', 'POST', '/api/groups', {
      name: 'pipelines',
      members: ['pond.report@1'],
    });
    expect(joined.status, JSON.stringify(joined.body)).toBe(201);
    const mask = await as('admin', 'PUT', '/api/column-masks/sales.daily/amount', {
      as: "CASE WHEN is_member('pipelines') THEN -1 ELSE amount END",
    });
    expect(mask.status, JSON.stringify(mask.body)).toBe(200);
    const before = await newestRun('report');
    await as('admin', 'POST', '/api/ponds/report/force', {});
    const done = await lastRun('report', before);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const q = await as('admin', 'POST', '/api/query', {
      sql: 'SELECT id, amount FROM report.copy ORDER BY id',
    });
    expect(q.body.rows).toEqual([
      [1, -1],
      [3, -1],
    ]);
    expect((await as('admin', 'DELETE', '/api/column-masks/sales.daily/amount')).status).toBe(200);
  });

  it('revoking its grant makes the next run fail clearly: the Source table is not among its inputs', async () => {
    const revoke = await as('admin', 'POST', '/api/revokes', {
      to: 'pond.report@1',
      privileges: ['SELECT'],
      on: 'sales@1',
    });
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(200);
    const before = await newestRun('report');
    await as('admin', 'POST', '/api/ponds/report/force', {});
    const run = await lastRun('report', before);
    expect(run.status, JSON.stringify(run)).toBe('failed');
    // A force re-runs the same F: the newest attempt of the Ripple is this run's.
    const attempt = run.attempts.filter((a: any) => a.ripple === 'copy').at(-1);
    expect(attempt.status).toBe('failed');
    expect(attempt.error).toMatch(/reads sales\.daily/);
    // The data the Pond published before stays; nothing of the revoked Source was read.
    expect(inputFiles('report')).toEqual([]);
    expect(
      (
        await as('admin', 'POST', '/api/grants', {
          to: 'pond.report@1',
          privileges: ['SELECT'],
          on: 'sales@1',
        })
      ).status,
    ).toBe(200);
  });

  it('a failure while preparing the inputs fails the run through the fault path, without quoting data', async () => {
    // Valid SQL that fails on the data: the error would quote a value the Pond may not see.
    const filter = await as('admin', 'PUT', '/api/row-filters/sales.daily', {
      where: "is_member('admins') OR CAST(region AS INTEGER) > 0",
    });
    expect(filter.status, JSON.stringify(filter.body)).toBe(200);
    const before = await newestRun('report');
    await as('admin', 'POST', '/api/ponds/report/force', {});
    const run = await lastRun('report', before);
    expect(run.status, JSON.stringify(run)).toBe('failed');
    expect(run.error).toMatch(
      /^could not prepare Source table sales\.daily for this run: the query failed while executing \(error id [0-9a-f-]+\)$/,
    );
    expect(run.error).not.toMatch(/EMEA|APAC|US/);
    const failed = (await as('admin', 'GET', '/api/audit?principal=pond.report@1&kind=query')).body
      .entries[0];
    expect(failed).toMatchObject({ action: 'pond_input', decision: 'failed' });
    expect(failed.detail.error).toMatch(/Conver/);
    // Fixing the policy and waking the line runs it again.
    await as('admin', 'PUT', '/api/row-filters/sales.daily', {
      where: "is_member('admins') OR region = 'EMEA'",
    });
    const again = await newestRun('report');
    await as('admin', 'POST', '/api/ponds/report/wake', {});
    const done = await lastRun('report', again);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
  });

  it('policy apply keeps the line principals without listing them, and refuses a forged one', async () => {
    const applied = await as('admin', 'POST', '/api/policy/apply', {
      file: 'principals:\n  - name: dev\n  - name: owner\n',
    });
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    const names = (await policy()).policy.principals.map((p: any) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(['pond.report@1', 'pond.leak@1', 'pond.mine@1', 'pond.org@1']),
    );
    const forged = await as('admin', 'POST', '/api/policy/apply', {
      file: 'principals:\n  - name: pond.report@1\n    kind: user\n',
    });
    expect(forged.status).toBe(422);
  });

  it('a root whose lines predate line principals gets them at the next start, with their Sources granted', async () => {
    const root = c.root;
    await c.close();
    // Make the stored policy what a root deployed before this change holds: no principal for org@1.
    const store = CatchmentStore.open(root);
    const gov = new GovernanceStore(store.db);
    const { document, revision } = gov.loadDocument();
    document.principals = document.principals.filter((p) => p.name !== 'pond.org@1');
    document.grants = document.grants.filter((g) => g.to !== 'pond.org@1');
    gov.saveDocument(document, revision, Date.now());
    store.close();
    c = await TestCatchment.start(root, { livenessMs: 30_000, watchdogMs: 30_000 });
    const { policy: doc } = await policy();
    expect(doc.principals).toContainEqual({ name: 'pond.org@1', kind: 'service' });
    expect(doc.grants).toContainEqual({ to: 'pond.org@1', privilege: 'SELECT', on: 'hr@1' });
    const entries = (await as('admin', 'GET', '/api/audit?kind=change&limit=5')).body.entries;
    expect(entries[0]).toMatchObject({
      principal: 'admin',
      action: 'line_principal.migrate',
      detail: { lines: ['org@1'] },
    });
  });
});
