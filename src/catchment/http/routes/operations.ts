/** Operating the Catchment: liveness, metrics and the API description. */
import { operations } from '../../../api/index.js';
import type { Application } from '../../app/index.js';
import type { RouteTable } from '../routes.js';

export const API_VERSION = '0.1.0';

export function registerOperationsRoutes(routes: RouteTable, app: Application): void {
  routes.implement(operations.health, () => app.metrics.health());
  routes.implement(operations.metrics, ({ reply }) => {
    reply.header('content-type', app.metrics.contentType);
    return app.metrics.render();
  });
  routes.implement(operations.openapi, () =>
    routes.openapi({ title: 'duckstring Catchment API', version: API_VERSION }),
  );
}
