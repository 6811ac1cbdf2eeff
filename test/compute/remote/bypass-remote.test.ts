/**
 * The governance bypass corpus with every query routed to a real worker process: for bob, carol
 * and an administrator, each governed (rewritten) query runs both on the local executor and on the
 * worker through the router's remote backend, and the two outcomes must be identical — the same
 * columns, types and values, or the same error code and message. Refusals happen in the Catchment
 * before any routing, so they are the same by construction; the corpus checks that too, and that
 * nothing bob may not see reaches him from the worker.
 */
import { mkdirSync, statSync } from 'node:fs';
import { link } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirRel } from '../../../src/catchment/store/layout.js';
import { QueryExecutor, type QueryResult } from '../../../src/compute/query.js';
import { WorkerClientPool } from '../../../src/compute/remote/client-pool.js';
import { RemoteQueryBackend } from '../../../src/compute/remote/remote-backend.js';
import type { SnapshotRef } from '../../../src/compute/snapshot-store.js';
import { GovernanceError } from '../../../src/governance/errors.js';
import { type GovernedQuery, Governor } from '../../../src/governance/rewrite.js';
import { CORPUS } from '../../governance/corpus.js';
import { NAMES_CORPUS } from '../../governance/corpus-names.js';
import { FORBIDDEN_FOR_BOB, type Snapshots, writeSnapshots } from '../../governance/fixtures.js';
import { tempDir } from '../helpers.js';
import { spawnWorker, type WorkerProcess } from '../worker/support.js';

const TOKEN = 'bypass-remote-token-5d1e0f';

let tmp: ReturnType<typeof tempDir>;
let root: string;
let snapshots: Snapshots;
let governor: Governor;
let executor: QueryExecutor;
let worker: WorkerProcess;
let pool: WorkerClientPool;
let remote: RemoteQueryBackend;
/** 'pond@N.table' → the reference the worker reads it by (laid out as a Catchment root). */
const refs = new Map<string, SnapshotRef>();

beforeAll(async () => {
  tmp = tempDir('bypass-remote');
  snapshots = await writeSnapshots(path.join(tmp.dir, 'fixtures'));
  root = path.join(tmp.dir, 'root');
  for (const [key, file] of snapshots.raw) {
    const m = /^(.+)@(\d+)\.(.+)$/.exec(key)!;
    const ref: SnapshotRef = {
      pond: m[1]!,
      major: Number(m[2]),
      table: m[3]!,
      file: `${m[3]}/raw.parquet`,
      checksum: 'x',
    };
    const target = path.join(root, dataDirRel(ref.pond, ref.major), ref.file);
    mkdirSync(path.dirname(target), { recursive: true });
    await link(file, target);
    refs.set(key, ref);
  }
  governor = await Governor.create();
  executor = new QueryExecutor({ maxConcurrent: 2 });
  worker = await spawnWorker({ AGENT_TOKEN: TOKEN, MAX_MEMORY_GB: '1' }, ['--shared-root', root]);
  pool = new WorkerClientPool();
  const endpoint = {
    name: 'w1',
    url: worker.grpcUrl,
    token: TOKEN,
    status: 'active' as const,
    capacity: null,
    revision: 1,
  };
  remote = new RemoteQueryBackend(() => pool.acquire(endpoint), {
    sizeOf: (ref) => statSync(path.join(root, dataDirRel(ref.pond, ref.major), ref.file)).size,
    capability: () => 'unused-with-a-shared-root',
    snapshotUrl: () => '',
  });
}, 120_000);

afterAll(async () => {
  pool?.close();
  worker?.child.kill('SIGTERM');
  await worker?.exited;
  await executor?.close();
  governor?.close();
  tmp?.cleanup();
});

type Outcome = { ok: true; result: QueryResult } | { ok: false; code: string; message: string };

async function outcome(run: () => Promise<QueryResult>): Promise<Outcome> {
  try {
    return { ok: true, result: await run() };
  } catch (error) {
    return { ok: false, code: String((error as { code?: unknown }).code), message: (error as Error).message };
  }
}

/** An outcome as text; rows sorted unless the query orders them (DuckDB's order is free then). */
function canonical(o: Outcome, ordered: boolean): string {
  // Which row a failing cast meets first depends on DuckDB's parallel scan, here as locally.
  if (!o.ok) return JSON.stringify({ ...o, message: o.message.replace(/'[^'\n]*'/g, "'…'") });
  const rows = o.result.rows.map((r) => JSON.stringify(r));
  return JSON.stringify({ ...o.result, rows: ordered ? rows : rows.sort() });
}

/** Governs `sql` for `principal`, runs it locally and remotely; returns a difference, or null. */
async function compare(sql: string, principal: string, ordered: boolean): Promise<string | null> {
  let governed: GovernedQuery;
  try {
    governed = await governor.governQuery(sql, {
      principal,
      policy: snapshots.policy,
      catalog: snapshots.catalog,
    });
  } catch (error) {
    // Refused in the Catchment: no backend, local or remote, is ever asked.
    return error instanceof GovernanceError ? null : `govern threw ${(error as Error).message}`;
  }
  const tables = governed.tables.map((t) => ({ relation: t.relation, snapshot: refs.get(t.key)! }));
  const local = await outcome(() =>
    executor.execute(governed.sql, {
      tables: new Map(governed.tables.map((t) => [t.relation, snapshots.raw.get(t.key)!])),
      principal,
    }),
  );
  const onWorker = await outcome(() =>
    remote.execute({ sql: governed.sql, tables, principal, timeoutMs: 30_000 }),
  );
  if (principal === 'bob') {
    // Values, not column names: a column named after the SQL's own literal shows only what bob wrote.
    const text = onWorker.ok ? JSON.stringify(onWorker.result.rows) : onWorker.message;
    for (const token of FORBIDDEN_FOR_BOB)
      if (text.includes(token) && !sql.includes(token)) return `the worker's answer shows "${token}"`;
  }
  const a = canonical(local, ordered);
  const b = canonical(onWorker, ordered);
  return a === b ? null : `local ${a.slice(0, 300)}\n    remote ${b.slice(0, 300)}`;
}

describe('bypass corpus routed to a worker', () => {
  for (const principal of ['bob', 'carol', 'root']) {
    it(`answers and refuses exactly as locally (${principal})`, async () => {
      const failures: string[] = [];
      const entries = [...CORPUS, ...NAMES_CORPUS];
      for (let i = 0; i < entries.length; i += 4) {
        await Promise.all(
          entries.slice(i, i + 4).map(async (entry) => {
            const difference = await compare(entry.sql, principal, entry.ordered === true);
            if (difference) failures.push(`${entry.sql}\n    ${difference}`);
          }),
        );
      }
      expect(failures, failures.join('\n\n')).toEqual([]);
    }, 300_000);
  }
});
