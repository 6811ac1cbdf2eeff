/**
 * Identity and policy management over HTTP, registered on the Catchment's route table. Every route
 * authenticates (route auth 'admin' means "an authenticated principal"); which principal may do what
 * is decided by GovernanceService, so these handlers only translate requests.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import type { RouteTable } from '../catchment/http/routes.js';
import { PRINCIPAL_KINDS, PRIVILEGES } from './policy.js';
import type { GovernanceService, Identity } from './service.js';

const name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/, 'names use letters, digits and _ . @ + - (not first)');
const grantBody = z
  .object({
    to: name,
    privileges: z.array(z.enum(PRIVILEGES)).min(1),
    on: z.string().min(1).max(300),
  })
  .strict();
const tableParams = z.object({ table: z.string().min(1).max(300) });

function keyOut(k: {
  id: string;
  principal: string;
  description: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}) {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: k.id,
    principal: k.principal,
    description: k.description,
    created_at: iso(k.createdAt),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
  };
}

export function registerGovernanceRoutes(
  routes: RouteTable,
  governance: GovernanceService,
  who: (req: FastifyRequest) => Identity,
): void {
  routes.add({
    method: 'GET',
    url: '/api/whoami',
    summary: 'The authenticated principal, its groups and whether it is an administrator',
    auth: 'principal',
    handler: ({ raw }) => governance.whoami(who(raw)),
  });
  routes.add({
    method: 'GET',
    url: '/api/policy',
    summary: 'The whole policy document (administrators)',
    auth: 'principal',
    handler: ({ raw }) => {
      const current = governance.current();
      return { revision: current.revision, policy: governance.document(who(raw)) };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/policy/apply',
    summary:
      'Make the policy what a policy file (YAML text) says; dry_run only returns the diff (administrators)',
    auth: 'principal',
    body: z.object({ file: z.string().max(5_000_000), dry_run: z.boolean().default(false) }).strict(),
    handler: ({ raw, body }) => governance.applyFile(who(raw), body.file, body.dry_run),
  });

  // ───────────── principals & groups ─────────────
  routes.add({
    method: 'GET',
    url: '/api/principals',
    summary: 'Principals and groups with their direct members (administrators)',
    auth: 'principal',
    handler: ({ raw }) => {
      const doc = governance.document(who(raw));
      return { principals: doc.principals, groups: doc.groups, admins: doc.admins };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/principals',
    summary: 'Create a principal: a user, a service principal or a tap (an app whose reads are pull demand)',
    auth: 'principal',
    body: z.object({ name, kind: z.enum(PRINCIPAL_KINDS).default('user') }).strict(),
    handler: async ({ raw, body, reply }) => {
      const out = await governance.createPrincipal(who(raw), body.name, body.kind);
      reply.status(201);
      return out;
    },
  });
  routes.add({
    method: 'DELETE',
    url: '/api/principals/:name',
    summary: 'Delete a principal (its memberships, grants and keys go with it)',
    auth: 'principal',
    params: z.object({ name }),
    handler: ({ raw, params }) => governance.deletePrincipal(who(raw), params.name),
  });
  routes.add({
    method: 'POST',
    url: '/api/groups',
    summary: 'Create a group (members: principals or groups; cycles are refused)',
    auth: 'principal',
    body: z.object({ name, members: z.array(name).default([]) }).strict(),
    handler: async ({ raw, body, reply }) => {
      const out = await governance.createGroup(who(raw), body.name, body.members);
      reply.status(201);
      return out;
    },
  });
  routes.add({
    method: 'DELETE',
    url: '/api/groups/:name',
    summary: 'Delete a group',
    auth: 'principal',
    params: z.object({ name }),
    handler: ({ raw, params }) => governance.deleteGroup(who(raw), params.name),
  });
  routes.add({
    method: 'PUT',
    url: '/api/groups/:name/members/:member',
    summary: 'Add a principal or group to a group',
    auth: 'principal',
    params: z.object({ name, member: name }),
    handler: ({ raw, params }) => governance.setMembership(who(raw), params.name, params.member, true),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/groups/:name/members/:member',
    summary: 'Remove a member from a group',
    auth: 'principal',
    params: z.object({ name, member: name }),
    handler: ({ raw, params }) => governance.setMembership(who(raw), params.name, params.member, false),
  });

  // ───────────── grants, filters, masks ─────────────
  routes.add({
    method: 'POST',
    url: '/api/grants',
    summary:
      'Grant privileges on *, pond, pond@N, pond.table or pond@N.table (administrators or MANAGE holders)',
    auth: 'principal',
    body: grantBody,
    handler: ({ raw, body }) => governance.setGrant(who(raw), body.to, body.privileges, body.on, true),
  });
  routes.add({
    method: 'POST',
    url: '/api/revokes',
    summary:
      'Revoke privileges granted on exactly `on` (administrators or MANAGE holders); refused when the grantee holds them through a broader grant',
    auth: 'principal',
    body: grantBody,
    handler: ({ raw, body }) => governance.setGrant(who(raw), body.to, body.privileges, body.on, false),
  });
  routes.add({
    method: 'PUT',
    url: '/api/row-filters/:table',
    summary:
      "Set a table's row filter (a boolean SQL expression; MANAGE on the table, and on pond.table to override its filter for one major)",
    auth: 'principal',
    params: tableParams,
    body: z.object({ where: z.string().min(1).max(10_000) }).strict(),
    handler: ({ raw, params, body }) => governance.setRowFilter(who(raw), params.table, body.where),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/row-filters/:table',
    summary: "Remove a table's row filter",
    auth: 'principal',
    params: tableParams,
    handler: ({ raw, params }) => governance.setRowFilter(who(raw), params.table, null),
  });
  routes.add({
    method: 'PUT',
    url: '/api/column-masks/:table/:column',
    summary:
      "Set a column's mask (an expression of the column's type; MANAGE on the table, and on pond.table to override its mask for one major)",
    auth: 'principal',
    params: tableParams.extend({ column: z.string().min(1).max(255) }),
    body: z.object({ as: z.string().min(1).max(10_000) }).strict(),
    handler: ({ raw, params, body }) =>
      governance.setColumnMask(who(raw), params.table, params.column, body.as),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/column-masks/:table/:column',
    summary: "Remove a column's mask",
    auth: 'principal',
    params: tableParams.extend({ column: z.string().min(1).max(255) }),
    handler: ({ raw, params }) => governance.setColumnMask(who(raw), params.table, params.column, null),
  });

  // ───────────── keys ─────────────
  routes.add({
    method: 'POST',
    url: '/api/keys',
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
    handler: ({ raw, body, reply }) => {
      const { key, info } = governance.createKey(who(raw), body.principal, {
        expiresAt: body.expires_at === undefined ? null : Date.parse(body.expires_at),
        description: body.description ?? null,
      });
      reply.status(201);
      return { key, ...keyOut(info) };
    },
  });
  routes.add({
    method: 'GET',
    url: '/api/keys',
    summary:
      'API keys (never their secrets): all for administrators, else your own (MANAGE on *: ?principal= any non-administrator)',
    auth: 'principal',
    query: z.object({ principal: name.optional() }),
    handler: ({ raw, query }) => ({ keys: governance.listKeys(who(raw), query.principal).map(keyOut) }),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/keys/:id',
    summary: 'Revoke an API key (its owner; administrators; MANAGE on * for keys of non-administrators)',
    auth: 'principal',
    params: z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'a key id is 16 hex characters') }),
    handler: ({ raw, params }) => ({ ok: true, key: keyOut(governance.revokeKey(who(raw), params.id)) }),
  });

  // ───────────── audit ─────────────
  routes.add({
    method: 'GET',
    url: '/api/audit',
    summary: 'The audit log, newest first: queries and management changes (administrators)',
    auth: 'principal',
    query: z.object({
      limit: z.coerce.number().int().min(1).max(10_000).default(100),
      principal: name.optional(),
      kind: z.enum(['query', 'change']).optional(),
      error_id: z.string().max(100).optional(),
    }),
    handler: ({ raw, query }) => ({
      entries: governance
        .auditLog(who(raw), {
          limit: query.limit,
          ...(query.principal ? { principal: query.principal } : {}),
          ...(query.kind ? { kind: query.kind } : {}),
          ...(query.error_id ? { errorId: query.error_id } : {}),
        })
        .map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    }),
  });
}
