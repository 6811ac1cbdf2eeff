/**
 * The policy file's `compute` section (`duckstring policy apply FILE`): the whole desired set of
 * query workers and assignments, applied with the rest of the file in one transaction.
 *
 *   compute:
 *     endpoints:
 *       - {name: w1, url: "grpc://10.0.0.5:9444", token_env: W1_TOKEN, status: active, capacity: 8}
 *     assignments:
 *       - {endpoint: w1, group: beta, default: true, fallback_local: true, job_kinds: [interactive]}
 *
 * A file without a `compute` key leaves compute as it is; with one, endpoints and assignments
 * become exactly what it lists (missing ones are removed). A token is never written in the file:
 * `token_env` names an environment variable of the process running `policy apply` (the CLI sends
 * its value with the request). An unset variable, like any other problem, refuses the whole file.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  ENDPOINT_NAME_PATTERN,
  ENDPOINT_NAME_RULE,
  ENDPOINT_STATUSES,
  type EndpointStatus,
  type JobKind,
  MAX_CAPACITY,
  POND_TARGET_PATTERN,
  POND_TARGET_RULE,
  parseJobKinds,
  QUERY_JOB_KINDS,
  TOKEN_PATTERN,
  TOKEN_RULE,
} from '../../compute/topology.js';
import { PolicyError } from '../../governance/errors.js';
import { PRINCIPAL_NAME_PATTERN } from '../../shared/ids.js';
import { normalizeEndpointUrl } from './endpoint-url.js';
import { checkSubjectKinds } from './pond-targets.js';
import { type ComputeStore, describeSubject, type StoredEndpoint, type Subject } from './store.js';
import { holdsToken, type TokenCipher } from './token-cipher.js';

export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

const principalName = z
  .string()
  .min(1)
  .max(128)
  .regex(PRINCIPAL_NAME_PATTERN, 'not a principal or group name');

const sectionSchema = z
  .object({
    endpoints: z
      .array(
        z
          .object({
            name: z.string().regex(ENDPOINT_NAME_PATTERN, ENDPOINT_NAME_RULE),
            url: z.string().min(1).max(600),
            token_env: z
              .string()
              .regex(ENV_NAME_PATTERN, 'an environment variable name (letters, digits, _)'),
            status: z.enum(ENDPOINT_STATUSES).default('active'),
            capacity: z.number().int().min(1).max(MAX_CAPACITY).nullable().default(null),
          })
          .strict(),
      )
      .default([]),
    assignments: z
      .array(
        z
          .object({
            endpoint: z.string().min(1).max(63),
            principal: principalName.optional(),
            group: principalName.optional(),
            everyone: z.literal(true).optional(),
            pond: z.string().regex(POND_TARGET_PATTERN, POND_TARGET_RULE).optional(),
            default: z.boolean().default(false),
            fallback_local: z.boolean().default(true),
            job_kinds: z.array(z.string().max(64)).optional(),
          })
          .strict()
          .refine(
            (a) => [a.principal, a.group, a.everyone, a.pond].filter((x) => x !== undefined).length === 1,
            'name exactly one of principal, group, everyone or pond',
          ),
      )
      .default([]),
  })
  .strict();

export interface DesiredEndpoint {
  name: string;
  url: string;
  tokenEnv: string;
  status: EndpointStatus;
  capacity: number | null;
}

export interface DesiredAssignment {
  endpoint: string;
  subject: Subject;
  isDefault: boolean;
  fallbackLocal: boolean;
  jobKinds: JobKind[];
}

export interface ComputeSection {
  endpoints: DesiredEndpoint[];
  assignments: DesiredAssignment[];
}

/** Checks the section's shape and every value that needs no state; PolicyError lists every problem. */
export function parseComputeSection(raw: unknown): ComputeSection {
  const parsed = sectionSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new PolicyError(
      parsed.error.issues.map((i) => `${['compute', ...i.path].join('.')}: ${i.message}`),
    );
  }
  const issues: string[] = [];
  const names = new Set<string>();
  const endpoints: DesiredEndpoint[] = [];
  parsed.data.endpoints.forEach((e, i) => {
    const where = `compute.endpoints.${i}`;
    if (names.has(e.name.toLowerCase())) issues.push(`${where}.name: endpoint "${e.name}" is listed twice`);
    names.add(e.name.toLowerCase());
    let url = e.url;
    try {
      url = normalizeEndpointUrl(e.url);
    } catch (error) {
      issues.push(`${where}.${(error as Error).message}`);
    }
    endpoints.push({ name: e.name, url, tokenEnv: e.token_env, status: e.status, capacity: e.capacity });
  });
  const identities = new Set<string>();
  const assignments: DesiredAssignment[] = [];
  parsed.data.assignments.forEach((a, i) => {
    const where = `compute.assignments.${i}`;
    const subject: Subject =
      a.principal !== undefined
        ? { kind: 'principal', name: a.principal }
        : a.group !== undefined
          ? { kind: 'group', name: a.group }
          : a.pond !== undefined
            ? { kind: 'pond', name: a.pond }
            : { kind: 'everyone' };
    if (!names.has(a.endpoint.toLowerCase()))
      issues.push(`${where}.endpoint: no endpoint "${a.endpoint}" in compute.endpoints`);
    const identity = assignmentIdentity(subject, a.endpoint);
    if (identities.has(identity))
      issues.push(`${where}: ${describeSubject(subject)} is assigned to "${a.endpoint}" twice`);
    identities.add(identity);
    let jobKinds: JobKind[] = [];
    try {
      jobKinds = parseJobKinds(
        a.job_kinds ?? (subject.kind === 'pond' ? ['pond_run'] : [...QUERY_JOB_KINDS]),
        `${where}.job_kinds`,
      );
      checkSubjectKinds(subject, jobKinds, `${where}.job_kinds`);
    } catch (error) {
      issues.push((error as Error).message);
    }
    assignments.push({
      endpoint: a.endpoint,
      subject,
      isDefault: a.default,
      fallbackLocal: a.fallback_local,
      jobKinds,
    });
  });
  if (issues.length > 0) throw new PolicyError(issues);
  return { endpoints, assignments };
}

/**
 * The environment variables a policy file's compute section names (what the CLI must send). Lenient:
 * a file it cannot read names none, and the Catchment then reports what is wrong with it.
 */
export function tokenEnvNames(fileText: string): string[] {
  let raw: unknown;
  try {
    raw = parseYaml(fileText);
  } catch {
    return [];
  }
  const endpoints = (raw as { compute?: { endpoints?: unknown } } | null)?.compute?.endpoints;
  if (!Array.isArray(endpoints)) return [];
  const names = endpoints
    .map((e) => (e as { token_env?: unknown } | null)?.token_env)
    .filter((n): n is string => typeof n === 'string' && ENV_NAME_PATTERN.test(n));
  return [...new Set(names)];
}

export interface ComputePlan {
  /** `+ …` added, `- …` removed, `~ …` changed, as the policy diff writes them. */
  diff: string[];
  /** Writes the plan (call inside the caller's transaction). */
  apply(now: number): void;
}

/**
 * What it takes to make the stored directory what `section` says: checked against the principals
 * and groups the applied policy will have (`knows`) and the tokens sent (`env`), before any write.
 */
export function planCompute(
  section: ComputeSection,
  ctx: {
    store: ComputeStore;
    cipher: TokenCipher;
    env: Readonly<Record<string, string>>;
    knows: (subject: Subject) => boolean;
    /** Why a Pond target names nothing deployed, or undefined when it does. */
    pondProblem?: (target: string) => string | undefined;
  },
): ComputePlan {
  const issues: string[] = [];
  const tokens = new Map<string, string>();
  section.endpoints.forEach((e, i) => {
    const where = `compute.endpoints.${i}.token_env`;
    const token = ctx.env[e.tokenEnv];
    if (token === undefined || token === '')
      issues.push(
        `${where}: environment variable ${e.tokenEnv} is not set (policy apply reads it from its environment)`,
      );
    else if (!TOKEN_PATTERN.test(token)) issues.push(`${where}: ${e.tokenEnv}: ${TOKEN_RULE}`);
    else tokens.set(e.name.toLowerCase(), token);
  });
  section.assignments.forEach((a, i) => {
    if (a.subject.kind === 'pond') {
      const problem = ctx.pondProblem?.(a.subject.name);
      if (problem) issues.push(`compute.assignments.${i}.pond: ${problem}`);
    } else if (!ctx.knows(a.subject)) {
      const what = a.subject.kind === 'principal' ? 'principal' : 'group';
      const name = a.subject.kind === 'everyone' ? '' : a.subject.name;
      issues.push(`compute.assignments.${i}.${what}: no ${what} "${name}" in the policy`);
    }
  });
  if (issues.length > 0) throw new PolicyError(issues);

  const diff: string[] = [];
  const writes: ((now: number) => void)[] = [];
  const existing = new Map(ctx.store.listEndpoints().map((e) => [e.name.toLowerCase(), e]));
  const wanted = new Set(section.endpoints.map((e) => e.name.toLowerCase()));
  const existingAssignments = ctx.store.listAssignments();

  // Removed assignments and endpoints first, so a re-created endpoint never meets its old rows.
  const wantedAssignments = new Map(
    section.assignments.map((a) => [assignmentIdentity(a.subject, a.endpoint), a]),
  );
  for (const a of existingAssignments) {
    if (!wantedAssignments.has(assignmentIdentity(a.subject, a.endpointName))) {
      diff.push(`- compute assignment ${assignmentText(a.subject, a.endpointName, a)}`);
      writes.push(() => ctx.store.deleteAssignment(a.id));
    }
  }
  for (const [key, e] of existing) {
    if (!wanted.has(key)) {
      diff.push(`- compute endpoint ${e.name}`);
      writes.push(() => ctx.store.deleteEndpoint(e.id));
    }
  }
  for (const e of section.endpoints) {
    const token = tokens.get(e.name.toLowerCase())!;
    const current = existing.get(e.name.toLowerCase());
    if (!current) {
      diff.push(`+ compute endpoint ${e.name} ${e.url} (${e.status}, capacity ${e.capacity ?? 'none'})`);
      writes.push((now) =>
        ctx.store.insertEndpoint(
          {
            name: e.name,
            url: e.url,
            tokenCiphertext: ctx.cipher.encrypt(token, e.name),
            status: e.status,
            capacity: e.capacity,
          },
          now,
        ),
      );
      continue;
    }
    const changes = endpointChanges(current, e, token, ctx.cipher);
    if (changes.length === 0) continue;
    diff.push(`~ compute endpoint ${current.name}: ${changes.join(', ')}`);
    const rekey = changes.some((c) => c.startsWith('url') || c.startsWith('token'));
    writes.push((now) =>
      ctx.store.updateEndpoint({
        ...current,
        url: e.url,
        tokenCiphertext: changes.includes('token replaced')
          ? ctx.cipher.encrypt(token, current.name)
          : current.tokenCiphertext,
        status: e.status,
        capacity: e.capacity,
        revision: rekey ? current.revision + 1 : current.revision,
        updatedAt: now,
      }),
    );
  }
  const kept = new Map(existingAssignments.map((a) => [assignmentIdentity(a.subject, a.endpointName), a]));
  for (const a of section.assignments) {
    const current = kept.get(assignmentIdentity(a.subject, a.endpoint));
    if (!current) {
      diff.push(`+ compute assignment ${assignmentText(a.subject, a.endpoint, a)}`);
      writes.push((now) => {
        const endpoint = ctx.store.getEndpoint(a.endpoint)!;
        ctx.store.insertAssignment({ ...a, endpointId: endpoint.id }, now);
      });
    } else if (
      current.isDefault !== a.isDefault ||
      current.fallbackLocal !== a.fallbackLocal ||
      current.jobKinds.join(',') !== a.jobKinds.join(',')
    ) {
      diff.push(`~ compute assignment ${assignmentText(a.subject, a.endpoint, a)}`);
      writes.push(() => ctx.store.updateAssignment(current.id, a));
    }
  }
  return {
    diff,
    apply(now) {
      for (const write of writes) write(now);
    },
  };
}

function endpointChanges(
  current: StoredEndpoint,
  e: DesiredEndpoint,
  token: string,
  cipher: TokenCipher,
): string[] {
  const out: string[] = [];
  if (current.url !== e.url) out.push(`url ${current.url} → ${e.url}`);
  if (!holdsToken(cipher, current.tokenCiphertext, current.name, token)) out.push('token replaced');
  if (current.status !== e.status) out.push(`status ${current.status} → ${e.status}`);
  if (current.capacity !== e.capacity)
    out.push(`capacity ${current.capacity ?? 'none'} → ${e.capacity ?? 'none'}`);
  return out;
}

function assignmentIdentity(subject: Subject, endpoint: string): string {
  return `${describeSubject(subject).toLowerCase()}\0${endpoint.toLowerCase()}`;
}

function assignmentText(
  subject: Subject,
  endpoint: string,
  a: { isDefault: boolean; fallbackLocal: boolean; jobKinds: readonly JobKind[] },
): string {
  return `${describeSubject(subject)} → ${endpoint} (${a.isDefault ? 'default, ' : ''}fallback ${a.fallbackLocal ? 'on' : 'off'}, ${a.jobKinds.join(',')})`;
}
