/**
 * Identity and policy management. Which principal may do what is the governance service's to
 * decide (it is this area's application service), so these handlers only translate requests.
 */
import { governance as gov } from '../../../api/index.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

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
    created_at: new Date(k.createdAt).toISOString(),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
  };
}

export function registerGovernanceRoutes(routes: RouteTable, app: Application): void {
  const governance = app.governance;
  routes.implement(gov.whoami, ({ identity }) => governance.whoami(identity));
  routes.implement(gov.policy, ({ identity }) => {
    const current = governance.current();
    return { revision: current.revision, policy: governance.document(identity) };
  });
  // A file may carry a `compute` section: the compute service applies both in one transaction.
  routes.implement(gov.applyPolicy, ({ identity, body }) =>
    app.compute.applyPolicyFile(identity, body.file, body.dry_run, body.env),
  );

  // ───────────── principals & groups ─────────────
  routes.implement(gov.principals, ({ identity }) => {
    const doc = governance.document(identity);
    return { principals: doc.principals, groups: doc.groups, admins: doc.admins };
  });
  routes.implement(gov.createPrincipal, ({ identity, body }) =>
    governance.createPrincipal(identity, body.name, body.kind),
  );
  routes.implement(gov.deletePrincipal, ({ identity, params }) =>
    governance.deletePrincipal(identity, params.name),
  );
  routes.implement(gov.createGroup, ({ identity, body }) =>
    governance.createGroup(identity, body.name, body.members),
  );
  routes.implement(gov.deleteGroup, ({ identity, params }) => governance.deleteGroup(identity, params.name));
  routes.implement(gov.addMember, ({ identity, params }) =>
    governance.setMembership(identity, params.name, params.member, true),
  );
  routes.implement(gov.removeMember, ({ identity, params }) =>
    governance.setMembership(identity, params.name, params.member, false),
  );

  // ───────────── grants, filters, masks ─────────────
  routes.implement(gov.grant, ({ identity, body }) =>
    governance.setGrant(identity, body.to, body.privileges, body.on, true),
  );
  routes.implement(gov.revoke, ({ identity, body }) =>
    governance.setGrant(identity, body.to, body.privileges, body.on, false),
  );
  routes.implement(gov.setRowFilter, ({ identity, params, body }) =>
    governance.setRowFilter(identity, params.table, body.where),
  );
  routes.implement(gov.removeRowFilter, ({ identity, params }) =>
    governance.setRowFilter(identity, params.table, null),
  );
  routes.implement(gov.setColumnMask, ({ identity, params, body }) =>
    governance.setColumnMask(identity, params.table, params.column, body.as),
  );
  routes.implement(gov.removeColumnMask, ({ identity, params }) =>
    governance.setColumnMask(identity, params.table, params.column, null),
  );

  // ───────────── keys ─────────────
  routes.implement(gov.createKey, ({ identity, body }) => {
    const { key, info } = governance.createKey(identity, body.principal, {
      expiresAt: body.expires_at === undefined ? null : Date.parse(body.expires_at),
      description: body.description ?? null,
    });
    return { key, ...keyOut(info) };
  });
  routes.implement(gov.listKeys, ({ identity, query }) => ({
    keys: governance.listKeys(identity, query.principal).map(keyOut),
  }));
  routes.implement(gov.revokeKey, ({ identity, params }) => ({
    ok: true as const,
    key: keyOut(governance.revokeKey(identity, params.id)),
  }));

  // ───────────── audit ─────────────
  routes.implement(gov.audit, ({ identity, query }) => ({
    entries: governance
      .auditLog(identity, {
        limit: query.limit,
        ...(query.principal ? { principal: query.principal } : {}),
        ...(query.kind ? { kind: query.kind } : {}),
        ...(query.error_id ? { errorId: query.error_id } : {}),
      })
      .map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
  }));
  routes.implement(gov.lookupError, ({ identity, params }) => {
    const found = governance.lookupError(identity, params.id);
    return { ...found, at: new Date(found.at).toISOString() };
  });
}
