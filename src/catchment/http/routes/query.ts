/** Governed queries. */
import { query } from '../../../api/index.js';
import { passthroughAnswer } from '../../../compute/remote/passthrough-result.js';
import { placementLabel } from '../../../compute/topology.js';
import { requestBodyLimit } from '../../../query/limits.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

export const EXECUTED_ON_HEADER = 'x-duckstring-executed-on';

export function registerQueryRoutes(routes: RouteTable, app: Application): void {
  routes.implement(
    query.query,
    async ({ body, identity, reply }) => {
      const { result, placement } = await app.queries.queryPlaced(identity, body.sql);
      // Where it ran: local, remote:NAME or fallback:NAME (the audit entry also has the reason).
      reply.header(EXECUTED_ON_HEADER, placementLabel(placement));
      // A worker's rows go out as the checked JSON it sent, not parsed and serialized again. The
      // route table still checks `result` against the response schema in tests: its rows then
      // parse from those same bytes. (Fastify sends a serializer's Buffer as is; its type says string.)
      const answer = passthroughAnswer(result);
      if (answer) reply.type('application/json; charset=utf-8').serializer(() => answer as unknown as string);
      return result;
    },
    // The SQL's own size limit is the service's (413 sql_too_large); this only bounds what is parsed.
    { bodyLimit: requestBodyLimit(app.queries.limits) },
  );
}
