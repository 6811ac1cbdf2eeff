/**
 * Defence in depth: the execution sandbox holds even where the rewrite errs. Each attack takes a
 * correctly governed query and plays a rewrite mistake by splicing an ungoverned read into the
 * SQL that reaches the executor; the sandbox must refuse it, and no answer or error may name a
 * snapshot file.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryError, QueryExecutor } from '../../src/compute/query.js';
import { type GovernedQuery, Governor } from '../../src/governance/rewrite.js';
import { sanitizeExecutionError } from '../../src/governance/sanitize.js';
import { tempDir } from '../compute/helpers.js';
import { FORBIDDEN_FOR_BOB, type Snapshots, writeSnapshots } from './fixtures.js';

let tmp: ReturnType<typeof tempDir>;
let snapshots: Snapshots;
let governor: Governor;
let executor: QueryExecutor;
let linkDir: string;

beforeAll(async () => {
  tmp = tempDir('sandbox-depth');
  snapshots = await writeSnapshots(tmp.dir);
  governor = await Governor.create();
  linkDir = path.join(tmp.dir, 'links');
  executor = new QueryExecutor({ maxConcurrent: 2, linkDirectory: linkDir });
});

afterAll(async () => {
  await executor?.close();
  governor?.close();
  tmp?.cleanup();
});

function govern(sql: string): Promise<GovernedQuery> {
  return governor.governQuery(sql, {
    principal: 'bob',
    policy: snapshots.policy,
    catalog: snapshots.catalog,
  });
}

function tablesOf(governed: GovernedQuery): Map<string, string> {
  return new Map(governed.tables.map((t) => [t.relation, snapshots.raw.get(t.key)!]));
}

async function outcome(sql: string, tables: Map<string, string>): Promise<{ ok: boolean; text: string }> {
  try {
    const result = await executor.execute(sql, { tables });
    return { ok: true, text: JSON.stringify(result.rows) };
  } catch (error) {
    const e = error as QueryError;
    return { ok: false, text: `${e.code}: ${e.message}\n${e.detail ?? ''}` };
  }
}

/** Neither a raw value nor any path of the fixture's folder may appear, but one the attacker wrote. */
function assertClean(text: string, what: string, written?: string): void {
  for (const token of FORBIDDEN_FOR_BOB)
    expect(text.includes(token), `${what} leaks ${token}: ${text}`).toBe(false);
  // DuckDB quotes the caller's own SQL (possibly cut mid-path) after "LINE n:"; that is theirs.
  const own = text.replace(/LINE \d+:.*$/gm, '');
  const rest = written === undefined ? own : own.split(written).join('');
  expect(rest.includes(tmp.dir), `${what} names a path: ${JSON.stringify(text)}`).toBe(false);
}

describe('the sandbox holds where the rewrite errs', () => {
  it('an ungoverned name of a raw table does not resolve: raw views live under a per-query random schema', async () => {
    const governed = await govern('SELECT count(*) AS n FROM sales.daily');
    for (const leak of [
      `SELECT * FROM "sales@1".daily`,
      `SELECT * FROM sales.daily`,
      `SELECT * FROM daily`,
      `SELECT * FROM "sales@1.daily"`,
    ]) {
      const got = await outcome(`${leak} UNION ALL BY NAME (${governed.sql})`, tablesOf(governed));
      expect(got.ok, leak).toBe(false);
      expect(got.text, leak).toMatch(/^unknown_table|^invalid_sql/);
      assertClean(got.text, leak);
    }
  });

  it('the real snapshot path is not readable, even by a function the rewrite should have refused', async () => {
    const governed = await govern('SELECT count(*) AS n FROM sales.daily');
    const real = snapshots.raw.get('sales@1.daily')!;
    for (const leak of [
      `SELECT * FROM read_parquet('${real}')`,
      `SELECT * FROM '${real}'`,
      `SELECT * FROM parquet_scan('${real}')`,
      `SELECT * FROM read_text('${real}')`,
      `SELECT * FROM glob('${path.dirname(real)}/*')`,
    ]) {
      const got = await outcome(`SELECT * FROM (${leak}) x, (${governed.sql}) y`, tablesOf(governed));
      expect(got.ok, leak).toBe(false);
      assertClean(got.text, leak, /'([^']*)'/.exec(leak)![1]);
    }
  });

  it('a link path learnt in one query is dead in the next (the two-query attack)', async () => {
    const governed = await govern('SELECT count(*) AS n FROM sales.daily');
    // A rewrite mistake that let introspection through: the link paths are learnt…
    const learn = await executor.execute(
      `SELECT current_setting('allowed_paths') AS p, (${governed.sql}) AS n`,
      {
        tables: tablesOf(governed),
      },
    );
    const learnt = (learn.rows[0]![0] as string[]).filter((p) => p.endsWith('.parquet'));
    expect(learnt).toHaveLength(1);
    expect(learnt[0]!.startsWith(linkDir)).toBe(true);
    expect(learnt[0]).not.toContain('sales');
    // …and replayed by a second query with a second mistake: the link is gone, so is its folder.
    expect(existsSync(learnt[0]!)).toBe(false);
    const again = await govern('SELECT count(*) AS n FROM sales.daily');
    const got = await outcome(
      `SELECT * FROM read_parquet('${learnt[0]}'), (${again.sql}) y`,
      tablesOf(again),
    );
    expect(got.ok).toBe(false);
    expect(got.text).toMatch(/not_allowed|execution_failed|invalid_sql/);
    assertClean(got.text, 'replayed link', learnt[0]);
  });

  it('removes every per-query link folder, after success and after failure', async () => {
    const governed = await govern('SELECT count(*) AS n FROM sales.daily');
    await executor.execute(governed.sql, { tables: tablesOf(governed) });
    await outcome(`SELECT CAST(memo AS INTEGER) FROM (${governed.sql}) x`, tablesOf(governed));
    expect(readdirSync(linkDir)).toEqual([]);
  });

  it('keeps reading a snapshot that garbage collection deletes mid-query', async () => {
    const copy = path.join(tmp.dir, 'doomed.parquet');
    const { copyFileSync } = await import('node:fs');
    copyFileSync(snapshots.raw.get('sales@1.daily')!, copy);
    const governed = await govern('SELECT count(*) AS n FROM sales.daily');
    const tables = new Map(governed.tables.map((t) => [t.relation, copy]));
    // The links exist once the sandbox is set up; deleting the published name then changes nothing.
    const running = executor.execute(
      `SELECT (${governed.sql}) AS n, sum(hash(range)) > 0 AS busy FROM range(3000000)`,
      { tables },
    );
    await waitForLinks();
    rmSync(copy);
    const result = await running;
    expect(result.rows).toEqual([[16, true]]);
  });

  it('answers bind errors with DuckDB’s message, naming tables as the caller wrote them', async () => {
    const governed = await govern('SELECT nope FROM sales.daily');
    const error = await executor
      .execute(governed.sql, { tables: tablesOf(governed) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).code).toBe('invalid_sql');
    const safe = sanitizeExecutionError(error, new Map(governed.tables.map((t) => [t.relation, t.key])));
    expect(safe.code).toBe('invalid_sql');
    expect(safe.publicMessage).toMatch(/^Binder Error: Referenced column "nope" not found in FROM clause!/);
    // No excerpt of the rewritten SQL (it holds the policy's expressions), no internal names.
    expect(safe.publicMessage).not.toMatch(/LINE \d+:|raw_[0-9a-f]{32}|CASE|regexp_replace/);
    assertClean(safe.publicMessage, 'bind error');
  });

  it('keeps errors raised while reading rows generic (they may quote hidden values)', async () => {
    const governed = await govern('SELECT CAST(memo AS INTEGER) FROM sales.daily');
    const error = await executor
      .execute(governed.sql, { tables: tablesOf(governed) })
      .catch((e: unknown) => e);
    expect((error as QueryError).code).toBe('execution_failed');
    const safe = sanitizeExecutionError(error);
    expect(safe.publicMessage).toMatch(/^the query failed while executing \(error id /);
  });
});

/** Resolves once the executor has linked a query's first snapshot (checks the folder on each tick). */
async function waitForLinks(): Promise<void> {
  for (;;) {
    const folders = existsSync(linkDir) ? readdirSync(linkDir) : [];
    if (folders.some((f) => existsSync(path.join(linkDir, f, '0.parquet')))) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
