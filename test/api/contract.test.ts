/**
 * The API contract (src/api) against a real Catchment: every declared endpoint is served, the
 * OpenAPI document describes success responses from the same schemas, real answers parse against
 * them, and the typed client reports error answers with their status and code.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ApiUnreachable, CatchmentApi } from '../../src/api/client.js';
import { type AnyEndpoint, api } from '../../src/api/index.js';
import { packPond } from '../../src/pond/archive.js';
import { removeDir, TestCatchment, tempDir, waitFor, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;
let pondDir: string;

/** Every endpoint the contract declares, by area. */
function declaredEndpoints(): AnyEndpoint[] {
  const out: AnyEndpoint[] = [];
  const visit = (v: unknown) => {
    if (v && typeof v === 'object' && 'method' in v && 'path' in v && 'auth' in v) out.push(v as AnyEndpoint);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
  };
  for (const area of [
    api.operations,
    api.ponds,
    api.lines,
    api.logs,
    api.query,
    api.governance,
    api.compute,
    api.computeStatus,
    api.duck,
    api.events,
  ])
    visit(area);
  return out;
}

beforeAll(async () => {
  work = await tempDir('contract');
  c = await TestCatchment.start(path.join(work, 'root'), { livenessMs: 60_000, watchdogMs: 60_000 });
  pondDir = await writePond(work, {
    name: 'shop',
    files: { 'ripples/orders.sql': "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) t(id, item)" },
  });
  expect((await c.deploy(pondDir)).status).toBe(201);
  await c.client.call(api.lines.verbs.pulse, { params: { name: 'shop' }, body: {} });
  await waitFor('shop to publish', async () => (await c.status('shop')).runs.completed >= 1);
}, 60_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('the OpenAPI document', () => {
  it('has every declared endpoint, with its success response schema', async () => {
    const doc = await c.client.call(api.operations.openapi, {});
    const endpoints = declaredEndpoints();
    expect(endpoints.length).toBeGreaterThan(40);
    for (const e of endpoints) {
      const op = doc.paths[e.path.replace(/:(\w+)/g, '{$1}')]?.[e.method.toLowerCase()] as
        | { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }
        | undefined;
      expect(op, `${e.method} ${e.path}`).toBeDefined();
      for (const status of e.statuses ?? [200]) {
        expect(op!.responses[String(status)]?.content, `${e.method} ${e.path} ${status}`).toBeDefined();
      }
    }

    const runs = doc.paths['/api/ponds/{name}/runs']!.get as any;
    const runsSchema = runs.responses['200'].content['application/json'].schema;
    expect(runsSchema.properties.runs.items.properties.attempts.type).toBe('array');
    expect(runsSchema.required).toEqual(expect.arrayContaining(['pond', 'major', 'runs']));

    const deploy = doc.paths['/api/deploy']!.post as any;
    expect(Object.keys(deploy.responses)).toEqual(expect.arrayContaining(['200', '201']));
    expect(deploy.responses['201'].content['application/json'].schema.properties.created).toEqual({
      type: 'boolean',
    });

    const status = (doc.paths['/api/ponds/{name}']!.get as any).responses['200'].content['application/json']
      .schema.properties.lines.items;
    expect(status.properties.status.enum).toEqual(
      expect.arrayContaining(['idle', 'running', 'failed', 'killed', 'blocked', 'queued']),
    );
    expect((doc.paths['/metrics']!.get as any).responses['200'].content['text/plain']).toBeDefined();
    expect((doc.paths['/api/ponds/{name}/tap']!.post as any)['x-auth']).toEqual({
      on: 'line',
      privilege: 'TRIGGER',
    });
  });
});

describe('answers match their response schemas', () => {
  it('reads, configuration, queries and governance', async () => {
    const client = c.client;
    const shop = { params: { name: 'shop' } };
    const calls: Array<[AnyEndpoint, Record<string, unknown>]> = [
      [api.operations.health, {}],
      [api.ponds.listLines, {}],
      [api.ponds.pond, shop],
      [api.ponds.runs, { ...shop, query: { limit: 5 } }],
      [api.ponds.tables, shop],
      [api.logs.logs, { ...shop, query: { limit: 5 } }],
      [api.ponds.catalog, {}],
      [api.lines.verbs.tap, { ...shop, body: {} }],
      [api.lines.verbs.tide, { ...shop, body: { bound: '1h' } }],
      [api.lines.verbs.untrigger, { ...shop, body: {} }],
      [api.lines.budgets, shop],
      [api.lines.setBudgets, { ...shop, body: { immediate_retries: 1, source_retries: 2 } }],
      [api.lines.addWindow, { ...shop, body: { name: 'nightly', every: '1d', start: '02:00' } }],
      [api.lines.listWindows, shop],
      [api.lines.removeWindow, { params: { name: 'shop', window: 'nightly' } }],
      [api.query.query, { body: { sql: 'SELECT id, item FROM shop.orders ORDER BY id' } }],
      [api.governance.whoami, {}],
      [api.governance.createPrincipal, { body: { name: 'eve' } }],
      [api.governance.grant, { body: { to: 'eve', privileges: ['SELECT'], on: 'shop' } }],
      [api.governance.createKey, { body: { principal: 'eve' } }],
      [api.governance.listKeys, {}],
      [api.governance.principals, {}],
      [api.governance.policy, {}],
      [api.governance.audit, { query: { limit: 10 } }],
      [api.operations.metrics, {}],
    ];
    for (const [e, request] of calls) {
      const answer = await client.exchange(e, request as never);
      expect(answer.status, `${e.method} ${e.path}: ${answer.text}`).toBe((e.statuses ?? [200])[0]);
      const parsed = e.response!.safeParse(answer.body);
      expect(parsed.success, `${e.method} ${e.path}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }

    const rows = await client.call(api.query.query, {
      body: { sql: 'SELECT id FROM shop.orders ORDER BY id' },
    });
    expect(rows.rows).toEqual([[1], [2]]);
    const windows = await client.call(api.lines.listWindows, { params: { name: 'shop' } });
    expect(windows.windows).toEqual([]);
  });

  it('a redeploy of the same archive answers 200 with created false, in the same shape', async () => {
    const answer = await c.client.exchange(api.ponds.deploy, { body: await packPond(pondDir) });
    expect(answer.status).toBe(200);
    expect(answer.body.created).toBe(false);
    expect(api.ponds.deploy.response!.safeParse(answer.body).success).toBe(true);
  });
});

describe('the typed client', () => {
  it('reports error answers with status, code and message, and an absent Catchment as unreachable', async () => {
    const err = await c.client.call(api.ponds.pond, { params: { name: 'nowhere' } }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: 'not_found', detail: 'unknown pond "nowhere"' });
    expect(err.message).toBe('404 not_found: unknown pond "nowhere"');

    const anonymous = await c.client.exchange(api.governance.whoami, {}, { key: null });
    expect(anonymous.status).toBe(401);

    const gone = await new CatchmentApi('http://127.0.0.1:9').call(api.operations.health, {}).catch((e) => e);
    expect(gone).toBeInstanceOf(ApiUnreachable);
    expect(gone.message).toMatch(/^cannot reach the Catchment at http:\/\/127\.0\.0\.1:9 \(/);
  });
});
