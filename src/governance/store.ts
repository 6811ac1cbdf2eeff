/**
 * Identity and policy persistence in duck.db (migration 6), over the Catchment store's own
 * better-sqlite3 handle: the policy document (one row, replaced as a whole after validation), API
 * keys (only a SHA-256 of the secret) and the audit log.
 *
 * Keys look like `dsk_<id>_<secret>`: the id finds the row, then the secret's hash is compared in
 * constant time, so the lookup itself never depends on the secret.
 *
 * Rows are typed by parsing them with the zod schemas below (a damaged row fails loudly instead of being
 * trusted); governance keeps its own row types rather than importing the Catchment store's.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { type PolicyDocument, policyDocumentSchema } from './policy.js';

type Db = Database.Database;

/** The bootstrap admin: the principal the root's admin.key authenticates as. */
export const BOOTSTRAP_ADMIN = 'admin';
/** The group every bootstrap document grants everything to (is_member('admins') in filters). */
export const ADMINS_GROUP = 'admins';

export function bootstrapDocument(): PolicyDocument {
  return {
    principals: [{ name: BOOTSTRAP_ADMIN, kind: 'user' }],
    groups: [{ name: ADMINS_GROUP, members: [BOOTSTRAP_ADMIN] }],
    admins: [ADMINS_GROUP],
    grants: [],
    rowFilters: [],
    columnMasks: [],
  };
}

export interface ApiKeyInfo {
  id: string;
  principal: string;
  description: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface AuditEntry {
  id: number;
  at: number;
  principal: string;
  kind: 'query' | 'change';
  action: string;
  decision: 'allowed' | 'denied' | 'failed';
  detail: Record<string, unknown>;
}

export type AuditInput = Omit<AuditEntry, 'id'>;

const KEY_PATTERN = /^dsk_([0-9a-f]{16})_([0-9a-f]{64})$/;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

const keyRowSchema = z.object({
  id: z.string(),
  principal: z.string(),
  key_hash: z.string(),
  description: z.string().nullable(),
  created_at: z.number(),
  expires_at: z.number().nullable(),
  revoked_at: z.number().nullable(),
});
type KeyRow = z.infer<typeof keyRowSchema>;

const policyRowSchema = z.object({ document: z.string(), revision: z.number() });

const detailSchema = z.record(z.unknown());
const auditRowSchema = z.object({
  id: z.number(),
  at: z.number(),
  principal: z.string(),
  kind: z.enum(['query', 'change']),
  action: z.string(),
  decision: z.enum(['allowed', 'denied', 'failed']),
  detail: z.string().transform((text, ctx) => {
    const r = detailSchema.safeParse(JSON.parse(text));
    if (!r.success) ctx.addIssue({ code: 'custom', message: 'audit detail is not a JSON object' });
    return r.success ? r.data : {};
  }),
});

const liveKeySchema = z.object({ id: z.string(), principal: z.string() });

/** A row read back from duck.db, checked against its schema (undefined stays undefined). */
function row<S extends z.ZodTypeAny>(schema: S, value: unknown): z.output<S> | undefined {
  return value === undefined ? undefined : schema.parse(value);
}

function keyInfo(row: KeyRow): ApiKeyInfo {
  return {
    id: row.id,
    principal: row.principal,
    description: row.description,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export class GovernanceStore {
  constructor(private readonly db: Db) {}

  /** The stored policy document and its revision; the bootstrap document when none was saved. */
  loadDocument(): { document: PolicyDocument; revision: number } {
    const stored = row(
      policyRowSchema,
      this.db.prepare('SELECT document, revision FROM gov_policy WHERE id = 1').get(),
    );
    if (!stored) return { document: bootstrapDocument(), revision: 0 };
    return { document: policyDocumentSchema.parse(JSON.parse(stored.document)), revision: stored.revision };
  }

  /**
   * Replaces the policy document if it is still at `expectedRevision` (a concurrent change fails
   * instead of being lost) and revokes the keys of principals the new document no longer has.
   */
  saveDocument(document: PolicyDocument, expectedRevision: number, now: number): number {
    return this.db.transaction(() => {
      const current = this.loadDocument().revision;
      if (current !== expectedRevision) {
        throw new Error(
          `the policy changed concurrently (revision ${current}, expected ${expectedRevision})`,
        );
      }
      const revision = current + 1;
      this.db
        .prepare(
          `INSERT INTO gov_policy (id, document, revision, updated_at) VALUES (1, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET document = excluded.document, revision = excluded.revision,
             updated_at = excluded.updated_at`,
        )
        .run(JSON.stringify(document), revision, now);
      const names = new Set(document.principals.map((p) => p.name.toLowerCase()));
      const live = z
        .array(liveKeySchema)
        .parse(this.db.prepare('SELECT id, principal FROM gov_api_keys WHERE revoked_at IS NULL').all());
      const revoke = this.db.prepare('UPDATE gov_api_keys SET revoked_at = ? WHERE id = ?');
      for (const k of live) if (!names.has(k.principal.toLowerCase())) revoke.run(now, k.id);
      return revision;
    })();
  }

  /** Mints a key; the returned `key` is the only time the secret exists outside the caller. */
  createKey(
    principal: string,
    opts: { expiresAt?: number | null; description?: string | null },
    now: number,
  ): { key: string; info: ApiKeyInfo } {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('hex');
    const row: KeyRow = {
      id,
      principal,
      key_hash: sha256(secret).toString('hex'),
      description: opts.description ?? null,
      created_at: now,
      expires_at: opts.expiresAt ?? null,
      revoked_at: null,
    };
    this.db
      .prepare(
        `INSERT INTO gov_api_keys (id, principal, key_hash, description, created_at, expires_at, revoked_at)
         VALUES (@id, @principal, @key_hash, @description, @created_at, @expires_at, @revoked_at)`,
      )
      .run(row);
    return { key: `dsk_${id}_${secret}`, info: keyInfo(row) };
  }

  getKey(id: string): ApiKeyInfo | undefined {
    const key = row(keyRowSchema, this.db.prepare('SELECT * FROM gov_api_keys WHERE id = ?').get(id));
    return key && keyInfo(key);
  }

  listKeys(principal?: string): ApiKeyInfo[] {
    const rows = z
      .array(keyRowSchema)
      .parse(
        principal === undefined
          ? this.db.prepare('SELECT * FROM gov_api_keys ORDER BY created_at, id').all()
          : this.db
              .prepare('SELECT * FROM gov_api_keys WHERE lower(principal) = lower(?) ORDER BY created_at, id')
              .all(principal),
      );
    return rows.map(keyInfo);
  }

  /** Marks a key revoked (idempotent); undefined when no such key exists. */
  revokeKey(id: string, now: number): ApiKeyInfo | undefined {
    this.db
      .prepare('UPDATE gov_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(now, id);
    return this.getKey(id);
  }

  /** The live key a presented secret belongs to; undefined if malformed, unknown, revoked or expired. */
  verifyKey(presented: string, now: number): ApiKeyInfo | undefined {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const key = row(keyRowSchema, this.db.prepare('SELECT * FROM gov_api_keys WHERE id = ?').get(match[1]));
    if (!key) return undefined;
    if (!timingSafeEqual(sha256(match[2]!), Buffer.from(key.key_hash, 'hex'))) return undefined;
    if (key.revoked_at !== null) return undefined;
    if (key.expires_at !== null && key.expires_at <= now) return undefined;
    return keyInfo(key);
  }

  audit(entry: AuditInput): number {
    const result = this.db
      .prepare(
        'INSERT INTO gov_audit (at, principal, kind, action, decision, detail) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(entry.at, entry.principal, entry.kind, entry.action, entry.decision, JSON.stringify(entry.detail));
    return Number(result.lastInsertRowid);
  }

  /** Newest first. */
  listAudit(filter: {
    limit: number;
    principal?: string;
    kind?: 'query' | 'change';
    errorId?: string;
  }): AuditEntry[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.principal !== undefined) {
      where.push('lower(principal) = lower(?)');
      args.push(filter.principal);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      args.push(filter.kind);
    }
    if (filter.errorId !== undefined) {
      where.push("json_extract(detail, '$.error_id') = ?");
      args.push(filter.errorId);
    }
    return z
      .array(auditRowSchema)
      .parse(
        this.db
          .prepare(
            `SELECT * FROM gov_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
          )
          .all(...args, filter.limit),
      );
  }
}
