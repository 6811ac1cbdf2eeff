/**
 * CatchmentStore: the typed repository over duck.db. Every public method validates its input with zod
 * (ValidationError, nothing written), works in one transaction, and speaks the engine's shapes (Window,
 * Trigger, EngineSnapshot) so the Catchment never translates rows by hand.
 *
 * Which record is authoritative:
 * - Identity (ponds, pond_versions, selections) is only here.
 * - Windows, budgets and standing triggers: these tables are the operators' intent and are authoritative.
 *   Windows and budgets go into the PondSpecs the engine is built from. The engine snapshot also holds
 *   triggers (so a restore resumes exactly), but after `Engine.restore` the Catchment must re-apply
 *   `listTriggers()` (set every listed trigger, untrigger the rest), so intent survives a topology change
 *   that the snapshot cannot map. When the engine itself drops a trigger (Sleep), the Catchment must call
 *   `clearTrigger` too.
 * - Engine state (freshness, demand, fault state) is only in the snapshot row.
 * - Run history is canonical here; a Duck's ledger (pond.db) is only its own recovery record.
 *
 * Deploy, files first: extract the upload to a staging directory under the root, `placeVersionSource`,
 * then `deploy`; if `deploy` throws and the placement created the directory, remove it.
 */
import path from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import { z } from 'zod';
import type { EngineSnapshot, Trigger } from '../../engine/engine.js';
import { type Window, windowsOverlap } from '../../engine/windows.js';
import { type Db, openDatabase } from './db.js';
import { ConflictError, NotFoundError, StoreError, ValidationError } from './errors.js';
import { DB_FILE, ensureRoot, resolveInRoot, versionSourceRel } from './layout.js';
import {
  budgetsSchema,
  type DuckState,
  duckStateSchema,
  epochMsSchema,
  lineSchema,
  majorOf,
  majorSchema,
  parse,
  pondNameSchema,
  type RunStatus,
  rippleNameSchema,
  runStatusSchema,
  sha256HexSchema,
  triggerSchema,
  versionSchema,
  windowNameSchema,
  windowSchema,
} from './schemas.js';
import { newSecret, secretMatchesHash, sha256Hex } from './secrets.js';

export type JsonObject = { [key: string]: unknown };

export interface PondVersion {
  pond: string;
  version: string;
  major: number;
  /** SHA-256 (hex) of the uploaded archive. */
  checksum: string;
  manifest: JsonObject;
  /** Root-relative; resolve with `store.resolve()`. */
  sourcePath: string;
  deployedAt: number;
}

export interface Budgets {
  immediateRetries: number;
  sourceRetries: number;
}

/** One major line: its selected version and operational config. */
export interface LineConfig {
  pond: string;
  major: number;
  selected: PondVersion;
  selectedAt: number;
  budgets: Budgets;
  windows: Window[];
  trigger: Trigger | null;
}

export interface DeployInput {
  name: string;
  version: string;
  checksum: string;
  manifest: JsonObject;
  /** From pond.toml; applied only on the line's first deploy. Default 0 / 0. */
  budgets?: Budgets;
  atMs: number;
}

export interface DeployResult {
  version: PondVersion;
  /** False when this exact version (same checksum) was already recorded: an idempotent redeploy or rollback. */
  created: boolean;
  /** The version the line selected before, or null for the line's first deploy. */
  previousVersion: string | null;
  budgetsSeeded: boolean;
}

export interface DeployOptions {
  /**
   * Runs inside the deploy transaction after the version is recorded and selected; throwing rolls the
   * whole deploy back (for checks that need the new state, like inter-Pond cycles or min_version pins).
   */
  beforeCommit?: (result: DeployResult) => void;
}

export interface PondRun {
  id: number;
  pond: string;
  major: number;
  f: number;
  version: string;
  status: RunStatus;
  startedAt: number;
  finishedAt: number | null;
  triggerReason: string | null;
  error: string | null;
}

export interface RippleAttempt {
  runId: number;
  pond: string;
  major: number;
  version: string;
  f: number;
  ripple: string;
  attempt: number;
  status: RunStatus;
  startedAt: number;
  finishedAt: number | null;
  rowsWritten: number | null;
  error: string | null;
  stack: string | null;
  duckId: string | null;
}

export interface DuckRecord {
  pond: string;
  major: number;
  duckId: string;
  pid: number | null;
  state: DuckState;
  registeredAt: number;
  lastSeen: number | null;
}

export interface SavedEngineState {
  snapshot: EngineSnapshot;
  savedAt: number;
}

// ───────────────────────────── input schemas ─────────────────────────────

const MANIFEST_MAX_BYTES = 1_000_000;
const ENGINE_STATE_ENCODING = 'json+deflate-raw';
const textSchema = z.string().max(1_000_000);

const deploySchema = z
  .object({
    name: pondNameSchema,
    version: versionSchema,
    checksum: sha256HexSchema,
    manifest: z.record(z.unknown()),
    budgets: budgetsSchema.optional(),
    atMs: epochMsSchema,
  })
  .strict();

/** Terminal statuses carry a finish time; a running row has none. */
function finishRule<T extends { status: RunStatus; startedAt: number; finishedAt: number | null }>(
  v: T,
  ctx: z.RefinementCtx,
): void {
  if (v.status === 'running' && v.finishedAt !== null) {
    ctx.addIssue({ code: 'custom', path: ['finishedAt'], message: 'must be null while running' });
  }
  if (v.status !== 'running' && v.finishedAt === null) {
    ctx.addIssue({ code: 'custom', path: ['finishedAt'], message: `is required for status "${v.status}"` });
  }
  if (v.finishedAt !== null && v.finishedAt < v.startedAt) {
    ctx.addIssue({ code: 'custom', path: ['finishedAt'], message: 'must not precede startedAt' });
  }
}

const pondRunSchema = z
  .object({
    pond: pondNameSchema,
    major: majorSchema,
    f: epochMsSchema,
    version: versionSchema,
    status: runStatusSchema,
    startedAt: epochMsSchema,
    finishedAt: epochMsSchema.nullable().default(null),
    triggerReason: z.string().max(200).nullable().default(null),
    error: textSchema.nullable().default(null),
  })
  .strict()
  .superRefine(finishRule);

const rippleAttemptSchema = z
  .object({
    pond: pondNameSchema,
    major: majorSchema,
    f: epochMsSchema,
    version: versionSchema,
    ripple: rippleNameSchema,
    attempt: z.number().int().min(0),
    status: runStatusSchema,
    startedAt: epochMsSchema,
    finishedAt: epochMsSchema.nullable().default(null),
    rowsWritten: z.number().int().min(0).nullable().default(null),
    error: textSchema.nullable().default(null),
    stack: textSchema.nullable().default(null),
    duckId: z.string().max(100).nullable().default(null),
  })
  .strict()
  .superRefine(finishRule);

const finishSchema = z
  .object({
    status: z.enum(['succeeded', 'failed', 'killed', 'passed']),
    atMs: epochMsSchema,
    error: textSchema.nullable().default(null),
  })
  .strict();

export type PondRunInput = z.input<typeof pondRunSchema>;
export type RippleAttemptInput = z.input<typeof rippleAttemptSchema>;

const runQuerySchema = z
  .object({
    pond: pondNameSchema.optional(),
    major: majorSchema.optional(),
    status: runStatusSchema.optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .strict()
  .refine((q) => q.major === undefined || q.pond !== undefined, {
    message: 'major needs pond',
    path: ['major'],
  });

export type RunQuery = z.input<typeof runQuerySchema>;

const registerDuckSchema = z
  .object({
    pond: pondNameSchema,
    major: majorSchema,
    pid: z.number().int().positive().nullable(),
    state: duckStateSchema.default('starting'),
    atMs: epochMsSchema,
  })
  .strict();

// ───────────────────────────── row shapes ─────────────────────────────

interface VersionRow {
  pond: string;
  version: string;
  major: number;
  checksum: string;
  manifest: string;
  source_path: string;
  deployed_at: number;
}

interface WindowRow {
  name: string;
  start_anchor: number;
  every_ms: number;
  duration_ms: number;
  valid_days: string;
  until_ms: number | null;
}

interface PondRunRow {
  id: number;
  pond: string;
  major: number;
  f: number;
  version: string;
  status: RunStatus;
  started_at: number;
  finished_at: number | null;
  trigger_reason: string | null;
  error: string | null;
}

interface AttemptRow {
  run_id: number;
  pond: string;
  major: number;
  version: string;
  f: number;
  ripple: string;
  attempt: number;
  status: RunStatus;
  started_at: number;
  finished_at: number | null;
  rows_written: number | null;
  error: string | null;
  stack: string | null;
  duck_id: string | null;
}

interface DuckRow {
  pond: string;
  major: number;
  duck_id: string;
  pid: number | null;
  token_hash: string;
  state: DuckState;
  registered_at: number;
  last_seen: number | null;
}

const toVersion = (r: VersionRow): PondVersion => ({
  pond: r.pond,
  version: r.version,
  major: r.major,
  checksum: r.checksum,
  manifest: JSON.parse(r.manifest) as JsonObject,
  sourcePath: r.source_path,
  deployedAt: r.deployed_at,
});

const toWindow = (r: WindowRow): Window => ({
  name: r.name,
  startAnchor: r.start_anchor,
  everyMs: r.every_ms,
  durationMs: r.duration_ms,
  validDays: JSON.parse(r.valid_days) as Window['validDays'],
  until: r.until_ms,
});

const toPondRun = (r: PondRunRow): PondRun => ({
  id: r.id,
  pond: r.pond,
  major: r.major,
  f: r.f,
  version: r.version,
  status: r.status,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  triggerReason: r.trigger_reason,
  error: r.error,
});

const toAttempt = (r: AttemptRow): RippleAttempt => ({
  runId: r.run_id,
  pond: r.pond,
  major: r.major,
  version: r.version,
  f: r.f,
  ripple: r.ripple,
  attempt: r.attempt,
  status: r.status,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  rowsWritten: r.rows_written,
  error: r.error,
  stack: r.stack,
  duckId: r.duck_id,
});

const toDuck = (r: DuckRow): DuckRecord => ({
  pond: r.pond,
  major: r.major,
  duckId: r.duck_id,
  pid: r.pid,
  state: r.state,
  registeredAt: r.registered_at,
  lastSeen: r.last_seen,
});

/**
 * A newer start time means a new execution reusing the key (Force at the same F): it replaces the row.
 * The same start time is a replay or the finish of that execution: it may only move the row out of
 * `running`, so a replayed "started" event can never undo a recorded outcome.
 */
const REPLACE_IF_NEWER = (table: string) =>
  `excluded.started_at > ${table}.started_at OR ` +
  `(excluded.started_at = ${table}.started_at AND ${table}.status = 'running')`;

// ───────────────────────────── the store ─────────────────────────────

export class CatchmentStore {
  private constructor(
    /** Absolute path of the Catchment root. */
    readonly root: string,
    readonly db: Db,
  ) {}

  /** Ensures the root exists, opens `{root}/duck.db` and applies pending migrations. */
  static open(root: string): CatchmentStore {
    const abs = ensureRoot(root);
    return new CatchmentStore(abs, openDatabase(path.join(abs, DB_FILE)));
  }

  private statements = new Map<string, Database.Statement>();

  /** Prepared once per SQL text: history upserts and liveness updates are hot paths. */
  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Absolute path for a root-relative path stored in the database. */
  resolve(rel: string): string {
    return resolveInRoot(this.root, rel);
  }

  // ───────────────────────────── identity and deploy ─────────────────────────────

  /** Records (or re-selects) a version and switches its line's selection, atomically. */
  deploy(input: DeployInput, options: DeployOptions = {}): DeployResult {
    const d = parse('deploy', deploySchema, input);
    const manifest = JSON.stringify(d.manifest);
    if (Buffer.byteLength(manifest) > MANIFEST_MAX_BYTES) {
      throw new ValidationError(
        `invalid deploy: manifest: must be at most ${MANIFEST_MAX_BYTES} bytes of JSON`,
      );
    }
    const major = majorOf(d.version);
    return this.db.transaction((): DeployResult => {
      const existing = this.getVersion(d.name, d.version);
      if (existing && existing.checksum !== d.checksum) {
        throw new ConflictError(
          `${d.name}@${d.version} is already deployed with different content ` +
            `(sha256 ${existing.checksum.slice(0, 12)}…, upload ${d.checksum.slice(0, 12)}…); ` +
            'versions are immutable, so bump the version',
        );
      }
      if (!existing) {
        this.sql('INSERT OR IGNORE INTO ponds (name, created_at) VALUES (?, ?)').run(d.name, d.atMs);
        this.sql(
          `INSERT INTO pond_versions (pond, version, major, checksum, manifest, source_path, deployed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(d.name, d.version, major, d.checksum, manifest, versionSourceRel(d.name, d.version), d.atMs);
      }
      const previous = this.sql('SELECT version FROM selections WHERE pond = ? AND major = ?').get(
        d.name,
        major,
      ) as { version: string } | undefined;
      this.sql(
        `INSERT INTO selections (pond, major, version, selected_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (pond, major) DO UPDATE SET version = excluded.version, selected_at = excluded.selected_at`,
      ).run(d.name, major, d.version, d.atMs);
      const budgets = d.budgets ?? { immediateRetries: 0, sourceRetries: 0 };
      const seeded = this.sql(
        `INSERT INTO budgets (pond, major, immediate_retries, source_retries, updated_at)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ).run(d.name, major, budgets.immediateRetries, budgets.sourceRetries, d.atMs);
      const result: DeployResult = {
        version: this.getVersion(d.name, d.version)!,
        created: !existing,
        previousVersion: previous?.version ?? null,
        budgetsSeeded: seeded.changes === 1,
      };
      options.beforeCommit?.(result);
      return result;
    })();
  }

  listPonds(): string[] {
    return (this.sql('SELECT name FROM ponds ORDER BY name').all() as Array<{ name: string }>).map(
      (r) => r.name,
    );
  }

  getVersion(name: string, version: string): PondVersion | null {
    const row = this.sql('SELECT * FROM pond_versions WHERE pond = ? AND version = ?').get(
      parse('pond name', pondNameSchema, name),
      parse('version', versionSchema, version),
    ) as VersionRow | undefined;
    return row ? toVersion(row) : null;
  }

  /** Every recorded version of a Pond, oldest deploy first. */
  listVersions(name: string): PondVersion[] {
    const rows = this.sql('SELECT * FROM pond_versions WHERE pond = ? ORDER BY deployed_at, rowid').all(
      parse('pond name', pondNameSchema, name),
    ) as VersionRow[];
    return rows.map(toVersion);
  }

  /** The version a line runs, or null when that major was never deployed. */
  getSelectedVersion(name: string, major: number): PondVersion | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql(
      `SELECT v.* FROM selections s JOIN pond_versions v ON v.pond = s.pond AND v.version = s.version
         WHERE s.pond = ? AND s.major = ?`,
    ).get(l.pond, l.major) as VersionRow | undefined;
    return row ? toVersion(row) : null;
  }

  /** Major lines side by side (ascending major), each with its selected version. */
  listLines(name?: string): Array<{ pond: string; major: number; version: string; selectedAt: number }> {
    const rows =
      name === undefined
        ? this.sql('SELECT * FROM selections ORDER BY pond, major').all()
        : this.sql('SELECT * FROM selections WHERE pond = ? ORDER BY major').all(
            parse('pond name', pondNameSchema, name),
          );
    return (rows as Array<{ pond: string; major: number; version: string; selected_at: number }>).map(
      (r) => ({
        pond: r.pond,
        major: r.major,
        version: r.version,
        selectedAt: r.selected_at,
      }),
    );
  }

  /** The highest deployed major of a Pond (the default line for unqualified calls), or null. */
  highestMajor(name: string): number | null {
    const row = this.sql('SELECT max(major) AS m FROM selections WHERE pond = ?').get(
      parse('pond name', pondNameSchema, name),
    ) as { m: number | null };
    return row.m;
  }

  /** Everything needed to build a line's PondSpec and re-apply its trigger. */
  getLineConfig(name: string, major: number): LineConfig {
    const l = this.requireLine(name, major);
    const sel = this.sql('SELECT selected_at FROM selections WHERE pond = ? AND major = ?').get(
      l.pond,
      l.major,
    ) as { selected_at: number };
    return {
      pond: l.pond,
      major: l.major,
      selected: this.getSelectedVersion(l.pond, l.major)!,
      selectedAt: sel.selected_at,
      budgets: this.getBudgets(l.pond, l.major),
      windows: this.listWindows(l.pond, l.major),
      trigger: this.getTrigger(l.pond, l.major),
    };
  }

  /** All lines' config, for rebuilding the engine at startup. */
  listLineConfigs(): LineConfig[] {
    return this.db.transaction(() => this.listLines().map((l) => this.getLineConfig(l.pond, l.major)))();
  }

  private requireLine(name: string, major: number): { pond: string; major: number } {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql('SELECT 1 FROM selections WHERE pond = ? AND major = ?').get(l.pond, l.major);
    if (!row) throw new NotFoundError(`pond "${l.pond}" has no deployed major ${l.major}`);
    return l;
  }

  // ───────────────────────────── budgets ─────────────────────────────

  getBudgets(name: string, major: number): Budgets {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql(
      'SELECT immediate_retries, source_retries FROM budgets WHERE pond = ? AND major = ?',
    ).get(l.pond, l.major) as { immediate_retries: number; source_retries: number } | undefined;
    if (!row) throw new NotFoundError(`pond "${l.pond}" has no deployed major ${l.major}`);
    return { immediateRetries: row.immediate_retries, sourceRetries: row.source_retries };
  }

  /** Operator override; later deploys never touch it. */
  setBudgets(name: string, major: number, budgets: Budgets, atMs: number): Budgets {
    const b = parse('budgets', budgetsSchema, budgets);
    const at = parse('atMs', epochMsSchema, atMs);
    const l = this.requireLine(name, major);
    this.sql(
      'UPDATE budgets SET immediate_retries = ?, source_retries = ?, updated_at = ? WHERE pond = ? AND major = ?',
    ).run(b.immediateRetries, b.sourceRetries, at, l.pond, l.major);
    return b;
  }

  // ───────────────────────────── windows ─────────────────────────────

  /** Windows of a line in the order they were added (the engine's list order). */
  listWindows(name: string, major: number): Window[] {
    const l = parse('line', lineSchema, { pond: name, major });
    const rows = this.sql('SELECT * FROM windows WHERE pond = ? AND major = ? ORDER BY id').all(
      l.pond,
      l.major,
    ) as WindowRow[];
    return rows.map(toWindow);
  }

  /** Adds a window. Duplicate name → ConflictError; overlap with another window of the line → ValidationError. */
  addWindow(name: string, major: number, window: Window, atMs: number): Window {
    const w = parse('window', windowSchema, window);
    const at = parse('atMs', epochMsSchema, atMs);
    return this.db.transaction(() => {
      const l = this.requireLine(name, major);
      const others = this.listWindows(l.pond, l.major);
      if (others.some((o) => o.name === w.name)) {
        throw new ConflictError(`pond "${l.pond}" major ${l.major} already has a window named "${w.name}"`);
      }
      const clash = others.find((o) => windowsOverlap(o, w));
      if (clash) {
        throw new ValidationError(
          `invalid window: occurrences of "${w.name}" overlap window "${clash.name}"`,
          [{ path: 'name', message: `overlaps window "${clash.name}"` }],
        );
      }
      this.sql(
        `INSERT INTO windows (pond, major, name, start_anchor, every_ms, duration_ms, valid_days, until_ms, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        l.pond,
        l.major,
        w.name,
        w.startAnchor,
        w.everyMs,
        w.durationMs,
        JSON.stringify(w.validDays),
        w.until,
        at,
      );
      return w;
    })();
  }

  removeWindow(name: string, major: number, windowName: string): void {
    const l = parse('line', lineSchema, { pond: name, major });
    const wn = parse('window name', windowNameSchema, windowName);
    const r = this.sql('DELETE FROM windows WHERE pond = ? AND major = ? AND name = ?').run(
      l.pond,
      l.major,
      wn,
    );
    if (r.changes === 0) throw new NotFoundError(`pond "${l.pond}" major ${l.major} has no window "${wn}"`);
  }

  // ───────────────────────────── standing triggers ─────────────────────────────

  /** Sets (replaces) the line's standing trigger. A Wave's bound is ignored. */
  setTrigger(name: string, major: number, trigger: Trigger, atMs: number): Trigger {
    const raw = trigger as unknown as Record<string, unknown>;
    const t = parse(
      'trigger',
      triggerSchema,
      raw && raw.kind === 'wave' ? { kind: 'wave' } : raw, // the engine's Wave carries a meaningless boundMs
    );
    const at = parse('atMs', epochMsSchema, atMs);
    const l = this.requireLine(name, major);
    const bound = t.kind === 'tide' ? t.boundMs : null;
    this.sql(
      `INSERT INTO standing_triggers (pond, major, kind, bound_ms, set_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (pond, major) DO UPDATE SET kind = excluded.kind, bound_ms = excluded.bound_ms, set_at = excluded.set_at`,
    ).run(l.pond, l.major, t.kind, bound, at);
    return { kind: t.kind, boundMs: bound ?? 0 };
  }

  /** Removes the line's standing trigger; returns whether there was one. */
  clearTrigger(name: string, major: number): boolean {
    const l = parse('line', lineSchema, { pond: name, major });
    return (
      this.sql('DELETE FROM standing_triggers WHERE pond = ? AND major = ?').run(l.pond, l.major).changes > 0
    );
  }

  getTrigger(name: string, major: number): Trigger | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql('SELECT kind, bound_ms FROM standing_triggers WHERE pond = ? AND major = ?').get(
      l.pond,
      l.major,
    ) as { kind: Trigger['kind']; bound_ms: number | null } | undefined;
    return row ? { kind: row.kind, boundMs: row.bound_ms ?? 0 } : null;
  }

  /** Every standing trigger, oldest first (the engine services triggers in the order they were set). */
  listTriggers(): Array<{ pond: string; major: number } & Trigger> {
    const rows = this.sql('SELECT * FROM standing_triggers ORDER BY set_at, rowid').all() as Array<{
      pond: string;
      major: number;
      kind: Trigger['kind'];
      bound_ms: number | null;
    }>;
    return rows.map((r) => ({ pond: r.pond, major: r.major, kind: r.kind, boundMs: r.bound_ms ?? 0 }));
  }

  // ───────────────────────────── engine state ─────────────────────────────

  /**
   * Replaces the single engine-state row. The snapshot is stored as-is (it is the engine's own format),
   * JSON then deflate (level 1: compressing costs less than writing the uncompressed text).
   */
  saveEngineState(snapshot: EngineSnapshot, atMs: number): void {
    const at = parse('atMs', epochMsSchema, atMs);
    if (typeof snapshot !== 'object' || snapshot === null || typeof snapshot.format !== 'number') {
      throw new ValidationError(
        'invalid engine state: expected an engine snapshot object with a numeric format',
      );
    }
    const blob = deflateRawSync(JSON.stringify(snapshot), { level: 1 });
    this.sql(
      `INSERT INTO engine_state (id, encoding, state, saved_at) VALUES (1, '${ENGINE_STATE_ENCODING}', ?, ?)
       ON CONFLICT (id) DO UPDATE SET encoding = excluded.encoding, state = excluded.state, saved_at = excluded.saved_at`,
    ).run(blob, at);
  }

  loadEngineState(): SavedEngineState | null {
    const row = this.sql('SELECT encoding, state, saved_at FROM engine_state WHERE id = 1').get() as
      | { encoding: string; state: Buffer; saved_at: number }
      | undefined;
    if (!row) return null;
    if (row.encoding !== ENGINE_STATE_ENCODING)
      throw new StoreError(`unknown engine state encoding "${row.encoding}"`);
    const snapshot = JSON.parse(inflateRawSync(row.state).toString('utf8')) as EngineSnapshot;
    return { snapshot, savedAt: row.saved_at };
  }

  // ───────────────────────────── run history ─────────────────────────────

  /**
   * Records a Pond Run's start or outcome, keyed by (pond, major, f). Idempotent: a replay changes
   * nothing, and a stale "running" never overwrites an outcome. Returns the row as stored.
   */
  recordPondRun(input: PondRunInput): { run: PondRun; applied: boolean } {
    const r = parse('pond run', pondRunSchema, input);
    return this.db.transaction(() => {
      this.requireVersionOfLine(r.pond, r.major, r.version);
      const applied = this.sql(
        `INSERT INTO pond_runs (pond, major, f, version, status, started_at, finished_at, trigger_reason, error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (pond, major, f) DO UPDATE SET
             version = excluded.version, status = excluded.status, started_at = excluded.started_at,
             finished_at = excluded.finished_at, error = excluded.error,
             trigger_reason = coalesce(excluded.trigger_reason, pond_runs.trigger_reason)
           WHERE ${REPLACE_IF_NEWER('pond_runs')}`,
      ).run(r.pond, r.major, r.f, r.version, r.status, r.startedAt, r.finishedAt, r.triggerReason, r.error);
      return { run: this.getPondRun(r.pond, r.major, r.f)!, applied: applied.changes > 0 };
    })();
  }

  /**
   * Ends a running Pond Run from the Catchment's side (dead or silent Duck, kill), closing its still-running
   * attempts with the same status and error. Returns false when the run had already ended.
   */
  finishPondRun(
    name: string,
    major: number,
    f: number,
    outcome: { status: Exclude<RunStatus, 'running'>; atMs: number; error?: string | null },
  ): boolean {
    const l = parse('line', lineSchema, { pond: name, major });
    const ff = parse('f', epochMsSchema, f);
    const o = parse('run outcome', finishSchema, outcome);
    return this.db.transaction(() => {
      const run = this.getPondRun(l.pond, l.major, ff);
      if (!run) throw new NotFoundError(`no pond run of "${l.pond}" major ${l.major} at f=${ff}`);
      if (run.status !== 'running') return false;
      const at = Math.max(o.atMs, run.startedAt);
      this.recordPondRun({
        pond: run.pond,
        major: run.major,
        f: run.f,
        version: run.version,
        status: o.status,
        startedAt: run.startedAt,
        finishedAt: at,
        error: o.error,
      });
      this.sql(
        `UPDATE ripple_attempts SET status = ?, finished_at = max(?, started_at), error = coalesce(error, ?)
           WHERE run_id = ? AND status = 'running'`,
      ).run(o.status, at, o.error, run.id);
      return true;
    })();
  }

  /**
   * Records one Ripple attempt, keyed by (pond, major, f, ripple, attempt), with the same replay rules as
   * `recordPondRun`. Creates the Pond Run row if it is missing, so events replayed after a Catchment was
   * restored from an older backup still land in history.
   */
  recordRippleAttempt(input: RippleAttemptInput): { attempt: RippleAttempt; applied: boolean } {
    const a = parse('ripple attempt', rippleAttemptSchema, input);
    return this.db.transaction(() => {
      this.requireVersionOfLine(a.pond, a.major, a.version);
      this.sql(
        `INSERT INTO pond_runs (pond, major, f, version, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)
           ON CONFLICT DO NOTHING`,
      ).run(a.pond, a.major, a.f, a.version, a.startedAt);
      const run = this.getPondRun(a.pond, a.major, a.f)!;
      const applied = this.sql(
        `INSERT INTO ripple_attempts (run_id, pond, major, version, f, ripple, attempt, status, started_at,
             finished_at, rows_written, error, stack, duck_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (pond, major, f, ripple, attempt) DO UPDATE SET
             run_id = excluded.run_id, version = excluded.version, status = excluded.status,
             started_at = excluded.started_at, finished_at = excluded.finished_at,
             rows_written = excluded.rows_written, error = excluded.error, stack = excluded.stack,
             duck_id = coalesce(excluded.duck_id, ripple_attempts.duck_id)
           WHERE ${REPLACE_IF_NEWER('ripple_attempts')}`,
      ).run(
        run.id,
        a.pond,
        a.major,
        a.version,
        a.f,
        a.ripple,
        a.attempt,
        a.status,
        a.startedAt,
        a.finishedAt,
        a.rowsWritten,
        a.error,
        a.stack,
        a.duckId,
      );
      const row = this.sql(
        'SELECT * FROM ripple_attempts WHERE pond = ? AND major = ? AND f = ? AND ripple = ? AND attempt = ?',
      ).get(a.pond, a.major, a.f, a.ripple, a.attempt) as AttemptRow;
      return { attempt: toAttempt(row), applied: applied.changes > 0 };
    })();
  }

  getPondRun(name: string, major: number, f: number): PondRun | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql('SELECT * FROM pond_runs WHERE pond = ? AND major = ? AND f = ?').get(
      l.pond,
      l.major,
      parse('f', epochMsSchema, f),
    ) as PondRunRow | undefined;
    return row ? toPondRun(row) : null;
  }

  /** Pond Runs newest first (by start, then F), optionally for one Pond / line / status. */
  listPondRuns(query: RunQuery = {}): PondRun[] {
    const q = parse('run query', runQuerySchema, query);
    const { where, args } = runFilter(q);
    const rows = this.sql(
      `SELECT * FROM pond_runs ${where} ORDER BY started_at DESC, f DESC, id DESC LIMIT ?`,
    ).all(...args, q.limit) as PondRunRow[];
    return rows.map(toPondRun);
  }

  /** Every Ripple attempt of one Pond Run, in start order. */
  listRunAttempts(runId: number): RippleAttempt[] {
    const id = parse('run id', z.number().int().positive(), runId);
    const rows = this.sql(
      'SELECT * FROM ripple_attempts WHERE run_id = ? ORDER BY started_at, ripple, attempt',
    ).all(id) as AttemptRow[];
    return rows.map(toAttempt);
  }

  /** Ripple attempts newest first, optionally for one Pond / line / status (e.g. every failure). */
  listRippleAttempts(query: RunQuery = {}): RippleAttempt[] {
    const q = parse('run query', runQuerySchema, query);
    const { where, args } = runFilter(q);
    const rows = this.sql(
      `SELECT * FROM ripple_attempts ${where} ORDER BY started_at DESC, f DESC, attempt DESC LIMIT ?`,
    ).all(...args, q.limit) as AttemptRow[];
    return rows.map(toAttempt);
  }

  /** Pond Runs still marked running: after a restart these are re-dispatched. */
  listInterruptedRuns(): PondRun[] {
    const rows = this.sql(
      "SELECT * FROM pond_runs WHERE status = 'running' ORDER BY started_at, id",
    ).all() as PondRunRow[];
    return rows.map(toPondRun);
  }

  private requireVersionOfLine(name: string, major: number, version: string): void {
    const row = this.sql('SELECT 1 FROM pond_versions WHERE pond = ? AND major = ? AND version = ?').get(
      name,
      major,
      version,
    );
    if (!row) throw new NotFoundError(`pond "${name}" has no deployed version ${version} on major ${major}`);
  }

  // ───────────────────────────── Duck registry ─────────────────────────────

  /**
   * Registers the Duck about to be spawned for a line, replacing any previous one (whose token stops
   * working). Returns the plaintext token once; only its SHA-256 is stored.
   */
  registerDuck(input: z.input<typeof registerDuckSchema>): { duck: DuckRecord; token: string } {
    const d = parse('duck', registerDuckSchema, input);
    const l = this.requireLine(d.pond, d.major);
    const token = newSecret();
    const duckId = `duck_${newSecret().slice(0, 24)}`;
    this.sql(
      `INSERT INTO ducks (pond, major, duck_id, pid, token_hash, state, registered_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT (pond, major) DO UPDATE SET duck_id = excluded.duck_id, pid = excluded.pid,
           token_hash = excluded.token_hash, state = excluded.state, registered_at = excluded.registered_at,
           last_seen = NULL`,
    ).run(l.pond, l.major, duckId, d.pid, sha256Hex(token), d.state, d.atMs);
    return { duck: this.getDuck(l.pond, l.major)!, token };
  }

  /** The line's Duck if `token` is its current token (constant-time), else null. */
  verifyDuckToken(name: string, major: number, token: unknown): DuckRecord | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql('SELECT * FROM ducks WHERE pond = ? AND major = ?').get(l.pond, l.major) as
      | DuckRow
      | undefined;
    // Hash even when there is no Duck, so an unknown line costs the same as a wrong token.
    const ok = secretMatchesHash(token, row?.token_hash ?? '0'.repeat(64));
    return row && ok ? toDuck(row) : null;
  }

  /** The Duck whose current token this is, or null (every row is checked, in constant time each). */
  findDuckByToken(token: unknown): DuckRecord | null {
    let found: DuckRow | null = null;
    for (const row of this.sql('SELECT * FROM ducks').all() as DuckRow[]) {
      if (secretMatchesHash(token, row.token_hash) && found === null) found = row;
    }
    return found ? toDuck(found) : null;
  }

  getDuck(name: string, major: number): DuckRecord | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql('SELECT * FROM ducks WHERE pond = ? AND major = ?').get(l.pond, l.major) as
      | DuckRow
      | undefined;
    return row ? toDuck(row) : null;
  }

  listDucks(): DuckRecord[] {
    return (this.sql('SELECT * FROM ducks ORDER BY pond, major').all() as DuckRow[]).map(toDuck);
  }

  /** Liveness: the Duck polled or posted at `atMs`. Never moves last_seen backwards. */
  markDuckSeen(name: string, major: number, atMs: number): void {
    const l = parse('line', lineSchema, { pond: name, major });
    const at = parse('atMs', epochMsSchema, atMs);
    const r = this.sql(
      'UPDATE ducks SET last_seen = max(coalesce(last_seen, 0), ?) WHERE pond = ? AND major = ?',
    ).run(at, l.pond, l.major);
    if (r.changes === 0) throw new NotFoundError(`no Duck registered for "${l.pond}" major ${l.major}`);
  }

  setDuckState(name: string, major: number, state: DuckState, pid?: number | null): void {
    const l = parse('line', lineSchema, { pond: name, major });
    const s = parse('duck state', duckStateSchema, state);
    const p = pid === undefined ? undefined : parse('pid', z.number().int().positive().nullable(), pid);
    const r =
      p === undefined
        ? this.sql('UPDATE ducks SET state = ? WHERE pond = ? AND major = ?').run(s, l.pond, l.major)
        : this.sql('UPDATE ducks SET state = ?, pid = ? WHERE pond = ? AND major = ?').run(
            s,
            p,
            l.pond,
            l.major,
          );
    if (r.changes === 0) throw new NotFoundError(`no Duck registered for "${l.pond}" major ${l.major}`);
  }
}

function runFilter(q: { pond?: string; major?: number; status?: RunStatus }): {
  where: string;
  args: unknown[];
} {
  const clauses: string[] = [];
  const args: unknown[] = [];
  if (q.pond !== undefined) {
    clauses.push('pond = ?');
    args.push(q.pond);
  }
  if (q.major !== undefined) {
    clauses.push('major = ?');
    args.push(q.major);
  }
  if (q.status !== undefined) {
    clauses.push('status = ?');
    args.push(q.status);
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', args };
}
