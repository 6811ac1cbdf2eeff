/** A ComputeDirectory from plain data (the directory port; the real one lives in duck.db). */
import type {
  ComputeDirectory,
  EndpointTarget,
  JobKind,
  RouteCandidate,
  RouteDecision,
} from '../../../src/compute/topology.js';

export interface PlainAssignment {
  /** A principal name, `group:NAME` or `*`. */
  subject: string;
  endpoint: string;
  fallbackLocal: boolean;
  kinds?: JobKind[];
}

export class PlainDirectory implements ComputeDirectory {
  endpointList: EndpointTarget[] = [];
  assignments: PlainAssignment[] = [];
  private listeners = new Set<() => void>();

  constructor(private readonly isMember: (principal: string, group: string) => boolean = () => false) {}

  addEndpoint(e: Partial<EndpointTarget> & Pick<EndpointTarget, 'name' | 'url' | 'token'>): EndpointTarget {
    const endpoint: EndpointTarget = { status: 'active', capacity: null, revision: 1, ...e };
    this.endpointList.push(endpoint);
    this.changed();
    return endpoint;
  }

  update(name: string, change: Partial<EndpointTarget>): void {
    this.endpointList = this.endpointList.map((e) =>
      e.name === name ? { ...e, ...change, revision: e.revision + (change.url || change.token ? 1 : 0) } : e,
    );
    this.changed();
  }

  remove(name: string): void {
    this.endpointList = this.endpointList.filter((e) => e.name !== name);
    this.assignments = this.assignments.filter((a) => a.endpoint !== name);
    this.changed();
  }

  assign(a: PlainAssignment): void {
    this.assignments.push(a);
    this.changed();
  }

  route(principal: string, kind: JobKind): RouteDecision {
    const applies = (s: string) =>
      s === '*' || s === principal || (s.startsWith('group:') && this.isMember(principal, s.slice(6)));
    const candidates: RouteCandidate[] = this.assignments
      .filter((a) => applies(a.subject) && (a.kinds ?? ['interactive', 'async']).includes(kind))
      .flatMap((a) => {
        const endpoint = this.endpointList.find((e) => e.name === a.endpoint && e.status === 'active');
        return endpoint
          ? [{ endpoint, fallbackLocal: a.fallbackLocal, assignment: `${a.subject} → ${a.endpoint}` }]
          : [];
      })
      .sort((x, y) => x.endpoint.name.localeCompare(y.endpoint.name));
    return { candidates, reason: candidates.length ? 'assigned' : 'no assignment applies' };
  }

  endpoints(): EndpointTarget[] {
    return this.endpointList;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}
