/**
 * The compute topology's shared vocabulary: job kinds, worker endpoints and the route a job of a
 * principal takes. The directory (endpoints and assignments in duck.db, src/catchment/compute/)
 * answers "which endpoints may this job use"; the router (src/compute/remote/) adds health,
 * canaries, load sharing and fallback; workers (src/compute/worker/) execute. Plain data only, so
 * each side can be tested without the others.
 */
import { RequestError } from '../shared/errors.js';

/**
 * What kind of work is being placed. Queries (`interactive`, `async`) are routed by the principal
 * who asks; `pond_run` places a Pond line's Duck, and its assignments target Ponds, not principals.
 */
export const JOB_KINDS = ['interactive', 'async', 'pond_run'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
/** The job kinds of principals, groups and everyone (what their assignments cover by default). */
export const QUERY_JOB_KINDS = ['interactive', 'async'] as const satisfies readonly JobKind[];

/**
 * What a `pond_run` assignment targets: `*` every Pond, `name` every major line of a Pond,
 * `name@major` one line (names as deployed Ponds are named).
 */
export const POND_TARGET_PATTERN = /^(?:\*|[a-z][a-z0-9_]{0,127}(?:@(?:0|[1-9][0-9]{0,8}))?)$/;
export const POND_TARGET_RULE = 'a Pond target is *, a Pond name, or name@major';

export const ENDPOINT_STATUSES = ['active', 'draining', 'inactive'] as const;
/** `active` takes new work; `draining` finishes what it has and takes none; `inactive` is off. */
export type EndpointStatus = (typeof ENDPOINT_STATUSES)[number];

/** A registered worker as the router needs it, secret included (never leaves the Catchment). */
export interface EndpointTarget {
  name: string;
  /** `grpc://host:port` or `grpcs://host:port`. */
  url: string;
  /** The worker's AGENT_TOKEN, decrypted. Never logged, never returned by an API. */
  token: string;
  status: EndpointStatus;
  /** Queries the Catchment sends at once at most; null = the worker's own admission decides. */
  capacity: number | null;
  /** Changes whenever url or token changes, so cached connections are replaced. */
  revision: number;
}

/** One endpoint a job may go to, with what its assignment allows when that endpoint fails. */
export interface RouteCandidate {
  endpoint: EndpointTarget;
  /** Run locally when this endpoint cannot take the job before any row reached the caller. */
  fallbackLocal: boolean;
  /** Which assignment made it a candidate, e.g. "assignment 4 (group analysts, default)". */
  assignment: string;
}

/**
 * Where a job of a principal may run. An empty `candidates` list means local execution. Several
 * candidates share the load (the router picks the one with the fewest outstanding queries).
 */
export interface RouteDecision {
  candidates: RouteCandidate[];
  /** Human-readable: which rule decided, for `compute explain` and the audit log. */
  reason: string;
}

/** The directory's port, as the router and the query service see it. */
export interface ComputeDirectory {
  /** Resolves the assignments that apply to `principal` for `kind` (see docs/compute.md, "Resolution order"). */
  route(principal: string, kind: JobKind): RouteDecision;
  /** Every registered endpoint (for background health checks), secrets included. */
  endpoints(): EndpointTarget[];
  /** Called after any endpoint or assignment change, so caches and health checks follow. */
  subscribe(listener: () => void): () => void;
}

/** Where a query ran, as audit entries and the `x-duckstring-executed-on` header report it. */
export type Placement =
  | { kind: 'local' }
  | { kind: 'remote'; endpoint: string }
  | { kind: 'fallback'; endpoint: string; reason: string };

export function placementLabel(placement: Placement): string {
  switch (placement.kind) {
    case 'local':
      return 'local';
    case 'remote':
      return `remote:${placement.endpoint}`;
    case 'fallback':
      return `fallback:${placement.endpoint}`;
  }
}

/**
 * Endpoint names appear in a response header (`x-duckstring-executed-on: remote:NAME`), audit
 * entries and metric labels, so they are narrow.
 */
export const ENDPOINT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const ENDPOINT_NAME_RULE = '1–63 letters, digits and _ . - (starting with a letter or digit)';

/**
 * A worker token travels in an `authorization` header, so it is printable ASCII without spaces
 * (nothing that could end or split the header).
 */
export const TOKEN_PATTERN = /^[\x21-\x7e]{1,4096}$/;
export const TOKEN_RULE = 'a token is 1–4096 printable ASCII characters without spaces';

export const MAX_CAPACITY = 100_000;

/** Parses job kind names; 400 naming the unknown ones and the known ones. */
export function parseJobKinds(kinds: readonly string[], where = 'job_kinds'): JobKind[] {
  if (kinds.length === 0)
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: name at least one job kind (${JOB_KINDS.join(', ')})`,
    );
  const unknown = kinds.filter((k) => !(JOB_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: unknown job ${unknown.length === 1 ? 'kind' : 'kinds'} ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${JOB_KINDS.join(', ')})`,
    );
  }
  return JOB_KINDS.filter((k) => kinds.includes(k));
}
