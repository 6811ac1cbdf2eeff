/** Deploying Ponds and reading them: status, run history, published tables, the catalog. */
import { ponds } from '../../../api/index.js';
import { RequestError } from '../../../shared/errors.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

export function registerPondRoutes(routes: RouteTable, app: Application): void {
  routes.implement(ponds.deploy, async ({ body, identity, reply }) => {
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw new RequestError(
        400,
        'invalid_archive',
        'send the Pond archive as the request body (Content-Type: application/octet-stream)',
      );
    }
    const outcome = await app.deploys.deploy(identity, body);
    reply.status(outcome.created ? 201 : 200);
    return outcome;
  });
  routes.implement(ponds.listLines, ({ identity }) => ({ ponds: app.reading.allLines(identity) }));
  routes.implement(ponds.pond, async ({ params, identity }) => ({
    pond: params.name,
    lines: await app.reading.pondLines(identity, params.name),
  }));
  routes.implement(ponds.runs, ({ query, line }) => ({
    pond: line.pond,
    major: line.major,
    runs: app.reading.runs(line, { limit: query.limit, status: query.status }),
  }));
  routes.implement(ponds.tables, ({ identity, line }) => app.reading.tables(identity, line));
  routes.implement(ponds.catalog, async ({ identity }) => ({ tables: await app.reading.catalog(identity) }));
}
