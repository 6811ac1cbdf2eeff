/**
 * Real snapshots for the governance tests: raw Parquet tables as a Duck would publish them, and
 * for each test principal the same tables physically filtered and masked (the reference: what that
 * principal must see, written independently of the rewrite with literal predicates).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Catalog } from '../../src/governance/catalog.js';
import { Policy } from '../../src/governance/policy.js';
import { openDuck } from '../compute/helpers.js';

/** Raw column values that bob may never see in any output or error text. */
export const FORBIDDEN_FOR_BOB = ['zq_user', 'HIDDEN-', 'NM_', 'salary-secret'];

export const POLICY_DOCUMENT = {
  principals: [
    { name: 'bob', kind: 'user' },
    { name: 'carol', kind: 'user' },
    { name: 'root', kind: 'user' },
    { name: 'dashboard', kind: 'tap' },
    { name: 'nobody', kind: 'service' },
  ],
  groups: [
    { name: 'admins', members: ['platform'] },
    { name: 'platform', members: ['root'] },
    { name: 'analysts', members: ['eu_team', 'carol'] },
    { name: 'eu_team', members: ['bob', 'dashboard'] },
    { name: 'apac', members: [] },
    { name: 'finance', members: [] },
    { name: 'hr_managers', members: [] },
  ],
  admins: ['admins'],
  grants: [
    { to: 'analysts', privilege: 'SELECT', on: 'sales' },
    { to: 'carol', privilege: 'SELECT', on: 'hr.salaries' },
  ],
  rowFilters: [
    {
      table: 'sales.daily',
      filter: "is_member('admins') OR region = 'EU' OR (region = 'APAC' AND is_member('apac'))",
    },
    {
      table: 'hr.salaries',
      filter: "employee = current_principal() OR is_member('hr_managers') OR is_member('admins')",
    },
  ],
  columnMasks: [
    {
      table: 'sales.daily',
      column: 'customer_email',
      mask: "CASE WHEN is_member('admins') THEN customer_email ELSE regexp_replace(customer_email, '^[^@]+', '***') END",
    },
    {
      table: 'sales.daily',
      column: 'amount',
      mask: "CASE WHEN is_member('finance') OR is_member('admins') THEN amount ELSE CAST(round(amount, -1) AS DECIMAL(12,2)) END",
    },
    {
      table: 'sales.customers',
      column: 'customer_email',
      mask: "CASE WHEN is_member('admins') THEN customer_email ELSE regexp_replace(customer_email, '^[^@]+', '***') END",
    },
    {
      table: 'sales.customers',
      column: 'name',
      mask: "CASE WHEN is_member('admins') THEN name ELSE left(name, 1) || '.' END",
    },
  ],
};

const RAW = {
  'sales@1.daily': `SELECT range::BIGINT AS id,
      ['EU', 'US', 'APAC'][(range % 3)::INTEGER + 1] AS region,
      'zq_user' || (range % 7) || '@' || ['corp', 'mail'][(range % 2)::INTEGER + 1] || '.example' AS customer_email,
      ((range * 1337) % 50000 / 100)::DECIMAL(12,2) AS amount,
      DATE '2024-01-01' + (range % 10)::INTEGER AS day,
      (range % 5)::INTEGER AS qty,
      CASE WHEN range % 3 = 0 THEN 'visible-' || range ELSE 'HIDDEN-' || range END AS memo
    FROM range(1, 49)`,
  'sales@2.daily': `SELECT (range + 100)::BIGINT AS id,
      ['EU', 'US', 'APAC'][(range % 3)::INTEGER + 1] AS region,
      'zq_user' || (range % 7) || '@corp.example' AS customer_email,
      (range * 2.5)::DECIMAL(12,2) AS amount,
      DATE '2025-01-01' + (range % 4)::INTEGER AS day,
      (range % 2)::INTEGER AS qty,
      CASE WHEN range % 3 = 0 THEN 'visible-' || range ELSE 'HIDDEN-' || range END AS memo
    FROM range(1, 13)`,
  'sales@1.customers': `SELECT 'zq_user' || (range % 7) || '@' || ['corp', 'mail'][(range // 7)::INTEGER + 1] || '.example' AS customer_email,
      chr(65 + (range % 7)::INTEGER) || 'NM_' || range AS name,
      CASE WHEN range % 2 = 0 THEN 'gold' ELSE 'silver' END AS tier,
      ['EU', 'US', 'APAC'][(range % 3)::INTEGER + 1] AS region
    FROM range(14)`,
  'hr@1.salaries': `SELECT * FROM (VALUES ('carol', 'eng', 100), ('erin', 'eng', 120), ('frank', 'ops', 90), ('bob', 'sales', 80))
      AS t(employee, dept, salary)`,
};

/** What bob must see: EU rows only, e-mails and customer names masked, amounts rounded. */
const BOB = {
  'sales@1.daily': (
    src: string,
  ) => `SELECT id, region, regexp_replace(customer_email, '^[^@]+', '***') AS customer_email,
      CAST(round(amount, -1) AS DECIMAL(12,2)) AS amount, day, qty, memo FROM ${src} WHERE region = 'EU'`,
  'sales@2.daily': (
    src: string,
  ) => `SELECT id, region, regexp_replace(customer_email, '^[^@]+', '***') AS customer_email,
      CAST(round(amount, -1) AS DECIMAL(12,2)) AS amount, day, qty, memo FROM ${src} WHERE region = 'EU'`,
  'sales@1.customers': (
    src: string,
  ) => `SELECT regexp_replace(customer_email, '^[^@]+', '***') AS customer_email,
      left(name, 1) || '.' AS name, tier, region FROM ${src}`,
};

/** What carol must see of hr.salaries: her own row. */
const CAROL = {
  'hr@1.salaries': (src: string) => `SELECT * FROM ${src} WHERE employee = 'carol'`,
};

export interface Snapshots {
  policy: Policy;
  catalog: Catalog;
  /** 'pond@N.table' → raw Parquet file. */
  raw: Map<string, string>;
  /** Executor tables for running the user's own text over bob's reference copies. */
  bobReference: Map<string, string>;
  carolReference: Map<string, string>;
  /** Same names over the raw files: what an admin must see. */
  rawByQueryName: Map<string, string>;
}

/** Every name a query may use for a table: pond.table (selected major 1) and pond@N.table. */
function queryNames(files: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, file] of files) {
    out.set(key, file);
    const [qualifier, table] = key.split('.') as [string, string];
    const [pond, major] = qualifier.split('@') as [string, string];
    if (major === '1') out.set(`${pond}.${table}`, file);
  }
  return out;
}

export async function writeSnapshots(dir: string): Promise<Snapshots> {
  const duck = await openDuck();
  try {
    const raw = new Map<string, string>();
    const tables: { pond: string; major: number; name: string; columns: { name: string; type: string }[] }[] =
      [];
    for (const [key, sql] of Object.entries(RAW)) {
      const [qualifier, name] = key.split('.') as [string, string];
      const [pond, major] = qualifier.split('@') as [string, string];
      const folder = path.join(dir, 'raw', qualifier);
      mkdirSync(folder, { recursive: true });
      const file = path.join(folder, `${name}.parquet`);
      await duck.connection.run(`COPY (${sql}) TO '${file}' (FORMAT parquet)`);
      raw.set(key, file);
      const described = await duck.connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
      tables.push({
        pond,
        major: Number(major),
        name,
        columns: described.getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) })),
      });
    }
    const derive = async (
      who: string,
      views: Record<string, (src: string) => string>,
    ): Promise<Map<string, string>> => {
      const out = new Map(raw);
      for (const [key, select] of Object.entries(views)) {
        const folder = path.join(dir, who);
        mkdirSync(folder, { recursive: true });
        const file = path.join(folder, `${key}.parquet`);
        await duck.connection.run(
          `COPY (${select(`read_parquet('${raw.get(key)}')`)}) TO '${file}' (FORMAT parquet)`,
        );
        out.set(key, file);
      }
      return out;
    };
    const bob = await derive('bob', BOB);
    const carol = await derive('carol', CAROL);
    return {
      policy: Policy.parse(POLICY_DOCUMENT),
      catalog: Catalog.parse({ tables, selected: { sales: 1, hr: 1 } }),
      raw,
      bobReference: queryNames(bob),
      carolReference: queryNames(carol),
      rawByQueryName: queryNames(raw),
    };
  } finally {
    duck.close();
  }
}
