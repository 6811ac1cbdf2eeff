/**
 * Operational config per line (tables `budgets`, `windows`): the operators' intent, authoritative over
 * anything the engine holds, and what a line's PondSpec is built from. Budgets are seeded from pond.toml
 * on the line's first deploy only, then operator-owned; windows are kept in the order they were added,
 * which is the order the engine examines them in.
 */
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { type Window, windowsOverlap } from '../../engine/windows.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import type { LineRepository } from './lines.js';
import {
  budgetsSchema,
  epochMsSchema,
  lineSchema,
  parse,
  weekdaySchema,
  windowNameSchema,
  windowSchema,
} from './schemas.js';
import { decodeJsonColumn, type SqlRunner } from './sql.js';
import type { WindowsTable } from './tables.js';
import type { PondVersion } from './versions.js';

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
}

const validDaysSchema = z.array(weekdaySchema);

function toWindow(r: Selectable<WindowsTable>): Window {
  return {
    name: r.name,
    startAnchor: r.start_anchor,
    everyMs: r.every_ms,
    durationMs: r.duration_ms,
    validDays: decodeJsonColumn('window days', validDaysSchema, r.valid_days),
    until: r.until_ms,
  };
}

export class LineConfigRepository {
  constructor(
    private readonly sql: SqlRunner,
    private readonly lines: LineRepository,
  ) {}

  /** Everything needed to build a line's PondSpec. NotFoundError for a line never deployed. */
  get(name: string, major: number): LineConfig {
    return this.sql.transaction(() => {
      const l = this.lines.require(name, major);
      const selected = this.lines.selectedVersion(l.pond, l.major);
      // The selection's foreign key guarantees its version row; this only satisfies the type.
      if (!selected) throw new NotFoundError(`pond "${l.pond}" has no deployed major ${l.major}`);
      return {
        pond: l.pond,
        major: l.major,
        selected,
        selectedAt: l.selectedAt,
        budgets: this.getBudgets(l.pond, l.major),
        windows: this.listWindows(l.pond, l.major),
      };
    });
  }

  /** Every line's config, read in one transaction, for rebuilding the engine at startup. */
  list(): LineConfig[] {
    return this.sql.transaction(() => this.lines.list().map((l) => this.get(l.pond, l.major)));
  }

  // ───────────────────────────── budgets ─────────────────────────────

  /** Writes the line's first budgets; returns false (changing nothing) when it already has some. */
  seedBudgets(pond: string, major: number, budgets: Budgets, atMs: number): boolean {
    const b = parse('budgets', budgetsSchema, budgets);
    return (
      this.sql.run(
        this.sql.build
          .insertInto('budgets')
          .values({
            pond,
            major,
            immediate_retries: b.immediateRetries,
            source_retries: b.sourceRetries,
            updated_at: atMs,
          })
          .onConflict((oc) => oc.doNothing()),
      ) === 1
    );
  }

  getBudgets(name: string, major: number): Budgets {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql.first(
      this.sql.build
        .selectFrom('budgets')
        .select(['immediate_retries', 'source_retries'])
        .where('pond', '=', l.pond)
        .where('major', '=', l.major),
    );
    if (!row) throw new NotFoundError(`pond "${l.pond}" has no deployed major ${l.major}`);
    return { immediateRetries: row.immediate_retries, sourceRetries: row.source_retries };
  }

  /** Operator override; later deploys never touch it. */
  setBudgets(name: string, major: number, budgets: Budgets, atMs: number): Budgets {
    const b = parse('budgets', budgetsSchema, budgets);
    const at = parse('atMs', epochMsSchema, atMs);
    const l = this.lines.require(name, major);
    this.sql.run(
      this.sql.build
        .updateTable('budgets')
        .set({ immediate_retries: b.immediateRetries, source_retries: b.sourceRetries, updated_at: at })
        .where('pond', '=', l.pond)
        .where('major', '=', l.major),
    );
    return b;
  }

  // ───────────────────────────── windows ─────────────────────────────

  /** Windows of a line in the order they were added (the engine's list order). */
  listWindows(name: string, major: number): Window[] {
    const l = parse('line', lineSchema, { pond: name, major });
    return this.sql
      .all(
        this.sql.build
          .selectFrom('windows')
          .selectAll()
          .where('pond', '=', l.pond)
          .where('major', '=', l.major)
          .orderBy('id'),
      )
      .map(toWindow);
  }

  /** Adds a window. Duplicate name → ConflictError; overlap with another window of the line → ValidationError. */
  addWindow(name: string, major: number, window: Window, atMs: number): Window {
    const w = parse('window', windowSchema, window);
    const at = parse('atMs', epochMsSchema, atMs);
    return this.sql.transaction(() => {
      const l = this.lines.require(name, major);
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
      this.sql.run(
        this.sql.build.insertInto('windows').values({
          pond: l.pond,
          major: l.major,
          name: w.name,
          start_anchor: w.startAnchor,
          every_ms: w.everyMs,
          duration_ms: w.durationMs,
          valid_days: JSON.stringify(w.validDays),
          until_ms: w.until,
          created_at: at,
        }),
      );
      return w;
    });
  }

  removeWindow(name: string, major: number, windowName: string): void {
    const l = parse('line', lineSchema, { pond: name, major });
    const wn = parse('window name', windowNameSchema, windowName);
    const removed = this.sql.run(
      this.sql.build
        .deleteFrom('windows')
        .where('pond', '=', l.pond)
        .where('major', '=', l.major)
        .where('name', '=', wn),
    );
    if (removed === 0) throw new NotFoundError(`pond "${l.pond}" major ${l.major} has no window "${wn}"`);
  }
}
