/**
 * No existence oracles in the API: for every route, a name the caller holds no privilege on (a Pond,
 * a major line, a table, a principal, a key) gets the same answer as a name that does not exist —
 * status, code and message, once the one name is substituted for the other. The table of cases is
 * checked against /openapi.json, so a new route without a case fails here.
 *
 * Fixture: `sales` has majors 1 (tables daily, costs) and 2 (daily); `payroll` has one line. The
 * callers:
 * - eve holds SELECT, TRIGGER and OPERATE on `sales@1` only: `payroll` and `sales@2` are invisible;
 * - rita holds SELECT on `sales.daily` only (every major): she may list that table, nothing else;
 * - cole holds SELECT on `sales@1.costs` only: `sales@2` (which has no costs) is invisible to him.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadOrCreateCapabilityKey,
  mintCapability,
  SNAPSHOT_ROUTE_PREFIX,
} from '../../src/compute/capability.js';
import { packPond } from '../../src/pond/archive.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
const keys: Record<string, string> = {};
let hiddenKeyId = '';
/** The error id of a query of victim's that failed: no one else but administrators may look it up. */
let hiddenErrorId = '';
/** A compute assignment (of everyone to HIDDEN_WORKER). */
let hiddenAssignmentId = 0;
/** An async query job of victim's. */
let hiddenJobId = '';
const UNKNOWN_JOB = 'q_0123456789abcdef0123456789abcdef';
const archives: Record<string, Buffer> = {};

const POLICY = `
principals:
  - name: eve
  - name: rita
  - name: cole
  - name: victim
  - name: mona
grants:
  - to: mona
    privileges: [MANAGE]
    on: sales@1
  - to: eve
    privileges: [SELECT, TRIGGER, OPERATE]
    on: sales@1
  - to: rita
    privileges: [SELECT]
    on: sales.daily
  - to: cole
    privileges: [SELECT]
    on: sales@1.costs
  - to: victim
    privileges: [SELECT]
    on: payroll
row_filters:
  - on: payroll.salaries
    where: "salary < 100"
`;

type Answer = { status: number; body: unknown };

async function send(
  who: string,
  method: string,
  route: string,
  body?: unknown,
  binary?: Buffer,
): Promise<Answer> {
  if (binary) {
    const { status, body } = await c.client.send(method, route, { binary, key: keys[who] ?? null });
    return { status, body };
  }
  return c.api(method, route, body, keys[who] ?? null);
}

/**
 * One probe: `build(name)` makes the request for one name; it is sent with the hidden name and with
 * the unknown one, and the two answers must be equal once the hidden name is replaced by the unknown
 * one in the first.
 */
interface Probe {
  who: string;
  /** What the probe hides: the substituted strings. */
  hidden: string;
  unknown: string;
  /** A harmless success (a revoke of nothing) is the right answer for both names. */
  mayServe?: boolean;
  build: (name: string) => { method: string; route: string; body?: unknown; binary?: Buffer };
}

/** Route (as /openapi.json spells it) → the probes that cover it, or why it names nothing. */
type Case = { route: string; probes: (route: string) => Probe[] } | { route: string; nameless: string };

const VERBS = [
  'tap',
  'pulse',
  'wave',
  'tide',
  'untrigger',
  'wake',
  'force',
  'sleep',
  'kill',
  'clear',
  'refresh',
];

/** The hidden/unknown Pond and line pairs each caller has, for a route under /api/ponds/{name}. */
function pondProbes(
  method: string,
  make: (pond: string, major: number | undefined) => { route: string; body?: unknown },
  opts: { majors: boolean } = { majors: true },
): Probe[] {
  const out: Probe[] = [];
  for (const who of ['eve', 'rita', 'cole']) {
    out.push({
      who,
      hidden: 'payroll',
      unknown: 'ghosts',
      build: (name) => ({ method, ...make(name, undefined) }),
    });
    out.push({
      who,
      hidden: 'payroll',
      unknown: 'ghosts',
      build: (name) => ({ method, ...make(name, 1) }),
    });
  }
  if (opts.majors) {
    for (const who of ['eve', 'cole']) {
      out.push({
        who,
        hidden: 'sales@2',
        unknown: 'sales@7',
        build: (line) => ({ method, ...make('sales', Number(line.split('@')[1])) }),
      });
    }
  }
  return out;
}

const withMajorQuery = (route: string, major: number | undefined) =>
  major === undefined ? route : `${route}${route.includes('?') ? '&' : '?'}major=${major}`;

const CASES: Case[] = [
  { route: 'GET /health', nameless: 'no key, no name: liveness only' },
  { route: 'GET /metrics', nameless: 'administrators only (403 for everyone else, whatever exists)' },
  { route: 'GET /openapi.json', nameless: 'the route list, the same for every principal' },
  {
    route: 'POST /api/deploy',
    probes: () =>
      ['eve', 'rita'].map((who) => ({
        who,
        hidden: 'payroll',
        unknown: 'ghosts',
        build: (name) => ({ method: 'POST', route: '/api/deploy', binary: archives[name]! }),
      })),
  },
  { route: 'GET /api/ponds', nameless: 'lists only visible lines (checked below)' },
  {
    route: 'GET /api/ponds/{name}',
    probes: () => pondProbes('GET', (p) => ({ route: `/api/ponds/${p}` }), { majors: false }),
  },
  {
    route: 'GET /api/ponds/{name}/runs',
    probes: () => pondProbes('GET', (p, m) => ({ route: withMajorQuery(`/api/ponds/${p}/runs?limit=5`, m) })),
  },
  ...VERBS.map(
    (verb): Case => ({
      route: `POST /api/ponds/{name}/${verb}`,
      probes: () =>
        pondProbes('POST', (p, m) => ({
          route: `/api/ponds/${p}/${verb}`,
          body: {
            ...(m === undefined ? {} : { major: m }),
            ...(verb === 'tide' ? { bound: '10m' } : {}),
          },
        })),
    }),
  ),
  {
    route: 'GET /api/ponds/{name}/windows',
    probes: () => pondProbes('GET', (p, m) => ({ route: withMajorQuery(`/api/ponds/${p}/windows`, m) })),
  },
  {
    route: 'POST /api/ponds/{name}/windows',
    probes: () =>
      pondProbes('POST', (p, m) => ({
        route: `/api/ponds/${p}/windows`,
        body: { name: 'nightly', every: '1d', ...(m === undefined ? {} : { major: m }) },
      })),
  },
  {
    route: 'DELETE /api/ponds/{name}/windows/{window}',
    probes: () =>
      pondProbes('DELETE', (p, m) => ({ route: withMajorQuery(`/api/ponds/${p}/windows/nightly`, m) })),
  },
  {
    route: 'GET /api/ponds/{name}/budgets',
    probes: () => pondProbes('GET', (p, m) => ({ route: withMajorQuery(`/api/ponds/${p}/budgets`, m) })),
  },
  {
    route: 'PUT /api/ponds/{name}/budgets',
    probes: () =>
      pondProbes('PUT', (p, m) => ({
        route: `/api/ponds/${p}/budgets`,
        body: { immediate_retries: 1, source_retries: 1, ...(m === undefined ? {} : { major: m }) },
      })),
  },
  {
    route: 'GET /api/ponds/{name}/tables',
    probes: () => pondProbes('GET', (p, m) => ({ route: withMajorQuery(`/api/ponds/${p}/tables`, m) })),
  },
  {
    route: 'GET /api/ponds/{name}/logs',
    probes: () => pondProbes('GET', (p, m) => ({ route: withMajorQuery(`/api/ponds/${p}/logs`, m) })),
  },
  {
    // A Pond filter on the event stream: a hidden Pond is refused exactly like an unknown one.
    route: 'GET /api/events',
    probes: () => pondProbes('GET', (p) => ({ route: `/api/events?pond=${p}` }), { majors: false }),
  },
  { route: 'GET /api/tables', nameless: 'lists only readable tables (checked below)' },
  {
    route: 'POST /api/query',
    probes: () =>
      ['eve', 'rita', 'cole'].flatMap((who): Probe[] => [
        {
          who,
          hidden: 'payroll',
          unknown: 'ghosts',
          build: (p) => ({
            method: 'POST',
            route: '/api/query',
            body: { sql: `SELECT * FROM ${p}.salaries` },
          }),
        },
        // a table of a line the caller may not read (rita reads daily of every major, not costs)
        {
          who,
          hidden: who === 'rita' ? 'sales@1' : 'sales@2',
          unknown: 'sales@7',
          build: (l) => ({
            method: 'POST',
            route: '/api/query',
            body: { sql: `SELECT * FROM "${l}".${who === 'rita' ? 'costs' : 'daily'}` },
          }),
        },
      ]),
  },
  { route: 'GET /api/whoami', nameless: 'the caller itself' },
  { route: 'GET /api/policy', nameless: 'administrators only' },
  { route: 'POST /api/policy/apply', nameless: 'administrators only' },
  { route: 'GET /api/principals', nameless: 'administrators only' },
  {
    route: 'POST /api/principals',
    probes: () => [
      principalProbe(
        'POST',
        () => '/api/principals',
        (n) => ({ name: n }),
      ),
    ],
  },
  {
    route: 'DELETE /api/principals/{name}',
    probes: () => [principalProbe('DELETE', (n) => `/api/principals/${n}`)],
  },
  {
    route: 'POST /api/groups',
    probes: () => [
      principalProbe(
        'POST',
        () => '/api/groups',
        (n) => ({ name: 'g2', members: [n] }),
      ),
    ],
  },
  {
    route: 'DELETE /api/groups/{name}',
    probes: () => [groupProbe('DELETE', (g) => `/api/groups/${g}`)],
  },
  {
    route: 'PUT /api/groups/{name}/members/{member}',
    probes: () => [
      groupProbe('PUT', (g) => `/api/groups/${g}/members/eve`),
      principalProbe('PUT', (n) => `/api/groups/admins/members/${n}`),
    ],
  },
  {
    route: 'DELETE /api/groups/{name}/members/{member}',
    probes: () => [
      groupProbe('DELETE', (g) => `/api/groups/${g}/members/eve`),
      principalProbe('DELETE', (n) => `/api/groups/admins/members/${n}`),
    ],
  },
  ...(['POST /api/grants', 'POST /api/revokes'] as const).map(
    (route): Case => ({
      route,
      probes: () => [
        ...['payroll', 'payroll.salaries', 'sales@2', 'sales@2.daily'].map(
          (hidden): Probe => ({
            who: 'eve',
            hidden,
            unknown: hidden.replace('payroll', 'ghosts').replace('@2', '@7'),
            build: (on) => ({
              method: 'POST',
              route: route.slice(5),
              body: { to: 'eve', privileges: ['SELECT'], on },
            }),
          }),
        ),
        principalProbe(
          'POST',
          () => route.slice(5),
          (n) => ({ to: n, privileges: ['SELECT'], on: 'sales@1' }),
        ),
        // A Pond line's principal exists once the line is deployed: granting to it must not tell a
        // manager of something else that the line exists.
        ...(
          [
            ['pond.payroll@1', 'pond.ghosts@1'],
            ['pond.sales@2', 'pond.sales@7'],
          ] as const
        ).map(
          ([hidden, unknown]): Probe => ({
            who: 'mona',
            hidden,
            unknown,
            mayServe: route === 'POST /api/revokes',
            build: (to) => ({
              method: 'POST',
              route: route.slice(5),
              body: { to, privileges: ['SELECT', 'MANAGE'], on: 'sales@1.daily' },
            }),
          }),
        ),
      ],
    }),
  ),
  ...(['PUT', 'DELETE'] as const).flatMap((method): Case[] => [
    {
      route: `${method} /api/row-filters/{table}`,
      probes: () =>
        tableProbes(method, (t) => ({
          route: `/api/row-filters/${t}`,
          body: method === 'PUT' ? { where: 'true' } : undefined,
        })),
    },
    {
      route: `${method} /api/column-masks/{table}/{column}`,
      probes: () =>
        tableProbes(method, (t) => ({
          route: `/api/column-masks/${t}/salary`,
          body: method === 'PUT' ? { as: 'salary' } : undefined,
        })),
    },
  ]),
  {
    route: 'POST /api/keys',
    probes: () => [
      principalProbe(
        'POST',
        () => '/api/keys',
        (n) => ({ principal: n }),
      ),
    ],
  },
  {
    route: 'GET /api/keys',
    probes: () => [principalProbe('GET', (n) => `/api/keys?principal=${n}`)],
  },
  {
    route: 'DELETE /api/keys/{id}',
    probes: () =>
      ['eve', 'rita'].map((who) => ({
        who,
        hidden: hiddenKeyId,
        unknown: '0123456789abcdef',
        build: (id) => ({ method: 'DELETE', route: `/api/keys/${id}` }),
      })),
  },
  {
    route: 'GET /api/audit',
    probes: () => [principalProbe('GET', (n) => `/api/audit?principal=${n}`)],
  },
  {
    route: 'GET /api/errors/{id}',
    probes: () =>
      ['eve', 'rita', 'cole'].map((who) => ({
        who,
        hidden: hiddenErrorId,
        unknown: '00000000-0000-4000-8000-000000000000',
        build: (id) => ({ method: 'GET', route: `/api/errors/${id}` }),
      })),
  },
  // Compute: MANAGE on the catalog is checked before any name is looked up.
  { route: 'GET /api/compute/endpoints', nameless: 'MANAGE on * only (403 for everyone else)' },
  { route: 'GET /api/compute/assignments', nameless: 'MANAGE on * only (403 for everyone else)' },
  { route: 'GET /api/compute/status', nameless: 'MANAGE on * only (403 for everyone else)' },
  {
    route: 'POST /api/compute/endpoints',
    probes: () =>
      workerProbes((w) => ({
        method: 'POST',
        route: '/api/compute/endpoints',
        body: { name: w, url: 'grpc://127.0.0.1:9444', token: 'worker-token' },
      })),
  },
  ...(
    [
      ['GET', ''],
      ['PUT', ''],
      ['DELETE', ''],
      ['GET', '/health'],
    ] as const
  ).map(
    ([method, tail]): Case => ({
      route: `${method} /api/compute/endpoints/{name}${tail}`,
      probes: () =>
        workerProbes((w) => ({
          method,
          route: `/api/compute/endpoints/${w}${tail}`,
          body: method === 'PUT' ? { status: 'draining' } : undefined,
        })),
    }),
  ),
  {
    route: 'POST /api/compute/assignments',
    probes: () => [
      ...workerProbes((w) => ({
        method: 'POST',
        route: '/api/compute/assignments',
        body: { endpoint: w, everyone: true },
      })),
      principalProbe(
        'POST',
        () => '/api/compute/assignments',
        (n) => ({ endpoint: HIDDEN_WORKER, principal: n }),
      ),
      {
        ...groupProbe('POST', () => '/api/compute/assignments'),
        build: (g) => ({
          method: 'POST',
          route: '/api/compute/assignments',
          body: { endpoint: HIDDEN_WORKER, group: g },
        }),
      },
    ],
  },
  {
    route: 'DELETE /api/compute/assignments/{id}',
    probes: () =>
      ['eve', 'mona'].map((who) => ({
        who,
        hidden: `/${hiddenAssignmentId}`,
        unknown: '/987654',
        build: (id) => ({ method: 'DELETE', route: `/api/compute/assignments${id}` }),
      })),
  },
  {
    route: 'GET /api/compute/explain/{principal}',
    probes: () => [principalProbe('GET', (n) => `/api/compute/explain/${n}`)],
  },
  {
    route: 'POST /api/queries',
    nameless:
      'submits SQL as the caller; the job fails with exactly the interactive answer (test/catchment/async-queries.test.ts)',
  },
  { route: 'GET /api/queries', nameless: "lists only the caller's own jobs" },
  ...[
    ['GET', ''],
    ['DELETE', ''],
    ['GET', '/results'],
    ['POST', '/cancel'],
  ].map(
    ([method, tail]): Case => ({
      route: `${method} /api/queries/{id}${tail}`,
      probes: () =>
        ['eve', 'mona'].map((who) => ({
          who,
          hidden: hiddenJobId,
          unknown: UNKNOWN_JOB,
          build: (id) => ({ method: method!, route: `/api/queries/${id}${tail}` }),
        })),
    }),
  ),
  { route: 'GET /api/duck/whoami', nameless: 'Duck token only: names the line of a valid token' },
  ...[
    'GET /api/duck/{name}/{major}/config',
    'GET /api/duck/{name}/{major}/jobs',
    'POST /api/duck/{name}/{major}/events',
    'GET /api/duck/{name}/{major}/manifest',
    'POST /api/duck/{name}/{major}/publish',
  ].map(
    (route): Case => ({
      route,
      probes: () =>
        ['eve', 'victim'].map((who) => ({
          who,
          hidden: 'payroll',
          unknown: 'ghosts',
          build: (p) => ({
            method: route.split(' ')[0]!,
            route: route.split(' ')[1]!.replace('{name}', p).replace('{major}', '1'),
            body: route.startsWith('POST') ? { events: [] } : undefined,
          }),
        })),
    }),
  ),
];

const HIDDEN_WORKER = 'hidden-worker';

/** A registered compute endpoint against an unknown one, asked by callers without MANAGE on `*`. */
function workerProbes(build: (name: string) => { method: string; route: string; body?: unknown }): Probe[] {
  return ['eve', 'mona'].map((who) => ({ who, hidden: HIDDEN_WORKER, unknown: 'ghost-worker', build }));
}

/** A principal that exists (victim) against one that does not, asked by a non-administrator. */
function principalProbe(
  method: string,
  route: (name: string) => string,
  body?: (name: string) => unknown,
): Probe {
  return {
    who: 'eve',
    hidden: 'victim',
    unknown: 'nobody_here',
    build: (n) => ({ method, route: route(n), ...(body ? { body: body(n) } : {}) }),
  };
}

function groupProbe(method: string, route: (name: string) => string): Probe {
  return {
    who: 'eve',
    hidden: 'admins',
    unknown: 'no_such_group',
    build: (g) => ({ method, route: route(g) }),
  };
}

/** Tables of an invisible Pond and of an invisible line against ones that do not exist. */
function tableProbes(method: string, make: (table: string) => { route: string; body?: unknown }): Probe[] {
  return ['eve', 'rita', 'cole'].flatMap((who): Probe[] => [
    { who, hidden: 'payroll', unknown: 'ghosts', build: (p) => ({ method, ...make(`${p}.salaries`) }) },
    { who, hidden: 'sales@2', unknown: 'sales@7', build: (l) => ({ method, ...make(`${l}.daily`) }) },
  ]);
}

async function ask(p: Probe, name: string): Promise<Answer> {
  const r = p.build(name);
  return send(p.who, r.method, r.route, r.body, r.binary);
}

beforeAll(async () => {
  work = await tempDir('oracles');
  // Generous liveness: the machine may be loaded, and a slow Duck is not what this file tests.
  c = await TestCatchment.start(`${work}/root`, {
    livenessMs: 60_000,
    watchdogMs: 60_000,
    env: { FEATURE_ASYNC_QUEUE: 'on', FEATURE_CURSOR_MODE: 'on' },
  });
  keys.admin = c.running.adminKey;
  const ponds = [
    await writePond(work, {
      name: 'sales',
      files: {
        'ripples/daily.sql': "SELECT 1 AS id, 'EMEA' AS region",
        'ripples/costs.sql': 'SELECT 1 AS id, 9 AS cost',
      },
    }),
    await writePond(work, {
      name: 'sales',
      version: '2.0.0',
      files: { 'ripples/daily.sql': "SELECT 2 AS id, 'US' AS region" },
    }),
    await writePond(work, {
      name: 'payroll',
      files: { 'ripples/salaries.sql': "SELECT 'erin' AS employee, 120 AS salary" },
    }),
  ];
  for (const dir of ponds) expect((await c.deploy(dir)).status).toBe(201);
  for (const [pond, major] of [
    ['sales', 1],
    ['sales', 2],
    ['payroll', 1],
  ] as const) {
    expect((await c.api('POST', `/api/ponds/${pond}/pulse`, { major })).status).toBe(200);
  }
  await waitFor(
    'every line to publish',
    async () => {
      const lines = [
        ...(await c.api('GET', '/api/ponds/sales')).body.lines,
        ...(await c.api('GET', '/api/ponds/payroll')).body.lines,
      ];
      return lines.length === 3 && lines.every((l: { runs: { completed: number } }) => l.runs.completed >= 1);
    },
    120_000,
  );
  const applied = await c.api('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const name of ['eve', 'rita', 'cole', 'victim', 'mona']) {
    const k = await c.api('POST', '/api/keys', { principal: name });
    expect(k.status).toBe(201);
    keys[name] = k.body.key;
    if (name === 'victim') hiddenKeyId = k.body.id;
  }
  const worker = { name: HIDDEN_WORKER, url: 'grpc://127.0.0.1:9444', token: 'worker-token' };
  expect((await c.api('POST', '/api/compute/endpoints', worker)).status).toBe(201);
  const assigned = await c.api('POST', '/api/compute/assignments', {
    endpoint: HIDDEN_WORKER,
    everyone: true,
  });
  expect(assigned.status).toBe(201);
  hiddenAssignmentId = assigned.body.id;
  const failed = (await send('victim', 'POST', '/api/query', { sql: 'SELECT nope FROM payroll.salaries' }))
    .body as { error?: { error_id?: string } };
  expect(failed.error?.error_id, JSON.stringify(failed)).toMatch(/^[0-9a-f-]{36}$/);
  hiddenErrorId = failed.error!.error_id!;
  const job = await send('victim', 'POST', '/api/queries', { sql: 'SELECT 1 AS x', wait: 30 });
  expect(job.status, JSON.stringify(job.body)).toBe(200);
  hiddenJobId = (job.body as { job: { id: string } }).job.id;
  for (const name of ['payroll', 'ghosts']) {
    archives[name] = await packPond(
      await writePond(work, { name, version: '1.1.0', files: { 'ripples/x.sql': 'SELECT 1 AS x' } }),
    );
  }
}, 180_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('no existence oracles in the API', () => {
  it('the table of cases covers every route of /openapi.json', async () => {
    const doc = (await send('eve', 'GET', '/openapi.json')).body as { paths: Record<string, object> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes.length).toBeGreaterThan(40);
    expect(new Set(CASES.map((k) => k.route))).toEqual(new Set(routes));
  });

  it('every route answers a hidden name exactly like an unknown one', async () => {
    const differences: string[] = [];
    let compared = 0;
    for (const k of CASES) {
      if (!('probes' in k)) continue;
      for (const p of k.probes(k.route)) {
        const hidden = await ask(p, p.hidden);
        const unknown = await ask(p, p.unknown);
        compared++;
        const request = p.build(p.unknown);
        const what = `${k.route} as ${p.who}: ${request.method} ${request.route} ${JSON.stringify(request.body ?? '')} (${p.hidden} vs ${p.unknown})`;
        if (hidden.status < 400 && !p.mayServe)
          differences.push(`${what}: the hidden name was served (${hidden.status})`);
        const substituted = JSON.parse(JSON.stringify(hidden).split(p.hidden).join(p.unknown)) as Answer;
        if (JSON.stringify(substituted) !== JSON.stringify(unknown)) {
          differences.push(
            `${what}:\n    hidden  ${JSON.stringify(hidden)}\n    unknown ${JSON.stringify(unknown)}`,
          );
        }
      }
    }
    expect(compared).toBeGreaterThan(150);
    expect(differences, differences.join('\n')).toEqual([]);
  }, 120_000);

  it("the workers' snapshot route is not part of the API, and a file a capability does not list is answered like none", async () => {
    const doc = (await send('eve', 'GET', '/openapi.json')).body as { paths: Record<string, object> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/internal'))).toEqual([]);
    const store = c.running.data.snapshots;
    const sales = (await store.resolve({ pond: 'sales', major: 1 }))!.tables[0]!;
    const payroll = (await store.resolve({ pond: 'payroll', major: 1 }))!.tables[0]!;
    const granted = { ...sales.ref, size: sales.bytes };
    const capability = mintCapability(loadOrCreateCapabilityKey(c.root), {
      files: [granted],
      expiresAt: Date.now() + 60_000,
    });
    const fetchFile = async (ref: { pond: string; major: number; file: string }) => {
      const res = await fetch(`${c.url}${SNAPSHOT_ROUTE_PREFIX}/${ref.pond}/${ref.major}/${ref.file}`, {
        headers: { authorization: `Capability ${capability}` },
      });
      return { status: res.status, body: await res.text() };
    };
    const hidden = await fetchFile(payroll.ref);
    const unknown = await fetchFile({
      ...payroll.ref,
      file: payroll.ref.file.replace(/[^/]+\.parquet$/, 'ghost.parquet'),
    });
    expect(hidden.status).toBe(404);
    expect(hidden).toEqual(unknown);
    expect((await fetchFile(granted)).status).toBe(200);
  });

  it('listings name only what the caller may know of', async () => {
    const lines = async (who: string) =>
      (await send(who, 'GET', '/api/ponds')).body as { ponds: { pond: string; major: number }[] };
    expect((await lines('eve')).ponds.map((l) => `${l.pond}@${l.major}`)).toEqual(['sales@1']);
    expect((await lines('rita')).ponds).toEqual([]);
    const eve = await send('eve', 'GET', '/api/ponds/sales');
    expect((eve.body as { lines: { major: number }[] }).lines.map((l) => l.major)).toEqual([1]);
    for (const who of ['eve', 'rita', 'cole']) {
      const text = JSON.stringify((await send(who, 'GET', '/api/ponds')).body);
      expect(text).not.toContain('payroll');
    }
  });
});

describe('a table grant is enough to list that table', () => {
  it('GET /api/ponds/{name}/tables shows exactly the tables the caller may read', async () => {
    const names = async (who: string, query = '') => {
      const r = await send(who, 'GET', `/api/ponds/sales/tables${query}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body as { major: number; tables: { name: string }[] };
    };
    // rita: SELECT on sales.daily — every major has it, so the newest (2) is her default.
    expect(await names('rita')).toMatchObject({ major: 2, tables: [{ name: 'daily' }] });
    expect((await names('rita', '?major=1')).tables.map((t) => t.name)).toEqual(['daily']);
    // cole: SELECT on sales@1.costs — major 2 has no costs, so his default is 1 and 2 is unknown.
    expect(await names('cole')).toMatchObject({ major: 1, tables: [{ name: 'costs' }] });
    expect((await send('cole', 'GET', '/api/ponds/sales/tables?major=2')).status).toBe(404);
    // eve: every table of sales@1, and the default is her newest line, not sales@2.
    expect(await names('eve')).toMatchObject({ major: 1 });
    expect((await names('eve')).tables.map((t) => t.name)).toEqual(['costs', 'daily']);
    expect((await names('admin')).tables.map((t) => t.name)).toEqual(['daily']);
  });

  it('without ?major= a request means the newest line the caller knows, never an invisible newer one', async () => {
    const runs = await send('eve', 'GET', '/api/ponds/sales/runs');
    expect(runs.status).toBe(200);
    expect((runs.body as { major: number }).major).toBe(1);
    const sleep = await send('eve', 'POST', '/api/ponds/sales/untrigger', {});
    expect(sleep.status).toBe(200);
    expect((sleep.body as { major: number }).major).toBe(1);
    expect((await send('admin', 'GET', '/api/ponds/sales/runs')).body).toMatchObject({ major: 2 });
  });

  it('a table grant shows the tables, not the line: status and operations stay refused', async () => {
    const status = await send('rita', 'GET', '/api/ponds/sales');
    expect(status.status).toBe(403);
    expect((status.body as { error: { message: string } }).error.message).toMatch(
      /no privilege on a line of sales .*GET \/api\/ponds\/sales\/tables/,
    );
    const tap = await send('rita', 'POST', '/api/ponds/sales/tap', {});
    expect(tap).toEqual({
      status: 403,
      body: { error: { code: 'permission_denied', message: 'permission denied: TRIGGER on sales@2' } },
    });
  });

  it('GET /api/tables lists every table the caller may read, across Ponds and majors', async () => {
    const keysOf = async (who: string) =>
      ((await send(who, 'GET', '/api/tables')).body as { tables: { key: string }[] }).tables.map(
        (t) => t.key,
      );
    expect(await keysOf('rita')).toEqual(['sales@1.daily', 'sales@2.daily']);
    expect(await keysOf('cole')).toEqual(['sales@1.costs']);
    expect(await keysOf('eve')).toEqual(['sales@1.costs', 'sales@1.daily']);
    expect(await keysOf('victim')).toEqual(['payroll@1.salaries']);
    const victim = (await send('victim', 'GET', '/api/tables')).body as { tables: unknown[] };
    expect(victim.tables[0]).toMatchObject({
      pond: 'payroll',
      major: 1,
      name: 'salaries',
      selected: true,
      filtered: true,
      columns: [
        { name: 'employee', type: 'VARCHAR', masked: false },
        { name: 'salary', type: 'INTEGER', masked: false },
      ],
    });
  });
});
