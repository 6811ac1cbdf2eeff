/**
 * Major lines and their selections (table `selections`): which version each (pond, major) line runs. A
 * line exists once its major was first deployed; its selection row is the parent of all per-line config,
 * history and Duck rows.
 */
import type { Selectable } from 'kysely';
import { NotFoundError } from './errors.js';
import { lineSchema, parse, pondNameSchema } from './schemas.js';
import type { SqlRunner } from './sql.js';
import type { SelectionsTable } from './tables.js';
import { type PondVersion, toPondVersion } from './versions.js';

export interface Line {
  pond: string;
  major: number;
}

export interface LineSelection extends Line {
  version: string;
  selectedAt: number;
}

export class LineRepository {
  constructor(private readonly sql: SqlRunner) {}

  /**
   * Points the line at `version` (already recorded on that major), creating the line on its first deploy.
   * Returns the version it selected before, or null for a new line.
   */
  select(pond: string, major: number, version: string, atMs: number): string | null {
    const b = this.sql.build;
    const previous = this.sql.first(
      b.selectFrom('selections').select('version').where('pond', '=', pond).where('major', '=', major),
    );
    this.sql.run(
      b
        .insertInto('selections')
        .values({ pond, major, version, selected_at: atMs })
        .onConflict((oc) =>
          oc.columns(['pond', 'major']).doUpdateSet((eb) => ({
            version: eb.ref('excluded.version'),
            selected_at: eb.ref('excluded.selected_at'),
          })),
        ),
    );
    return previous?.version ?? null;
  }

  /** The version a line runs, or null when that major was never deployed. */
  selectedVersion(name: string, major: number): PondVersion | null {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql.first(
      this.sql.build
        .selectFrom('selections as s')
        .innerJoin('pond_versions as v', (j) =>
          j.onRef('v.pond', '=', 's.pond').onRef('v.version', '=', 's.version'),
        )
        .selectAll('v')
        .where('s.pond', '=', l.pond)
        .where('s.major', '=', l.major),
    );
    return row ? toPondVersion(row) : null;
  }

  /** Lines by pond then ascending major (one Pond's when `name` is given), each with its selected version. */
  list(name?: string): LineSelection[] {
    let q = this.sql.build.selectFrom('selections').selectAll();
    if (name !== undefined) q = q.where('pond', '=', parse('pond name', pondNameSchema, name));
    return this.sql.all(q.orderBy('pond').orderBy('major')).map(toSelection);
  }

  /** The highest deployed major of a Pond (the default line for unqualified calls), or null. */
  highestMajor(name: string): number | null {
    const row = this.sql.first(
      this.sql.build
        .selectFrom('selections')
        .select((eb) => eb.fn.max<number | null>('major').as('m'))
        .where('pond', '=', parse('pond name', pondNameSchema, name)),
    );
    return row?.m ?? null;
  }

  /** The line's selection, or NotFoundError when that major was never deployed. */
  require(name: string, major: number): LineSelection {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql.first(
      this.sql.build
        .selectFrom('selections')
        .selectAll()
        .where('pond', '=', l.pond)
        .where('major', '=', l.major),
    );
    if (!row) throw new NotFoundError(`pond "${l.pond}" has no deployed major ${l.major}`);
    return toSelection(row);
  }
}

function toSelection(r: Selectable<SelectionsTable>): LineSelection {
  return { pond: r.pond, major: r.major, version: r.version, selectedAt: r.selected_at };
}
