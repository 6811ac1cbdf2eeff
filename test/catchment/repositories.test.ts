/**
 * Behaviour of the store's repositories that store.test.ts does not pin down: deploy's atomicity across
 * versions, lines and budgets; failed writes leaving every table as it was; damaged rows reported as
 * store faults; and the typed query path (Kysely-compiled SQL run synchronously).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CatchmentStore,
  ConflictError,
  NotFoundError,
  queryBuilder,
  SqlRunner,
  StoreError,
  ValidationError,
} from '../../src/catchment/store/index.js';

const SUM_A = 'a'.repeat(64);
const SUM_B = 'b'.repeat(64);
const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 6);

let tmp: string;
let store: CatchmentStore;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'catchment-repos-'));
  store = CatchmentStore.open(path.join(tmp, 'root'));
});

afterEach(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const TABLES = [
  'ponds',
  'pond_versions',
  'selections',
  'budgets',
  'windows',
  'engine_state',
  'pond_runs',
  'ripple_attempts',
  'ducks',
] as const;

/** Every row of every catchment table, for "nothing changed" assertions. */
function dump(): Record<string, unknown[]> {
  return Object.fromEntries(
    TABLES.map((t) => [t, store.db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()]),
  );
}

function deploy(version: string, checksum = SUM_A, atMs = T0) {
  return store.deploy({ name: 'sales', version, checksum, manifest: { ripples: ['load'] }, atMs });
}

describe('deploy spans versions, lines and budgets atomically', () => {
  it('leaves no Pond, version, selection or budget behind when the first deploy of a Pond fails', () => {
    const before = dump();
    expect(() =>
      store.deploy(
        {
          name: 'orders',
          version: '1.0.0',
          checksum: SUM_A,
          manifest: {},
          atMs: T0,
          budgets: { immediateRetries: 4, sourceRetries: 4 },
        },
        {
          beforeCommit: (r) => {
            expect(r).toMatchObject({ created: true, previousVersion: null, budgetsSeeded: true });
            expect(store.listPonds()).toEqual(['orders']);
            throw new Error('pinned source missing');
          },
        },
      ),
    ).toThrow(/pinned source missing/);
    expect(dump()).toEqual(before);
    expect(store.listPonds()).toEqual([]);
    expect(store.highestMajor('orders')).toBeNull();
  });

  it('keeps every table unchanged when a redeploy conflicts or a rollback is vetoed', () => {
    deploy('1.0.0');
    deploy('1.1.0', SUM_B, T0 + 1);
    store.setBudgets('sales', 1, { immediateRetries: 3, sourceRetries: 2 }, T0 + 2);
    const before = dump();
    expect(() => deploy('1.1.0', SUM_A, T0 + 3)).toThrow(ConflictError);
    expect(() =>
      store.deploy(
        { name: 'sales', version: '1.0.0', checksum: SUM_A, manifest: {}, atMs: T0 + 4 },
        {
          beforeCommit: (r) => {
            expect(r).toMatchObject({ created: false, previousVersion: '1.1.0' });
            throw new Error('vetoed');
          },
        },
      ),
    ).toThrow(/vetoed/);
    expect(dump()).toEqual(before);
    expect(store.getLineConfig('sales', 1)).toMatchObject({
      selected: { version: '1.1.0' },
      selectedAt: T0 + 1,
      budgets: { immediateRetries: 3, sourceRetries: 2 },
    });
  });

  it('refuses an oversized manifest before writing anything', () => {
    const before = dump();
    expect(() =>
      store.deploy({
        name: 'sales',
        version: '1.0.0',
        checksum: SUM_A,
        manifest: { blob: 'x'.repeat(1_000_001) },
        atMs: T0,
      }),
    ).toThrow(/manifest: must be at most 1000000 bytes/);
    expect(dump()).toEqual(before);
  });
});

describe('failed writes leave state unchanged', () => {
  beforeEach(() => {
    deploy('1.0.0');
  });

  it('line config: bad windows and budgets, unknown lines', () => {
    const morning = {
      name: 'morning',
      startAnchor: T0 + 6 * HOUR,
      everyMs: 24 * HOUR,
      durationMs: 2 * HOUR,
      validDays: [],
      until: null,
    };
    store.addWindow('sales', 1, morning, T0);
    const before = dump();
    expect(() =>
      store.addWindow('sales', 1, { ...morning, name: 'late', startAnchor: T0 + 7 * HOUR }, T0),
    ).toThrow(ValidationError);
    expect(() => store.addWindow('sales', 1, { ...morning, validDays: ['MON', 'MON'] }, T0)).toThrow(
      /must not repeat a day/,
    );
    expect(() => store.addWindow('sales', 1, morning, -1)).toThrow(/atMs/);
    expect(() => store.removeWindow('sales', 1, 'Morning')).toThrow(ValidationError);
    expect(() => store.removeWindow('sales', 2, 'morning')).toThrow(NotFoundError);
    expect(() => store.setBudgets('sales', 1, { immediateRetries: 1001, sourceRetries: 0 }, T0)).toThrow(
      ValidationError,
    );
    expect(() => store.setBudgets('sales', 2, { immediateRetries: 1, sourceRetries: 0 }, T0)).toThrow(
      NotFoundError,
    );
    expect(dump()).toEqual(before);
  });

  it('run history: unknown versions and lines create no run row', () => {
    const before = dump();
    expect(() =>
      store.recordRippleAttempt({
        pond: 'sales',
        major: 1,
        f: T0,
        version: '1.9.0',
        ripple: 'load',
        attempt: 0,
        status: 'running',
        startedAt: T0,
      }),
    ).toThrow(/no deployed version 1.9.0 on major 1/);
    expect(() =>
      store.recordRippleAttempt({
        pond: 'sales',
        major: 1,
        f: T0,
        version: '1.0.0',
        ripple: 'load',
        attempt: -1,
        status: 'running',
        startedAt: T0,
      }),
    ).toThrow(/attempt/);
    expect(() => store.finishPondRun('sales', 1, T0, { status: 'failed', atMs: T0 })).toThrow(NotFoundError);
    expect(() => store.listRunAttempts(0)).toThrow(/run id/);
    expect(dump()).toEqual(before);
  });

  it('ducks: unknown lines and bad states', () => {
    const { token } = store.registerDuck({ pond: 'sales', major: 1, pid: null, atMs: T0 });
    const before = dump();
    expect(() => store.registerDuck({ pond: 'sales', major: 2, pid: 1, atMs: T0 })).toThrow(NotFoundError);
    expect(() => store.registerDuck({ pond: 'sales', major: 1, pid: 0, atMs: T0 })).toThrow(/pid/);
    expect(() => store.setDuckState('sales', 1, 'running', -5)).toThrow(/pid/);
    expect(() => store.setDuckState('sales', 2, 'running')).toThrow(NotFoundError);
    expect(dump()).toEqual(before);
    expect(store.verifyDuckToken('sales', 1, token)?.state).toBe('starting');
  });
});

describe('Duck tokens', () => {
  it('find the Duck a token belongs to, and only while it is current', () => {
    deploy('1.0.0');
    deploy('2.0.0', SUM_B);
    const one = store.registerDuck({ pond: 'sales', major: 1, pid: 11, atMs: T0 });
    const two = store.registerDuck({ pond: 'sales', major: 2, pid: 22, atMs: T0 });
    expect(store.findDuckByToken(one.token)).toMatchObject({ pond: 'sales', major: 1, pid: 11 });
    expect(store.findDuckByToken(two.token)).toMatchObject({ pond: 'sales', major: 2, pid: 22 });
    expect(store.findDuckByToken(one.token.toUpperCase())).toBeNull();
    expect(store.findDuckByToken(42)).toBeNull();
    expect(store.verifyDuckToken('sales', 2, one.token)).toBeNull();
    const again = store.registerDuck({ pond: 'sales', major: 1, pid: 12, atMs: T0 + 1 });
    expect(again.duck.duckId).not.toBe(one.duck.duckId);
    expect(store.findDuckByToken(one.token)).toBeNull();
    expect(store.findDuckByToken(again.token)).toMatchObject({ major: 1, pid: 12, registeredAt: T0 + 1 });
    expect(store.listDucks().map((d) => [d.major, d.pid])).toEqual([
      [1, 12],
      [2, 22],
    ]);
  });
});

describe('damaged rows are store faults, not bad input', () => {
  it('reports an engine state that is not a snapshot', () => {
    store.db
      .prepare(
        "INSERT INTO engine_state (id, encoding, state, saved_at) VALUES (1, 'json+deflate-raw', ?, 0)",
      )
      .run(deflateRawSync(JSON.stringify({ format: 2 })));
    expect(() => store.loadEngineState()).toThrow(StoreError);
    expect(() => store.loadEngineState()).toThrow(/not an engine snapshot/);
    store.db.prepare('UPDATE engine_state SET state = ?').run(Buffer.from('not deflated'));
    expect(() => store.loadEngineState()).toThrow(/cannot be decoded/);
  });

  it('reports window days that are not weekdays', () => {
    deploy('1.0.0');
    store.db
      .prepare(
        `INSERT INTO windows (pond, major, name, start_anchor, every_ms, duration_ms, valid_days, until_ms, created_at)
         VALUES ('sales', 1, 'w', 0, 10, 10, '["SOMEDAY"]', NULL, 0)`,
      )
      .run();
    expect(() => store.listWindows('sales', 1)).toThrow(StoreError);
    expect(() => store.listWindows('sales', 1)).not.toThrow(ValidationError);
  });
});

describe('typed queries', () => {
  it('compiles with Kysely and runs synchronously on the same connection', () => {
    deploy('1.0.0');
    const sql = new SqlRunner(store.db);
    const q = queryBuilder
      .selectFrom('selections')
      .select(['pond', 'major', 'version'])
      .where('pond', '=', 'sales');
    expect(q.compile().sql).toBe('select "pond", "major", "version" from "selections" where "pond" = ?');
    expect(sql.all(q)).toEqual([{ pond: 'sales', major: 1, version: '1.0.0' }]);
    expect(sql.first(q.where('major', '=', 9))).toBeUndefined();
    // A transaction that throws rolls back the writes made through the runner.
    expect(() =>
      sql.transaction(() => {
        sql.run(queryBuilder.deleteFrom('budgets'));
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(store.getBudgets('sales', 1)).toEqual({ immediateRetries: 0, sourceRetries: 0 });
  });
});
