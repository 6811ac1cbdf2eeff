/**
 * The one place requests are authenticated and authorized, as each endpoint's `auth` declares
 * (src/api/endpoint.ts). Handlers get the caller and the resolved line; they check nothing more.
 */
import type { FastifyRequest } from 'fastify';
import type { GovernanceService, Identity } from '../../governance/service.js';
import { RequestError } from '../../shared/errors.js';
import type { Application } from '../app/index.js';
import type { LineRef } from '../app/line-access.js';
import { secretsEqual } from '../store/index.js';
import type { Guard } from './routes.js';

/** The key a request presents: `Authorization: Bearer KEY`, or `X-API-Key: KEY`. */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.toLowerCase().startsWith('bearer ')) return h.slice(7).trim();
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x : undefined;
}

export function createGuard(app: Application): Guard {
  const governance: GovernanceService = app.governance;
  return {
    authenticate(req, auth, params): Identity | undefined {
      if (auth === 'none') return undefined;
      const key = bearer(req);
      if (!key)
        throw new RequestError(401, 'unauthenticated', 'missing API key (send "Authorization: Bearer KEY")');
      if (auth === 'duck') {
        const { name, major } = params as { name: string; major: number };
        app.ducks.authenticate({ pond: name, major }, key);
        return undefined;
      }
      return governance.authenticate(key, secretsEqual);
    },

    async authorize(identity, auth, { params, query, body }): Promise<LineRef | undefined> {
      if (typeof auth === 'string') return undefined;
      if (!identity) throw new RequestError(401, 'unauthenticated', 'not authenticated');
      if ('admin' in auth) {
        governance.requireAdmin(identity, auth.admin);
        return undefined;
      }
      const { name } = params as { name: string };
      const major =
        (body as { major?: number } | undefined)?.major ?? (query as { major?: number } | undefined)?.major;
      const line = await app.access.resolve(identity, name, major);
      if (auth.privilege) app.access.require(identity, auth.privilege, line);
      else if (auth.any) app.access.requireView(identity, line);
      return line;
    },
  };
}
