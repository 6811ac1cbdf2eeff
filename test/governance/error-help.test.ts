import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    where: "region = 'EMEA'"
column_masks:
  - on: sales.daily
    column: customer_email
    as: "'***'"
`;

async function as(who: string, method: string, route: string, body?: unknown) {
  return c.api(method, route, body, keys[who] ?? null);
}

beforeAll(async () => {
  work = await tempDir('errorhelp');
  c = await TestCatchment.start(path.join(work, 'root'), { livenessMs: 60_000, watchdogMs: 60_000 });
  keys.admin = c.running.adminKey;
  const sales = await writePond(work, {
    name: 'sales',
    files: {
      'ripples/daily.sql': `SELECT * FROM (VALUES (1, 'EMEA', 'ann@a.example', 10), (2, 'US', 'hidden_us@b.example', 20)) t(id, region, customer_email, amount)`,
      'ripples/costs.sql': `SELECT 1 AS id, 5 AS secret_cost`,
    },
  });
  expect((await c.deploy(sales)).status).toBe(201);
  await c.api('POST', '/api/ponds/sales/pulse', {});
  await waitFor('sales to publish', async () => (await c.status('sales')).runs.completed >= 1);
  const applied = await c.api('POST', '/api/policy/apply', { file: POLICY });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const name of ['alice', 'bob']) {
    const k = await c.api('POST', '/api/keys', { principal: name });
    keys[name] = k.body.key;
  }
}, 60_000);

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

describe('probe', () => {
  it('probe', async () => {
    for (const who of ['admin', 'alice']) {
      for (const sql of [
        'SELECT nme FROM sales.costs',
        'SELECT id FROM sales.costs WHERE nme = 1',
        'SELECT id FROM sales.costs ORDER BY nme',
        'SELECT nme, count(*) FROM sales.costs GROUP BY ALL',
        'SELECT nme FROM "sales@1".costs',
        'SELECT c.nme FROM sales.costs c JOIN sales.daily d USING (id)',
        'WITH x AS (SELECT * FROM sales.costs) SELECT nme FROM x',
        'SELECT category, sum(total_revenue) FROM sales.daily GROUP BY ALL',
        'SELECT sum(nme) FROM sales.daily',
      ]) {
        const q = await as(who, 'POST', '/api/query', { sql });
        console.log(who, sql, q.status, JSON.stringify(q.body));
        if (q.body.error?.error_id) {
          const a = await as('admin', 'GET', `/api/audit?error_id=${q.body.error.error_id}`);
          console.log('   audit:', JSON.stringify(a.body.entries[0]?.detail));
        }
      }
    }
  });
});
