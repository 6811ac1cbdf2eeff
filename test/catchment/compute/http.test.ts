/**
 * The compute directory over a real Catchment's HTTP API: MANAGE on `*` required and every change
 * audited, tokens in and never out, each kind of bad input refused with one precise message and
 * no change, the resolution order as `explain` shows it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, TestCatchment, tempDir } from '../../support/runtime.js';

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};
const TOKEN = 'worker-secret-0123456789abcdef';
const TOKEN2 = 'worker-secret-rotated-9876543210';

const POLICY = `
groups:
  - name: outer
    members: [beta]
  - name: beta
principals:
  - name: alice
    groups: [beta]
  - name: bob
  - name: ops
grants:
  - to: ops
    privileges: [MANAGE]
    on: "*"
  - to: bob
    privileges: [MANAGE]
    on: sales
`;

async function as(who: string, method: string, route: string, body?: unknown) {
  return c.api(method, route, body, who === 'admin' ? c.running.adminKey : keys[who]!);
}

/** Everything the compute API and the audit log can show, as one text to search for secrets. */
async function everythingVisible(): Promise<string> {
  const parts = await Promise.all([
    as('admin', 'GET', '/api/compute/endpoints'),
    as('admin', 'GET', '/api/compute/assignments'),
    as('admin', 'GET', '/api/audit?limit=10000'),
  ]);
  const names = (parts[0].body.endpoints as { name: string }[]).map((e) => e.name);
  for (const name of names) {
    parts.push(await as('admin', 'GET', `/api/compute/endpoints/${name}`));
    parts.push(await as('admin', 'GET', `/api/compute/endpoints/${name}/health`));
  }
  parts.push(await as('admin', 'GET', '/api/compute/explain/alice'));
  return JSON.stringify(parts.map((p) => p.body));
}

async function endpointsNow(): Promise<unknown> {
  return (await as('admin', 'GET', '/api/compute/endpoints')).body;
}

async function assignmentsNow(): Promise<unknown> {
  return (await as('admin', 'GET', '/api/compute/assignments')).body;
}

beforeAll(async () => {
  work = await tempDir('compute-directory');
  c = await TestCatchment.start(path.join(work, 'root'));
  const applied = await c.api('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const name of ['alice', 'bob', 'ops']) {
    const k = await c.api('POST', '/api/keys', { principal: name });
    expect(k.status).toBe(201);
    keys[name] = k.body.key;
  }
}, 60_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('who may manage compute', () => {
  it('MANAGE on * (or an administrator); anyone else gets 403, and the attempt is audited', async () => {
    for (const who of ['alice', 'bob']) {
      const created = await as(who, 'POST', '/api/compute/endpoints', {
        name: 'nope',
        url: 'grpc://127.0.0.1:9444',
        token: TOKEN,
      });
      expect(created.status, who).toBe(403);
      expect(created.body.error.message).toBe('permission denied: MANAGE on *');
      expect((await as(who, 'GET', '/api/compute/endpoints')).status).toBe(403);
      expect((await as(who, 'GET', '/api/compute/explain/alice')).status).toBe(403);
      expect(
        (await as(who, 'POST', '/api/compute/assignments', { endpoint: 'x', everyone: true })).status,
      ).toBe(403);
    }
    const audit = await as('admin', 'GET', '/api/audit?kind=change&principal=bob');
    expect(audit.body.entries[0]).toMatchObject({
      action: 'compute.assign',
      decision: 'denied',
      principal: 'bob',
    });
    expect(await endpointsNow()).toEqual({ endpoints: [] });

    const byOps = await as('ops', 'POST', '/api/compute/endpoints', {
      name: 'ops-w',
      url: 'grpc://127.0.0.1:9500',
      token: TOKEN,
    });
    expect(byOps.status, JSON.stringify(byOps.body)).toBe(201);
    expect((await as('ops', 'DELETE', '/api/compute/endpoints/ops-w')).status).toBe(200);
  });
});

describe('endpoints', () => {
  it('are created (201), listed, shown; the token is stored encrypted and never returned', async () => {
    const created = await as('admin', 'POST', '/api/compute/endpoints', {
      name: 'w1',
      url: 'GRPC://127.0.0.1:9444',
      token: TOKEN,
      capacity: 8,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      name: 'w1',
      url: 'grpc://127.0.0.1:9444',
      status: 'active',
      capacity: 8,
      revision: 1,
      assignments: 0,
    });
    expect(created.body).not.toHaveProperty('token');
    expect(JSON.stringify(created.body)).not.toContain(TOKEN);

    const dup = await as('admin', 'POST', '/api/compute/endpoints', {
      name: 'W1',
      url: 'grpc://127.0.0.1:9445',
      token: TOKEN,
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.message).toBe('compute endpoint "W1" already exists');

    const shown = await as('admin', 'GET', '/api/compute/endpoints/W1');
    expect(shown.status).toBe(200);
    expect(shown.body.endpoint.url).toBe('grpc://127.0.0.1:9444');

    const row = c.running.catchment.store.db
      .prepare("SELECT * FROM compute_endpoints WHERE name = 'w1'")
      .get();
    expect(JSON.stringify(row)).not.toContain(TOKEN);
    expect(await everythingVisible()).not.toContain(TOKEN);
  });

  it('bad input gets one precise message and changes nothing', async () => {
    const before = await endpointsNow();
    const base = { name: 'bad', url: 'grpc://127.0.0.1:9444', token: TOKEN };
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ ...base, url: 'http://127.0.0.1:9444' }, 400, /scheme must be grpc or grpcs/],
      [{ ...base, url: 'grpc://127.0.0.1' }, 400, /needs a host and a port/],
      [{ ...base, url: 'grpc://127.0.0.1:70000' }, 400, /port must be 1–65535/],
      [{ ...base, url: 'grpc://127.0.0.1:9444/x' }, 400, /path, query or fragment/],
      [{ ...base, url: 'grpc://user:hunter2@h:1' }, 400, /carries credentials/],
      [{ ...base, name: 'has space' }, 400, /body\.name: 1–63 letters/],
      [{ ...base, token: 'has space' }, 400, /body\.token: a token is 1–4096 printable ASCII/],
      [{ ...base, token: '' }, 400, /body\.token/],
      [{ ...base, capacity: 0 }, 400, /body\.capacity/],
      [{ ...base, status: 'paused' }, 400, /body\.status/],
      [{ ...base, extra: 1 }, 400, /extra/],
      [{ name: 'bad', url: 'grpc://h:1' }, 400, /body\.token/],
    ];
    for (const [body, status, message] of cases) {
      const res = await as('admin', 'POST', '/api/compute/endpoints', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.message, JSON.stringify(body)).toMatch(message);
      expect(JSON.stringify(res.body)).not.toContain('hunter2');
      expect(JSON.stringify(res.body)).not.toContain(TOKEN);
    }
    expect(await endpointsNow()).toEqual(before);
  });

  it('update changes only what is given; the revision moves with url or token', async () => {
    const rev = async () => (await as('admin', 'GET', '/api/compute/endpoints/w1')).body.endpoint.revision;
    expect(await rev()).toBe(1);
    let res = await as('admin', 'PUT', '/api/compute/endpoints/w1', { url: 'grpc://127.0.0.1:9444' });
    expect(res.body).toMatchObject({ changed: [], endpoint: { revision: 1 } });
    res = await as('admin', 'PUT', '/api/compute/endpoints/w1', { url: 'grpc://localhost:9444' });
    expect(res.body).toMatchObject({
      changed: ['url'],
      endpoint: { revision: 2, url: 'grpc://localhost:9444' },
    });
    res = await as('admin', 'PUT', '/api/compute/endpoints/w1', { token: TOKEN });
    expect(res.body.changed).toEqual([]);
    res = await as('admin', 'PUT', '/api/compute/endpoints/w1', { token: TOKEN2 });
    expect(res.body).toMatchObject({ changed: ['token'], endpoint: { revision: 3 } });
    res = await as('admin', 'PUT', '/api/compute/endpoints/w1', { status: 'draining', capacity: null });
    expect(res.body).toMatchObject({
      changed: ['status', 'capacity'],
      endpoint: { revision: 3, status: 'draining', capacity: null },
    });
    res = await as('admin', 'PUT', '/api/compute/endpoints/w1', { status: 'active' });
    expect(res.status).toBe(200);

    const before = await endpointsNow();
    const bad: [string, Record<string, unknown>, number, RegExp][] = [
      ['w1', {}, 400, /name at least one of url, token, status, capacity/],
      ['w1', { url: 'grpcs://h:1/p' }, 400, /path, query or fragment/],
      ['w1', { token: 'a b' }, 400, /body\.token/],
      ['w1', { status: 'gone' }, 400, /body\.status/],
      ['nosuch', { status: 'active' }, 404, /^no compute endpoint "nosuch"$/],
    ];
    for (const [name, body, status, message] of bad) {
      const r = await as('admin', 'PUT', `/api/compute/endpoints/${name}`, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.message).toMatch(message);
    }
    expect(await endpointsNow()).toEqual(before);
    expect(await everythingVisible()).not.toContain(TOKEN2);
  });

  it('health is unknown while no health checks run', async () => {
    const res = await as('admin', 'GET', '/api/compute/endpoints/w1/health');
    expect(res.status).toBe(200);
    expect(res.body.health).toMatchObject({ state: 'unknown', since: null });
    expect((await as('admin', 'GET', '/api/compute/endpoints/nosuch/health')).status).toBe(404);
    // The fleet status agrees: not "healthy" for a worker nothing has reached.
    const status = await as('admin', 'GET', '/api/compute/status');
    expect(status.body.routing_enabled).toBe(false);
    expect(status.body.endpoints.find((e: { name: string }) => e.name === 'w1')).toMatchObject({
      state: 'unknown',
      healthy: false,
      since: null,
      last_check_at: null,
    });
  });
});

describe('assignments and explain', () => {
  it('route principals, groups and everyone; refuse unknown names and kinds', async () => {
    for (const [name, port] of [
      ['w2', 9446],
      ['w3', 9447],
    ] as const) {
      expect(
        (
          await as('admin', 'POST', '/api/compute/endpoints', {
            name,
            url: `grpc://127.0.0.1:${port}`,
            token: TOKEN,
          })
        ).status,
      ).toBe(201);
    }
    const made = await as('admin', 'POST', '/api/compute/assignments', {
      endpoint: 'w1',
      group: 'outer',
      default: true,
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({
      subject: { kind: 'group', name: 'outer' },
      endpoint: 'w1',
      default: true,
      fallback_local: true,
      job_kinds: ['interactive', 'async'],
    });
    expect(
      (
        await as('admin', 'POST', '/api/compute/assignments', {
          endpoint: 'w2',
          group: 'beta',
          fallback_local: false,
          job_kinds: ['interactive'],
        })
      ).status,
    ).toBe(201);
    expect(
      (await as('admin', 'POST', '/api/compute/assignments', { endpoint: 'w3', everyone: true })).status,
    ).toBe(201);

    const before = await assignmentsNow();
    const bad: [Record<string, unknown>, number, RegExp][] = [
      [{ endpoint: 'nosuch', principal: 'alice' }, 404, /^no compute endpoint "nosuch"$/],
      [{ endpoint: 'w1', principal: 'nobody' }, 404, /^no principal "nobody"$/],
      [{ endpoint: 'w1', group: 'nogroup' }, 404, /^no group "nogroup"$/],
      [
        { endpoint: 'w1', principal: 'alice', job_kinds: ['interactive', 'pond_run'] },
        400,
        /^job_kinds: pond_run assignments target Ponds \(\*, a Pond name, or name@major\), not principal alice$/,
      ],
      [{ endpoint: 'w1', pond: 'ghost' }, 404, /^no Pond "ghost" is deployed$/],
      [
        { endpoint: 'w1', pond: '*', job_kinds: ['pond_run', 'async'] },
        400,
        /^job_kinds: a Pond target takes job kind pond_run only, not async$/,
      ],
      [{ endpoint: 'w1', pond: 'Bad Name!' }, 400, /Pond target/],
      [{ endpoint: 'w1', principal: 'alice', job_kinds: [] }, 400, /job_kinds/],
      [
        { endpoint: 'w1', principal: 'alice', group: 'beta' },
        400,
        /exactly one of principal, group, everyone or pond/,
      ],
      [{ endpoint: 'w1' }, 400, /exactly one of principal, group, everyone or pond/],
      [{ endpoint: 'w1', group: 'OUTER' }, 409, /group OUTER is already assigned to compute endpoint "w1"/],
    ];
    for (const [body, status, message] of bad) {
      const r = await as('admin', 'POST', '/api/compute/assignments', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.message, JSON.stringify(body)).toMatch(message);
    }
    expect(await assignmentsNow()).toEqual(before);
    const failed = await as('admin', 'GET', '/api/audit?kind=change&limit=1');
    expect(failed.body.entries[0]).toMatchObject({ action: 'compute.assign', decision: 'failed' });
  });

  it('explain shows the resolution order: nearer group first, kinds, everyone last, local otherwise', async () => {
    const alice = await as('admin', 'GET', '/api/compute/explain/alice');
    expect(alice.status, JSON.stringify(alice.body)).toBe(200);
    const [interactive, async_] = alice.body.routes;
    // beta (direct, non-default) beats outer (2 levels, default): distance comes first.
    expect(interactive).toMatchObject({
      kind: 'interactive',
      placement: 'remote',
      endpoints: [{ name: 'w2', fallback_local: false }],
    });
    expect(interactive.reason).toMatch(/group beta \(a direct member\) → w2/);
    expect(
      interactive.considered.map((x: { assignment: { endpoint: string }; outcome: string }) => [
        x.assignment.endpoint,
        x.outcome,
      ]),
    ).toEqual([
      ['w2', 'chosen'],
      ['w1', 'outranked'],
      ['w3', 'outranked'],
    ]);
    // w2 covers interactive only: async goes to outer's w1.
    expect(async_).toMatchObject({ kind: 'async', endpoints: [{ name: 'w1' }] });

    const bob = await as('admin', 'GET', '/api/compute/explain/bob?kind=async');
    expect(bob.body.routes).toHaveLength(1);
    expect(bob.body.routes[0]).toMatchObject({ placement: 'remote', endpoints: [{ name: 'w3' }] });
    expect(bob.body.routes[0].reason).toMatch(/everyone/);

    expect((await as('admin', 'GET', '/api/compute/explain/nobody')).status).toBe(404);
    const badKind = await as('admin', 'GET', '/api/compute/explain/alice?kind=batch');
    expect(badKind.status).toBe(400);
    expect(badKind.body.error.message).toMatch(/kind: unknown job kind "batch"/);

    // Draining w2 makes alice's interactive queries fall to the next tier at once.
    await as('admin', 'PUT', '/api/compute/endpoints/w2', { status: 'draining' });
    const drained = await as('admin', 'GET', '/api/compute/explain/alice?kind=interactive');
    expect(drained.body.routes[0].endpoints.map((e: { name: string }) => e.name)).toEqual(['w1']);
    await as('admin', 'PUT', '/api/compute/endpoints/w2', { status: 'active' });
  });

  it('unassign by id; deleting an endpoint deletes its assignments; all audited without tokens', async () => {
    const list = (await assignmentsNow()) as { assignments: { id: number; endpoint: string }[] };
    const w3 = list.assignments.find((a) => a.endpoint === 'w3')!;
    const del = await as('admin', 'DELETE', `/api/compute/assignments/${w3.id}`);
    expect(del.status).toBe(200);
    expect(del.body.assignment.id).toBe(w3.id);
    const again = await as('admin', 'DELETE', `/api/compute/assignments/${w3.id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe(`no compute assignment ${w3.id}`);
    expect((await as('admin', 'DELETE', '/api/compute/assignments/abc')).status).toBe(400);

    const gone = await as('admin', 'DELETE', '/api/compute/endpoints/w1');
    expect(gone.body).toEqual({ ok: true, name: 'w1', deleted_assignments: 1 });
    expect((await as('admin', 'GET', '/api/compute/endpoints/w1')).status).toBe(404);
    const remaining = (await assignmentsNow()) as { assignments: { endpoint: string }[] };
    expect(remaining.assignments.map((a) => a.endpoint)).toEqual(['w2']);

    const audit = await as('admin', 'GET', '/api/audit?kind=change&limit=10000');
    const actions = (audit.body.entries as { action: string; decision: string }[])
      .filter((e) => e.action.startsWith('compute.') && e.decision === 'allowed')
      .map((e) => e.action);
    for (const action of [
      'compute.endpoint.create',
      'compute.endpoint.update',
      'compute.endpoint.delete',
      'compute.assign',
      'compute.unassign',
    ]) {
      expect(actions).toContain(action);
    }
    const text = await everythingVisible();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(TOKEN2);
  });
});
