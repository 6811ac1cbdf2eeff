/** Governed queries. */
import { query } from '../../../api/index.js';
import { requestBodyLimit } from '../../../query/limits.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

export function registerQueryRoutes(routes: RouteTable, app: Application): void {
  routes.implement(
    query.query,
    ({ body, identity }) => app.queries.query(identity, body.sql),
    // The SQL's own size limit is the service's (413 sql_too_large); this only bounds what is parsed.
    { bodyLimit: requestBodyLimit(app.queries.limits) },
  );
}
