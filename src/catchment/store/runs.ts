/**
 * Run history (tables `pond_runs`, `ripple_attempts`): the canonical record of every Pond Run and Ripple
 * attempt; a Duck's ledger (pond.db) is only its own recovery record. Writes are idempotent upserts
 * keyed by (pond, major, f[, ripple, attempt]) because Duck events can arrive twice or late: a replay
 * changes nothing, and a stale "running" never overwrites an outcome.
 */
import { type Selectable, sql } from 'kysely';
import { z } from 'zod';
import { NotFoundError } from './errors.js';
import {
  epochMsSchema,
  lineSchema,
  majorSchema,
  parse,
  pondNameSchema,
  type RunStatus,
  rippleNameSchema,
  runStatusSchema,
  versionSchema,
} from './schemas.js';
import type { SqlRunner } from './sql.js';
import type { PondRunsTable, RippleAttemptsTable } from './tables.js';
import type { VersionRepository } from './versions.js';

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

const textSchema = z.string().max(1_000_000);

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

function toPondRun(r: Selectable<PondRunsTable>): PondRun {
  return {
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
  };
}

function toAttempt(r: Selectable<RippleAttemptsTable>): RippleAttempt {
  return {
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
  };
}

/**
 * The upsert guard. A newer start time means a new execution reusing the key (Force at the same F): it
 * replaces the row. The same start time is a replay or the finish of that execution: it may only move the
 * row out of `running`, so a replayed "started" event can never undo a recorded outcome.
 */
function replaceIfNewer(table: 'pond_runs' | 'ripple_attempts') {
  const current = (column: string) => sql.ref(`${table}.${column}`);
  return sql<boolean>`excluded.started_at > ${current('started_at')} OR
    (excluded.started_at = ${current('started_at')} AND ${current('status')} = 'running')`;
}

export class RunHistoryRepository {
  constructor(
    private readonly sql: SqlRunner,
    private readonly versions: VersionRepository,
  ) {}

  /** Records a Pond Run's start or outcome. Returns the row as stored and whether this call changed it. */
  recordPondRun(input: PondRunInput): { run: PondRun; applied: boolean } {
    const r = parse('pond run', pondRunSchema, input);
    return this.sql.transaction(() => {
      this.versions.requireOnLine(r.pond, r.major, r.version);
      const applied = this.sql.run(
        this.sql.build
          .insertInto('pond_runs')
          .values({
            pond: r.pond,
            major: r.major,
            f: r.f,
            version: r.version,
            status: r.status,
            started_at: r.startedAt,
            finished_at: r.finishedAt,
            trigger_reason: r.triggerReason,
            error: r.error,
          })
          .onConflict((oc) =>
            oc
              .columns(['pond', 'major', 'f'])
              .doUpdateSet((eb) => ({
                version: eb.ref('excluded.version'),
                status: eb.ref('excluded.status'),
                started_at: eb.ref('excluded.started_at'),
                finished_at: eb.ref('excluded.finished_at'),
                error: eb.ref('excluded.error'),
                trigger_reason: eb.fn.coalesce('excluded.trigger_reason', 'pond_runs.trigger_reason'),
              }))
              .where(replaceIfNewer('pond_runs')),
          ),
      );
      return { run: this.requirePondRun(r.pond, r.major, r.f), applied: applied > 0 };
    });
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
    return this.sql.transaction(() => {
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
      this.sql.run(
        this.sql.build
          .updateTable('ripple_attempts')
          .set((eb) => ({
            status: o.status,
            finished_at: sql<number>`max(${at}, ${eb.ref('started_at')})`,
            error: eb.fn.coalesce('error', eb.val(o.error)),
          }))
          .where('run_id', '=', run.id)
          .where('status', '=', 'running'),
      );
      return true;
    });
  }

  /**
   * Records one Ripple attempt, with the same replay rules as `recordPondRun`. Creates the Pond Run row if
   * it is missing, so events replayed after a Catchment was restored from an older backup still land in
   * history.
   */
  recordRippleAttempt(input: RippleAttemptInput): { attempt: RippleAttempt; applied: boolean } {
    const a = parse('ripple attempt', rippleAttemptSchema, input);
    const b = this.sql.build;
    return this.sql.transaction(() => {
      this.versions.requireOnLine(a.pond, a.major, a.version);
      this.sql.run(
        b
          .insertInto('pond_runs')
          .values({
            pond: a.pond,
            major: a.major,
            f: a.f,
            version: a.version,
            status: 'running',
            started_at: a.startedAt,
          })
          .onConflict((oc) => oc.doNothing()),
      );
      const run = this.requirePondRun(a.pond, a.major, a.f);
      const applied = this.sql.run(
        b
          .insertInto('ripple_attempts')
          .values({
            run_id: run.id,
            pond: a.pond,
            major: a.major,
            version: a.version,
            f: a.f,
            ripple: a.ripple,
            attempt: a.attempt,
            status: a.status,
            started_at: a.startedAt,
            finished_at: a.finishedAt,
            rows_written: a.rowsWritten,
            error: a.error,
            stack: a.stack,
            duck_id: a.duckId,
          })
          .onConflict((oc) =>
            oc
              .columns(['pond', 'major', 'f', 'ripple', 'attempt'])
              .doUpdateSet((eb) => ({
                run_id: eb.ref('excluded.run_id'),
                version: eb.ref('excluded.version'),
                status: eb.ref('excluded.status'),
                started_at: eb.ref('excluded.started_at'),
                finished_at: eb.ref('excluded.finished_at'),
                rows_written: eb.ref('excluded.rows_written'),
                error: eb.ref('excluded.error'),
                stack: eb.ref('excluded.stack'),
                duck_id: eb.fn.coalesce('excluded.duck_id', 'ripple_attempts.duck_id'),
              }))
              .where(replaceIfNewer('ripple_attempts')),
          ),
      );
      const row = this.sql.first(
        b
          .selectFrom('ripple_attempts')
          .selectAll()
          .where('pond', '=', a.pond)
          .where('major', '=', a.major)
          .where('f', '=', a.f)
          .where('ripple', '=', a.ripple)
          .where('attempt', '=', a.attempt),
      );
      if (!row) throw new NotFoundError(`ripple attempt ${a.ripple}#${a.attempt} was not recorded`);
      return { attempt: toAttempt(row), applied: applied > 0 };
    });
  }

  getPondRun(name: string, major: number, f: number): PondRun | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql.first(
      this.sql.build
        .selectFrom('pond_runs')
        .selectAll()
        .where('pond', '=', l.pond)
        .where('major', '=', l.major)
        .where('f', '=', parse('f', epochMsSchema, f)),
    );
    return row ? toPondRun(row) : null;
  }

  /** Pond Runs newest first (by start, then F), optionally for one Pond / line / status. */
  listPondRuns(query: RunQuery = {}): PondRun[] {
    const q = parse('run query', runQuerySchema, query);
    let select = this.sql.build.selectFrom('pond_runs').selectAll();
    if (q.pond !== undefined) select = select.where('pond', '=', q.pond);
    if (q.major !== undefined) select = select.where('major', '=', q.major);
    if (q.status !== undefined) select = select.where('status', '=', q.status);
    return this.sql
      .all(select.orderBy('started_at', 'desc').orderBy('f', 'desc').orderBy('id', 'desc').limit(q.limit))
      .map(toPondRun);
  }

  /**
   * A later attempt of a Ripple started while earlier ones of the same run still read "running": those
   * were interrupted (their Duck died) and will never report. They end as failed, at the new start.
   */
  closeInterruptedAttempts(
    name: string,
    major: number,
    f: number,
    ripple: string,
    before: number,
    atMs: number,
  ): void {
    const run = this.getPondRun(name, major, f);
    if (!run) return;
    this.sql.run(
      this.sql.build
        .updateTable('ripple_attempts')
        .set((eb) => ({
          status: 'failed',
          finished_at: sql<number>`max(${atMs}, ${eb.ref('started_at')})`,
          error: eb.fn.coalesce('error', eb.val('interrupted: its Duck stopped before the attempt finished')),
        }))
        .where('run_id', '=', run.id)
        .where('ripple', '=', ripple)
        .where('attempt', '<', before)
        .where('status', '=', 'running'),
    );
  }

  /** Every Ripple attempt of one Pond Run, in start order. */
  listRunAttempts(runId: number): RippleAttempt[] {
    const id = parse('run id', z.number().int().positive(), runId);
    return this.sql
      .all(
        this.sql.build
          .selectFrom('ripple_attempts')
          .selectAll()
          .where('run_id', '=', id)
          .orderBy('started_at')
          .orderBy('ripple')
          .orderBy('attempt'),
      )
      .map(toAttempt);
  }

  /** The run just written in the same transaction: missing means the database broke an invariant. */
  private requirePondRun(name: string, major: number, f: number): PondRun {
    const run = this.getPondRun(name, major, f);
    if (!run) throw new NotFoundError(`no pond run of "${name}" major ${major} at f=${f}`);
    return run;
  }
}
