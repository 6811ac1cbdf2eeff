/**
 * The query service over its ports: real governance (SQLite store, governor workers), the local
 * snapshot store and the local backend, with a backend in front that keeps the requests it routed.
 * Checks the order govern → route → execute → audit, and that what crosses the backend port is
 * plain data a remote worker could receive.
 */

import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatchmentStore } from '../../src/catchment/store/index.js';
import { LocalQueryBackend } from '../../src/compute/local-query-backend.js';
import { LocalSnapshotStore } from '../../src/compute/local-snapshot-store.js';
import { QueryExecutor } from '../../src/compute/query.js';
import type { QueryBackend, QueryBackendRequest } from '../../src/compute/query-backend.js';
import { localRouter } from '../../src/compute/remote/router.js';
import { type SnapshotRef, snapshotKey } from '../../src/compute/snapshot-store.js';
import { stagingPath } from '../../src/compute/snapshots.js';
import type { PolicyDocument } from '../../src/governance/policy.js';
import { GovernanceService, type Identity } from '../../src/governance/service.js';
import { GovernanceStore } from '../../src/governance/store.js';
import { QueryExecutionFailed } from '../../src/query/errors.js';
import { resolveQueryLimits } from '../../src/query/limits.js';
import { QueryService } from '../../src/query/query-service.js';
import { tempDir } from '../compute/helpers.js';
import { POLICY_DOCUMENT, type Snapshots, writeSnapshots } from '../governance/fixtures.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const bob: Identity = { principal: 'bob', keyId: null };
const dashboard: Identity = { principal: 'dashboard', keyId: null };

let tmp: ReturnType<typeof tempDir>;
let fixtures: Snapshots;
let store: CatchmentStore;
let governance: GovernanceService;
let executor: QueryExecutor;
let queries: QueryService;
const routed: QueryBackendRequest[] = [];
const tapReads: string[] = [];
let released = 0;

beforeAll(async () => {
  tmp = tempDir('query-service');
  fixtures = await writeSnapshots(tmp.dir);
  const snapshots = new LocalSnapshotStore({
    dataDir: (l) => path.join(tmp.dir, 'ponds', l.pond, `m${l.major}`, 'data'),
  });
  // Publish the fixture tables as the lines' snapshots, the way a Duck does.
  const byLine = new Map<string, { pond: string; major: number; tables: { name: string; file: string }[] }>();
  for (const [key, file] of fixtures.raw) {
    const [qualifier, name] = key.split('.') as [string, string];
    const [pond, major] = qualifier.split('@') as [string, string];
    const line = byLine.get(qualifier) ?? { pond, major: Number(major), tables: [] };
    line.tables.push({ name, file });
    byLine.set(qualifier, line);
  }
  for (const line of byLine.values()) {
    const dataDir = path.join(tmp.dir, 'ponds', line.pond, `m${line.major}`, 'data');
    const tables = [];
    for (const t of line.tables) {
      const stagedPath = await stagingPath(dataDir, t.name);
      copyFileSync(t.file, stagedPath);
      tables.push({ name: t.name, stagedPath });
    }
    await snapshots.publish(line, { f: T0, tables });
  }
  store = CatchmentStore.open(path.join(tmp.dir, 'root'));
  const document = structuredClone(POLICY_DOCUMENT) as PolicyDocument;
  document.principals.push({ name: 'admin', kind: 'user' });
  document.groups.find((g) => g.name === 'admins')!.members.push('admin');
  new GovernanceStore(store.db).saveDocument(document, 0, T0);
  governance = new GovernanceService(new GovernanceStore(store.db), {
    adminKey: 'query-service-test-admin-key',
    catalog: async () => fixtures.catalog,
    now: () => T0,
  });
  executor = new QueryExecutor({ leases: snapshots.leases });
  const local = new LocalQueryBackend(executor, snapshots);
  const recording: QueryBackend = {
    execute: (request) => {
      routed.push(request);
      return local.execute(request);
    },
  };
  const lines = [...byLine.values()].map((l) => ({ pond: l.pond, major: l.major }));
  queries = new QueryService({
    governance,
    snapshots: {
      snapshot: async () => {
        const held = await snapshots.acquire(lines);
        const refs = new Map<string, SnapshotRef>();
        for (const l of held.lines) for (const t of l.tables) refs.set(snapshotKey(t.ref), t.ref);
        return {
          catalog: fixtures.catalog,
          refs,
          release: () => {
            released++;
            held.release();
          },
        };
      },
    },
    router: localRouter(recording),
    limits: resolveQueryLimits(),
    onTapRead: (pond, major) => tapReads.push(`${pond}@${major}`),
  });
}, 120_000);

afterAll(async () => {
  await governance?.close();
  await executor?.close();
  store?.close();
  tmp?.cleanup();
});

const lastAudit = () => governance.store.listAudit({ limit: 1, kind: 'query' })[0]!;

describe('QueryService', () => {
  it('governs, routes plain data to the backend, executes and audits', async () => {
    routed.length = 0;
    const before = released;
    const result = await queries.query(bob, 'SELECT count(*) AS n FROM sales.daily');
    const reference = await executor.execute('SELECT count(*) AS n FROM sales.daily', {
      tables: fixtures.bobReference,
    });
    expect(result.rows).toEqual(reference.rows);
    expect(routed).toHaveLength(1);
    const request = routed[0]!;
    // What a remote worker would receive: serializable as is, with references and no paths.
    expect(JSON.parse(JSON.stringify(request))).toEqual(request);
    expect(request.principal).toBe('bob');
    expect(request.sql).not.toBe('SELECT count(*) AS n FROM sales.daily');
    expect(request.tables.map((t) => snapshotKey(t.snapshot))).toEqual(['sales@1.daily']);
    expect(request.sql).toContain(request.tables[0]!.relation);
    expect(path.isAbsolute(request.tables[0]!.snapshot.file)).toBe(false);
    expect(request.timeoutMs).toBeGreaterThan(0);
    expect(request.timeoutMs).toBeLessThanOrEqual(resolveQueryLimits().timeoutMs);
    expect(released).toBe(before + 1);
    const audit = lastAudit();
    expect(audit).toMatchObject({ at: T0, principal: 'bob', kind: 'query', decision: 'allowed' });
    expect(audit.detail).toMatchObject({
      sql: 'SELECT count(*) AS n FROM sales.daily',
      rewritten_sql: request.sql,
      tables: ['sales@1.daily'],
      rows: 1,
    });
  });

  it('a refusal is audited as denied and never reaches a backend', async () => {
    routed.length = 0;
    const before = released;
    await expect(queries.query(bob, 'SELECT * FROM hr.salaries')).rejects.toThrow(/hr\.salaries/);
    expect(routed).toEqual([]);
    expect(released).toBe(before + 1);
    expect(lastAudit()).toMatchObject({ principal: 'bob', decision: 'denied' });
  });

  it('an execution error answers a generic message and an error id; the audit keeps the detail', async () => {
    const error = await queries
      .query(bob, "SELECT CAST(memo || 'x' AS INTEGER) FROM sales.daily")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryExecutionFailed);
    const failed = error as QueryExecutionFailed;
    const audit = lastAudit();
    expect(audit).toMatchObject({ principal: 'bob', decision: 'failed' });
    expect(audit.detail.error_id).toBe(failed.errorId);
    expect(failed.message).not.toMatch(/HIDDEN-|zq_user/);
  });

  it("a tap principal's read is pull demand on each line it read", async () => {
    tapReads.length = 0;
    await queries.query(
      dashboard,
      'SELECT count(*) FROM sales.daily JOIN "sales@1".customers USING (region)',
    );
    expect(tapReads).toEqual(['sales@1']);
    await queries.query(bob, 'SELECT count(*) FROM sales.daily');
    expect(tapReads).toEqual(['sales@1']);
  });
});
