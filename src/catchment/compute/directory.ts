/**
 * The ComputeDirectory port (src/compute/topology.ts) over duck.db: endpoints with their tokens
 * decrypted, and routes resolved by resolution.ts against the current governance policy. What the
 * router asks on every query (`route`, `endpoints`) is answered from tables built once per change:
 * of endpoints or assignments (`changed()`, called by the service after each write) or of the
 * policy (its revision is compared on each call).
 */
import type { ComputeDirectory, EndpointTarget, JobKind, RouteDecision } from '../../compute/topology.js';
import { type ConsideredAssignment, type Membership, RouteResolver } from './resolution.js';
import type { ComputeStore, StoredEndpoint } from './store.js';
import type { TokenCipher } from './token-cipher.js';

/** The governance policy as the directory needs it: membership, and a revision that changes with it. */
export type PolicySource = () => { revision: number; policy: Membership };

export class StoredComputeDirectory implements ComputeDirectory {
  private cache: { policyRevision: number; endpoints: EndpointTarget[]; resolver: RouteResolver } | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly problems = new Map<string, string>();

  constructor(
    private readonly store: ComputeStore,
    private readonly cipher: TokenCipher,
    private readonly policy: PolicySource,
  ) {}

  route(principal: string, kind: JobKind): RouteDecision {
    return this.tables().resolver.route(principal, kind);
  }

  /** Every applicable assignment and what became of it (for `compute explain`). */
  consider(principal: string, kind: JobKind): ConsideredAssignment[] {
    return this.tables().resolver.consider(principal, kind);
  }

  endpoints(): EndpointTarget[] {
    return this.tables().endpoints;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** After a write to endpoints or assignments: rebuild on next use and tell subscribers. */
  changed(): void {
    this.cache = undefined;
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // A subscriber's failure must not undo or block a change that is already stored.
      }
    }
  }

  /**
   * Why the endpoint cannot be used whatever its status says (its stored token does not decrypt:
   * secrets/compute.key was replaced); undefined when it can.
   */
  problem(name: string): string | undefined {
    this.tables();
    return this.problems.get(name.toLowerCase());
  }

  /**
   * The endpoint as the router sees it, token decrypted. One whose token cannot be decrypted is
   * handed out as inactive (never routed to) rather than failing every query's routing.
   */
  private target(e: StoredEndpoint): EndpointTarget {
    let token: string;
    let status = e.status;
    try {
      token = this.cipher.decrypt(e.tokenCiphertext, e.name);
    } catch (error) {
      this.problems.set(e.name.toLowerCase(), (error as Error).message);
      token = '';
      status = 'inactive';
    }
    return Object.freeze({
      name: e.name,
      url: e.url,
      token,
      status,
      capacity: e.capacity,
      revision: e.revision,
    });
  }

  private tables() {
    const { revision, policy } = this.policy();
    if (this.cache && this.cache.policyRevision === revision) return this.cache;
    let endpoints = this.cache?.endpoints;
    if (!endpoints) {
      this.problems.clear();
      endpoints = Object.freeze(this.store.listEndpoints().map((e) => this.target(e))) as EndpointTarget[];
    }
    const assignments = this.store.listAssignments().map((a) => ({
      id: a.id,
      subject: a.subject,
      endpoint: a.endpointName,
      isDefault: a.isDefault,
      fallbackLocal: a.fallbackLocal,
      jobKinds: a.jobKinds,
    }));
    this.cache = {
      policyRevision: revision,
      endpoints,
      resolver: new RouteResolver(endpoints, assignments, policy),
    };
    return this.cache;
  }
}
