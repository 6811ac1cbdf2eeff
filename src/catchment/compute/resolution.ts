/**
 * Which endpoints a job of a principal may use: the resolution order of the compute directory,
 * pure (no database, no clock) so it can be tested table by table. Documented in docs/compute.md,
 * "Resolution order".
 *
 * For principal P and job kind K, the assignments considered are those covering K whose endpoint is
 * `active` and whose subject applies to P, each at a distance: P itself 0, a group containing P its
 * nesting depth (1 for a direct member; the shortest path when there are several), everyone after
 * every group. They are ordered by distance, then `default` before non-default, then endpoint name.
 * The first tier (same distance, same default flag) is the candidate pool, in endpoint-name order;
 * no tier means local execution ("no assignment applies"). An endpoint that is draining or inactive
 * is simply not considered, so when it empties a tier the next tier wins.
 *
 * Pond runs (`pond_run`) resolve the same way for a line `name@major` in place of a principal, over
 * Pond targets only: the line's own target at distance 0, its Pond's at 1, `*` last.
 *
 * A table is built once per change of endpoints, assignments or policy; `route` then only walks
 * the principal's groups and memoizes its answer, since it sits on every query's path.
 */
import type { EndpointTarget, JobKind, RouteCandidate, RouteDecision } from '../../compute/topology.js';
import { JOB_KINDS } from '../../compute/topology.js';
import { describeSubject, type Subject } from './store.js';

export interface ResolvableAssignment {
  id: number;
  subject: Subject;
  /** The endpoint's name (matched case-insensitively). */
  endpoint: string;
  isDefault: boolean;
  fallbackLocal: boolean;
  jobKinds: readonly JobKind[];
}

/** Group membership as the governance policy resolves it (Policy satisfies this). */
export interface Membership {
  /** Lower-cased group → nesting distance (1 = direct member) of every group `principal` is in. */
  groupDistances(principal: string): ReadonlyMap<string, number>;
}

export const NO_ASSIGNMENT = 'no assignment applies';
const EVERYONE_DISTANCE = Number.POSITIVE_INFINITY;
const MEMO_LIMIT = 10_000;

interface Entry {
  assignment: ResolvableAssignment;
  endpoint: EndpointTarget;
  /** Lower-cased endpoint name: the tie-breaker. */
  sortName: string;
  candidate: RouteCandidate;
}

interface KindIndex {
  byPrincipal: Map<string, Entry[]>;
  byGroup: Map<string, Entry[]>;
  everyone: Entry[];
}

/** Why an applicable assignment was or was not used, for `compute explain`. */
export interface ConsideredAssignment {
  assignment: ResolvableAssignment;
  /** 0 own, n group depth, null for everyone. */
  distance: number | null;
  endpointStatus: EndpointTarget['status'] | 'unknown';
  outcome: 'chosen' | 'outranked' | 'endpoint not active' | 'job kind not covered';
}

export class RouteResolver {
  private readonly index = new Map<JobKind, KindIndex>();
  private readonly endpointsByName = new Map<string, EndpointTarget>();
  private readonly memo = new Map<string, RouteDecision>();

  constructor(
    endpoints: readonly EndpointTarget[],
    private readonly assignments: readonly ResolvableAssignment[],
    private readonly membership: Membership,
  ) {
    for (const e of endpoints) this.endpointsByName.set(e.name.toLowerCase(), e);
    for (const kind of JOB_KINDS) {
      this.index.set(kind, { byPrincipal: new Map(), byGroup: new Map(), everyone: [] });
    }
    for (const a of assignments) {
      const endpoint = this.endpointsByName.get(a.endpoint.toLowerCase());
      if (endpoint?.status !== 'active') continue;
      const entry: Entry = {
        assignment: a,
        endpoint,
        sortName: endpoint.name.toLowerCase(),
        candidate: { endpoint, fallbackLocal: a.fallbackLocal, assignment: describeAssignment(a) },
      };
      for (const kind of new Set(a.jobKinds)) {
        // Pond targets place Ducks only, and only Pond targets do.
        if ((kind === 'pond_run') !== (a.subject.kind === 'pond')) continue;
        const index = this.index.get(kind)!;
        if (a.subject.kind === 'pond') {
          const target = a.subject.name.toLowerCase();
          if (target === '*') index.everyone.push(entry);
          else {
            const map = target.includes('@') ? index.byPrincipal : index.byGroup;
            const list = map.get(target) ?? [];
            list.push(entry);
            map.set(target, list);
          }
        } else if (a.subject.kind === 'everyone') index.everyone.push(entry);
        else {
          const map = a.subject.kind === 'principal' ? index.byPrincipal : index.byGroup;
          const key = a.subject.name.toLowerCase();
          const list = map.get(key) ?? [];
          list.push(entry);
          map.set(key, list);
        }
      }
    }
  }

  route(principal: string, kind: JobKind): RouteDecision {
    const key = `${kind}\0${principal.toLowerCase()}`;
    const known = this.memo.get(key);
    if (known) return known;
    const decision = this.resolve(principal, kind);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(key, decision);
    return decision;
  }

  /** Every assignment whose subject applies to `principal`, and what became of it for `kind`. */
  consider(principal: string, kind: JobKind): ConsideredAssignment[] {
    const chosen = new Set(this.route(principal, kind).candidates.map((c) => c.assignment));
    const groups = this.groupsOf(principal, kind);
    const out: ConsideredAssignment[] = [];
    for (const a of this.assignments) {
      if ((kind === 'pond_run') !== (a.subject.kind === 'pond')) continue;
      const distance = subjectDistance(a.subject, principal, groups);
      if (distance === undefined) continue;
      const endpoint = this.endpointsByName.get(a.endpoint.toLowerCase());
      const outcome: ConsideredAssignment['outcome'] = !a.jobKinds.includes(kind)
        ? 'job kind not covered'
        : endpoint?.status !== 'active'
          ? 'endpoint not active'
          : chosen.has(describeAssignment(a))
            ? 'chosen'
            : 'outranked';
      out.push({
        assignment: a,
        distance: distance === EVERYONE_DISTANCE ? null : distance,
        endpointStatus: endpoint?.status ?? 'unknown',
        outcome,
      });
    }
    return out.sort(
      (x, y) =>
        (x.distance ?? EVERYONE_DISTANCE) - (y.distance ?? EVERYONE_DISTANCE) ||
        Number(y.assignment.isDefault) - Number(x.assignment.isDefault) ||
        compareNames(x.assignment.endpoint, y.assignment.endpoint) ||
        x.assignment.id - y.assignment.id,
    );
  }

  private resolve(principal: string, kind: JobKind): RouteDecision {
    const index = this.index.get(kind)!;
    // The best tier so far: its distance, default flag and entries (with their subjects).
    let tier: { distance: number; isDefault: boolean; entries: Entry[] } | undefined;
    const offer = (entries: readonly Entry[] | undefined, distance: number): void => {
      if (!entries) return;
      for (const entry of entries) {
        const isDefault = entry.assignment.isDefault;
        const better =
          !tier || distance < tier.distance || (distance === tier.distance && isDefault && !tier.isDefault);
        if (better) tier = { distance, isDefault, entries: [entry] };
        else if (tier && distance === tier.distance && isDefault === tier.isDefault) tier.entries.push(entry);
      }
    };
    offer(index.byPrincipal.get(principal.toLowerCase()), 0);
    if (index.byGroup.size > 0) {
      for (const [group, distance] of this.groupsOf(principal, kind)) {
        offer(index.byGroup.get(group), distance);
      }
    }
    offer(index.everyone, EVERYONE_DISTANCE);
    if (!tier) return { candidates: [], reason: NO_ASSIGNMENT };

    // Endpoint-name order; one candidate per endpoint (the assignment of the first subject by name).
    const entries = [...tier.entries].sort(
      (a, b) =>
        compareNames(a.sortName, b.sortName) ||
        compareNames(subjectLabel(a.assignment.subject), subjectLabel(b.assignment.subject)),
    );
    const candidates: RouteCandidate[] = [];
    const seen = new Set<string>();
    const subjects = new Set<string>();
    for (const entry of entries) {
      subjects.add(subjectLabel(entry.assignment.subject));
      if (seen.has(entry.sortName)) continue;
      seen.add(entry.sortName);
      candidates.push(entry.candidate);
    }
    return {
      candidates,
      reason:
        kind === 'pond_run'
          ? pondTierReason(tier.distance, tier.isDefault, principal, candidates)
          : tierReason(tier.distance, tier.isDefault, [...subjects].sort(compareNames), candidates),
    };
  }

  /** A principal's groups; for a line (`name@major`, Pond runs) its Pond, one step away. */
  private groupsOf(principal: string, kind: JobKind): ReadonlyMap<string, number> {
    if (kind !== 'pond_run') return this.membership.groupDistances(principal);
    const at = principal.indexOf('@');
    return new Map(at < 0 ? [] : [[principal.slice(0, at).toLowerCase(), 1]]);
  }
}

function subjectDistance(
  subject: Subject,
  principal: string,
  groups: ReadonlyMap<string, number>,
): number | undefined {
  if (subject.kind === 'everyone') return EVERYONE_DISTANCE;
  if (subject.kind === 'pond') {
    const target = subject.name.toLowerCase();
    if (target === '*') return EVERYONE_DISTANCE;
    return target === principal.toLowerCase() ? 0 : groups.get(target);
  }
  if (subject.kind === 'principal')
    return subject.name.toLowerCase() === principal.toLowerCase() ? 0 : undefined;
  return groups.get(subject.name.toLowerCase());
}

function compareNames(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function subjectLabel(subject: Subject): string {
  return subject.kind === 'everyone' ? 'everyone' : subject.name;
}

/** "assignment 4 (group analysts, default)", "assignment 5 (pond sales@1)". */
export function describeAssignment(a: ResolvableAssignment): string {
  const subject = describeSubject(a.subject);
  return `assignment ${a.id} (${subject}${a.isDefault ? ', default' : ''})`;
}

function pondTierReason(
  distance: number,
  isDefault: boolean,
  line: string,
  candidates: RouteCandidate[],
): string {
  const kind = isDefault ? 'default assignment' : 'assignment';
  const to = candidates.map((c) => c.endpoint.name).join(', ');
  if (distance === 0) return `the line's own ${kind} (pond ${line}) → ${to}`;
  if (distance === EVERYONE_DISTANCE)
    return `the ${kind} of every pond (no line or Pond assignment applies) → ${to}`;
  return `the ${kind} of pond ${line.slice(0, line.indexOf('@'))} → ${to}`;
}

function tierReason(
  distance: number,
  isDefault: boolean,
  subjects: string[],
  candidates: RouteCandidate[],
): string {
  const kind = isDefault ? 'default assignment' : 'assignment';
  const to = candidates.map((c) => c.endpoint.name).join(', ');
  if (distance === 0) return `the principal's own ${kind} → ${to}`;
  if (distance === EVERYONE_DISTANCE)
    return `the ${kind} of everyone (no own or group assignment applies) → ${to}`;
  const groups = `${subjects.length === 1 ? 'group' : 'groups'} ${subjects.join(', ')}`;
  const depth = distance === 1 ? 'a direct member' : `a member through ${distance} levels of nesting`;
  return `the ${kind} of ${groups} (${depth}) → ${to}`;
}
