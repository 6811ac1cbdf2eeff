/**
 * CatchmentStore: the entry point to duck.db. It opens the database (migrations included), holds one
 * repository per concern and delegates to them, and owns the one write that spans concerns: `deploy`.
 *
 *   versions     versions.ts      deployed Pond versions (ponds, pond_versions)
 *   lines        lines.ts         which version each major line runs (selections)
 *   lineConfig   line-config.ts   budgets and windows: operator intent per line
 *   engineState  engine-state.ts  the engine snapshot: freshness, demand, faults, standing triggers
 *   runs         runs.ts          Pond Run and Ripple attempt history
 *   ducks        ducks.ts         registered Ducks and their token hashes
 *   logs         logs.ts          the ctx.log lines of Ripple attempts
 *
 * Queries are built with Kysely against the row types in tables.ts and run synchronously by sql.ts.
 *
 * Every method validates its input with zod (ValidationError, nothing written) and each write is atomic;
 * the exceptions are the three steps `deploy` composes (`versions.insert`, `lines.select`,
 * `lineConfig.seedBudgets`), which expect deploy's validated input and its transaction. The repositories
 * are public fields; the methods below delegate to them and are kept for existing callers.
 *
 * Deploy, files first: extract the upload to a staging directory under the root, `placeVersionSource`,
 * then `deploy`; if `deploy` throws and the placement created the directory, remove it.
 */
import path from 'node:path';
import { z } from 'zod';
import type { EngineSnapshot } from '../../engine/engine.js';
import type { Window } from '../../engine/windows.js';
import { type Db, openDatabase } from './db.js';
import { type DuckRecord, DuckRegistry, type RegisterDuckInput } from './ducks.js';
import { EngineStateRepository, type SavedEngineState } from './engine-state.js';
import { ConflictError, ValidationError } from './errors.js';
import { DB_FILE, ensureRoot, resolveInRoot } from './layout.js';
import { type Budgets, type LineConfig, LineConfigRepository } from './line-config.js';
import { LineRepository, type LineSelection } from './lines.js';
import { RippleLogRepository } from './logs.js';
import {
  type PondRun,
  type PondRunInput,
  type RippleAttempt,
  type RippleAttemptInput,
  RunHistoryRepository,
  type RunQuery,
} from './runs.js';
import {
  budgetsSchema,
  type DuckState,
  epochMsSchema,
  majorOf,
  parse,
  pondNameSchema,
  type RunStatus,
  sha256HexSchema,
  versionSchema,
} from './schemas.js';
import { SqlRunner } from './sql.js';
import { type JsonObject, type PondVersion, VersionRepository } from './versions.js';

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

const MANIFEST_MAX_BYTES = 1_000_000;

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

export class CatchmentStore {
  readonly versions: VersionRepository;
  readonly lines: LineRepository;
  readonly lineConfig: LineConfigRepository;
  readonly engineState: EngineStateRepository;
  readonly runs: RunHistoryRepository;
  readonly ducks: DuckRegistry;
  readonly logs: RippleLogRepository;
  private readonly sql: SqlRunner;

  private constructor(
    /** Absolute path of the Catchment root. */
    readonly root: string,
    /** The better-sqlite3 handle; the governance store shares it. */
    readonly db: Db,
  ) {
    this.sql = new SqlRunner(db);
    this.versions = new VersionRepository(this.sql);
    this.lines = new LineRepository(this.sql);
    this.lineConfig = new LineConfigRepository(this.sql, this.lines);
    this.engineState = new EngineStateRepository(this.sql);
    this.runs = new RunHistoryRepository(this.sql, this.versions);
    this.ducks = new DuckRegistry(this.sql, this.lines);
    this.logs = new RippleLogRepository(this.sql);
  }

  /** Ensures the root exists, opens `{root}/duck.db` and applies pending migrations. */
  static open(root: string): CatchmentStore {
    const abs = ensureRoot(root);
    return new CatchmentStore(abs, openDatabase(path.join(abs, DB_FILE)));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Absolute path for a root-relative path stored in the database. */
  resolve(rel: string): string {
    return resolveInRoot(this.root, rel);
  }

  // ───────────────────────────── deploy: versions + lines + line config, atomically ─────────────────────────────

  /** Records (or re-selects) a version, switches its line's selection and seeds its budgets, atomically. */
  deploy(input: DeployInput, options: DeployOptions = {}): DeployResult {
    const d = parse('deploy', deploySchema, input);
    const manifestJson = JSON.stringify(d.manifest);
    if (Buffer.byteLength(manifestJson) > MANIFEST_MAX_BYTES) {
      throw new ValidationError(
        `invalid deploy: manifest: must be at most ${MANIFEST_MAX_BYTES} bytes of JSON`,
      );
    }
    const major = majorOf(d.version);
    return this.sql.transaction((): DeployResult => {
      const existing = this.versions.get(d.name, d.version);
      if (existing && existing.checksum !== d.checksum) {
        throw new ConflictError(
          `${d.name}@${d.version} is already deployed with different content ` +
            `(sha256 ${existing.checksum.slice(0, 12)}…, upload ${d.checksum.slice(0, 12)}…); ` +
            'versions are immutable, so bump the version',
        );
      }
      if (!existing) {
        this.versions.insert({
          pond: d.name,
          version: d.version,
          major,
          checksum: d.checksum,
          manifestJson,
          atMs: d.atMs,
        });
      }
      const previousVersion = this.lines.select(d.name, major, d.version, d.atMs);
      const budgetsSeeded = this.lineConfig.seedBudgets(
        d.name,
        major,
        d.budgets ?? { immediateRetries: 0, sourceRetries: 0 },
        d.atMs,
      );
      const version = this.versions.get(d.name, d.version);
      if (!version) throw new ConflictError(`${d.name}@${d.version} vanished during its own deploy`);
      const result: DeployResult = { version, created: !existing, previousVersion, budgetsSeeded };
      options.beforeCommit?.(result);
      return result;
    });
  }

  // ───────────────────────────── versions and lines ─────────────────────────────

  listPonds(): string[] {
    return this.versions.listPonds();
  }

  /** The version a line runs, or null when that major was never deployed. */
  getSelectedVersion(name: string, major: number): PondVersion | null {
    return this.lines.selectedVersion(name, major);
  }

  /** Major lines side by side (by pond, then ascending major), each with its selected version. */
  listLines(name?: string): LineSelection[] {
    return this.lines.list(name);
  }

  /** The highest deployed major of a Pond (the default line for unqualified calls), or null. */
  highestMajor(name: string): number | null {
    return this.lines.highestMajor(name);
  }

  // ───────────────────────────── line config ─────────────────────────────

  /** Everything needed to build a line's PondSpec. */
  getLineConfig(name: string, major: number): LineConfig {
    return this.lineConfig.get(name, major);
  }

  /** All lines' config, for rebuilding the engine at startup. */
  listLineConfigs(): LineConfig[] {
    return this.lineConfig.list();
  }

  getBudgets(name: string, major: number): Budgets {
    return this.lineConfig.getBudgets(name, major);
  }

  /** Operator override; later deploys never touch it. */
  setBudgets(name: string, major: number, budgets: Budgets, atMs: number): Budgets {
    return this.lineConfig.setBudgets(name, major, budgets, atMs);
  }

  /** Windows of a line in the order they were added (the engine's list order). */
  listWindows(name: string, major: number): Window[] {
    return this.lineConfig.listWindows(name, major);
  }

  /** Adds a window. Duplicate name → ConflictError; overlap with another window of the line → ValidationError. */
  addWindow(name: string, major: number, window: Window, atMs: number): Window {
    return this.lineConfig.addWindow(name, major, window, atMs);
  }

  removeWindow(name: string, major: number, windowName: string): void {
    this.lineConfig.removeWindow(name, major, windowName);
  }

  // ───────────────────────────── engine state ─────────────────────────────

  saveEngineState(snapshot: EngineSnapshot, atMs: number): void {
    this.engineState.save(snapshot, atMs);
  }

  loadEngineState(): SavedEngineState | null {
    return this.engineState.load();
  }

  // ───────────────────────────── run history ─────────────────────────────

  recordPondRun(input: PondRunInput): { run: PondRun; applied: boolean } {
    return this.runs.recordPondRun(input);
  }

  finishPondRun(
    name: string,
    major: number,
    f: number,
    outcome: { status: Exclude<RunStatus, 'running'>; atMs: number; error?: string | null },
  ): boolean {
    return this.runs.finishPondRun(name, major, f, outcome);
  }

  closeInterruptedAttempts(
    name: string,
    major: number,
    f: number,
    ripple: string,
    before: number,
    atMs: number,
  ): void {
    this.runs.closeInterruptedAttempts(name, major, f, ripple, before, atMs);
  }

  recordRippleAttempt(input: RippleAttemptInput): { attempt: RippleAttempt; applied: boolean } {
    return this.runs.recordRippleAttempt(input);
  }

  getPondRun(name: string, major: number, f: number): PondRun | null {
    return this.runs.getPondRun(name, major, f);
  }

  listPondRuns(query: RunQuery = {}): PondRun[] {
    return this.runs.listPondRuns(query);
  }

  listRunAttempts(runId: number): RippleAttempt[] {
    return this.runs.listRunAttempts(runId);
  }

  // ───────────────────────────── Duck registry ─────────────────────────────

  registerDuck(input: RegisterDuckInput): { duck: DuckRecord; token: string } {
    return this.ducks.register(input);
  }

  verifyDuckToken(name: string, major: number, token: unknown): DuckRecord | null {
    return this.ducks.verifyToken(name, major, token);
  }

  findDuckByToken(token: unknown): DuckRecord | null {
    return this.ducks.findByToken(token);
  }

  listDucks(): DuckRecord[] {
    return this.ducks.list();
  }

  setDuckState(name: string, major: number, state: DuckState, pid?: number | null): void {
    this.ducks.setState(name, major, state, pid);
  }
}
