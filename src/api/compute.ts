/**
 * The compute directory: query workers (endpoints) and who is routed to them (assignments), and
 * `explain`. Every endpoint needs MANAGE on the catalog (`*`), which the compute service checks.
 * Worker tokens go in (create, update) and never come out.
 */
import { z } from 'zod/v4';
import {
  ENDPOINT_NAME_PATTERN,
  ENDPOINT_NAME_RULE,
  ENDPOINT_STATUSES,
  JOB_KINDS,
  MAX_CAPACITY,
  POND_TARGET_PATTERN,
  POND_TARGET_RULE,
  TOKEN_PATTERN,
  TOKEN_RULE,
} from '../compute/topology.js';
import { PRINCIPAL_NAME_PATTERN, PRINCIPAL_NAME_RULE } from '../shared/ids.js';
import { instant } from './common.js';
import { endpoint } from './endpoint.js';

const endpointName = z.string().regex(ENDPOINT_NAME_PATTERN, ENDPOINT_NAME_RULE);
const principalName = z.string().min(1).max(128).regex(PRINCIPAL_NAME_PATTERN, PRINCIPAL_NAME_RULE);
const token = z.string().regex(TOKEN_PATTERN, TOKEN_RULE);
const capacity = z.number().int().min(1).max(MAX_CAPACITY).nullable();
const url = z.string().min(1).max(600);
/** Checked by the service, so an unknown kind gets a message naming the known ones. */
const jobKind = z.string().min(1).max(64);
const endpointParams = z.object({ name: endpointName });

export const endpointView = z.object({
  name: z.string(),
  url: z.string(),
  status: z.enum(ENDPOINT_STATUSES),
  capacity: z.number().int().nullable(),
  /** Moves when the URL or token changes (the router then reconnects). */
  revision: z.number().int(),
  /** How many assignments route to it. */
  assignments: z.number().int(),
  created_at: instant,
  updated_at: instant,
});
export type EndpointView = z.infer<typeof endpointView>;

export const subjectView = z.object({
  /** `pond`: a Pond-run assignment's target (`*`, a Pond name, or name@major). */
  kind: z.enum(['principal', 'group', 'everyone', 'pond']),
  /** null for everyone. */
  name: z.string().nullable(),
});

export const assignmentView = z.object({
  id: z.number().int(),
  subject: subjectView,
  endpoint: z.string(),
  default: z.boolean(),
  fallback_local: z.boolean(),
  job_kinds: z.array(z.enum(JOB_KINDS)),
  created_at: instant,
});
export type AssignmentView = z.infer<typeof assignmentView>;

export const healthView = z.object({
  state: z.enum(['healthy', 'unhealthy', 'unknown']),
  since: instant.nullable(),
  reason: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

export const createEndpoint = endpoint({
  method: 'POST',
  path: '/api/compute/endpoints',
  summary:
    'Register a query worker: name, grpc:// or grpcs:// host:port URL and its AGENT_TOKEN (stored encrypted, never returned); MANAGE on *',
  auth: 'principal',
  body: z
    .object({
      name: endpointName,
      url,
      token,
      status: z.enum(ENDPOINT_STATUSES).default('active'),
      capacity: capacity.default(null),
    })
    .strict(),
  statuses: [201],
  response: endpointView,
});

export const listEndpoints = endpoint({
  method: 'GET',
  path: '/api/compute/endpoints',
  summary: 'Registered query workers (never their tokens); MANAGE on *',
  auth: 'principal',
  response: z.object({ endpoints: z.array(endpointView) }),
});

export const showEndpoint = endpoint({
  method: 'GET',
  path: '/api/compute/endpoints/:name',
  summary: 'One query worker and the assignments routing to it; MANAGE on *',
  auth: 'principal',
  params: endpointParams,
  response: z.object({ endpoint: endpointView, assignments: z.array(assignmentView) }),
});

export const updateEndpoint = endpoint({
  method: 'PUT',
  path: '/api/compute/endpoints/:name',
  summary:
    "Change a query worker's URL, token, status (active, draining, inactive) or capacity: only the fields given; takes effect without a restart; MANAGE on *",
  auth: 'principal',
  params: endpointParams,
  body: z
    .object({
      url: url.optional(),
      token: token.optional(),
      status: z.enum(ENDPOINT_STATUSES).optional(),
      capacity: capacity.optional(),
    })
    .strict()
    .refine(
      (b) => Object.values(b).some((v) => v !== undefined),
      'name at least one of url, token, status, capacity',
    ),
  response: z.object({ endpoint: endpointView, changed: z.array(z.string()) }),
});

export const deleteEndpoint = endpoint({
  method: 'DELETE',
  path: '/api/compute/endpoints/:name',
  summary: 'Remove a query worker and the assignments routing to it; MANAGE on *',
  auth: 'principal',
  params: endpointParams,
  response: z.object({ ok: z.literal(true), name: z.string(), deleted_assignments: z.number().int() }),
});

export const endpointHealth = endpoint({
  method: 'GET',
  path: '/api/compute/endpoints/:name/health',
  summary: "A query worker's health as the Catchment's background checks see it; MANAGE on *",
  auth: 'principal',
  params: endpointParams,
  response: z.object({ endpoint: endpointView, health: healthView }),
});

export const createAssignment = endpoint({
  method: 'POST',
  path: '/api/compute/assignments',
  summary:
    'Route a principal, a group (nested groups count) or everyone to a query worker, for some job kinds (default interactive and async), or the Duck of a Pond (pond: *, name or name@major; job kind pond_run); fallback to local execution (default on); MANAGE on *',
  auth: 'principal',
  body: z
    .object({
      endpoint: endpointName,
      principal: principalName.optional(),
      group: principalName.optional(),
      everyone: z.literal(true).optional(),
      pond: z.string().regex(POND_TARGET_PATTERN, POND_TARGET_RULE).optional(),
      default: z.boolean().default(false),
      fallback_local: z.boolean().default(true),
      job_kinds: z.array(jobKind).min(1).max(16).optional(),
    })
    .strict()
    .refine(
      (b) => [b.principal, b.group, b.everyone, b.pond].filter((x) => x !== undefined).length === 1,
      'name exactly one of principal, group, everyone or pond',
    ),
  statuses: [201],
  response: assignmentView,
});

export const listAssignments = endpoint({
  method: 'GET',
  path: '/api/compute/assignments',
  summary: 'Every compute assignment; MANAGE on *',
  auth: 'principal',
  response: z.object({ assignments: z.array(assignmentView) }),
});

export const deleteAssignment = endpoint({
  method: 'DELETE',
  path: '/api/compute/assignments/:id',
  summary: 'Remove a compute assignment; MANAGE on *',
  auth: 'principal',
  params: z.object({ id: z.coerce.number().int().positive() }),
  response: z.object({ ok: z.literal(true), assignment: assignmentView }),
});

export const explain = endpoint({
  method: 'GET',
  path: '/api/compute/explain/:principal',
  summary:
    "Which query workers a principal's jobs would go to, per job kind, and why (the directory's resolution order, before health and canaries); MANAGE on *",
  auth: 'principal',
  params: z.object({ principal: principalName }),
  query: z.object({ kind: jobKind.optional() }),
  response: z.object({
    principal: z.string(),
    routes: z.array(
      z.object({
        kind: z.enum(JOB_KINDS),
        placement: z.enum(['local', 'remote']),
        endpoints: z.array(
          z.object({
            name: z.string(),
            url: z.string(),
            fallback_local: z.boolean(),
            assignment: z.string(),
          }),
        ),
        reason: z.string(),
        considered: z.array(
          z.object({
            assignment: assignmentView.omit({ created_at: true }),
            distance: z.number().int().nullable(),
            endpoint_status: z.enum([...ENDPOINT_STATUSES, 'unknown']),
            outcome: z.enum(['chosen', 'outranked', 'endpoint not active', 'job kind not covered']),
          }),
        ),
      }),
    ),
  }),
});
