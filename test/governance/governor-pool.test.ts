/**
 * Governing on worker threads: the real worker (started from the TypeScript sources here, and from
 * the build) gives the same answers and refusals as the in-thread Governor; a job that overruns its
 * time is abandoned, its worker terminated and replaced; a job still waiting when its time runs out
 * never reaches a worker.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/governance/catalog.js';
import { GovernanceError, QueryDeadlineExceeded } from '../../src/governance/errors.js';
import { describeCatalog, type GovernJob, GovernorPool } from '../../src/governance/governor-pool.js';
import { Policy } from '../../src/governance/policy.js';
import { Governor } from '../../src/governance/rewrite.js';
import { POLICY_DOCUMENT } from './fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STALLING = pathToFileURL(path.join(ROOT, 'test/support/stalling-governor-worker.ts'));

const CATALOG = Catalog.parse({
  tables: [
    {
      pond: 'sales',
      major: 1,
      name: 'daily',
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'region', type: 'VARCHAR' },
        { name: 'customer_email', type: 'VARCHAR' },
        { name: 'amount', type: 'DECIMAL(12,2)' },
      ],
    },
  ],
  selected: { sales: 1 },
});

const job = (sql: string, principal = 'bob'): GovernJob => ({
  sql,
  principal,
  policy: { revision: 7, document: POLICY_DOCUMENT as never },
  catalog: CATALOG,
});

/** The governed SQL with its per-query random raw schema name made constant, for comparison. */
const normalised = (sql: string) => sql.replace(/raw_[0-9a-f]+/g, 'raw');

describe('GovernorPool with the real worker', () => {
  let pool: GovernorPool;
  let governor: Governor;
  beforeAll(async () => {
    pool = new GovernorPool({ threads: 2 });
    governor = await Governor.create();
  });
  afterAll(async () => {
    await pool.close();
    governor.close();
  });

  it('rewrites exactly as the in-thread Governor does', async () => {
    const sql = 'SELECT region, sum(amount) AS total FROM sales.daily GROUP BY region ORDER BY region';
    const [pooled, local] = await Promise.all([
      pool.govern(job(sql), 30_000),
      governor.governQuery(sql, {
        principal: 'bob',
        policy: Policy.parse(POLICY_DOCUMENT),
        catalog: CATALOG,
      }),
    ]);
    expect(normalised(pooled.sql)).toBe(normalised(local.sql));
    expect(pooled.tables.map((t) => t.key)).toEqual(['sales@1.daily']);
    expect(pooled.columns).toEqual(local.columns);
    expect(pooled.sql).toContain("region = 'EU'");
  });

  it('passes refusals back as the same GovernanceError', async () => {
    const sql = "SELECT * FROM read_csv('/etc/passwd')";
    const local = (await governor
      .governQuery(sql, { principal: 'bob', policy: Policy.parse(POLICY_DOCUMENT), catalog: CATALOG })
      .catch((e: unknown) => e)) as GovernanceError;
    const pooled = (await pool.govern(job(sql), 30_000).catch((e: unknown) => e)) as GovernanceError;
    expect(pooled).toBeInstanceOf(GovernanceError);
    expect(local).toBeInstanceOf(GovernanceError);
    expect({ code: pooled.code, message: pooled.message, status: pooled.status }).toEqual({
      code: local.code,
      message: local.message,
      status: local.status,
    });
  });

  it('picks up a new policy revision', async () => {
    const sql = 'SELECT count(*) FROM sales.daily';
    expect((await pool.govern(job(sql), 30_000)).sql).toContain("region = 'EU'");
    const document = structuredClone(POLICY_DOCUMENT) as typeof POLICY_DOCUMENT;
    document.rowFilters[0]!.filter = "region = 'US'";
    const next = await pool.govern(
      { ...job(sql), policy: { revision: 8, document: document as never } },
      30_000,
    );
    expect(next.sql).toContain("region = 'US'");
    expect(next.sql).not.toContain("region = 'EU'");
  });

  it('describes a catalog so that Catalog.parse rebuilds it', () => {
    const rebuilt = Catalog.parse(describeCatalog(CATALOG));
    expect(rebuilt.all()).toEqual(CATALOG.all());
    expect(rebuilt.selectedMajor('sales')).toBe(1);
  });
});

describe('GovernorPool timeouts', () => {
  it('terminates and replaces a worker whose job overruns, and answers with the next one', async () => {
    const pool = new GovernorPool({ threads: 1, entry: STALLING });
    try {
      const before = (await pool.govern(job('SELECT 1'), 30_000)).sql;
      const stalled = await pool.govern(job('stall'), 200).catch((e: unknown) => e);
      expect(stalled).toBeInstanceOf(QueryDeadlineExceeded);
      expect((stalled as QueryDeadlineExceeded).stage).toBe('governing');
      const after = (await pool.govern(job('SELECT 1'), 30_000)).sql;
      expect(after).toMatch(/^-- governed by thread \d+$/);
      expect(after).not.toBe(before);
    } finally {
      await pool.close();
    }
  });

  it('drops a job whose time runs out while it waits for a worker', async () => {
    const pool = new GovernorPool({ threads: 1, entry: STALLING });
    const running = pool.govern(job('stall', 'alice'), 60_000).catch((e: unknown) => e);
    try {
      const waited = await pool.govern(job('SELECT 1', 'bob'), 100).catch((e: unknown) => e);
      expect(waited).toBeInstanceOf(QueryDeadlineExceeded);
      expect((waited as QueryDeadlineExceeded).stage).toBe('waiting to be governed');
      expect(pool.load()).toMatchObject({ running: 1, waiting: 0 });
    } finally {
      await pool.close();
    }
    // Closing the pool ends the job that was still running, with an error.
    expect(await running).toBeInstanceOf(Error);
  });
});

describe('GovernorPool from the build', () => {
  it('starts the compiled worker (dist/) without tsx', async () => {
    const built = path.join(ROOT, 'dist/governance/governor-pool.js');
    expect(existsSync(built), 'run the build first (the test suite global setup does)').toBe(true);
    expect(existsSync(path.join(ROOT, 'dist/governance/governor-worker.js'))).toBe(true);
    const { GovernorPool: BuiltPool } = (await import(pathToFileURL(built).href)) as {
      GovernorPool: typeof GovernorPool;
    };
    const pool = new BuiltPool({ threads: 1 });
    try {
      const governed = await pool.govern(job('SELECT id FROM sales.daily'), 30_000);
      expect(governed.tables.map((t) => t.key)).toEqual(['sales@1.daily']);
      expect(governed.sql).toContain("region = 'EU'");
    } finally {
      await pool.close();
    }
  });
});

describe('GovernorPool.close', () => {
  it('keeps the process alive until its workers have ended', async () => {
    // Idle workers are unref'd. A script whose only pending work is `await pool.close()` used to
    // end mid-close with exit code 13 (unsettled top-level await), skipping everything after it.
    const { execFileSync } = await import('node:child_process');
    const script = [
      `import { GovernorPool } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/governance/governor-pool.js')).href)};`,
      'const pool = new GovernorPool({ threads: 2 });',
      'await pool.close();',
      "process.stdout.write('closed');",
    ].join('\n');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(out).toBe('closed');
  });
});
