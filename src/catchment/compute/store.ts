/**
 * The compute directory's rows in duck.db (migration 8): worker endpoints and the assignments that
 * route principals, groups or everyone to them. A plain repository over the Catchment's
 * better-sqlite3 handle; every row read back is checked against its schema. Tokens stay ciphertext
 * here: decrypting is the directory's (directory.ts), which holds the key.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { ENDPOINT_STATUSES, type EndpointStatus, JOB_KINDS, type JobKind } from '../../compute/topology.js';

type Db = Database.Database;

export const SUBJECT_KINDS = ['principal', 'group', 'everyone', 'pond'] as const;
export type SubjectKind = (typeof SUBJECT_KINDS)[number];
/** What the subject_kind column holds (its CHECK constraint predates Pond subjects). */
const STORED_SUBJECT_KINDS = ['principal', 'group', 'everyone'] as const;

/**
 * Who an assignment routes: one principal, the (transitive) members of a group, or everyone (for
 * queries); a Pond target (`*`, `name` or `name@major`, for Pond runs).
 */
export type Subject = { kind: 'principal' | 'group' | 'pond'; name: string } | { kind: 'everyone' };

/** The name column of an `everyone` assignment (no principal or group can be called this). */
const EVERYONE = '*';
/**
 * A Pond subject is stored as a principal under the reserved line-principal prefix (`pond.sales@1`
 * is that line's own principal; `pond.sales` and `pond.*` can be no principal at all), so Pond
 * targets need no schema change and can never collide with a person's or group's assignment.
 */
const POND_PREFIX = 'pond.';

export interface StoredEndpoint {
  id: number;
  name: string;
  url: string;
  tokenCiphertext: string;
  status: EndpointStatus;
  capacity: number | null;
  revision: number;
  createdAt: number;
  updatedAt: number;
}

export interface StoredAssignment {
  id: number;
  subject: Subject;
  endpointId: number;
  endpointName: string;
  isDefault: boolean;
  fallbackLocal: boolean;
  jobKinds: JobKind[];
  createdAt: number;
}

const endpointRow = z
  .object({
    id: z.number(),
    name: z.string(),
    url: z.string(),
    token_ciphertext: z.string(),
    status: z.enum(ENDPOINT_STATUSES),
    capacity: z.number().nullable(),
    revision: z.number(),
    created_at: z.number(),
    updated_at: z.number(),
  })
  .transform(
    (r): StoredEndpoint => ({
      id: r.id,
      name: r.name,
      url: r.url,
      tokenCiphertext: r.token_ciphertext,
      status: r.status,
      capacity: r.capacity,
      revision: r.revision,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }),
  );

const assignmentRow = z
  .object({
    id: z.number(),
    subject_kind: z.enum(STORED_SUBJECT_KINDS),
    subject_name: z.string(),
    endpoint_id: z.number(),
    endpoint_name: z.string(),
    is_default: z.number(),
    fallback_local: z.number(),
    job_kinds: z.string().transform((text) => z.array(z.enum(JOB_KINDS)).parse(JSON.parse(text))),
    created_at: z.number(),
  })
  .transform(
    (r): StoredAssignment => ({
      id: r.id,
      subject:
        r.subject_kind === 'everyone'
          ? { kind: 'everyone' }
          : r.subject_kind === 'principal' && r.subject_name.toLowerCase().startsWith(POND_PREFIX)
            ? { kind: 'pond', name: r.subject_name.slice(POND_PREFIX.length).toLowerCase() }
            : { kind: r.subject_kind, name: r.subject_name },
      endpointId: r.endpoint_id,
      endpointName: r.endpoint_name,
      isDefault: r.is_default === 1,
      fallbackLocal: r.fallback_local === 1,
      jobKinds: r.job_kinds,
      createdAt: r.created_at,
    }),
  );

const ASSIGNMENT_SELECT = `SELECT a.*, e.name AS endpoint_name
  FROM compute_assignments a JOIN compute_endpoints e ON e.id = a.endpoint_id`;

export interface NewEndpoint {
  name: string;
  url: string;
  tokenCiphertext: string;
  status: EndpointStatus;
  capacity: number | null;
}

export interface NewAssignment {
  subject: Subject;
  endpointId: number;
  isDefault: boolean;
  fallbackLocal: boolean;
  jobKinds: JobKind[];
}

export class ComputeStore {
  constructor(private readonly db: Db) {}

  /** Runs `fn` in one transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  listEndpoints(): StoredEndpoint[] {
    return z
      .array(endpointRow)
      .parse(this.db.prepare('SELECT * FROM compute_endpoints ORDER BY name COLLATE NOCASE, id').all());
  }

  /** By name, case-insensitively. */
  getEndpoint(name: string): StoredEndpoint | undefined {
    const found = this.db.prepare('SELECT * FROM compute_endpoints WHERE name = ?').get(name);
    return found === undefined ? undefined : endpointRow.parse(found);
  }

  insertEndpoint(e: NewEndpoint, now: number): StoredEndpoint {
    const result = this.db
      .prepare(
        `INSERT INTO compute_endpoints (name, url, token_ciphertext, status, capacity, revision, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
      )
      .run(e.name, e.url, e.tokenCiphertext, e.status, e.capacity, now, now);
    return endpointRow.parse(
      this.db.prepare('SELECT * FROM compute_endpoints WHERE id = ?').get(result.lastInsertRowid),
    );
  }

  /** Writes every field of `e` but its name and creation time. */
  updateEndpoint(e: StoredEndpoint): void {
    this.db
      .prepare(
        `UPDATE compute_endpoints SET url = ?, token_ciphertext = ?, status = ?, capacity = ?, revision = ?,
           updated_at = ? WHERE id = ?`,
      )
      .run(e.url, e.tokenCiphertext, e.status, e.capacity, e.revision, e.updatedAt, e.id);
  }

  /** Deletes the endpoint; its assignments go with it (foreign key cascade). */
  deleteEndpoint(id: number): void {
    this.db.prepare('DELETE FROM compute_endpoints WHERE id = ?').run(id);
  }

  listAssignments(): StoredAssignment[] {
    return z.array(assignmentRow).parse(this.db.prepare(`${ASSIGNMENT_SELECT} ORDER BY a.id`).all());
  }

  getAssignment(id: number): StoredAssignment | undefined {
    const found = this.db.prepare(`${ASSIGNMENT_SELECT} WHERE a.id = ?`).get(id);
    return found === undefined ? undefined : assignmentRow.parse(found);
  }

  /** The assignment of `subject` to the endpoint, if there is one (one per subject and endpoint). */
  findAssignment(subject: Subject, endpointId: number): StoredAssignment | undefined {
    const found = this.db
      .prepare(`${ASSIGNMENT_SELECT} WHERE a.subject_kind = ? AND a.subject_name = ? AND a.endpoint_id = ?`)
      .get(storedKind(subject), subjectName(subject), endpointId);
    return found === undefined ? undefined : assignmentRow.parse(found);
  }

  insertAssignment(a: NewAssignment, now: number): StoredAssignment {
    const result = this.db
      .prepare(
        `INSERT INTO compute_assignments (subject_kind, subject_name, endpoint_id, is_default, fallback_local, job_kinds, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        storedKind(a.subject),
        subjectName(a.subject),
        a.endpointId,
        a.isDefault ? 1 : 0,
        a.fallbackLocal ? 1 : 0,
        JSON.stringify(a.jobKinds),
        now,
      );
    return this.getAssignment(Number(result.lastInsertRowid))!;
  }

  /** Changes an assignment's flags and job kinds (its subject and endpoint are its identity). */
  updateAssignment(id: number, a: Pick<NewAssignment, 'isDefault' | 'fallbackLocal' | 'jobKinds'>): void {
    this.db
      .prepare(
        'UPDATE compute_assignments SET is_default = ?, fallback_local = ?, job_kinds = ? WHERE id = ?',
      )
      .run(a.isDefault ? 1 : 0, a.fallbackLocal ? 1 : 0, JSON.stringify(a.jobKinds), id);
  }

  deleteAssignment(id: number): void {
    this.db.prepare('DELETE FROM compute_assignments WHERE id = ?').run(id);
  }
}

function storedKind(subject: Subject): (typeof STORED_SUBJECT_KINDS)[number] {
  return subject.kind === 'pond' ? 'principal' : subject.kind;
}

function subjectName(subject: Subject): string {
  if (subject.kind === 'pond') return `${POND_PREFIX}${subject.name.toLowerCase()}`;
  return subject.kind === 'everyone' ? EVERYONE : subject.name;
}

/** `principal alice`, `group beta`, `everyone`, `pond sales@1`, `every pond`. */
export function describeSubject(subject: Subject): string {
  if (subject.kind === 'pond' && subject.name === '*') return 'every pond';
  return subject.kind === 'everyone' ? 'everyone' : `${subject.kind} ${subject.name}`;
}
