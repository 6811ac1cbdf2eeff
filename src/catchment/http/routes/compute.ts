/**
 * The compute directory over HTTP: endpoints, assignments, explain. Who may do what and every check
 * is the compute service's (src/catchment/compute/service.ts); these handlers only translate.
 */
import { compute as api } from '../../../api/index.js';
import { parseJobKinds } from '../../../compute/topology.js';
import type { Application } from '../../app/index.js';
import type { EndpointView, ResolvableAssignment } from '../../compute/index.js';
import type { StoredAssignment, Subject } from '../../compute/store.js';
import type { RouteTable } from '../routes.js';

const iso = (t: number) => new Date(t).toISOString();

function endpointOut(e: EndpointView) {
  return {
    name: e.name,
    url: e.url,
    status: e.status,
    capacity: e.capacity,
    revision: e.revision,
    assignments: e.assignments,
    created_at: iso(e.createdAt),
    updated_at: iso(e.updatedAt),
  };
}

function subjectOut(s: Subject) {
  return s.kind === 'everyone' ? { kind: s.kind, name: null } : { kind: s.kind, name: s.name };
}

function assignmentFields(a: ResolvableAssignment) {
  return {
    id: a.id,
    subject: subjectOut(a.subject),
    endpoint: a.endpoint,
    default: a.isDefault,
    fallback_local: a.fallbackLocal,
    job_kinds: [...a.jobKinds],
  };
}

function assignmentOut(a: StoredAssignment) {
  return {
    ...assignmentFields({ ...a, endpoint: a.endpointName }),
    created_at: iso(a.createdAt),
  };
}

export function registerComputeRoutes(routes: RouteTable, app: Application): void {
  const compute = app.compute;

  routes.implement(api.createEndpoint, ({ identity, body }) =>
    endpointOut(compute.createEndpoint(identity, body)),
  );
  routes.implement(api.listEndpoints, ({ identity }) => ({
    endpoints: compute.listEndpoints(identity).map(endpointOut),
  }));
  routes.implement(api.showEndpoint, ({ identity, params }) => {
    const { endpoint, assignments } = compute.showEndpoint(identity, params.name);
    return { endpoint: endpointOut(endpoint), assignments: assignments.map(assignmentOut) };
  });
  routes.implement(api.updateEndpoint, ({ identity, params, body }) => {
    const { endpoint, changed } = compute.updateEndpoint(identity, params.name, {
      ...(body.url !== undefined ? { url: body.url } : {}),
      ...(body.token !== undefined ? { token: body.token } : {}),
      ...(body.status !== undefined ? { status: body.status } : {}),
      ...(body.capacity !== undefined ? { capacity: body.capacity } : {}),
    });
    return { endpoint: endpointOut(endpoint), changed };
  });
  routes.implement(api.deleteEndpoint, ({ identity, params }) => {
    const out = compute.deleteEndpoint(identity, params.name);
    return { ok: true as const, name: out.name, deleted_assignments: out.deletedAssignments };
  });
  routes.implement(api.endpointHealth, ({ identity, params }) => {
    const { endpoint, health } = compute.endpointHealth(identity, params.name);
    return {
      endpoint: endpointOut(endpoint),
      health: {
        state: health.state,
        since: health.since === null ? null : iso(health.since),
        reason: health.reason,
        ...(health.detail ? { detail: health.detail } : {}),
      },
    };
  });

  routes.implement(api.createAssignment, ({ identity, body }) => {
    const subject: Subject =
      body.principal !== undefined
        ? { kind: 'principal', name: body.principal }
        : body.group !== undefined
          ? { kind: 'group', name: body.group }
          : body.pond !== undefined
            ? { kind: 'pond', name: body.pond }
            : { kind: 'everyone' };
    return assignmentOut(
      compute.createAssignment(identity, {
        subject,
        endpoint: body.endpoint,
        isDefault: body.default,
        fallbackLocal: body.fallback_local,
        ...(body.job_kinds ? { jobKinds: body.job_kinds } : {}),
      }),
    );
  });
  routes.implement(api.listAssignments, ({ identity }) => ({
    assignments: compute.listAssignments(identity).map(assignmentOut),
  }));
  routes.implement(api.deleteAssignment, ({ identity, params }) => ({
    ok: true as const,
    assignment: assignmentOut(compute.deleteAssignment(identity, params.id)),
  }));

  routes.implement(api.explain, ({ identity, params, query }) => {
    const kinds = query.kind === undefined ? undefined : parseJobKinds([query.kind], 'kind');
    const out = compute.explain(identity, params.principal, kinds);
    return {
      principal: out.principal,
      routes: out.routes.map((r) => ({
        kind: r.kind,
        placement: r.decision.candidates.length > 0 ? ('remote' as const) : ('local' as const),
        endpoints: r.decision.candidates.map((c) => ({
          name: c.endpoint.name,
          url: c.endpoint.url,
          fallback_local: c.fallbackLocal,
          assignment: c.assignment,
        })),
        reason: r.decision.reason,
        considered: r.considered.map((c) => ({
          assignment: assignmentFields(c.assignment),
          distance: c.distance,
          endpoint_status: c.endpointStatus,
          outcome: c.outcome,
        })),
      })),
    };
  });
}
