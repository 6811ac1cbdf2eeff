/**
 * Ripple logs (table `ripple_logs`): the `ctx.log` lines of each Ripple attempt, as its Duck sent
 * them. Appends are idempotent (a replayed event inserts nothing); reads page forward by `id`, the
 * cursor `duckstring logs --follow` polls with. Each line keeps at most `RETAINED_LINES_PER_LINE`
 * lines: older ones go as new ones arrive, so a chatty Pond cannot fill the disk.
 */
import { z } from 'zod';
import { epochMsSchema, majorSchema, parse, pondNameSchema, rippleNameSchema } from './schemas.js';
import type { SqlRunner } from './sql.js';

export const RETAINED_LINES_PER_LINE = 50_000;

export interface RippleLogEntry {
  /** The cursor: ids grow in arrival order. */
  id: number;
  pond: string;
  major: number;
  f: number;
  ripple: string;
  attempt: number;
  at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | null;
}

const levelSchema = z.enum(['info', 'warn', 'error']);

const appendSchema = z
  .object({
    pond: pondNameSchema,
    major: majorSchema,
    f: epochMsSchema,
    ripple: rippleNameSchema,
    attempt: z.number().int().nonnegative(),
    lines: z.array(
      z.object({
        seq: z.number().int().nonnegative(),
        at: epochMsSchema,
        level: levelSchema,
        message: z.string().max(100_000),
        fields: z.record(z.unknown()).optional(),
      }),
    ),
  })
  .strict();
export type RippleLogAppend = z.input<typeof appendSchema>;

const listSchema = z
  .object({
    pond: pondNameSchema,
    major: majorSchema,
    /** Lines after this cursor, oldest first; absent: the newest `limit` lines. */
    since: z.number().int().nonnegative().optional(),
    ripple: rippleNameSchema.optional(),
    limit: z.number().int().min(1).max(10_000).default(200),
  })
  .strict();
export type RippleLogQuery = z.input<typeof listSchema>;

function parseFields(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

export class RippleLogRepository {
  constructor(
    private readonly sql: SqlRunner,
    /** Lines kept per line (tests pass fewer). */
    private readonly retained = RETAINED_LINES_PER_LINE,
  ) {}

  /** Stores one attempt's lines; returns how many were new. */
  append(input: RippleLogAppend): number {
    const a = parse('ripple log', appendSchema, input);
    if (a.lines.length === 0) return 0;
    return this.sql.transaction(() => {
      const inserted = this.sql.run(
        this.sql.build
          .insertInto('ripple_logs')
          .values(
            a.lines.map((l) => ({
              pond: a.pond,
              major: a.major,
              f: a.f,
              ripple: a.ripple,
              attempt: a.attempt,
              seq: l.seq,
              at: l.at,
              level: l.level,
              message: l.message,
              fields: l.fields === undefined ? null : JSON.stringify(l.fields),
            })),
          )
          .onConflict((oc) => oc.doNothing()),
      );
      if (inserted > 0) this.prune(a.pond, a.major);
      return inserted;
    });
  }

  /** A line's log lines, oldest first: after `since`, or the newest `limit` when `since` is absent. */
  list(query: RippleLogQuery): RippleLogEntry[] {
    const q = parse('ripple log query', listSchema, query);
    let select = this.sql.build
      .selectFrom('ripple_logs')
      .selectAll()
      .where('pond', '=', q.pond)
      .where('major', '=', q.major);
    if (q.ripple !== undefined) select = select.where('ripple', '=', q.ripple);
    const rows =
      q.since === undefined
        ? this.sql.all(select.orderBy('id', 'desc').limit(q.limit)).reverse()
        : this.sql.all(select.where('id', '>', q.since).orderBy('id', 'asc').limit(q.limit));
    return rows.map((r) => ({
      id: r.id,
      pond: r.pond,
      major: r.major,
      f: r.f,
      ripple: r.ripple,
      attempt: r.attempt,
      at: r.at,
      level: r.level,
      message: r.message,
      fields: parseFields(r.fields),
    }));
  }

  /** The newest cursor of a line (0 when it has no lines): where a follower with no lines starts. */
  latestId(pond: string, major: number): number {
    const row = this.sql.first(
      this.sql.build
        .selectFrom('ripple_logs')
        .select((eb) => eb.fn.max('id').as('id'))
        .where('pond', '=', parse('pond', pondNameSchema, pond))
        .where('major', '=', parse('major', majorSchema, major)),
    );
    return row?.id ?? 0;
  }

  private prune(pond: string, major: number): void {
    const boundary = this.sql.first(
      this.sql.build
        .selectFrom('ripple_logs')
        .select('id')
        .where('pond', '=', pond)
        .where('major', '=', major)
        .orderBy('id', 'desc')
        .limit(1)
        .offset(this.retained),
    );
    if (boundary)
      this.sql.run(
        this.sql.build
          .deleteFrom('ripple_logs')
          .where('pond', '=', pond)
          .where('major', '=', major)
          .where('id', '<=', boundary.id),
      );
  }
}
