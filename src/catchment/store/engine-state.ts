/**
 * The engine snapshot (table `engine_state`, one row): the only record of engine state — freshness,
 * demand, fault state and standing triggers — so a restarted Catchment resumes exactly. Stored in the
 * engine's own format as JSON, deflated (level 1: compressing costs less than writing the plain text).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { EngineSnapshot } from '../../engine/engine.js';
import { StoreError, ValidationError } from './errors.js';
import { epochMsSchema, parse } from './schemas.js';
import type { SqlRunner } from './sql.js';

export interface SavedEngineState {
  snapshot: EngineSnapshot;
  savedAt: number;
}

const ENCODING = 'json+deflate-raw';

/**
 * The snapshot's envelope. Only `saveEngineState` writes the row, from an `EngineSnapshot`; the engine
 * tolerates entries it cannot map on restore, so checking every field of a 30 000-Ripple snapshot on
 * each start would cost time and catch nothing the envelope check does not.
 */
function isEngineSnapshot(value: unknown): value is EngineSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const v: { [key: string]: unknown } = { ...value };
  return (
    v.format === 1 &&
    Array.isArray(v.ponds) &&
    Array.isArray(v.ripples) &&
    Array.isArray(v.triggers) &&
    Array.isArray(v.completedSinceService)
  );
}

export class EngineStateRepository {
  constructor(private readonly sql: SqlRunner) {}

  /** Replaces the single engine-state row. */
  save(snapshot: EngineSnapshot, atMs: number): void {
    const at = parse('atMs', epochMsSchema, atMs);
    if (!isEngineSnapshot(snapshot)) {
      throw new ValidationError('invalid engine state: expected an engine snapshot object with format 1');
    }
    const state = deflateRawSync(JSON.stringify(snapshot), { level: 1 });
    this.sql.run(
      this.sql.build
        .insertInto('engine_state')
        .values({ id: 1, encoding: ENCODING, state, saved_at: at })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            encoding: eb.ref('excluded.encoding'),
            state: eb.ref('excluded.state'),
            saved_at: eb.ref('excluded.saved_at'),
          })),
        ),
    );
  }

  load(): SavedEngineState | null {
    const row = this.sql.first(this.sql.build.selectFrom('engine_state').selectAll().where('id', '=', 1));
    if (!row) return null;
    if (row.encoding !== ENCODING) throw new StoreError(`unknown engine state encoding "${row.encoding}"`);
    let snapshot: unknown;
    try {
      snapshot = JSON.parse(inflateRawSync(row.state).toString('utf8'));
    } catch (error) {
      throw new StoreError(`the stored engine state cannot be decoded: ${(error as Error).message}`);
    }
    if (!isEngineSnapshot(snapshot))
      throw new StoreError('the stored engine state is not an engine snapshot');
    return { snapshot, savedAt: row.saved_at };
  }
}
