/**
 * Managing the compute directory: endpoints and assignments, `explain`, and the health view of an
 * endpoint. Every operation needs MANAGE on the catalog (`*`); every change (and every refused or
 * failed attempt at one) lands in the governance audit log. A change is checked completely before
 * anything is written, and written in one transaction, so a refused request leaves state as it was.
 *
 * Tokens come in, encrypted, and never go out: no answer, audit entry or error message carries one.
 */

import {
  ENDPOINT_NAME_PATTERN,
  ENDPOINT_NAME_RULE,
  ENDPOINT_STATUSES,
  type EndpointStatus,
  type JobKind,
  MAX_CAPACITY,
  parseJobKinds,
  QUERY_JOB_KINDS,
  type RouteDecision,
  TOKEN_PATTERN,
  TOKEN_RULE,
} from '../../compute/topology.js';
import { parseLinePrincipal } from '../../governance/line-principals.js';
import { Policy } from '../../governance/policy.js';
import { fileToDocument, parsePolicyFile } from '../../governance/policy-file.js';
import {
  type ChangeOutcome,
  EntityConflict,
  type GovernanceService,
  type Identity,
  UnknownEntity,
} from '../../governance/service.js';
import type { AuditEntry } from '../../governance/store.js';
import { RequestError } from '../../shared/errors.js';
import type { StoredComputeDirectory } from './directory.js';
import { normalizeEndpointUrl } from './endpoint-url.js';
import type { EndpointHealthReport, EndpointHealthView } from './health-view.js';
import { parseComputeSection, planCompute } from './policy-section.js';
import { checkSubjectKinds, type DeployedLine, pondTargetProblem } from './pond-targets.js';
import type { ConsideredAssignment } from './resolution.js';
import {
  type ComputeStore,
  describeSubject,
  type StoredAssignment,
  type StoredEndpoint,
  type Subject,
} from './store.js';
import { holdsToken, type TokenCipher } from './token-cipher.js';

export interface EndpointInput {
  name: string;
  url: string;
  token: string;
  status?: EndpointStatus;
  capacity?: number | null;
}

export interface EndpointPatch {
  url?: string;
  token?: string;
  status?: EndpointStatus;
  capacity?: number | null;
}

export interface AssignmentInput {
  subject: Subject;
  endpoint: string;
  isDefault?: boolean;
  fallbackLocal?: boolean;
  /** Job kind names, checked here (400 naming unknown ones); default interactive and async, pond_run for a Pond. */
  jobKinds?: readonly string[];
}

/** An endpoint as answers show it: never its token. */
export interface EndpointView {
  name: string;
  url: string;
  status: EndpointStatus;
  capacity: number | null;
  revision: number;
  assignments: number;
  createdAt: number;
  updatedAt: number;
}

export interface ExplainedRoute {
  kind: JobKind;
  decision: RouteDecision;
  considered: ConsideredAssignment[];
}

export class ComputeService {
  private healthView: EndpointHealthView | undefined;
  /** The deployed lines Pond targets are checked against (none known until wired). */
  private lines: () => readonly DeployedLine[] = () => [];

  constructor(
    private readonly governance: GovernanceService,
    readonly store: ComputeStore,
    private readonly cipher: TokenCipher,
    readonly directory: StoredComputeDirectory,
    private readonly now: () => number = Date.now,
  ) {}

  /** Attaches the router's health checks (what `endpoint health` then reports). */
  useHealthView(view: EndpointHealthView): void {
    this.healthView = view;
  }

  /** Attaches the deployed lines (what a Pond target must name). */
  useLines(lines: () => readonly DeployedLine[]): void {
    this.lines = lines;
  }

  // ───────────── endpoints ─────────────

  listEndpoints(who: Identity): EndpointView[] {
    this.authorize(who);
    const counts = this.assignmentCounts();
    return this.store.listEndpoints().map((e) => view(e, counts.get(e.id) ?? 0));
  }

  showEndpoint(who: Identity, name: string): { endpoint: EndpointView; assignments: StoredAssignment[] } {
    this.authorize(who);
    const e = this.requireEndpoint(name);
    const assignments = this.store.listAssignments().filter((a) => a.endpointId === e.id);
    return { endpoint: view(e, assignments.length), assignments };
  }

  createEndpoint(who: Identity, input: EndpointInput): EndpointView {
    return this.change(who, 'compute.endpoint.create', { name: input.name }, () => {
      checkEndpointName(input.name);
      const url = normalizeEndpointUrl(input.url);
      checkToken(input.token);
      const status = checkStatus(input.status ?? 'active');
      const capacity = checkCapacity(input.capacity ?? null);
      if (this.store.getEndpoint(input.name))
        throw new EntityConflict(`compute endpoint "${input.name}" already exists`);
      const created = this.store.insertEndpoint(
        {
          name: input.name,
          url,
          tokenCiphertext: this.cipher.encrypt(input.token, input.name),
          status,
          capacity,
        },
        this.now(),
      );
      return { result: view(created, 0), detail: { url, status, capacity } };
    });
  }

  /** Changes the fields given; the revision moves when the URL or the token actually changes. */
  updateEndpoint(
    who: Identity,
    name: string,
    patch: EndpointPatch,
  ): { endpoint: EndpointView; changed: string[] } {
    return this.change(who, 'compute.endpoint.update', { name }, () => {
      const e = this.requireEndpoint(name);
      const next: StoredEndpoint = { ...e };
      const changed: string[] = [];
      if (patch.url !== undefined) {
        const url = normalizeEndpointUrl(patch.url);
        if (url !== e.url) changed.push('url');
        next.url = url;
      }
      if (patch.token !== undefined) {
        checkToken(patch.token);
        if (!holdsToken(this.cipher, e.tokenCiphertext, e.name, patch.token)) {
          changed.push('token');
          next.tokenCiphertext = this.cipher.encrypt(patch.token, e.name);
        }
      }
      if (patch.status !== undefined && checkStatus(patch.status) !== e.status) {
        changed.push('status');
        next.status = patch.status;
      }
      if (patch.capacity !== undefined && checkCapacity(patch.capacity) !== e.capacity) {
        changed.push('capacity');
        next.capacity = patch.capacity;
      }
      if (changed.includes('url') || changed.includes('token')) next.revision = e.revision + 1;
      if (changed.length > 0) {
        next.updatedAt = this.now();
        this.store.updateEndpoint(next);
      }
      const count = this.store.listAssignments().filter((a) => a.endpointId === e.id).length;
      return {
        result: { endpoint: view(next, count), changed },
        detail: {
          changed,
          ...(changed.includes('url') ? { url: next.url } : {}),
          ...(changed.includes('status') ? { status: next.status } : {}),
          ...(changed.includes('capacity') ? { capacity: next.capacity } : {}),
          revision: next.revision,
        },
        unchanged: changed.length === 0,
      };
    });
  }

  /** Deletes the endpoint and its assignments. */
  deleteEndpoint(who: Identity, name: string): { name: string; deletedAssignments: number } {
    return this.change(who, 'compute.endpoint.delete', { name }, () => {
      const e = this.requireEndpoint(name);
      const assignments = this.store.listAssignments().filter((a) => a.endpointId === e.id);
      this.store.deleteEndpoint(e.id);
      return {
        result: { name: e.name, deletedAssignments: assignments.length },
        detail: { deleted_assignments: assignments.map((a) => a.id) },
      };
    });
  }

  /** What the router's health checks know of the endpoint (unknown while none run). */
  endpointHealth(who: Identity, name: string): { endpoint: EndpointView; health: EndpointHealthReport } {
    const { endpoint } = this.showEndpoint(who, name);
    const problem = this.directory.problem(endpoint.name);
    if (problem) return { endpoint, health: { state: 'unhealthy', since: null, reason: problem } };
    const health = this.healthView?.health(endpoint.name) ?? {
      state: 'unknown',
      since: null,
      reason: this.healthView
        ? 'not checked yet'
        : 'no health checks run in this Catchment (remote routing is off)',
    };
    return { endpoint, health };
  }

  // ───────────── assignments ─────────────

  listAssignments(who: Identity): StoredAssignment[] {
    this.authorize(who);
    return this.store.listAssignments();
  }

  createAssignment(who: Identity, input: AssignmentInput): StoredAssignment {
    const detail = { subject: describeSubject(input.subject), endpoint: input.endpoint };
    return this.change(who, 'compute.assign', detail, () => {
      const jobKinds = parseJobKinds(
        input.jobKinds ?? (input.subject.kind === 'pond' ? ['pond_run'] : QUERY_JOB_KINDS),
      );
      checkSubjectKinds(input.subject, jobKinds);
      this.requireSubject(input.subject);
      const e = this.requireEndpoint(input.endpoint);
      if (this.store.findAssignment(input.subject, e.id)) {
        throw new EntityConflict(
          `${describeSubject(input.subject)} is already assigned to compute endpoint "${e.name}" (unassign it first to change it)`,
        );
      }
      const created = this.store.insertAssignment(
        {
          subject: input.subject,
          endpointId: e.id,
          isDefault: input.isDefault ?? false,
          fallbackLocal: input.fallbackLocal ?? true,
          jobKinds,
        },
        this.now(),
      );
      return {
        result: created,
        detail: {
          id: created.id,
          default: created.isDefault,
          fallback_local: created.fallbackLocal,
          job_kinds: jobKinds,
        },
      };
    });
  }

  deleteAssignment(who: Identity, id: number): StoredAssignment {
    return this.change(who, 'compute.unassign', { id }, () => {
      const found = this.store.getAssignment(id);
      if (!found) throw new UnknownEntity(`no compute assignment ${id}`);
      this.store.deleteAssignment(id);
      return {
        result: found,
        detail: { subject: describeSubject(found.subject), endpoint: found.endpointName },
      };
    });
  }

  // ───────────── explain ─────────────

  /** Where a job of `principal` would go, per job kind, and why (before health and canaries). */
  explain(
    who: Identity,
    principal: string,
    kinds: readonly JobKind[] = QUERY_JOB_KINDS,
  ): { principal: string; routes: ExplainedRoute[] } {
    this.authorize(who);
    const known = this.governance.policy().principal(principal);
    if (!known) throw new UnknownEntity(`no principal "${principal}"`);
    return {
      principal: known.name,
      routes: kinds.map((kind) => ({
        kind,
        decision: this.directory.route(known.name, kind),
        considered: this.directory.consider(known.name, kind),
      })),
    };
  }

  // ───────────── the policy file ─────────────

  /**
   * `policy apply`: the file's policy and, when it has a `compute` section, its endpoints and
   * assignments, checked completely and then written in one transaction (all or nothing). `env`
   * holds the values of the environment variables the section's `token_env` entries name. A file
   * without a `compute` section is the governance service's alone and leaves compute unchanged.
   */
  async applyPolicyFile(
    who: Identity,
    text: string,
    dryRun: boolean,
    env: Readonly<Record<string, string>>,
  ): Promise<ChangeOutcome> {
    const file = parsePolicyFile(text);
    if (file.compute === undefined) return this.governance.applyFile(who, file, dryRun);
    const audit = (decision: AuditEntry['decision'], extra: Record<string, unknown>) =>
      this.audit(who, 'policy.apply', decision, { dry_run: dryRun, ...extra });
    try {
      this.governance.requireAdmin(who, 'apply a policy file');
    } catch (error) {
      audit('denied', { reason: (error as Error).message });
      throw error;
    }
    const auditDetail: Record<string, unknown> = { dry_run: dryRun };
    let prepared: Awaited<ReturnType<GovernanceService['prepareChange']>>;
    let plan: ReturnType<typeof planCompute>;
    try {
      const section = parseComputeSection(file.compute);
      const document = fileToDocument(file);
      const next = Policy.parse(document);
      // The compute diff joins this detail once planned: commit() audits the detail as it is then.
      prepared = await this.governance.prepareChange(who, 'policy.apply', auditDetail, () => document);
      // Planned after the last await, so no other change can land between the plan and its writes.
      const current = this.governance.policy();
      // Line principals are kept by the Catchment whatever the file says (line-principals.ts).
      const knowsPrincipal = (name: string) =>
        next.principal(name) !== undefined ||
        (parseLinePrincipal(name) !== null && current.principal(name) !== undefined);
      plan = planCompute(section, {
        store: this.store,
        cipher: this.cipher,
        env,
        knows: (s) =>
          s.kind === 'everyone' || (s.kind === 'principal' ? knowsPrincipal(s.name) : next.hasGroup(s.name)),
        pondProblem: (target) => pondTargetProblem(target, this.lines()),
      });
      auditDetail.compute = plan.diff;
    } catch (error) {
      if (!dryRun) audit('failed', { reason: (error as Error).message });
      throw error;
    }
    const diff = [...prepared.diff, ...plan.diff];
    const revision = this.governance.current().revision;
    if (dryRun || diff.length === 0) return { changed: false, diff, revision };
    let saved: number;
    try {
      saved = this.store.transaction(() => {
        const r = prepared.commit();
        plan.apply(this.now());
        return r;
      });
    } catch (error) {
      // The transaction rolled back: the governance service must not keep a policy it did not store.
      this.governance.reload();
      audit('failed', { reason: (error as Error).message });
      throw error;
    }
    if (plan.diff.length > 0) this.directory.changed();
    // commit() audited the change when the policy itself changed; a compute-only change is audited here.
    if (prepared.diff.length === 0) audit('allowed', { diff: [], compute: plan.diff, revision: saved });
    return { changed: true, diff, revision: saved };
  }

  // ───────────── internals ─────────────

  /** MANAGE on the catalog, as everything here needs. */
  authorize(who: Identity): void {
    this.governance.require(who, 'MANAGE', { kind: 'catalog' });
  }

  /**
   * Authorizes, runs `write` in one transaction, tells the directory, audits. Refused attempts are
   * audited as denied, invalid ones as failed (with the reason, which never carries a token).
   */
  change<T>(
    who: Identity,
    action: string,
    detail: Record<string, unknown>,
    write: () => { result: T; detail?: Record<string, unknown>; unchanged?: boolean },
  ): T {
    const audit = (decision: AuditEntry['decision'], extra: Record<string, unknown>) =>
      this.audit(who, action, decision, { ...detail, ...extra });
    try {
      this.authorize(who);
    } catch (error) {
      audit('denied', { reason: (error as Error).message });
      throw error;
    }
    let outcome: ReturnType<typeof write>;
    try {
      outcome = this.store.transaction(write);
    } catch (error) {
      audit('failed', { reason: (error as Error).message });
      throw error;
    }
    if (!outcome.unchanged) this.directory.changed();
    audit('allowed', outcome.detail ?? {});
    return outcome.result;
  }

  audit(
    who: Identity,
    action: string,
    decision: AuditEntry['decision'],
    detail: Record<string, unknown>,
  ): void {
    this.governance.store.audit({
      at: this.now(),
      principal: who.principal,
      kind: 'change',
      action,
      decision,
      detail,
    });
  }

  requireEndpoint(name: string): StoredEndpoint {
    const e = this.store.getEndpoint(name);
    if (!e) throw new UnknownEntity(`no compute endpoint "${name}"`);
    return e;
  }

  private requireSubject(subject: Subject): void {
    const policy = this.governance.policy();
    if (subject.kind === 'principal' && !policy.principal(subject.name))
      throw new UnknownEntity(`no principal "${subject.name}"`);
    if (subject.kind === 'group' && !policy.hasGroup(subject.name))
      throw new UnknownEntity(`no group "${subject.name}"`);
    if (subject.kind === 'pond') {
      const problem = pondTargetProblem(subject.name, this.lines());
      if (problem) throw new UnknownEntity(problem);
    }
  }

  private assignmentCounts(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const a of this.store.listAssignments())
      counts.set(a.endpointId, (counts.get(a.endpointId) ?? 0) + 1);
    return counts;
  }
}

function view(e: StoredEndpoint, assignments: number): EndpointView {
  return {
    name: e.name,
    url: e.url,
    status: e.status,
    capacity: e.capacity,
    revision: e.revision,
    assignments,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  };
}

export function checkEndpointName(name: string, where = 'name'): void {
  if (!ENDPOINT_NAME_PATTERN.test(name))
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: "${name.slice(0, 100)}" is not an endpoint name (${ENDPOINT_NAME_RULE})`,
    );
}

export function checkToken(token: string, where = 'token'): void {
  // The message never quotes the token.
  if (!TOKEN_PATTERN.test(token)) throw new RequestError(400, 'invalid_request', `${where}: ${TOKEN_RULE}`);
}

export function checkStatus(status: string, where = 'status'): EndpointStatus {
  if (!(ENDPOINT_STATUSES as readonly string[]).includes(status))
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: "${status}" is not a status (${ENDPOINT_STATUSES.join(', ')})`,
    );
  return status as EndpointStatus;
}

export function checkCapacity(capacity: number | null, where = 'capacity'): number | null {
  if (capacity !== null && (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY))
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: a whole number from 1 to ${MAX_CAPACITY}, or null for no limit`,
    );
  return capacity;
}
