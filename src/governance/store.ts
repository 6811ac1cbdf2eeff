/**
 * Identity and policy persistence in duck.db (migration 6), over the Catchment store's own
 * better-sqlite3 handle: the policy document (one row, replaced as a whole after validation), API
 * keys (only a SHA-256 of the secret) and the audit log.
 *
 * Keys look like `dsk_<id>_<secret>`: the id finds the row, then the secret's hash is compared in
 * constant time, so the lookup itself never depends on the secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { PolicyDocument } from './policy.js';

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

interface KeyRow {
  id: string;
  principal: string;
  key_hash: string;
  description: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
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
    const row = this.db.prepare('SELECT document, revision FROM gov_policy WHERE id = 1').get() as
      | { document: string; revision: number }
      | undefined;
    if (!row) return { document: bootstrapDocument(), revision: 0 };
    return { document: JSON.parse(row.document) as PolicyDocument, revision: row.revision };
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
      const live = this.db
        .prepare('SELECT id, principal FROM gov_api_keys WHERE revoked_at IS NULL')
        .all() as { id: string; principal: string }[];
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
    const row = this.db.prepare('SELECT * FROM gov_api_keys WHERE id = ?').get(id) as KeyRow | undefined;
    return row && keyInfo(row);
  }

  listKeys(principal?: string): ApiKeyInfo[] {
    const rows = (
      principal === undefined
        ? this.db.prepare('SELECT * FROM gov_api_keys ORDER BY created_at, id').all()
        : this.db
            .prepare('SELECT * FROM gov_api_keys WHERE lower(principal) = lower(?) ORDER BY created_at, id')
            .all(principal)
    ) as KeyRow[];
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
    const row = this.db.prepare('SELECT * FROM gov_api_keys WHERE id = ?').get(match[1]) as
      | KeyRow
      | undefined;
    if (!row) return undefined;
    if (!timingSafeEqual(sha256(match[2]!), Buffer.from(row.key_hash, 'hex'))) return undefined;
    if (row.revoked_at !== null) return undefined;
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    return keyInfo(row);
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
    const rows = this.db
      .prepare(
        `SELECT * FROM gov_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      )
      .all(...args, filter.limit) as (Omit<AuditEntry, 'detail'> & { detail: string })[];
    return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  }
}
