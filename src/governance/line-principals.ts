/**
 * Pond lines as principals. Every deployed Pond major line runs as a service principal of its own,
 * `pond.<name>@<major>` (e.g. `pond.sales@1`): its Ripples read their Sources through the policy as
 * that principal, so grants, groups, row filters and masks apply to deployed code like to anyone.
 *
 * The `pond.` prefix is reserved. Under it the policy may hold only well-formed line principals of
 * kind `service` (created by the line's first deploy, or by an administrator ahead of it so the
 * line's access can be granted before its first deploy), and no groups. A principal a live line
 * runs as cannot be deleted; `policy apply` keeps those like the bootstrap entries, so a policy
 * file need not list them (it may, to put them in groups).
 */

import { lineId, MAJOR_SOURCE, NAME_SOURCE } from '../shared/ids.js';
import { PolicyError } from './errors.js';
import type { PolicyDocument } from './policy.js';
import { EntityConflict } from './service.js';

export const LINE_PRINCIPAL_PREFIX = 'pond.';
const LINE_PRINCIPAL = new RegExp(`^pond\\.(${NAME_SOURCE})@(${MAJOR_SOURCE})$`);

/** The principal a Pond line runs as. */
export function linePrincipal(pond: string, major: number): string {
  return `${LINE_PRINCIPAL_PREFIX}${lineId(pond, major)}`;
}

/** The line a well-formed line principal name stands for, or null. */
export function parseLinePrincipal(name: string): { pond: string; major: number } | null {
  const match = LINE_PRINCIPAL.exec(name.toLowerCase());
  return match ? { pond: match[1]!, major: Number(match[2]) } : null;
}

export function isReservedName(name: string): boolean {
  return name.toLowerCase().startsWith(LINE_PRINCIPAL_PREFIX);
}

const lower = (s: string) => s.toLowerCase();

/**
 * Checks (and for `policy.apply`, completes) a policy change against the line principals:
 * `live` holds the lower-cased principal names of every deployed line. Returns the document to
 * store; throws when the change would break a reserved name.
 */
export function constrainLinePrincipals(
  before: PolicyDocument,
  next: PolicyDocument,
  action: string,
  live: ReadonlySet<string>,
): PolicyDocument {
  const issues: string[] = [];
  const present = new Set(next.principals.map((p) => lower(p.name)));
  for (const p of before.principals) {
    const key = lower(p.name);
    if (!live.has(key) || present.has(key)) continue;
    if (action === 'policy.apply') {
      // A policy file describes people and their access; the Catchment owns its lines' principals.
      next.principals.push({ name: p.name, kind: 'service' });
      present.add(key);
      continue;
    }
    const line = parseLinePrincipal(p.name)!;
    throw new EntityConflict(
      `principal "${p.name}" is the identity the deployed Pond line ${line.pond}@${line.major} runs as and cannot be deleted; revoke its grants to stop it reading its Sources`,
    );
  }
  // Only entries this change adds are checked, so an old policy does not block every later change.
  const had = new Set(before.principals.map((p) => `${lower(p.name)} ${p.kind}`));
  const hadGroups = new Set(before.groups.map((g) => lower(g.name)));
  for (const p of next.principals) {
    if (!isReservedName(p.name) || had.has(`${lower(p.name)} ${p.kind}`)) continue;
    if (!parseLinePrincipal(p.name)) {
      issues.push(
        `principal "${p.name}": names starting with "${LINE_PRINCIPAL_PREFIX}" are reserved for Pond line principals (${LINE_PRINCIPAL_PREFIX}<pond>@<major>)`,
      );
    } else if (p.kind !== 'service') {
      issues.push(`principal "${p.name}": a Pond line principal is of kind service, not ${p.kind}`);
    } else if (p.name !== lower(p.name)) {
      issues.push(`principal "${p.name}": a Pond line principal is spelled in lower case`);
    }
  }
  for (const g of next.groups) {
    if (isReservedName(g.name) && !hadGroups.has(lower(g.name)))
      issues.push(
        `group "${g.name}": names starting with "${LINE_PRINCIPAL_PREFIX}" are reserved for Pond lines`,
      );
  }
  if (issues.length > 0) throw new PolicyError(issues);
  return next;
}
