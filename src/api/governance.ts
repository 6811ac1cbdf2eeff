/**
 * Identity and policy management: principals, groups, grants, row filters, column masks, API keys,
 * the policy file and the audit log. Every endpoint needs an authenticated principal; which
 * principal may do what is the governance service's to decide.
 */
import { z } from 'zod/v4';
import { PRINCIPAL_KINDS, PRIVILEGES } from '../governance/policy.js';
import { PRINCIPAL_NAME_PATTERN, PRINCIPAL_NAME_RULE } from '../shared/ids.js';
import { instant } from './common.js';
import { endpoint } from './endpoint.js';

const name = z.string().min(1).max(128).regex(PRINCIPAL_NAME_PATTERN, PRINCIPAL_NAME_RULE);
const grantBody = z
  .object({
    to: name,
    privileges: z.array(z.enum(PRIVILEGES)).min(1),
    on: z.string().min(1).max(300),
  })
  .strict();
const tableParams = z.object({ table: z.string().min(1).max(300) });
const columnParams = tableParams.extend({ column: z.string().min(1).max(255) });

/** What every policy change answers: whether it changed anything, how, and the revision after it. */
export const changeOutcome = z.object({
  changed: z.boolean(),
  diff: z.array(z.string()),
  revision: z.number().int(),
});
export type ChangeOutcome = z.infer<typeof changeOutcome>;
export type PrincipalKindName = (typeof PRINCIPAL_KINDS)[number];

const keyInfo = z.object({
  id: z.string(),
  principal: z.string(),
  description: z.string().nullable(),
  created_at: instant,
  expires_at: instant.nullable(),
  revoked_at: instant.nullable(),
});

export const whoami = endpoint({
  method: 'GET',
  path: '/api/whoami',
  summary: 'The authenticated principal, its groups and whether it is an administrator',
  auth: 'principal',
  response: z.object({
    principal: z.string(),
    kind: z.enum(PRINCIPAL_KINDS),
    admin: z.boolean(),
    groups: z.array(z.string()),
    key_id: z.string().nullable(),
  }),
});

export const policy = endpoint({
  method: 'GET',
  path: '/api/policy',
  summary: 'The whole policy document (administrators)',
  auth: 'principal',
  response: z.object({ revision: z.number().int(), policy: z.record(z.string(), z.unknown()) }),
});

export const applyPolicy = endpoint({
  method: 'POST',
  path: '/api/policy/apply',
  summary:
    'Make the policy what a policy file (YAML text) says; dry_run only returns the diff (administrators)',
  auth: 'principal',
  body: z
    .object({
      file: z.string().max(5_000_000),
      dry_run: z.boolean().default(false),
      /** Values of the environment variables the file's `compute` section names (`token_env`), as the CLI read them. */
      env: z
        .record(
          z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
          z.string().max(4096),
        )
        .default({}),
    })
    .strict(),
  response: changeOutcome,
});

export const principals = endpoint({
  method: 'GET',
  path: '/api/principals',
  summary: 'Principals and groups with their direct members (administrators)',
  auth: 'principal',
  response: z.object({
    principals: z.array(z.object({ name: z.string(), kind: z.enum(PRINCIPAL_KINDS) })),
    groups: z.array(z.object({ name: z.string(), members: z.array(z.string()) })),
    admins: z.array(z.string()),
  }),
});

export const createPrincipal = endpoint({
  method: 'POST',
  path: '/api/principals',
  summary: 'Create a principal: a user, a service principal or a tap (an app whose reads are pull demand)',
  auth: 'principal',
  body: z.object({ name, kind: z.enum(PRINCIPAL_KINDS).default('user') }).strict(),
  statuses: [201],
  response: changeOutcome,
});

export const deletePrincipal = endpoint({
  method: 'DELETE',
  path: '/api/principals/:name',
  summary: 'Delete a principal (its memberships, grants and keys go with it)',
  auth: 'principal',
  params: z.object({ name }),
  response: changeOutcome,
});

export const createGroup = endpoint({
  method: 'POST',
  path: '/api/groups',
  summary: 'Create a group (members: principals or groups; cycles are refused)',
  auth: 'principal',
  body: z.object({ name, members: z.array(name).default([]) }).strict(),
  statuses: [201],
  response: changeOutcome,
});

export const deleteGroup = endpoint({
  method: 'DELETE',
  path: '/api/groups/:name',
  summary: 'Delete a group',
  auth: 'principal',
  params: z.object({ name }),
  response: changeOutcome,
});

export const addMember = endpoint({
  method: 'PUT',
  path: '/api/groups/:name/members/:member',
  summary: 'Add a principal or group to a group',
  auth: 'principal',
  params: z.object({ name, member: name }),
  response: changeOutcome,
});

export const removeMember = endpoint({
  method: 'DELETE',
  path: '/api/groups/:name/members/:member',
  summary: 'Remove a member from a group',
  auth: 'principal',
  params: z.object({ name, member: name }),
  response: changeOutcome,
});

export const grant = endpoint({
  method: 'POST',
  path: '/api/grants',
  summary:
    'Grant privileges on *, pond, pond@N, pond.table or pond@N.table (administrators or MANAGE holders)',
  auth: 'principal',
  body: grantBody,
  response: changeOutcome,
});

export const revoke = endpoint({
  method: 'POST',
  path: '/api/revokes',
  summary:
    'Revoke privileges granted on exactly `on` (administrators or MANAGE holders); refused when the grantee holds them through a broader grant',
  auth: 'principal',
  body: grantBody,
  response: changeOutcome,
});

export const setRowFilter = endpoint({
  method: 'PUT',
  path: '/api/row-filters/:table',
  summary:
    "Set a table's row filter (a boolean SQL expression; MANAGE on the table, and on pond.table to override its filter for one major)",
  auth: 'principal',
  params: tableParams,
  body: z.object({ where: z.string().min(1).max(10_000) }).strict(),
  response: changeOutcome,
});

export const removeRowFilter = endpoint({
  method: 'DELETE',
  path: '/api/row-filters/:table',
  summary: "Remove a table's row filter",
  auth: 'principal',
  params: tableParams,
  response: changeOutcome,
});

export const setColumnMask = endpoint({
  method: 'PUT',
  path: '/api/column-masks/:table/:column',
  summary:
    "Set a column's mask (an expression of the column's type; MANAGE on the table, and on pond.table to override its mask for one major)",
  auth: 'principal',
  params: columnParams,
  body: z.object({ as: z.string().min(1).max(10_000) }).strict(),
  response: changeOutcome,
});

export const removeColumnMask = endpoint({
  method: 'DELETE',
  path: '/api/column-masks/:table/:column',
  summary: "Remove a column's mask",
  auth: 'principal',
  params: columnParams,
  response: changeOutcome,
});

export const createKey = endpoint({
  method: 'POST',
  path: '/api/keys',
  summary:
    'Create an API key for a principal; the key is in this response only (yourself; administrators; MANAGE on * for non-administrators). It expires no later than the key used to create it',
  auth: 'principal',
  body: z
    .object({
      principal: name,
      expires_at: z.iso.datetime({ offset: true }).optional(),
      description: z.string().max(500).optional(),
    })
    .strict(),
  statuses: [201],
  response: keyInfo.extend({ key: z.string() }),
});

export const listKeys = endpoint({
  method: 'GET',
  path: '/api/keys',
  summary:
    'API keys (never their secrets): all for administrators, else your own (MANAGE on *: ?principal= any non-administrator)',
  auth: 'principal',
  query: z.object({ principal: name.optional() }),
  response: z.object({ keys: z.array(keyInfo) }),
});

export const revokeKey = endpoint({
  method: 'DELETE',
  path: '/api/keys/:id',
  summary: 'Revoke an API key (its owner; administrators; MANAGE on * for keys of non-administrators)',
  auth: 'principal',
  params: z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'a key id is 16 hex characters') }),
  response: z.object({ ok: z.literal(true), key: keyInfo }),
});

export const audit = endpoint({
  method: 'GET',
  path: '/api/audit',
  summary: 'The audit log, newest first: queries and management changes (administrators)',
  auth: 'principal',
  query: z.object({
    limit: z.coerce.number().int().min(1).max(10_000).default(100),
    principal: name.optional(),
    kind: z.enum(['query', 'change']).optional(),
    error_id: z.string().max(100).optional(),
  }),
  response: z.object({
    entries: z.array(
      z.object({
        id: z.number().int(),
        at: instant,
        principal: z.string(),
        kind: z.enum(['query', 'change']),
        action: z.string(),
        decision: z.enum(['allowed', 'denied', 'failed']),
        detail: z.record(z.string(), z.unknown()),
      }),
    ),
  }),
});

export const lookupError = endpoint({
  method: 'GET',
  path: '/api/errors/:id',
  summary:
    'The failure behind an error id: administrators see any, with the full text; the principal whose query failed sees its own SQL and message; anyone else gets 404 as for an unknown id',
  auth: 'principal',
  params: z.object({ id: z.string().min(1).max(100) }),
  response: z.object({
    error_id: z.string(),
    at: instant,
    principal: z.string(),
    action: z.string(),
    sql: z.string().nullable(),
    message: z.string().nullable(),
    error: z.string().nullable().optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
  }),
});
