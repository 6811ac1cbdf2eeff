import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CatchmentStore,
  ConflictError,
  ensureAdminKey,
  ensureLineDirs,
  ensureRoot,
  MIGRATIONS,
  type Migration,
  migrate,
  NotFoundError,
  openDatabase,
  placeVersionSource,
  RootError,
  resolveInRoot,
  SchemaTooNewError,
  StoreError,
  secretsEqual,
  ValidationError,
} from '../../src/catchment/store/index.js';
import { Engine, type EngineEvent, type PondSpec } from '../../src/engine/index.js';

const SUM_A = 'a'.repeat(64);
const SUM_B = 'b'.repeat(64);
const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 6); // a Monday

let tmp: string;
let root: string;
let store: CatchmentStore;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'catchment-store-'));
  root = path.join(tmp, 'root');
  store = CatchmentStore.open(root);
});

afterEach(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function deploy(
  version: string,
  checksum = SUM_A,
  extra: Partial<Parameters<CatchmentStore['deploy']>[0]> = {},
) {
  return store.deploy({
    name: 'sales',
    version,
    checksum,
    manifest: { ripples: ['load'] },
    atMs: T0,
    ...extra,
  });
}

function tableNames(db: Database.Database): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{
      name: string;
    }>
  ).map((r) => r.name);
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe('root layout', () => {
  it('creates the root with mode 0700 and the database with 0600', () => {
    expect(mode(root)).toBe(0o700);
    expect(mode(path.join(root, 'duck.db'))).toBe(0o600);
    expect(fs.statSync(path.join(root, 'ponds')).isDirectory()).toBe(true);
  });

  it('refuses a root that is a file, with a clear error', () => {
    const file = path.join(tmp, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    expect(() => ensureRoot(file)).toThrow(RootError);
    expect(() => ensureRoot(file)).toThrow(/exists but is not a directory/);
  });

  it.skipIf(process.getuid?.() === 0)('refuses a root that is not writable', () => {
    const ro = path.join(tmp, 'ro');
    fs.mkdirSync(ro, { mode: 0o500 });
    expect(() => ensureRoot(ro)).toThrow(/is not writable/);
    expect(() => ensureRoot(path.join(ro, 'child'))).toThrow(/cannot create Catchment root/);
  });

  it('keeps stored paths inside the root', () => {
    expect(resolveInRoot(root, 'ponds/sales/1.0.0')).toBe(path.join(root, 'ponds', 'sales', '1.0.0'));
    expect(() => resolveInRoot(root, '../elsewhere')).toThrow(/escapes the Catchment root/);
    expect(() => resolveInRoot(root, '/etc/passwd')).toThrow(/not a root-relative path/);
  });

  it('lays out each major line separately', () => {
    const m1 = ensureLineDirs(root, 'sales', 1);
    const m2 = ensureLineDirs(root, 'sales', 2);
    expect(m1.registry).toBe(path.join(root, 'ponds/sales/m1/registry.duckdb'));
    expect(m1.ledger).toBe(path.join(root, 'ponds/sales/m1/pond.db'));
    expect(fs.statSync(m2.data).isDirectory()).toBe(true);
    expect(() => ensureLineDirs(root, '../x', 1)).toThrow(ValidationError);
  });
});

describe('migrations', () => {
  it('applies every migration to an empty database and none on re-open', () => {
    const rows = () =>
      store.db.prepare('SELECT id, name, applied_at FROM schema_migrations ORDER BY id').all() as Array<{
        id: number;
        name: string;
        applied_at: number;
      }>;
    const first = rows();
    expect(first.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
    expect(tableNames(store.db)).toEqual(
      expect.arrayContaining(['ponds', 'pond_versions', 'selections', 'windows', 'budgets', 'engine_state']),
    );
    store.close();
    store = CatchmentStore.open(root);
    expect(rows()).toEqual(first);
    expect(migrate(store.db)).toEqual([]);
  });

  it('applies only pending migrations, each in its own transaction', () => {
    const file = path.join(tmp, 'm.db');
    const m1: Migration = { id: 1, name: 'one', sql: 'CREATE TABLE one (x INTEGER)' };
    const m2: Migration = { id: 2, name: 'two', sql: 'CREATE TABLE two (x INTEGER)' };
    const bad: Migration = {
      id: 3,
      name: 'bad',
      sql: 'CREATE TABLE three (x INTEGER); CREATE TABLE one (y)',
    };
    openDatabase(file, { migrations: [m1] }).close();
    const db = openDatabase(file, { migrations: [m1, m2] });
    expect(tableNames(db)).toEqual(['one', 'schema_migrations', 'two']);
    db.close();
    expect(() => openDatabase(file, { migrations: [m1, m2, bad] })).toThrow(/already exists/);
    const after = new Database(file);
    expect(tableNames(after)).toEqual(['one', 'schema_migrations', 'two']);
    expect(after.prepare('SELECT max(id) AS v FROM schema_migrations').get()).toEqual({ v: 2 });
    after.close();
  });

  it('refuses a database whose schema is newer than the code', () => {
    store.db
      .prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)')
      .run(99, 'future', 0);
    store.close();
    expect(() => CatchmentStore.open(root)).toThrow(SchemaTooNewError);
    expect(() => CatchmentStore.open(root)).toThrow(/schema version 99, but this build knows only up to/);
    store = CatchmentStore.open(path.join(tmp, 'other'));
  });

  it('refuses a database whose migration history disagrees with the code', () => {
    store.db.prepare("UPDATE schema_migrations SET name = 'something else' WHERE id = 1").run();
    store.close();
    expect(() => CatchmentStore.open(root)).toThrow(/incompatible build/);
    store = CatchmentStore.open(path.join(tmp, 'other'));
  });

  it('rejects a misnumbered migration list', () => {
    expect(() =>
      openDatabase(path.join(tmp, 'x.db'), { migrations: [{ id: 2, name: 'x', sql: '' }] }),
    ).toThrow(StoreError);
  });
});

describe('deploy', () => {
  it('records a version, selects it and seeds budgets', () => {
    const r = deploy('1.0.0', SUM_A, { budgets: { immediateRetries: 2, sourceRetries: 1 } });
    expect(r).toMatchObject({ created: true, previousVersion: null, budgetsSeeded: true });
    expect(r.version).toEqual({
      pond: 'sales',
      version: '1.0.0',
      major: 1,
      checksum: SUM_A,
      manifest: { ripples: ['load'] },
      sourcePath: 'ponds/sales/1.0.0',
      deployedAt: T0,
    });
    expect(store.getSelectedVersion('sales', 1)?.version).toBe('1.0.0');
    expect(store.getBudgets('sales', 1)).toEqual({ immediateRetries: 2, sourceRetries: 1 });
    expect(store.listPonds()).toEqual(['sales']);
  });

  it('is idempotent for the same version and checksum', () => {
    deploy('1.0.0');
    const again = deploy('1.0.0', SUM_A, { atMs: T0 + 5 });
    expect(again).toMatchObject({ created: false, previousVersion: '1.0.0', budgetsSeeded: false });
    expect(again.version.deployedAt).toBe(T0);
    expect(store.db.prepare("SELECT count(*) AS n FROM pond_versions WHERE pond = 'sales'").get()).toEqual({
      n: 1,
    });
  });

  it('refuses the same version with different content and changes nothing', () => {
    deploy('1.0.0');
    deploy('1.1.0');
    expect(() => deploy('1.0.0', SUM_B)).toThrow(ConflictError);
    expect(() => deploy('1.0.0', SUM_B)).toThrow(/already deployed with different content/);
    expect(store.versions.get('sales', '1.0.0')?.checksum).toBe(SUM_A);
    expect(store.getSelectedVersion('sales', 1)?.version).toBe('1.1.0');
  });

  it('rejects bad names and versions precisely, writing nothing', () => {
    expect(() =>
      store.deploy({ name: 'Sales-1', version: '1.0.0', checksum: SUM_A, manifest: {}, atMs: T0 }),
    ).toThrow(/invalid deploy: name: must be a lowercase identifier/);
    expect(() =>
      store.deploy({ name: 'sales', version: '1.0', checksum: SUM_A, manifest: {}, atMs: T0 }),
    ).toThrow(/version: must be a semantic version/);
    expect(() =>
      store.deploy({ name: 'sales', version: '1.0.0', checksum: 'nope', manifest: {}, atMs: T0 }),
    ).toThrow(/checksum: must be a lowercase hex SHA-256/);
    expect(() => deploy('1.0.0', SUM_A, { budgets: { immediateRetries: -1, sourceRetries: 0 } })).toThrow(
      /budgets.immediateRetries: must be >= 0/,
    );
    expect(store.listPonds()).toEqual([]);
  });

  it('rolls back to an older version by redeploying it', () => {
    deploy('1.0.0');
    deploy('1.1.0', SUM_B);
    const back = deploy('1.0.0');
    expect(back).toMatchObject({ created: false, previousVersion: '1.1.0' });
    expect(store.getSelectedVersion('sales', 1)?.version).toBe('1.0.0');
  });

  it('switches the selection atomically: a failure mid-deploy keeps the previous selection', () => {
    deploy('1.0.0', SUM_A, { budgets: { immediateRetries: 1, sourceRetries: 1 } });
    let sawNewSelection = false;
    expect(() =>
      store.deploy(
        { name: 'sales', version: '1.1.0', checksum: SUM_B, manifest: {}, atMs: T0 + 1 },
        {
          beforeCommit: () => {
            sawNewSelection = store.getSelectedVersion('sales', 1)?.version === '1.1.0';
            throw new Error('Cycle detected among: sales@1, orders@1');
          },
        },
      ),
    ).toThrow(/Cycle detected/);
    expect(sawNewSelection).toBe(true);
    expect(store.getSelectedVersion('sales', 1)?.version).toBe('1.0.0');
    expect(store.versions.get('sales', '1.1.0')).toBeNull();
    // A failed first deploy of a new major leaves no line and no seeded budgets behind.
    expect(() =>
      store.deploy(
        {
          name: 'sales',
          version: '2.0.0',
          checksum: SUM_B,
          manifest: {},
          atMs: T0,
          budgets: { immediateRetries: 9, sourceRetries: 9 },
        },
        {
          beforeCommit: () => {
            throw new Error('min_version violated');
          },
        },
      ),
    ).toThrow(/min_version/);
    expect(store.listLines('sales').map((l) => l.major)).toEqual([1]);
    expect(() => store.getBudgets('sales', 2)).toThrow(NotFoundError);
  });

  it('keeps pond_versions rows immutable even against direct SQL', () => {
    deploy('1.0.0');
    expect(() =>
      store.db.prepare("UPDATE pond_versions SET checksum = ? WHERE version = '1.0.0'").run(SUM_B),
    ).toThrow(/immutable/);
  });

  it('runs majors side by side', () => {
    deploy('1.0.0');
    deploy('2.0.0', SUM_B);
    deploy('1.1.0', SUM_B);
    store.deploy({ name: 'orders', version: '0.3.0', checksum: SUM_A, manifest: {}, atMs: T0 });
    expect(store.listLines('sales')).toEqual([
      { pond: 'sales', major: 1, version: '1.1.0', selectedAt: T0 },
      { pond: 'sales', major: 2, version: '2.0.0', selectedAt: T0 },
    ]);
    expect(store.listLines().map((l) => `${l.pond}@${l.major}`)).toEqual(['orders@0', 'sales@1', 'sales@2']);
    expect(store.highestMajor('sales')).toBe(2);
    expect(store.highestMajor('nothing')).toBeNull();
    expect(store.getSelectedVersion('sales', 2)?.version).toBe('2.0.0');
    expect(store.getSelectedVersion('sales', 3)).toBeNull();
  });
});

describe('operational config', () => {
  it('seeds budgets from the first deploy of each line only, then keeps the operator value', () => {
    deploy('1.0.0', SUM_A, { budgets: { immediateRetries: 2, sourceRetries: 1 } });
    store.setBudgets('sales', 1, { immediateRetries: 5, sourceRetries: 4 }, T0 + 1);
    const r = deploy('1.1.0', SUM_A, { budgets: { immediateRetries: 0, sourceRetries: 0 } });
    expect(r.budgetsSeeded).toBe(false);
    expect(store.getBudgets('sales', 1)).toEqual({ immediateRetries: 5, sourceRetries: 4 });
    deploy('2.0.0', SUM_A, { budgets: { immediateRetries: 3, sourceRetries: 3 } });
    expect(store.getBudgets('sales', 2)).toEqual({ immediateRetries: 3, sourceRetries: 3 });
    expect(() => store.setBudgets('sales', 1, { immediateRetries: -1, sourceRetries: 0 }, T0)).toThrow(
      ValidationError,
    );
    expect(store.getBudgets('sales', 1)).toEqual({ immediateRetries: 5, sourceRetries: 4 });
    expect(() => store.setBudgets('sales', 7, { immediateRetries: 1, sourceRetries: 1 }, T0)).toThrow(
      /has no deployed major 7/,
    );
  });

  it('keeps window names unique per line and rejects overlaps', () => {
    deploy('1.0.0');
    deploy('2.0.0');
    const morning = {
      name: 'morning',
      startAnchor: T0 + 6 * HOUR,
      everyMs: 24 * HOUR,
      durationMs: 2 * HOUR,
      validDays: [],
      until: null,
    };
    const evening = {
      ...morning,
      name: 'evening',
      startAnchor: T0 + 18 * HOUR,
      validDays: ['MON', 'FRI'] as const,
    };
    store.addWindow('sales', 1, morning, T0);
    store.addWindow('sales', 1, { ...evening, validDays: [...evening.validDays] }, T0);
    expect(() => store.addWindow('sales', 1, { ...morning, startAnchor: T0 }, T0)).toThrow(ConflictError);
    expect(() =>
      store.addWindow('sales', 1, { ...morning, name: 'brunch', startAnchor: T0 + 7 * HOUR }, T0),
    ).toThrow(/overlap window "morning"/);
    expect(() =>
      store.addWindow('sales', 1, { ...morning, name: 'long', durationMs: 25 * HOUR }, T0),
    ).toThrow(/durationMs: durationMs must not exceed everyMs/);
    // The same name on another major line is a different window.
    store.addWindow('sales', 2, morning, T0);
    expect(store.listWindows('sales', 1)).toEqual([morning, { ...evening, validDays: ['MON', 'FRI'] }]);
    store.removeWindow('sales', 1, 'morning');
    expect(store.listWindows('sales', 1).map((w) => w.name)).toEqual(['evening']);
    expect(() => store.removeWindow('sales', 1, 'morning')).toThrow(NotFoundError);
    expect(() => store.addWindow('sales', 9, morning, T0)).toThrow(NotFoundError);
    expect(store.listWindows('sales', 2)).toEqual([morning]);
  });

  it("assembles a line's config from its selection, budgets and windows", () => {
    deploy('1.0.0');
    deploy('2.0.0', SUM_A, { atMs: T0 + 7, budgets: { immediateRetries: 2, sourceRetries: 1 } });
    const window = {
      name: 'w',
      startAnchor: T0,
      everyMs: HOUR,
      durationMs: HOUR,
      validDays: [],
      until: null,
    };
    store.addWindow('sales', 2, window, T0);
    const cfg = store.getLineConfig('sales', 2);
    expect(cfg).toMatchObject({
      pond: 'sales',
      major: 2,
      selectedAt: T0 + 7,
      budgets: { immediateRetries: 2, sourceRetries: 1 },
      windows: [window],
    });
    expect(cfg.selected.version).toBe('2.0.0');
    expect(store.listLineConfigs().map((c) => [c.major, c.windows.length])).toEqual([
      [1, 0],
      [2, 1],
    ]);
    expect(() => store.getLineConfig('sales', 3)).toThrow(/has no deployed major 3/);
  });
});

describe('engine state', () => {
  const specs: PondSpec[] = [
    {
      name: 'a',
      sources: [],
      ripples: [{ name: 'load', parents: [] }],
      windows: [],
      immediateRetries: 0,
      sourceRetries: 1,
      alwaysRun: false,
    },
    {
      name: 'b',
      sources: [{ name: 'a', optional: false }],
      ripples: [
        { name: 'x', parents: [] },
        { name: 'y', parents: [{ name: 'x', optional: false }] },
      ],
      windows: [],
      immediateRetries: 1,
      sourceRetries: 0,
      alwaysRun: false,
    },
  ];

  /** Completes every Ripple the engine started, at `now`; returns what the engine emitted. */
  function completeStarted(e: Engine, events: EngineEvent[], now: number): EngineEvent[] {
    for (const ev of events) if (ev.kind === 'ripple-start') e.rippleCompleted(ev.pond, ev.ripple, ev.f, now);
    return e.advance(now);
  }

  it('round-trips a real engine through duck.db', () => {
    expect(store.loadEngineState()).toBeNull();
    const e = new Engine(specs);
    e.setTrigger('b', { kind: 'tide', boundMs: 5_000 });
    e.tap('b', T0);
    let ev = e.advance(T0);
    ev = completeStarted(e, ev, T0 + 100);
    ev = completeStarted(e, ev, T0 + 200);
    e.pulse('a', T0 + 300);
    // Ripples started by the last two advances are still in flight when the state is saved.
    const pending = [...ev, ...e.advance(T0 + 300)];
    expect(pending.filter((x) => x.kind === 'ripple-start').length).toBeGreaterThan(1);
    expect(e.snapshot().ripples.some((r) => r.isRunning)).toBe(true);

    store.saveEngineState(e.snapshot(), T0 + 300);
    store.close();
    store = CatchmentStore.open(root);
    const saved = store.loadEngineState();
    expect(saved?.savedAt).toBe(T0 + 300);
    const restored = Engine.restore(specs, saved!.snapshot);
    expect(restored.snapshot()).toEqual(e.snapshot());

    // Continuing both engines with the same inputs gives the same decisions.
    const a = completeStarted(e, pending, T0 + 400);
    const b = completeStarted(restored, pending, T0 + 400);
    expect(b).toEqual(a);
    expect(restored.advance(T0 + 10_000)).toEqual(e.advance(T0 + 10_000));
    expect(restored.snapshot()).toEqual(e.snapshot());
  });

  it('replaces the single row on every save', () => {
    const e = new Engine(specs);
    store.saveEngineState(e.snapshot(), T0);
    e.tap('a', T0 + 1);
    e.advance(T0 + 1);
    store.saveEngineState(e.snapshot(), T0 + 1);
    expect(store.db.prepare('SELECT count(*) AS n FROM engine_state').get()).toEqual({ n: 1 });
    expect(store.loadEngineState()?.snapshot).toEqual(e.snapshot());
    expect(() => store.saveEngineState(null as never, T0)).toThrow(ValidationError);
    expect(store.loadEngineState()?.savedAt).toBe(T0 + 1);
  });

  it('saves a 10 000-Pond snapshot fast', () => {
    const big: PondSpec[] = Array.from({ length: 10_000 }, (_, i) => ({
      name: `p${i}`,
      sources: i < 100 ? [] : [{ name: `p${i % 100}`, optional: false }],
      ripples: [
        { name: 'load', parents: [] },
        { name: 'clean', parents: [{ name: 'load', optional: false }] },
        { name: 'publish', parents: [{ name: 'clean', optional: false }] },
      ],
      windows: [],
      immediateRetries: 0,
      sourceRetries: 0,
      alwaysRun: false,
    }));
    const e = new Engine(big);
    for (let i = 0; i < 100; i++) e.setTrigger(`p${i}`, { kind: 'wave', boundMs: 0 });
    e.advance(T0);
    const snap = e.snapshot();
    const times: number[] = [];
    for (let k = 0; k < 7; k++) {
      const t = performance.now();
      store.saveEngineState(snap, T0 + k);
      times.push(performance.now() - t);
    }
    times.sort((x, y) => x - y);
    const t = performance.now();
    const loaded = store.loadEngineState();
    const loadMs = performance.now() - t;
    const bytes = (store.db.prepare('SELECT length(state) AS n FROM engine_state').get() as { n: number }).n;
    const jsonBytes = JSON.stringify(snap).length;
    expect(bytes).toBeLessThan(jsonBytes / 10);
    console.log(
      `engine state, 10 000 Ponds / 30 000 Ripples, ${(jsonBytes / 1e6).toFixed(1)} MB JSON → ${(bytes / 1e3).toFixed(0)} kB stored: save median ${times[3]!.toFixed(1)} ms ` +
        `(min ${times[0]!.toFixed(1)}, max ${times[6]!.toFixed(1)}), load ${loadMs.toFixed(1)} ms`,
    );
    expect(loaded?.snapshot.ponds).toHaveLength(10_000);
    expect(loaded?.snapshot.ripples[29_999]).toEqual(snap.ripples[29_999]);
    expect(loaded?.snapshot.triggers).toEqual(snap.triggers);
    expect(times[3]).toBeLessThan(500);
  });
});

describe('run history', () => {
  beforeEach(() => {
    deploy('1.0.0');
    deploy('2.0.0');
  });

  const base = { pond: 'sales', major: 1, version: '1.0.0', f: T0 };

  it('upserts attempts idempotently: replays never duplicate or regress history', () => {
    const run = store.recordPondRun({ ...base, status: 'running', startedAt: T0 + 1, triggerReason: 'tap' });
    expect(run.applied).toBe(true);
    const started = {
      ...base,
      ripple: 'load',
      attempt: 0,
      status: 'running' as const,
      startedAt: T0 + 2,
      duckId: 'duck_1',
    };
    expect(store.recordRippleAttempt(started).applied).toBe(true);
    expect(store.recordRippleAttempt(started).applied).toBe(true); // running → running, same content
    const failed = {
      ...started,
      status: 'failed' as const,
      finishedAt: T0 + 3,
      error: 'boom',
      stack: 'at load()',
      duckId: null,
    };
    expect(store.recordRippleAttempt(failed).applied).toBe(true);
    // A replayed "started" (or "failed") event after the outcome changes nothing.
    expect(store.recordRippleAttempt(started).applied).toBe(false);
    expect(store.recordRippleAttempt(failed).applied).toBe(false);
    store.recordRippleAttempt({ ...started, attempt: 1, startedAt: T0 + 4 });
    store.recordRippleAttempt({
      ...started,
      attempt: 1,
      startedAt: T0 + 4,
      status: 'succeeded',
      finishedAt: T0 + 5,
      rowsWritten: 42,
    });
    store.recordPondRun({ ...base, status: 'succeeded', startedAt: T0 + 1, finishedAt: T0 + 6 });
    expect(store.recordPondRun({ ...base, status: 'running', startedAt: T0 + 1 }).applied).toBe(false);

    const runs = store.listPondRuns({ pond: 'sales' });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      status: 'succeeded',
      finishedAt: T0 + 6,
      triggerReason: 'tap',
      version: '1.0.0',
    });
    const attempts = store.listRunAttempts(runs[0]!.id);
    expect(attempts.map((a) => [a.ripple, a.attempt, a.status])).toEqual([
      ['load', 0, 'failed'],
      ['load', 1, 'succeeded'],
    ]);
    expect(attempts[0]).toMatchObject({
      error: 'boom',
      stack: 'at load()',
      duckId: 'duck_1',
      runId: runs[0]!.id,
    });
    expect(attempts[1]!.rowsWritten).toBe(42);
    expect(store.db.prepare('SELECT count(*) AS n FROM ripple_attempts').get()).toEqual({ n: 2 });
  });

  it('lets a later execution at the same F (Force) replace the row', () => {
    store.recordPondRun({ ...base, status: 'succeeded', startedAt: T0 + 1, finishedAt: T0 + 2 });
    const forced = store.recordPondRun({
      ...base,
      status: 'running',
      startedAt: T0 + 10,
      triggerReason: 'force',
    });
    expect(forced).toMatchObject({
      applied: true,
      run: { status: 'running', finishedAt: null, triggerReason: 'force' },
    });
  });

  it('queries newest first, by line and by status', () => {
    for (let i = 0; i < 5; i++) {
      const f = T0 + i * 1000;
      const status = i % 2 === 0 ? 'succeeded' : 'failed';
      store.recordPondRun({
        ...base,
        f,
        status,
        startedAt: f,
        finishedAt: f + 10,
        error: status === 'failed' ? 'x' : null,
      });
      store.recordRippleAttempt({
        ...base,
        f,
        ripple: 'load',
        attempt: 0,
        status,
        startedAt: f,
        finishedAt: f + 5,
      });
    }
    store.recordPondRun({ ...base, major: 2, version: '2.0.0', status: 'running', startedAt: T0 + 99_000 });
    expect(store.listPondRuns({ pond: 'sales', major: 1, limit: 3 }).map((r) => r.f)).toEqual([
      T0 + 4000,
      T0 + 3000,
      T0 + 2000,
    ]);
    expect(store.listPondRuns({ pond: 'sales' })[0]!.major).toBe(2);
    expect(store.listPondRuns({ status: 'failed' }).map((r) => r.f)).toEqual([T0 + 3000, T0 + 1000]);
    expect(() => store.listPondRuns({ limit: 0 })).toThrow(/limit/);
    expect(() => store.listPondRuns({ major: 1 })).toThrow(/major needs pond/);
  });

  it('fails a run from the Catchment side and closes its running attempts', () => {
    store.recordPondRun({ ...base, status: 'running', startedAt: T0 + 1 });
    store.recordRippleAttempt({
      ...base,
      ripple: 'load',
      attempt: 0,
      status: 'succeeded',
      startedAt: T0 + 1,
      finishedAt: T0 + 2,
    });
    store.recordRippleAttempt({ ...base, ripple: 'clean', attempt: 0, status: 'running', startedAt: T0 + 2 });
    const lost = 'Lost contact with the Duck (no events received)';
    expect(() => store.finishPondRun('sales', 1, T0, { status: 'running' as never, atMs: T0 })).toThrow(
      /invalid run outcome: status/,
    );
    expect(store.getPondRun('sales', 1, T0)?.status).toBe('running');
    expect(store.finishPondRun('sales', 1, T0, { status: 'failed', atMs: T0 + 60_000, error: lost })).toBe(
      true,
    );
    expect(store.finishPondRun('sales', 1, T0, { status: 'failed', atMs: T0 + 70_000, error: lost })).toBe(
      false,
    );
    const run = store.getPondRun('sales', 1, T0)!;
    expect(run).toMatchObject({ status: 'failed', finishedAt: T0 + 60_000, error: lost });
    expect(store.listRunAttempts(run.id).map((a) => [a.ripple, a.status, a.error])).toEqual([
      ['load', 'succeeded', null],
      ['clean', 'failed', lost],
    ]);
    expect(() => store.finishPondRun('sales', 1, T0 + 1, { status: 'killed', atMs: T0 })).toThrow(
      NotFoundError,
    );
  });

  it('creates the Pond Run row when an attempt arrives first (replay after restoring a backup)', () => {
    store.recordRippleAttempt({ ...base, ripple: 'load', attempt: 0, status: 'running', startedAt: T0 + 5 });
    expect(store.getPondRun('sales', 1, T0)).toMatchObject({ status: 'running', startedAt: T0 + 5 });
  });

  it('rejects malformed history precisely, writing nothing', () => {
    expect(() => store.recordPondRun({ ...base, status: 'failed', startedAt: T0 })).toThrow(
      /finishedAt: is required for status "failed"/,
    );
    expect(() => store.recordPondRun({ ...base, status: 'running', startedAt: T0, finishedAt: T0 })).toThrow(
      /must be null while running/,
    );
    expect(() => store.recordPondRun({ ...base, status: 'done' as never, startedAt: T0 })).toThrow(/status/);
    expect(() =>
      store.recordRippleAttempt({
        ...base,
        ripple: 'bad name',
        attempt: 0,
        status: 'running',
        startedAt: T0,
      }),
    ).toThrow(/ripple: must be an identifier/);
    expect(() =>
      store.recordPondRun({ ...base, version: '2.0.0', status: 'running', startedAt: T0 }),
    ).toThrow(/no deployed version 2.0.0 on major 1/);
    expect(store.listPondRuns()).toEqual([]);
  });
});

describe('duck registry', () => {
  beforeEach(() => deploy('1.0.0'));

  it('issues a per-Duck token, stores only its hash, and verifies it', () => {
    const { duck, token } = store.registerDuck({ pond: 'sales', major: 1, pid: 4242, atMs: T0 });
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(duck).toMatchObject({ pond: 'sales', major: 1, pid: 4242, state: 'starting', registeredAt: T0 });
    const stored = store.db.prepare('SELECT token_hash FROM ducks').get() as { token_hash: string };
    expect(stored.token_hash).not.toContain(token);
    expect(store.verifyDuckToken('sales', 1, token)?.duckId).toBe(duck.duckId);
    expect(store.verifyDuckToken('sales', 1, `${token}0`)).toBeNull();
    expect(store.verifyDuckToken('sales', 1, undefined)).toBeNull();
    expect(store.verifyDuckToken('sales', 2, token)).toBeNull();

    store.setDuckState('sales', 1, 'running');
    expect(store.ducks.get('sales', 1)).toMatchObject({ state: 'running', pid: 4242 });
    store.setDuckState('sales', 1, 'running', 4243);
    expect(store.ducks.get('sales', 1)).toMatchObject({ state: 'running', pid: 4243 });
    expect(() => store.setDuckState('sales', 1, 'gone' as never)).toThrow(ValidationError);

    // A respawn replaces the registration: the old token stops working.
    const second = store.registerDuck({ pond: 'sales', major: 1, pid: 4343, atMs: T0 + 20 });
    expect(store.verifyDuckToken('sales', 1, token)).toBeNull();
    expect(store.verifyDuckToken('sales', 1, second.token)?.pid).toBe(4343);
    expect(store.listDucks()).toHaveLength(1);
    expect(() => store.registerDuck({ pond: 'sales', major: 5, pid: 1, atMs: T0 })).toThrow(NotFoundError);
    expect(() => store.setDuckState('orders', 1, 'running')).toThrow(NotFoundError);
  });
});

describe('admin key', () => {
  it('is created once with mode 0600 and stable across restarts', () => {
    const first = ensureAdminKey(root);
    expect(first.created).toBe(true);
    expect(first.key).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(root, 'admin.key');
    expect(mode(file)).toBe(0o600);
    store.close();
    store = CatchmentStore.open(root);
    const again = ensureAdminKey(root);
    expect(again).toEqual({ key: first.key, created: false });
    expect(secretsEqual(first.key, again.key)).toBe(true);
    expect(secretsEqual(first.key.slice(0, 63), again.key)).toBe(false);
    expect(secretsEqual(42, again.key)).toBe(false);
  });

  it('refuses a key file readable by others', () => {
    ensureAdminKey(root);
    fs.chmodSync(path.join(root, 'admin.key'), 0o644);
    expect(() => ensureAdminKey(root)).toThrow(/has mode 0644; it must be 0600/);
  });
});

describe('relocation', () => {
  it('resolves everything after the root is copied elsewhere', () => {
    const staged = path.join(root, 'ponds', '.staging-1');
    fs.mkdirSync(path.join(staged, 'src'), { recursive: true });
    fs.writeFileSync(path.join(staged, 'pond.toml'), '[pond]\nname = "sales"\nversion = "1.0.0"\n');
    expect(placeVersionSource(root, 'sales', '1.0.0', staged)).toBe(true);
    deploy('1.0.0');
    // A second upload of the same version never replaces the immutable directory.
    fs.mkdirSync(staged);
    fs.writeFileSync(path.join(staged, 'pond.toml'), 'tampered');
    expect(placeVersionSource(root, 'sales', '1.0.0', staged)).toBe(false);
    expect(fs.existsSync(staged)).toBe(false);
    ensureLineDirs(root, 'sales', 1);
    store.addWindow(
      'sales',
      1,
      { name: 'w', startAnchor: T0, everyMs: HOUR, durationMs: HOUR, validDays: [], until: null },
      T0,
    );
    const { key } = ensureAdminKey(root);
    store.close();

    const moved = path.join(tmp, 'elsewhere', 'root-copy');
    fs.cpSync(root, moved, { recursive: true });
    fs.rmSync(root, { recursive: true });
    const dbBytes = fs.readFileSync(path.join(moved, 'duck.db'));
    expect(dbBytes.includes(Buffer.from(tmp))).toBe(false);

    store = CatchmentStore.open(moved);
    const v = store.getSelectedVersion('sales', 1)!;
    expect(store.resolve(v.sourcePath)).toBe(path.join(moved, 'ponds/sales/1.0.0'));
    expect(fs.readFileSync(path.join(store.resolve(v.sourcePath), 'pond.toml'), 'utf8')).toContain(
      'version = "1.0.0"',
    );
    expect(store.listWindows('sales', 1)).toHaveLength(1);
    expect(ensureAdminKey(moved)).toEqual({ key, created: false });
    expect(fs.statSync(ensureLineDirs(moved, 'sales', 1).data).isDirectory()).toBe(true);
  });
});
