/**
 * The governance service: authentication, authorization, policy changes and governed queries, each
 * audited. Independent of HTTP; the Catchment's server maps its errors to statuses.
 *
 * Who may change what:
 * - principals, groups, memberships, administrators, `policy apply`, the whole document and the
 *   audit log: administrators only;
 * - grants and revokes on a securable: administrators, or holders of MANAGE on it (or above it);
 * - a table's row filter and column masks: administrators, or holders of MANAGE on the table;
 * - API keys: administrators for anyone, every principal for itself.
 * Every change is validated as a whole policy (Policy.parse, then Governor.validatePolicy against
 * the published catalog) before it is stored, so a bad filter or mask changes nothing.
 */
import type { QueryResult } from '../compute/query.js';
import type { Catalog } from './catalog.js';
import { GovernanceError, PolicyError } from './errors.js';
import {
  formatSecurable,
  Policy,
  type PolicyDocument,
  type PrincipalKind,
  type Privilege,
  parseSecurable,
  policyDocumentSchema,
  type Securable,
} from './policy.js';
import { diffDocuments, fileToDocument, type PolicyFile, parsePolicyFile } from './policy-file.js';
import { Governor } from './rewrite.js';
import { sanitizeExecutionError } from './sanitize.js';
import {
  ADMINS_GROUP,
  type ApiKeyInfo,
  type AuditEntry,
  BOOTSTRAP_ADMIN,
  type GovernanceStore,
} from './store.js';

export interface Identity {
  principal: string;
  /** The key used, or null for the root's admin key. */
  keyId: string | null;
}

/** No or a bad credential (401). */
export class Unauthenticated extends Error {}
/** A named principal, group, key or policy entry does not exist (404). */
export class UnknownEntity extends Error {}
/** The entry already exists (409). */
export class EntityConflict extends Error {}
/** A governed query failed while executing; only the safe message and the error id go out. */
export class QueryExecutionFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly errorId: string,
  ) {
    super(message);
  }
}

export interface QuerySource {
  /** The published catalog and, per 'pond@N.table' key, the snapshot file a query would read. */
  snapshot(): Promise<{ catalog: Catalog; files: ReadonlyMap<string, string> }>;
  execute(sql: string, tables: Map<string, string>): Promise<QueryResult>;
}

export interface GovernanceServiceOptions {
  /** The adminKey of the root: authenticates as principal `admin`. */
  adminKey: string;
  catalog: () => Promise<Catalog>;
  /** A read by a tap principal: pull demand on that Pond line. */
  onTapRead?: (pond: string, major: number) => void;
  now?: () => number;
}

export interface ChangeOutcome {
  changed: boolean;
  diff: string[];
  revision: number;
}

const lower = (s: string) => s.toLowerCase();
const same = (a: string, b: string) => lower(a) === lower(b);

export class GovernanceService {
  private cached: { revision: number; policy: Policy; document: PolicyDocument } | undefined;
  private governor: Promise<Governor> | undefined;
  private readonly now: () => number;

  constructor(
    readonly store: GovernanceStore,
    private readonly options: GovernanceServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  private getGovernor(): Promise<Governor> {
    this.governor ??= Governor.create();
    return this.governor;
  }

  async close(): Promise<void> {
    const g = this.governor;
    this.governor = undefined;
    if (g) (await g).close();
  }

  // ───────────── identity ─────────────

  current(): { revision: number; policy: Policy; document: PolicyDocument } {
    if (!this.cached) {
      const { document, revision } = this.store.loadDocument();
      this.cached = { revision, document, policy: Policy.parse(document) };
    }
    return this.cached;
  }

  policy(): Policy {
    return this.current().policy;
  }

  /** The identity behind a presented key: the root admin key, or a live API key of a known principal. */
  authenticate(presented: string | undefined, secretsEqual: (a: unknown, b: string) => boolean): Identity {
    if (!presented) throw new Unauthenticated('missing API key (send "Authorization: Bearer KEY")');
    if (secretsEqual(presented, this.options.adminKey)) return { principal: BOOTSTRAP_ADMIN, keyId: null };
    const key = this.store.verifyKey(presented, this.now());
    const known = key && this.policy().principal(key.principal);
    if (!key || !known) throw new Unauthenticated('invalid API key');
    return { principal: known.name, keyId: key.id };
  }

  isAdmin(who: Identity): boolean {
    return this.policy().isAdmin(who.principal);
  }

  can(who: Identity, privilege: Privilege, securable: Securable | string): boolean {
    return this.policy().can(who.principal, privilege, securable);
  }

  /** Throws permission_denied (403) unless `who` holds `privilege` on `securable`. */
  require(who: Identity, privilege: Privilege, securable: Securable | string): void {
    if (!this.can(who, privilege, securable)) {
      const text = typeof securable === 'string' ? securable : formatSecurable(securable);
      throw new GovernanceError('permission_denied', `permission denied: ${privilege} on ${text}`);
    }
  }

  requireAdmin(who: Identity, what: string): void {
    if (!this.isAdmin(who)) {
      throw new GovernanceError('permission_denied', `permission denied: only administrators may ${what}`);
    }
  }

  whoami(who: Identity) {
    const policy = this.policy();
    return {
      principal: who.principal,
      kind: policy.principal(who.principal)?.kind ?? 'user',
      admin: policy.isAdmin(who.principal),
      groups: [...policy.groupsOf(who.principal)].sort(),
      key_id: who.keyId,
    };
  }

  // ───────────── policy changes ─────────────

  document(who: Identity): PolicyDocument {
    this.requireAdmin(who, 'read the whole policy');
    return this.current().document;
  }

  /**
   * Validates `mutate(current)` as a whole policy and stores it. Denied and invalid attempts are
   * audited too; nothing is stored unless everything checks out.
   */
  private async change(
    who: Identity,
    action: string,
    detail: Record<string, unknown>,
    authorize: () => void,
    mutate: (doc: PolicyDocument) => PolicyDocument,
    dryRun = false,
  ): Promise<ChangeOutcome> {
    const audit = (decision: AuditEntry['decision'], extra: Record<string, unknown>) =>
      this.store.audit({
        at: this.now(),
        principal: who.principal,
        kind: 'change',
        action,
        decision,
        detail: { ...detail, ...extra },
      });
    try {
      authorize();
    } catch (error) {
      audit('denied', { reason: (error as Error).message });
      throw error;
    }
    const { document, revision } = this.current();
    let next: PolicyDocument;
    try {
      const parsed = policyDocumentSchema.safeParse(mutate(structuredClone(document)));
      if (!parsed.success) {
        throw new PolicyError(
          parsed.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`),
        );
      }
      next = parsed.data;
      const policy = Policy.parse(next);
      await (await this.getGovernor()).validatePolicy(policy, await this.options.catalog());
    } catch (error) {
      if (!dryRun) audit('failed', { reason: (error as Error).message });
      throw error;
    }
    const diff = diffDocuments(document, next);
    if (dryRun || diff.length === 0) return { changed: false, diff, revision };
    const saved = this.store.saveDocument(next, revision, this.now());
    this.cached = undefined;
    audit('allowed', { diff, revision: saved });
    return { changed: true, diff, revision: saved };
  }

  createPrincipal(who: Identity, name: string, kind: PrincipalKind) {
    return this.change(
      who,
      'principal.create',
      { name, kind },
      () => this.requireAdmin(who, 'create principals'),
      (doc) => {
        if (this.policy().principal(name) || this.policy().hasGroup(name))
          throw new EntityConflict(`"${name}" already exists`);
        doc.principals.push({ name, kind });
        return doc;
      },
    );
  }

  deletePrincipal(who: Identity, name: string) {
    return this.change(
      who,
      'principal.delete',
      { name },
      () => this.requireAdmin(who, 'delete principals'),
      (doc) => {
        if (same(name, BOOTSTRAP_ADMIN)) throw new PolicyError([`"${BOOTSTRAP_ADMIN}" is built in`]);
        if (!doc.principals.some((p) => same(p.name, name)))
          throw new UnknownEntity(`no principal "${name}"`);
        return removeIdentity(doc, name, (d) => {
          d.principals = d.principals.filter((p) => !same(p.name, name));
        });
      },
    );
  }

  createGroup(who: Identity, name: string, members: string[]) {
    return this.change(
      who,
      'group.create',
      { name, members },
      () => this.requireAdmin(who, 'create groups'),
      (doc) => {
        if (this.policy().principal(name) || this.policy().hasGroup(name))
          throw new EntityConflict(`"${name}" already exists`);
        doc.groups.push({ name, members });
        return doc;
      },
    );
  }

  deleteGroup(who: Identity, name: string) {
    return this.change(
      who,
      'group.delete',
      { name },
      () => this.requireAdmin(who, 'delete groups'),
      (doc) => {
        if (same(name, ADMINS_GROUP)) throw new PolicyError([`group "${ADMINS_GROUP}" is built in`]);
        if (!doc.groups.some((g) => same(g.name, name))) throw new UnknownEntity(`no group "${name}"`);
        return removeIdentity(doc, name, (d) => {
          d.groups = d.groups.filter((g) => !same(g.name, name));
        });
      },
    );
  }

  setMembership(who: Identity, group: string, member: string, present: boolean) {
    return this.change(
      who,
      present ? 'group.add_member' : 'group.remove_member',
      { group, member },
      () => this.requireAdmin(who, 'change group membership'),
      (doc) => {
        const g = doc.groups.find((x) => same(x.name, group));
        if (!g) throw new UnknownEntity(`no group "${group}"`);
        const has = g.members.some((m) => same(m, member));
        if (present && !has) g.members.push(member);
        if (!present) {
          if (!has) throw new UnknownEntity(`"${member}" is not a member of "${group}"`);
          if (same(group, ADMINS_GROUP) && same(member, BOOTSTRAP_ADMIN))
            throw new PolicyError([`"${BOOTSTRAP_ADMIN}" always stays in "${ADMINS_GROUP}"`]);
          g.members = g.members.filter((m) => !same(m, member));
        }
        return doc;
      },
    );
  }

  /** Grants (present) or revokes privileges on a securable to a principal or group. */
  setGrant(who: Identity, to: string, privileges: Privilege[], on: string, present: boolean) {
    return this.change(
      who,
      present ? 'grant' : 'revoke',
      { to, privileges, on },
      () => {
        const securable = parseSecurable(on);
        if (!this.isAdmin(who)) this.require(who, 'MANAGE', securable);
      },
      (doc) => {
        const key = formatSecurable(parseSecurable(on));
        for (const privilege of privileges) {
          const match = (g: PolicyDocument['grants'][number]) =>
            same(g.to, to) && g.privilege === privilege && formatSecurable(parseSecurable(g.on)) === key;
          const has = doc.grants.some(match);
          if (present && !has) doc.grants.push({ to, privilege, on: key });
          if (!present) doc.grants = doc.grants.filter((g) => !match(g));
        }
        return doc;
      },
    );
  }

  /** Sets (filter given) or removes (null) a table's row filter. */
  setRowFilter(who: Identity, table: string, filter: string | null) {
    return this.change(
      who,
      filter === null ? 'row_filter.remove' : 'row_filter.set',
      { table, filter },
      () => this.requireTableManage(who, table),
      (doc) => {
        const key = tableKey(table);
        const before = doc.rowFilters.length;
        doc.rowFilters = doc.rowFilters.filter((f) => tableKey(f.table) !== key);
        if (filter === null && doc.rowFilters.length === before)
          throw new UnknownEntity(`${table} has no row filter`);
        if (filter !== null) doc.rowFilters.push({ table: key, filter });
        return doc;
      },
    );
  }

  /** Sets (mask given) or removes (null) one column's mask. */
  setColumnMask(who: Identity, table: string, column: string, mask: string | null) {
    return this.change(
      who,
      mask === null ? 'column_mask.remove' : 'column_mask.set',
      { table, column, mask },
      () => this.requireTableManage(who, table),
      (doc) => {
        const key = tableKey(table);
        const before = doc.columnMasks.length;
        doc.columnMasks = doc.columnMasks.filter(
          (m) => !(tableKey(m.table) === key && same(m.column, column)),
        );
        if (mask === null && doc.columnMasks.length === before)
          throw new UnknownEntity(`${table}.${column} has no mask`);
        if (mask !== null) doc.columnMasks.push({ table: key, column, mask });
        return doc;
      },
    );
  }

  /** Makes the policy what the file says (plus the bootstrap entries); `dryRun` only computes the diff. */
  applyFile(who: Identity, file: string | PolicyFile, dryRun: boolean) {
    return this.change(
      who,
      'policy.apply',
      { dry_run: dryRun },
      () => this.requireAdmin(who, 'apply a policy file'),
      () => fileToDocument(typeof file === 'string' ? parsePolicyFile(file) : file),
      dryRun,
    );
  }

  private requireTableManage(who: Identity, table: string): void {
    const securable = parseSecurable(table);
    if (securable.kind !== 'table') throw new PolicyError([`"${table}" is not a table (pond.table)`]);
    if (!this.isAdmin(who)) this.require(who, 'MANAGE', securable);
  }

  // ───────────── keys ─────────────

  createKey(
    who: Identity,
    principal: string,
    opts: { expiresAt?: number | null; description?: string | null },
  ) {
    const known = this.policy().principal(principal);
    const allowed = this.isAdmin(who) || same(who.principal, principal);
    this.store.audit({
      at: this.now(),
      principal: who.principal,
      kind: 'change',
      action: 'key.create',
      decision: allowed && known ? 'allowed' : allowed ? 'failed' : 'denied',
      detail: { for: principal },
    });
    if (!allowed) this.requireAdmin(who, 'create keys for other principals');
    if (!known) throw new UnknownEntity(`no principal "${principal}"`);
    if (opts.expiresAt != null && opts.expiresAt <= this.now())
      throw new PolicyError(['expires_at: must be in the future']);
    return this.store.createKey(known.name, opts, this.now());
  }

  listKeys(who: Identity, principal?: string): ApiKeyInfo[] {
    if (this.isAdmin(who)) return this.store.listKeys(principal);
    if (principal !== undefined && !same(principal, who.principal))
      this.requireAdmin(who, "list other principals' keys");
    return this.store.listKeys(who.principal);
  }

  revokeKey(who: Identity, id: string): ApiKeyInfo {
    const key = this.store.getKey(id);
    const allowed = key !== undefined && (this.isAdmin(who) || same(key.principal, who.principal));
    this.store.audit({
      at: this.now(),
      principal: who.principal,
      kind: 'change',
      action: 'key.revoke',
      decision: allowed ? 'allowed' : key ? 'denied' : 'failed',
      detail: { key_id: id },
    });
    // Someone else's key id answers like an unknown one, so ids cannot be probed.
    if (!allowed) throw new UnknownEntity(`no key "${id}"`);
    return this.store.revokeKey(id, this.now())!;
  }

  // ───────────── audit ─────────────

  auditLog(who: Identity, filter: Parameters<GovernanceStore['listAudit']>[0]): AuditEntry[] {
    this.requireAdmin(who, 'read the audit log');
    return this.store.listAudit(filter);
  }

  // ───────────── queries ─────────────

  /**
   * Governs and runs one query for `who`. Refusals keep their precise (safe) message; any error while
   * executing becomes a generic message with an error id, the full text going to the audit log.
   */
  async query(who: Identity, sql: string, source: QuerySource): Promise<QueryResult> {
    const started = performance.now();
    const policy = this.policy();
    const detail: Record<string, unknown> = { sql };
    const audit = (decision: AuditEntry['decision']) =>
      this.store.audit({
        at: this.now(),
        principal: who.principal,
        kind: 'query',
        action: 'query',
        decision,
        detail: { ...detail, duration_ms: Math.round((performance.now() - started) * 1000) / 1000 },
      });
    const { catalog, files } = await source.snapshot();
    let governed: Awaited<ReturnType<Governor['governQuery']>>;
    try {
      governed = await (await this.getGovernor()).governQuery(sql, {
        principal: who.principal,
        policy,
        catalog,
      });
    } catch (error) {
      detail.reason = (error as Error).message;
      audit('denied');
      throw error;
    }
    detail.rewritten_sql = governed.sql;
    detail.tables = governed.tables.map((t) => t.key);
    detail.columns = governed.columns;
    const tables = new Map<string, string>();
    for (const t of governed.tables) {
      const file = files.get(t.key);
      if (file) tables.set(t.key, file);
    }
    let result: QueryResult;
    try {
      result = await source.execute(governed.sql, tables);
    } catch (error) {
      const safe = sanitizeExecutionError(error);
      detail.error_id = safe.errorId;
      detail.error = safe.detail;
      audit('failed');
      throw new QueryExecutionFailed(safe.code, safe.publicMessage, safe.errorId);
    }
    detail.rows = result.row_count;
    audit('allowed');
    if (policy.principal(who.principal)?.kind === 'tap' && this.options.onTapRead) {
      const lines = new Map(governed.tables.map((t) => [`${t.pond}@${t.major}`, t]));
      for (const t of lines.values()) this.options.onTapRead(t.pond, t.major);
    }
    return result;
  }
}

function tableKey(text: string): string {
  return formatSecurable(parseSecurable(text));
}

/** Removes an identity and every reference to it (memberships, admin entries, grants). */
function removeIdentity(
  doc: PolicyDocument,
  name: string,
  drop: (doc: PolicyDocument) => void,
): PolicyDocument {
  drop(doc);
  for (const g of doc.groups) g.members = g.members.filter((m) => !same(m, name));
  doc.admins = doc.admins.filter((a) => !same(a, name));
  doc.grants = doc.grants.filter((g) => !same(g.to, name));
  return doc;
}
