/**
 * What a deploy checks and grants about the principal its line runs as (see
 * src/governance/line-principals.ts for the name scheme).
 *
 * A line's principal must be able to read each Source it names: SELECT on the Source's line (or on
 * the whole Pond, or the catalog), or SELECT on at least one of its tables — table-level grants are
 * how an administrator narrows what a Pond sees; tables it may not read are absent from its inputs.
 * When it cannot, and the deployer may grant that access (an administrator, or MANAGE on the Source
 * line), the deploy grants SELECT on the Source line itself; otherwise the deploy is refused with
 * the exact commands an administrator runs. The principal's creation and those grants are stored in
 * the deploy's own transaction, audited as the deployer.
 *
 * A Source the deployer holds no privilege on, and its principal may not read, is refused with the
 * same answer whether or not that Pond exists, so a deploy is not an existence oracle.
 */
import { GovernanceError } from '../governance/errors.js';
import { linePrincipal } from '../governance/line-principals.js';
import { type PolicyDocument, PRIVILEGES } from '../governance/policy.js';
import type { GovernanceService, Identity } from '../governance/service.js';
import { BOOTSTRAP_ADMIN } from '../governance/store.js';

export interface SourceLine {
  name: string;
  major: number;
  /** The tables the Source's selected version publishes (null: not deployed). */
  tables: readonly string[] | null;
}

export interface LineAccess {
  principal: string;
  /** Whether the principal exists yet (it is created by the first deploy). */
  exists: boolean;
  /** Source lines the deploy grants SELECT on to the principal. */
  grants: string[];
}

const securableOf = (s: { name: string; major: number }) => `${s.name}@${s.major}`;

/** Whether `principal` may read the Source line at all (the line, or at least one of its tables). */
function mayRead(governance: GovernanceService, principal: string, s: SourceLine): boolean {
  const policy = governance.policy();
  if (!policy.principal(principal)) return false;
  if (policy.can(principal, 'SELECT', { kind: 'pond', pond: s.name, major: s.major })) return true;
  return (s.tables ?? []).some((table) =>
    policy.can(principal, 'SELECT', { kind: 'table', pond: s.name, major: s.major, table }),
  );
}

/** Whether the deployer holds any privilege on the Source line (may know it exists). */
export function seesLine(governance: GovernanceService, who: Identity, s: { name: string; major: number }) {
  return PRIVILEGES.some((p) => governance.can(who, p, { kind: 'pond', pond: s.name, major: s.major }));
}

/**
 * Decides the line principal's access for a deploy of `line` naming `sources`. Throws 403 when a
 * Source must be granted by someone else — and, for a Source the deployer may not see, whether or
 * not it exists. Changes nothing: `prepareLineAccess` makes the change.
 */
export function checkLineAccess(
  governance: GovernanceService,
  deployer: Identity,
  line: { name: string; major: number },
  sources: readonly SourceLine[],
): LineAccess {
  const principal = linePrincipal(line.name, line.major);
  const exists = governance.policy().principal(principal) !== undefined;
  const refused: SourceLine[] = [];
  const grants: string[] = [];
  for (const s of sources) {
    if (mayRead(governance, principal, s)) continue;
    const mayGrant =
      governance.isAdmin(deployer) ||
      governance.can(deployer, 'MANAGE', { kind: 'pond', pond: s.name, major: s.major });
    if (mayGrant) {
      if (s.tables !== null) grants.push(securableOf(s));
    } else if (s.tables !== null || !seesLine(governance, deployer, s)) {
      // A Source that is not deployed is reported as unknown only to those who may know it exists.
      refused.push(s);
    }
  }
  if (refused.length > 0) {
    const commands = [
      ...(exists ? [] : [`duckstring principal create ${principal} --kind service`]),
      ...refused.map((s) => `duckstring grant SELECT --on ${securableOf(s)} --to ${principal}`),
    ];
    throw new GovernanceError(
      'permission_denied',
      `permission denied: the Pond line ${line.name}@${line.major} runs as principal ${principal}, which may not read ${refused
        .map(securableOf)
        .join(
          ', ',
        )}, and granting that takes MANAGE on it. An administrator runs: ${commands.join(' && ')} — then deploy again`,
    );
  }
  return { principal, exists, grants };
}

/**
 * Validates the policy change a deploy makes (the principal, the grants); `commit` stores and audits
 * it as the deployer and must run inside the deploy's transaction.
 */
export async function prepareLineAccess(
  governance: GovernanceService,
  deployer: Identity,
  line: { name: string; major: number },
  access: LineAccess,
): Promise<{ diff: string[]; commit: () => number }> {
  const { principal, exists, grants } = access;
  return governance.prepareChange(
    deployer,
    'deploy.line_principal',
    { line: `${line.name}@${line.major}`, principal, grants: grants.map((on) => `SELECT on ${on}`) },
    (doc: PolicyDocument) => {
      if (!exists) doc.principals.push({ name: principal, kind: 'service' });
      for (const on of grants) doc.grants.push({ to: principal, privilege: 'SELECT', on });
      return doc;
    },
  );
}

/**
 * Lines deployed before Ponds were principals have none: each gets its principal and SELECT on the
 * Sources it names, which is exactly what it read before, now visible in (and revocable through)
 * the policy. Audited as the bootstrap administrator.
 */
export async function ensureLinePrincipals(
  governance: GovernanceService,
  lines: ReadonlyArray<{
    pond: string;
    major: number;
    sources: ReadonlyArray<{ name: string; major: number }>;
  }>,
): Promise<string[]> {
  const policy = governance.policy();
  const missing = lines.filter((l) => !policy.principal(linePrincipal(l.pond, l.major)));
  if (missing.length === 0) return [];
  const prepared = await governance.prepareChange(
    { principal: BOOTSTRAP_ADMIN, keyId: null },
    'line_principal.migrate',
    { lines: missing.map((l) => `${l.pond}@${l.major}`) },
    (doc) => {
      for (const l of missing) {
        const principal = linePrincipal(l.pond, l.major);
        doc.principals.push({ name: principal, kind: 'service' });
        for (const s of l.sources)
          doc.grants.push({ to: principal, privilege: 'SELECT', on: securableOf(s) });
      }
      return doc;
    },
  );
  prepared.commit();
  return missing.map((l) => linePrincipal(l.pond, l.major));
}
