/**
 * The Duck's run ledger `pond.db` (SQLite): what each Ripple last completed, which runs are
 * outstanding, and the outbox of events not yet acknowledged by the Catchment. It is what lets a Duck
 * finish and report runs while the Catchment is down, and re-run only incomplete Ripples after a crash.
 */
import Database from 'better-sqlite3';
import type { DuckLedger } from '../engine/duck-engine.js';
import type { DuckEvent } from './protocol.js';

export class RunLedger {
  private db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ripples (name TEXT PRIMARY KEY, end_f REAL);
      CREATE TABLE IF NOT EXISTS runs (f REAL PRIMARY KEY, immediate_retries INTEGER NOT NULL, version TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS attempts (ripple TEXT NOT NULL, f REAL NOT NULL, attempt INTEGER NOT NULL, PRIMARY KEY (ripple, f));
    `);
    // Ledgers written before runs carried their Source inputs.
    const columns = this.db.prepare('PRAGMA table_info(runs)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'inputs'))
      this.db.exec("ALTER TABLE runs ADD COLUMN inputs TEXT NOT NULL DEFAULT '{}'");
  }

  /**
   * Records run f with the Source inputs the Catchment gave it ('source.table' → path relative to the
   * line's folder), so a restarted Duck re-runs incomplete Ripples on the very same inputs.
   */
  beginRun(f: number, immediateRetries: number, version: string, inputs: Record<string, string> = {}): void {
    this.db
      .prepare('INSERT OR IGNORE INTO runs (f, immediate_retries, version, inputs) VALUES (?, ?, ?, ?)')
      .run(f, immediateRetries, version, JSON.stringify(inputs));
  }

  /** The Source inputs of run f; none when the run is unknown (it ended, or predates inputs). */
  inputs(f: number): Record<string, string> {
    const row = this.db.prepare('SELECT inputs FROM runs WHERE f = ?').get(f) as
      | { inputs: string }
      | undefined;
    return row ? (JSON.parse(row.inputs) as Record<string, string>) : {};
  }

  endRun(f: number): void {
    this.db.prepare('DELETE FROM runs WHERE f = ?').run(f);
  }

  rippleCompleted(name: string, f: number): void {
    this.db
      .prepare(
        'INSERT INTO ripples (name, end_f) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET end_f = max(end_f, excluded.end_f)',
      )
      .run(name, f);
    // Launches below the completed F can no longer be repeated: their numbers are not needed.
    this.db.prepare('DELETE FROM attempts WHERE ripple = ? AND f < ?').run(name, f);
  }

  /**
   * Records a launch of `ripple` at `f` and returns its attempt number: the engine's (`proposed`),
   * or the one after the last launch at this F when that is higher. The engine numbers attempts
   * within one Duck's life; a launch interrupted by a crash, or re-run by a Force at the same F,
   * must not be reported as the same attempt twice.
   */
  attemptStarted(ripple: string, f: number, proposed: number): number {
    const row = this.db.prepare('SELECT attempt FROM attempts WHERE ripple = ? AND f = ?').get(ripple, f) as
      | { attempt: number }
      | undefined;
    const attempt = Math.max(proposed, (row?.attempt ?? 0) + 1);
    this.db
      .prepare(
        'INSERT INTO attempts (ripple, f, attempt) VALUES (?, ?, ?) ON CONFLICT(ripple, f) DO UPDATE SET attempt = excluded.attempt',
      )
      .run(ripple, f, attempt);
    return attempt;
  }

  /** Forget every Ripple's progress (a refresh run rebuilds from scratch). */
  resetRipples(): void {
    this.db.exec('DELETE FROM ripples');
  }

  read(): DuckLedger & { versions: Record<number, string> } {
    const endF: Record<string, number | null> = {};
    for (const r of this.db.prepare('SELECT name, end_f FROM ripples').all() as Array<{
      name: string;
      end_f: number | null;
    }>) {
      endF[r.name] = r.end_f;
    }
    const rows = this.db.prepare('SELECT f, immediate_retries, version FROM runs ORDER BY f').all() as Array<{
      f: number;
      immediate_retries: number;
      version: string;
    }>;
    return {
      endF,
      runs: rows.map((r) => ({ f: r.f, immediateRetries: r.immediate_retries })),
      versions: Object.fromEntries(rows.map((r) => [r.f, r.version])),
    };
  }

  enqueue(event: DuckEvent): void {
    this.db.prepare('INSERT INTO outbox (event) VALUES (?)').run(JSON.stringify(event));
  }

  pending(limit = 500): Array<{ seq: number; event: DuckEvent }> {
    const rows = this.db.prepare('SELECT seq, event FROM outbox ORDER BY seq LIMIT ?').all(limit) as Array<{
      seq: number;
      event: string;
    }>;
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.event) as DuckEvent }));
  }

  acknowledge(uptoSeq: number): void {
    this.db.prepare('DELETE FROM outbox WHERE seq <= ?').run(uptoSeq);
  }

  close(): void {
    this.db.close();
  }
}
