/**
 * The Duck registry (table `ducks`): at most one registered Duck per line, its process id, lifecycle state
 * and the SHA-256 of its token. Registering replaces the previous Duck, so its token stops working. The
 * plaintext token exists only in the return value of `register`.
 */
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { NotFoundError } from './errors.js';
import type { LineRepository } from './lines.js';
import {
  type DuckState,
  duckStateSchema,
  epochMsSchema,
  lineSchema,
  majorSchema,
  parse,
  pondNameSchema,
} from './schemas.js';
import { newSecret, secretMatchesHash, sha256Hex } from './secrets.js';
import type { SqlRunner } from './sql.js';
import type { DucksTable } from './tables.js';

export interface DuckRecord {
  pond: string;
  major: number;
  duckId: string;
  pid: number | null;
  state: DuckState;
  registeredAt: number;
}

const pidSchema = z.number().int().positive().nullable();

const registerDuckSchema = z
  .object({
    pond: pondNameSchema,
    major: majorSchema,
    pid: pidSchema,
    state: duckStateSchema.default('starting'),
    atMs: epochMsSchema,
  })
  .strict();

export type RegisterDuckInput = z.input<typeof registerDuckSchema>;

function toDuck(r: Selectable<DucksTable>): DuckRecord {
  return {
    pond: r.pond,
    major: r.major,
    duckId: r.duck_id,
    pid: r.pid,
    state: r.state,
    registeredAt: r.registered_at,
  };
}

/** Compared against when a line has no Duck, so an unknown line costs the same as a wrong token. */
const NO_HASH = '0'.repeat(64);

export class DuckRegistry {
  constructor(
    private readonly sql: SqlRunner,
    private readonly lines: LineRepository,
  ) {}

  /** Registers the Duck about to be spawned for a line; returns the plaintext token once. */
  register(input: RegisterDuckInput): { duck: DuckRecord; token: string } {
    const d = parse('duck', registerDuckSchema, input);
    return this.sql.transaction(() => {
      const l = this.lines.require(d.pond, d.major);
      const token = newSecret();
      this.sql.run(
        this.sql.build
          .insertInto('ducks')
          .values({
            pond: l.pond,
            major: l.major,
            duck_id: `duck_${newSecret().slice(0, 24)}`,
            pid: d.pid,
            token_hash: sha256Hex(token),
            state: d.state,
            registered_at: d.atMs,
            last_seen: null,
          })
          .onConflict((oc) =>
            oc.columns(['pond', 'major']).doUpdateSet((eb) => ({
              duck_id: eb.ref('excluded.duck_id'),
              pid: eb.ref('excluded.pid'),
              token_hash: eb.ref('excluded.token_hash'),
              state: eb.ref('excluded.state'),
              registered_at: eb.ref('excluded.registered_at'),
              last_seen: null,
            })),
          ),
      );
      const duck = this.get(l.pond, l.major);
      if (!duck) throw new NotFoundError(`no Duck registered for "${l.pond}" major ${l.major}`);
      return { duck, token };
    });
  }

  /** The line's Duck if `token` is its current token (constant-time), else null. */
  verifyToken(name: string, major: number, token: unknown): DuckRecord | null {
    const row = this.row(name, major);
    const ok = secretMatchesHash(token, row?.token_hash ?? NO_HASH);
    return row && ok ? toDuck(row) : null;
  }

  /** The Duck whose current token this is, or null (every row is checked, in constant time each). */
  findByToken(token: unknown): DuckRecord | null {
    let found: Selectable<DucksTable> | null = null;
    for (const row of this.sql.all(this.sql.build.selectFrom('ducks').selectAll())) {
      if (secretMatchesHash(token, row.token_hash) && found === null) found = row;
    }
    return found ? toDuck(found) : null;
  }

  get(name: string, major: number): DuckRecord | null {
    const row = this.row(name, major);
    return row ? toDuck(row) : null;
  }

  list(): DuckRecord[] {
    return this.sql
      .all(this.sql.build.selectFrom('ducks').selectAll().orderBy('pond').orderBy('major'))
      .map(toDuck);
  }

  /** Moves the line's Duck to `state`, and records its pid when one is given. */
  setState(name: string, major: number, state: DuckState, pid?: number | null): void {
    const l = parse('line', lineSchema, { pond: name, major });
    const s = parse('duck state', duckStateSchema, state);
    const p = pid === undefined ? undefined : parse('pid', pidSchema, pid);
    const changed = this.sql.run(
      this.sql.build
        .updateTable('ducks')
        .set(p === undefined ? { state: s } : { state: s, pid: p })
        .where('pond', '=', l.pond)
        .where('major', '=', l.major),
    );
    if (changed === 0) throw new NotFoundError(`no Duck registered for "${l.pond}" major ${l.major}`);
  }

  private row(name: string, major: number): Selectable<DucksTable> | undefined {
    const l = parse('line', lineSchema, { pond: name, major });
    return this.sql.first(
      this.sql.build.selectFrom('ducks').selectAll().where('pond', '=', l.pond).where('major', '=', l.major),
    );
  }
}
