/**
 * The policy model and its resolution: who may do what, and which rows and column values each
 * reader gets. Pure: no database, no clock. The SQL inside row filters and masks is checked
 * against DuckDB's parser separately (policy-sql.ts); here it is only carried.
 *
 * Decisions:
 * - Principals and groups share one namespace (a grant or an admin entry names either), names
 *   are unique case-insensitively.
 * - Securables form a tree: catalog `*` → pond `sales` → major `sales@2` → table. A table is named
 *   `sales.daily` (every major) or `sales@2.daily` (one major). A grant covers its securable and
 *   everything below it; nothing else is allowed (default deny).
 * - Privileges are independent of each other (MANAGE does not imply SELECT). Admins hold every
 *   privilege everywhere, but row filters and masks still apply to them: filters and masks apply
 *   to every reader, and an exemption is written into the expression (`is_member('admins')`).
 * - One row filter per table and one mask per column. A `pond@N.table` filter or mask overrides
 *   the `pond.table` one for that major.
 */
import { z } from 'zod';
import {
  IDENTIFIER_SOURCE,
  POND_REF_SOURCE,
  PRINCIPAL_NAME_PATTERN,
  PRINCIPAL_NAME_RULE,
} from '../shared/ids.js';
import { PolicyError } from './errors.js';

export const PRINCIPAL_KINDS = ['user', 'service', 'tap'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export const PRIVILEGES = ['SELECT', 'TRIGGER', 'OPERATE', 'DEPLOY', 'MANAGE'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** Privileges that mean something on a single table; the others apply to ponds and above. */
const TABLE_PRIVILEGES: ReadonlySet<Privilege> = new Set(['SELECT', 'MANAGE']);

const POND = POND_REF_SOURCE;
const TABLE = IDENTIFIER_SOURCE;
const SECURABLE = new RegExp(`^(?:(\\*)|(${POND})(?:@([0-9]+))?(?:\\.(${TABLE}))?)$`);

export type Securable =
  | { kind: 'catalog' }
  | { kind: 'pond'; pond: string; major?: number }
  | { kind: 'table'; pond: string; major?: number; table: string };

/** Parses `*`, `pond`, `pond@N`, `pond.table` or `pond@N.table` (names case-insensitive). */
export function parseSecurable(text: string): Securable {
  const match = SECURABLE.exec(text);
  if (!match) {
    throw new PolicyError([
      `"${text}" is not a securable: use *, pond, pond@major, pond.table or pond@major.table`,
    ]);
  }
  if (match[1]) return { kind: 'catalog' };
  const pond = match[2]!.toLowerCase();
  const major = match[3] === undefined ? undefined : Number(match[3]);
  // Major 0 is a line like any other (semver's 0.y.z): `cities@0`.
  if (major !== undefined && (!Number.isSafeInteger(major) || major < 0 || /^0\d/.test(match[3]!))) {
    throw new PolicyError([`"${text}": a major version is a whole number without leading zeros`]);
  }
  const base = major === undefined ? { pond } : { pond, major };
  return match[4] ? { kind: 'table', ...base, table: match[4].toLowerCase() } : { kind: 'pond', ...base };
}

export function formatSecurable(securable: Securable): string {
  if (securable.kind === 'catalog') return '*';
  const pond = securable.major === undefined ? securable.pond : `${securable.pond}@${securable.major}`;
  return securable.kind === 'table' ? `${pond}.${securable.table}` : pond;
}

/**
 * The every-major table a one-major table's filters and masks override (`sales@2.daily` →
 * `sales.daily`); undefined for anything else.
 */
export function everyMajorTable(securable: Securable): Securable | undefined {
  if (securable.kind !== 'table' || securable.major === undefined) return undefined;
  return { kind: 'table', pond: securable.pond, table: securable.table };
}

/** The securables strictly above `securable` whose grants also cover it (for revokes that cannot bite). */
export function broaderSecurables(securable: Securable): string[] {
  const self = formatSecurable(securable);
  return coveringSecurables(securable).filter((s) => s !== self);
}

/** The securable itself and every ancestor whose grants cover it. */
function coveringSecurables(securable: Securable): string[] {
  if (securable.kind === 'catalog') return ['*'];
  const { pond, major } = securable;
  const out = ['*', pond];
  if (major !== undefined) out.push(`${pond}@${major}`);
  if (securable.kind === 'table') {
    out.push(`${pond}.${securable.table}`);
    if (major !== undefined) out.push(`${pond}@${major}.${securable.table}`);
  }
  return out;
}

const name = z.string().min(1).max(128).regex(PRINCIPAL_NAME_PATTERN, PRINCIPAL_NAME_RULE);
const expression = z
  .string()
  .max(10_000)
  .refine((s) => s.trim() !== '', 'expression is empty')
  .refine((s) => !s.includes('\0'), 'expression contains a NUL byte');
const tableName = z
  .string()
  .regex(new RegExp(`^${POND}(?:@[0-9]+)?\\.${TABLE}$`), 'a table is named pond.table or pond@major.table');

export const policyDocumentSchema = z
  .object({
    principals: z.array(z.object({ name, kind: z.enum(PRINCIPAL_KINDS) }).strict()),
    groups: z.array(z.object({ name, members: z.array(name) }).strict()).default([]),
    /** Principals or groups (transitively) holding every privilege. */
    admins: z.array(name).default([]),
    grants: z
      .array(z.object({ to: name, privilege: z.enum(PRIVILEGES), on: z.string().min(1).max(300) }).strict())
      .default([]),
    rowFilters: z.array(z.object({ table: tableName, filter: expression }).strict()).default([]),
    columnMasks: z
      .array(
        z
          .object({ table: tableName, column: z.string().regex(new RegExp(`^${TABLE}$`)), mask: expression })
          .strict(),
      )
      .default([]),
  })
  .strict();

export type PolicyDocumentInput = z.input<typeof policyDocumentSchema>;
export type PolicyDocument = z.output<typeof policyDocumentSchema>;

export interface Principal {
  name: string;
  kind: PrincipalKind;
}

interface Grant {
  identity: string;
  privilege: Privilege;
  securable: string;
}

/** A resolved, immutable policy. Build it with `Policy.parse`. */
export class Policy {
  private readonly principals = new Map<string, Principal>();
  /** Lower-cased group name → the group's spelling. */
  private readonly groups = new Map<string, string>();
  /** Lower-cased member name → lower-cased groups containing it directly. */
  private readonly parents = new Map<string, string[]>();
  private readonly admins: ReadonlySet<string>;
  private readonly grants: readonly Grant[];
  private readonly filters = new Map<string, string>();
  private readonly masks = new Map<string, Map<string, string>>();
  private readonly membershipCache = new Map<string, ReadonlySet<string>>();

  private constructor(readonly document: PolicyDocument) {
    const issues: string[] = [];
    const names = new Map<string, string>();
    const claim = (entry: string, what: string): void => {
      const key = entry.toLowerCase();
      const previous = names.get(key);
      if (previous) issues.push(`${what} "${entry}" clashes with ${previous} (names are case-insensitive)`);
      else names.set(key, `${what} "${entry}"`);
    };
    for (const p of document.principals) {
      claim(p.name, 'principal');
      this.principals.set(p.name.toLowerCase(), { name: p.name, kind: p.kind });
    }
    for (const g of document.groups) {
      claim(g.name, 'group');
      this.groups.set(g.name.toLowerCase(), g.name);
    }
    const known = (entry: string): boolean => names.has(entry.toLowerCase());
    for (const g of document.groups) {
      const seen = new Set<string>();
      for (const member of g.members) {
        const key = member.toLowerCase();
        if (!known(member))
          issues.push(`group "${g.name}": member "${member}" is neither a principal nor a group`);
        else if (seen.has(key)) issues.push(`group "${g.name}": member "${member}" is listed twice`);
        seen.add(key);
        const list = this.parents.get(key) ?? [];
        list.push(g.name.toLowerCase());
        this.parents.set(key, list);
      }
    }
    const cycle = this.findCycle();
    if (cycle) issues.push(`group membership cycle: ${cycle.map((g) => this.groups.get(g)).join(' → ')}`);
    for (const admin of document.admins) {
      if (!known(admin)) issues.push(`admins: "${admin}" is neither a principal nor a group`);
    }
    this.admins = new Set(document.admins.map((a) => a.toLowerCase()));

    const grants: Grant[] = [];
    document.grants.forEach((grant, i) => {
      const where = `grants[${i}]`;
      if (!known(grant.to)) issues.push(`${where}: "${grant.to}" is neither a principal nor a group`);
      let securable: Securable;
      try {
        securable = parseSecurable(grant.on);
      } catch (error) {
        issues.push(`${where}: ${(error as PolicyError).issues.join('; ')}`);
        return;
      }
      if (securable.kind === 'table' && !TABLE_PRIVILEGES.has(grant.privilege)) {
        issues.push(`${where}: ${grant.privilege} cannot be granted on a table (only SELECT or MANAGE)`);
      }
      grants.push({
        identity: grant.to.toLowerCase(),
        privilege: grant.privilege,
        securable: formatSecurable(securable),
      });
    });
    this.grants = grants;

    document.rowFilters.forEach((f, i) => {
      const key = normalizeTableKey(f.table);
      if (this.filters.has(key))
        issues.push(`rowFilters[${i}]: ${f.table} already has a row filter (one per table)`);
      this.filters.set(key, f.filter);
    });
    document.columnMasks.forEach((m, i) => {
      const key = normalizeTableKey(m.table);
      const columns = this.masks.get(key) ?? new Map<string, string>();
      const column = m.column.toLowerCase();
      if (columns.has(column)) {
        issues.push(`columnMasks[${i}]: ${m.table}.${m.column} already has a mask (one per column)`);
      }
      columns.set(column, m.mask);
      this.masks.set(key, columns);
    });
    if (issues.length > 0) throw new PolicyError(issues);
  }

  /** Validates and resolves a policy document; throws PolicyError listing every problem. */
  static parse(input: unknown): Policy {
    const parsed = policyDocumentSchema.safeParse(input);
    if (!parsed.success) {
      throw new PolicyError(parsed.error.issues.map((i) => `${i.path.join('.') || 'policy'}: ${i.message}`));
    }
    return new Policy(parsed.data);
  }

  principal(principalName: string): Principal | undefined {
    return this.principals.get(principalName.toLowerCase());
  }

  hasGroup(groupName: string): boolean {
    return this.groups.has(groupName.toLowerCase());
  }

  /** Every group the principal (or group) belongs to, directly or through nested groups. */
  groupsOf(member: string): ReadonlySet<string> {
    const key = member.toLowerCase();
    const cached = this.membershipCache.get(key);
    if (cached) return cached;
    const out = new Set<string>();
    const pending = [...(this.parents.get(key) ?? [])];
    while (pending.length > 0) {
      const group = pending.pop()!;
      if (out.has(group)) continue;
      out.add(group);
      pending.push(...(this.parents.get(group) ?? []));
    }
    this.membershipCache.set(key, out);
    return out;
  }

  /**
   * Every group the principal (or group) belongs to, with its nesting distance: 1 for a direct
   * member, 2 through one nested group, and so on (the shortest path when there are several).
   * Compute routing prefers nearer groups' assignments (src/catchment/compute/resolution.ts).
   */
  groupDistances(member: string): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    let frontier = this.parents.get(member.toLowerCase()) ?? [];
    for (let distance = 1; frontier.length > 0; distance++) {
      const next: string[] = [];
      for (const group of frontier) {
        if (out.has(group)) continue;
        out.set(group, distance);
        next.push(...(this.parents.get(group) ?? []));
      }
      frontier = next;
    }
    return out;
  }

  /** Transitive membership; false for unknown principals or groups. */
  isMember(principalName: string, groupName: string): boolean {
    if (!this.principal(principalName)) return false;
    return this.groupsOf(principalName).has(groupName.toLowerCase());
  }

  isAdmin(principalName: string): boolean {
    if (!this.principal(principalName)) return false;
    const key = principalName.toLowerCase();
    if (this.admins.has(key)) return true;
    for (const group of this.groupsOf(key)) if (this.admins.has(group)) return true;
    return false;
  }

  /** Whether the principal holds `privilege` on `securable` (a Securable or its text form). */
  can(principalName: string, privilege: Privilege, securable: Securable | string): boolean {
    if (!this.principal(principalName)) return false;
    if (this.isAdmin(principalName)) return true;
    const target = typeof securable === 'string' ? parseSecurable(securable) : securable;
    const covering = new Set(coveringSecurables(target));
    const identities = new Set([principalName.toLowerCase(), ...this.groupsOf(principalName)]);
    return this.grants.some(
      (g) => g.privilege === privilege && identities.has(g.identity) && covering.has(g.securable),
    );
  }

  /** The row filter of one table of one major, or undefined when every row is visible. */
  rowFilter(pond: string, major: number, table: string): string | undefined {
    const p = pond.toLowerCase();
    const t = table.toLowerCase();
    return this.filters.get(`${p}@${major}.${t}`) ?? this.filters.get(`${p}.${t}`);
  }

  /** Column (lower-cased) → mask expression for one table of one major. */
  columnMasks(pond: string, major: number, table: string): ReadonlyMap<string, string> {
    const p = pond.toLowerCase();
    const t = table.toLowerCase();
    return new Map([...(this.masks.get(`${p}.${t}`) ?? []), ...(this.masks.get(`${p}@${major}.${t}`) ?? [])]);
  }

  /** The tables named by row filters and masks, for checking them against the catalog. */
  policyTables(): string[] {
    return [...new Set([...this.filters.keys(), ...this.masks.keys()])];
  }

  /** Depth-first search over "group contains group" edges; returns the cycle's groups, if any. */
  private findCycle(): string[] | null {
    const state = new Map<string, 'open' | 'done'>();
    const children = new Map<string, string[]>();
    for (const g of this.document.groups) {
      children.set(
        g.name.toLowerCase(),
        g.members.map((m) => m.toLowerCase()).filter((m) => this.groups.has(m)),
      );
    }
    const path: string[] = [];
    const visit = (group: string): string[] | null => {
      state.set(group, 'open');
      path.push(group);
      for (const child of children.get(group) ?? []) {
        if (state.get(child) === 'open') return [...path.slice(path.indexOf(child)), child];
        if (!state.has(child)) {
          const found = visit(child);
          if (found) return found;
        }
      }
      path.pop();
      state.set(group, 'done');
      return null;
    };
    for (const group of children.keys()) {
      if (!state.has(group)) {
        const found = visit(group);
        if (found) return found;
      }
    }
    return null;
  }
}

function normalizeTableKey(text: string): string {
  return formatSecurable(parseSecurable(text));
}
