/**
 * The governance service: authentication, authorization and policy changes, each audited, and the
 * governing of queries (what `who` may see, as rewritten SQL). Running a query and its audit entry
 * are the query service's (src/query/query-service.ts). Independent of HTTP; the Catchment's server
 * maps its errors to statuses.
 *
 * Who may change what:
 * - principals, groups, memberships, administrators, `policy apply`, the whole document and the
 *   audit log: administrators only;
 * - grants and revokes on a securable: administrators, or holders of MANAGE on it (or above it);
 * - a table's row filter and column masks: administrators, or holders of MANAGE on the table, and
 *   on `pond.table` too when overriding a Pond-wide one for one major (authorizeTablePolicy);
 * - API keys: every principal for itself, administrators for anyone, MANAGE on `*` for anyone but
 *   administrators; a key never outlives the key that minted it.
 * The rules are tabled in docs/governance.md ("Who may do what").
 * Every change is validated as a whole policy (Policy.parse, then Governor.validatePolicy against
 * the published catalog) before it is stored, so a bad filter or mask changes nothing.
 */
import { DomainError } from '../shared/errors.js';
import type { Catalog } from './catalog.js';
import { GovernanceError, PolicyError } from './errors.js';
import { GovernorPool } from './governor-pool.js';
import { parseLinePrincipal } from './line-principals.js';
import {
  broaderSecurables,
  everyMajorTable,
  formatSecurable,
  Policy,
  type PolicyDocument,
  PRIVILEGES,
  type PrincipalKind,
  type Privilege,
  parseSecurable,
  policyDocumentSchema,
  type Securable,
} from './policy.js';
import { diffDocuments, fileToDocument, type PolicyFile, parsePolicyFile } from './policy-file.js';
import { type GovernedQuery, Governor } from './rewrite.js';
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
export class Unauthenticated extends DomainError {
  constructor(message: string) {
    super({ code: 'unauthenticated', httpStatus: 401, message });
  }
}
/** One failure looked up by its error id (GovernanceService.lookupError). */
export interface ErrorLookup {
  error_id: string;
  at: number;
  principal: string;
  action: string;
  /** The SQL as the principal sent it. */
  sql: string | null;
  /** What the principal was told (null for entries written before it was kept). */
  message: string | null;
  /** Administrators only: the full text and the whole audit entry's detail. */
  error?: string | null;
  detail?: Record<string, unknown>;
}

/** A named principal, group, key or policy entry does not exist (404). */
export class UnknownEntity extends DomainError {
  constructor(message: string) {
    super({ code: 'not_found', httpStatus: 404, message });
  }
}
/** The entry already exists (409). */
export class EntityConflict extends DomainError {
  constructor(message: string) {
    super({ code: 'conflict', httpStatus: 409, message });
  }
}
export interface GovernanceServiceOptions {
  /** The adminKey of the root: authenticates as principal `admin`. */
  adminKey: string;
  catalog: () => Promise<Catalog>;
  /**
   * Checks (and may complete) every policy change before it is validated; throws to refuse it.
   * The Catchment uses it to keep its Pond lines' principals (see line-principals.ts).
   */
  constrain?: (before: PolicyDocument, next: PolicyDocument, action: string) => PolicyDocument;
  /** Worker threads that parse and rewrite queries (the query limits' governorThreads; default 2). */
  governorThreads?: number;
  /** The time audit entries, key expiries and policy revisions are stamped with (default Date.now). */
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
  /** Queries are governed off the event loop, on worker threads (created at the first query). */
  private governorPool: GovernorPool | undefined;
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
    const pool = this.governorPool;
    this.governorPool = undefined;
    await pool?.close();
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
      next = this.options.constrain?.(document, parsed.data, action) ?? parsed.data;
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

  /**
   * A change the Catchment makes as part of something else (a deploy creating its line's principal
   * and granting it what the deployer may grant): checked and validated now, stored and audited as
   * `who` by `commit()`, which the caller runs inside its own transaction on the same database so
   * both land or neither does. `commit` throws if the policy changed in between.
   */
  async prepareChange(
    who: Identity,
    action: string,
    detail: Record<string, unknown>,
    mutate: (doc: PolicyDocument) => PolicyDocument,
  ): Promise<{ diff: string[]; commit: () => number }> {
    const { document, revision } = this.current();
    const parsed = policyDocumentSchema.safeParse(mutate(structuredClone(document)));
    if (!parsed.success) {
      throw new PolicyError(parsed.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`));
    }
    const next = this.options.constrain?.(document, parsed.data, action) ?? parsed.data;
    await (await this.getGovernor()).validatePolicy(Policy.parse(next), await this.options.catalog());
    const diff = diffDocuments(document, next);
    return {
      diff,
      commit: () => {
        if (diff.length === 0) return revision;
        const saved = this.store.saveDocument(next, revision, this.now());
        this.cached = undefined;
        this.store.audit({
          at: this.now(),
          principal: who.principal,
          kind: 'change',
          action,
          decision: 'allowed',
          detail: { ...detail, diff, revision: saved },
        });
        return saved;
      },
    };
  }

  /** Forgets the cached policy (after a transaction that stored a prepared change rolled back). */
  reload(): void {
    this.cached = undefined;
  }

  /** The governor queries are rewritten with; the Catchment governs Pond inputs with it too. */
  queryGovernor(): Promise<Governor> {
    return this.getGovernor();
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

  /**
   * Grants (present) or revokes privileges on a securable to a principal or group. A grant lives at
   * its securable: only MANAGE there (or above) changes it. A revoke that would remove nothing while
   * the grantee holds the privilege through a grant on a broader securable is refused, naming that
   * securable, instead of answering "done" and leaving the privilege in place.
   */
  async setGrant(who: Identity, to: string, privileges: Privilege[], on: string, present: boolean) {
    // A Pond line's principal exists once the line is deployed: to who may not know of the line, it
    // answers exactly like a name that does not exist.
    const hidden = !(await this.knowsPrincipal(who, to));
    return this.change(
      who,
      present ? 'grant' : 'revoke',
      { to, privileges, on },
      () => {
        const securable = parseSecurable(on);
        if (!this.isAdmin(who)) this.require(who, 'MANAGE', securable);
      },
      (doc) => {
        if (hidden) return present ? refuseAsUnknown(doc, to, privileges, on) : doc;
        const securable = parseSecurable(on);
        const key = formatSecurable(securable);
        const grantKey = (g: PolicyDocument['grants'][number]) => formatSecurable(parseSecurable(g.on));
        for (const privilege of privileges) {
          const match = (g: PolicyDocument['grants'][number]) =>
            same(g.to, to) && g.privilege === privilege && grantKey(g) === key;
          const has = doc.grants.some(match);
          if (present && !has) doc.grants.push({ to, privilege, on: key });
          if (!present && !has) {
            const broader = new Set(broaderSecurables(securable));
            const above = doc.grants.find(
              (g) => same(g.to, to) && g.privilege === privilege && broader.has(grantKey(g)),
            );
            if (above) {
              throw new EntityConflict(
                `${to} holds ${privilege} on ${key} through the grant on ${grantKey(above)}, which a revoke on ${key} cannot remove: revoke it on ${grantKey(above)} (needs MANAGE there)`,
              );
            }
          }
          if (!present) doc.grants = doc.grants.filter((g) => !match(g));
        }
        return doc;
      },
    );
  }

  /**
   * Whether `who` may know that the principal or group `name` exists: any name but a Pond line's
   * principal, which only those who know the line (any privilege on it, or SELECT on one of its
   * published tables) and administrators may.
   */
  private async knowsPrincipal(who: Identity, name: string): Promise<boolean> {
    const line = parseLinePrincipal(name);
    if (!line || this.isAdmin(who)) return true;
    const securable = { kind: 'pond', pond: line.pond, major: line.major } as const;
    if (PRIVILEGES.some((p) => this.can(who, p, securable))) return true;
    const catalog = await this.options.catalog();
    return catalog
      .all()
      .some(
        (t) =>
          t.pond === line.pond &&
          t.major === line.major &&
          this.can(who, 'SELECT', { kind: 'table', pond: t.pond, major: t.major, table: t.name }),
      );
  }

  /** Sets (filter given) or removes (null) a table's row filter; see authorizeTablePolicy for who may. */
  setRowFilter(who: Identity, table: string, filter: string | null) {
    return this.change(
      who,
      filter === null ? 'row_filter.remove' : 'row_filter.set',
      { table, filter },
      () =>
        this.authorizeTablePolicy(who, table, filter !== null, 'a row filter', (doc, key) =>
          doc.rowFilters.some((f) => tableKey(f.table) === key),
        ),
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

  /** Sets (mask given) or removes (null) one column's mask; see authorizeTablePolicy for who may. */
  setColumnMask(who: Identity, table: string, column: string, mask: string | null) {
    return this.change(
      who,
      mask === null ? 'column_mask.remove' : 'column_mask.set',
      { table, column, mask },
      () =>
        this.authorizeTablePolicy(who, table, mask !== null, `a mask on column ${column}`, (doc, key) =>
          doc.columnMasks.some((m) => tableKey(m.table) === key && same(m.column, column)),
        ),
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

  /**
   * Who may set or remove a row filter or a column mask (`object`, present at a table key when
   * `existsAt` says so) on `table`. Privileges nest: an object at `pond@N.table` overrides the one at
   * `pond.table` for major N, so
   * - MANAGE on the table itself (or above it) is needed, as for grants;
   * - while `pond.table` has the object, setting, replacing or removing the `pond@N.table` override
   *   also needs MANAGE on `pond.table`: who manages one major cannot undo a Pond-wide policy;
   * - creating the object on `pond.table` while some `pond@N.table` already has its own is refused:
   *   that override would silently win for major N (it could have been put there in advance by
   *   someone managing only that major). Remove it first, or set both in one policy file.
   * Administrators hold MANAGE everywhere, but the last rule applies to them too.
   */
  private authorizeTablePolicy(
    who: Identity,
    table: string,
    setting: boolean,
    object: string,
    existsAt: (doc: PolicyDocument, key: string) => boolean,
  ): void {
    const securable = parseSecurable(table);
    if (securable.kind !== 'table') throw new PolicyError([`"${table}" is not a table (pond.table)`]);
    if (!this.isAdmin(who)) this.require(who, 'MANAGE', securable);
    const doc = this.current().document;
    const key = formatSecurable(securable);
    const everyMajor = everyMajorTable(securable);
    if (everyMajor) {
      const broad = formatSecurable(everyMajor);
      if (existsAt(doc, broad) && !this.can(who, 'MANAGE', everyMajor)) {
        throw new GovernanceError(
          'permission_denied',
          `permission denied: ${broad} has ${object} for every major, which ${key} would override for major ${securable.major}; that needs MANAGE on ${broad}`,
        );
      }
      return;
    }
    if (!setting || existsAt(doc, key)) return;
    const overrides = [
      ...new Set(
        [...doc.rowFilters.map((f) => f.table), ...doc.columnMasks.map((m) => m.table)]
          .map(tableKey)
          .filter((k) => {
            const t = parseSecurable(k);
            return (
              t.kind === 'table' &&
              t.major !== undefined &&
              t.pond === securable.pond &&
              t.table === securable.table &&
              existsAt(doc, k)
            );
          }),
      ),
    ].sort();
    if (overrides.length > 0) {
      throw new EntityConflict(
        `${overrides.join(', ')} already ${overrides.length === 1 ? 'has' : 'have'} ${object} of ${overrides.length === 1 ? 'its' : 'their'} own, which would override this one on ${key} for ${overrides.length === 1 ? 'that major' : 'those majors'}: remove ${overrides.length === 1 ? 'it' : 'them'} first, or set both in one policy file`,
      );
    }
  }

  // ───────────── keys ─────────────

  /**
   * Whose keys `who` may create, list and revoke: its own; anyone's for administrators; for holders
   * of MANAGE on the catalog (`*`), those of every principal that is not an administrator (a key of
   * an administrator would make them one).
   */
  private mayManageKeysOf(who: Identity, principal: string): boolean {
    if (same(who.principal, principal) || this.isAdmin(who)) return true;
    return this.can(who, 'MANAGE', { kind: 'catalog' }) && !this.policy().isAdmin(principal);
  }

  /**
   * Mints a key. A key never outlives the key that minted it: when `who` authenticated with an
   * expiring API key, the new key expires no later than that one (no `expiresAt` given: it gets that
   * expiry; a later one is refused). The root admin key does not expire.
   */
  createKey(
    who: Identity,
    principal: string,
    opts: { expiresAt?: number | null; description?: string | null },
  ) {
    const known = this.policy().principal(principal);
    const allowed = this.mayManageKeysOf(who, principal);
    const audit = (decision: AuditEntry['decision'], reason?: string) =>
      this.store.audit({
        at: this.now(),
        principal: who.principal,
        kind: 'change',
        action: 'key.create',
        decision,
        detail: { for: principal, ...(reason ? { reason } : {}) },
      });
    if (!allowed) {
      audit('denied');
      if (this.can(who, 'MANAGE', { kind: 'catalog' }))
        this.requireAdmin(who, 'create keys for administrators');
      this.requireAdmin(who, 'create keys for other principals (or hold MANAGE on *)');
    }
    let expiresAt = opts.expiresAt ?? null;
    try {
      if (!known) throw new UnknownEntity(`no principal "${principal}"`);
      if (expiresAt !== null && expiresAt <= this.now())
        throw new PolicyError(['expires_at: must be in the future']);
      const limit = this.mintingKeyExpiry(who);
      if (limit !== null) {
        if (expiresAt === null) expiresAt = limit;
        else if (expiresAt > limit) {
          throw new PolicyError([
            `expires_at: must not be later than ${new Date(limit).toISOString()}, when the key you are using expires (a key never outlives the key that minted it)`,
          ]);
        }
      }
    } catch (error) {
      audit('failed', (error as Error).message);
      throw error;
    }
    audit('allowed');
    return this.store.createKey(known.name, { ...opts, expiresAt }, this.now());
  }

  /** When the key `who` authenticated with expires; null for the root admin key and non-expiring keys. */
  private mintingKeyExpiry(who: Identity): number | null {
    if (who.keyId === null) return null;
    const key = this.store.getKey(who.keyId);
    if (!key) throw new Unauthenticated('invalid API key');
    return key.expiresAt;
  }

  listKeys(who: Identity, principal?: string): ApiKeyInfo[] {
    if (this.isAdmin(who)) return this.store.listKeys(principal);
    if (principal !== undefined && !this.mayManageKeysOf(who, principal))
      this.requireAdmin(who, "list other principals' keys");
    return this.store.listKeys(principal ?? who.principal);
  }

  revokeKey(who: Identity, id: string): ApiKeyInfo {
    const key = this.store.getKey(id);
    const allowed = key !== undefined && this.mayManageKeysOf(who, key.principal);
    this.store.audit({
      at: this.now(),
      principal: who.principal,
      kind: 'change',
      action: 'key.revoke',
      decision: allowed ? 'allowed' : key ? 'denied' : 'failed',
      detail: { key_id: id },
    });
    // A key id `who` may not manage answers like an unknown one, so ids cannot be probed.
    if (!allowed) throw new UnknownEntity(`no key "${id}"`);
    return this.store.revokeKey(id, this.now())!;
  }

  // ───────────── audit ─────────────

  auditLog(who: Identity, filter: Parameters<GovernanceStore['listAudit']>[0]): AuditEntry[] {
    this.requireAdmin(who, 'read the audit log');
    return this.store.listAudit(filter);
  }

  /**
   * The failure behind an error id. An administrator gets the whole audit entry (the full error
   * text, the rewritten SQL); the principal whose query failed gets its own SQL and what it was
   * told, never the full text (an error raised while rows flow may quote a value its row filter
   * hides). Anyone else gets exactly what an id that does not exist gets.
   */
  lookupError(who: Identity, errorId: string): ErrorLookup {
    const entry = this.store.listAudit({ limit: 1, errorId })[0];
    const admin = this.isAdmin(who);
    if (!entry || (!admin && !same(entry.principal, who.principal))) {
      throw new UnknownEntity(`unknown error id "${errorId}"`);
    }
    const text = (key: string) =>
      typeof entry.detail[key] === 'string' ? (entry.detail[key] as string) : null;
    return {
      error_id: errorId,
      at: entry.at,
      principal: entry.principal,
      action: entry.action,
      sql: text('sql'),
      message: text('message'),
      ...(admin ? { error: text('error'), detail: entry.detail } : {}),
    };
  }

  // ───────────── queries ─────────────

  /**
   * Governs one query of `who` against `catalog`: authorization, row filters and column masks, as
   * rewritten SQL and the tables it reads. Runs on the governor worker pool (created at the first
   * query), within `timeoutMs` (QueryDeadlineExceeded past it); a refusal throws its precise, safe
   * error. Executing and auditing the query are the query service's (src/query/query-service.ts).
   */
  govern(who: Identity, sql: string, catalog: Catalog, timeoutMs: number): Promise<GovernedQuery> {
    const { revision, document } = this.current();
    this.governorPool ??= new GovernorPool({ threads: this.options.governorThreads ?? 2 });
    return this.governorPool.govern(
      { sql, principal: who.principal, policy: { revision, document }, catalog },
      timeoutMs,
    );
  }

  /**
   * Refuses SQL for what its text alone shows — empty, unparseable, not exactly one SELECT — with
   * the errors `govern` gives it, on the same worker pool. It reads neither the catalog nor the
   * grants, so it says nothing of which tables exist or may be read (async submission uses it).
   */
  async checkStatement(who: Identity, sql: string, timeoutMs: number): Promise<void> {
    const { revision, document } = this.current();
    this.governorPool ??= new GovernorPool({ threads: this.options.governorThreads ?? 2 });
    await this.governorPool.govern(
      {
        sql,
        principal: who.principal,
        policy: { revision, document },
        catalog: { tables: [], selected: {} },
        statementOnly: true,
      },
      timeoutMs,
    );
  }

  /** Is `who` a tap principal (its reads are pull demand on the lines it reads)? */
  isTap(who: Identity): boolean {
    return this.policy().principal(who.principal)?.kind === 'tap';
  }

  /** Records a state change of an async query job (src/catchment/async/), e.g. `query_job.running`. */
  auditQueryJob(who: Identity, action: string, detail: Record<string, unknown>): void {
    this.store.audit({
      at: this.now(),
      principal: who.principal,
      kind: 'query',
      action,
      decision: action === 'query_job.failed' ? 'failed' : 'allowed',
      detail,
    });
  }

  /** Records one query's outcome in the audit log, stamped with this service's clock. */
  auditQuery(who: Identity, decision: AuditEntry['decision'], detail: Record<string, unknown>): void {
    this.store.audit({
      at: this.now(),
      principal: who.principal,
      kind: 'query',
      action: 'query',
      decision,
      detail,
    });
  }
}

/**
 * Throws exactly what granting `privileges` on `on` to a name that does not exist throws (the
 * validation of the whole policy), with `to` in place of that name.
 */
function refuseAsUnknown(doc: PolicyDocument, to: string, privileges: Privilege[], on: string): never {
  // A name no entry uses (and as valid as any), so only "does not exist" can be said of it.
  const used = new Set(
    [...doc.principals.map((p) => p.name), ...doc.groups.map((g) => g.name)].map((n) => n.toLowerCase()),
  );
  let absent = '_absent';
  while (used.has(absent)) absent += '_';
  const key = formatSecurable(parseSecurable(on));
  for (const privilege of new Set(privileges)) doc.grants.push({ to: absent, privilege, on: key });
  try {
    Policy.parse(doc);
  } catch (error) {
    if (error instanceof PolicyError)
      throw new PolicyError(error.issues.map((i) => i.split(absent).join(to)));
    throw error;
  }
  throw new PolicyError([`"${to}" is neither a principal nor a group`]);
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
