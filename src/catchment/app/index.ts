/**
 * The Catchment's application layer: one service per use case, between the transports (HTTP today)
 * and the store, engine and governance. A transport parses a request, has it authorized and calls
 * one of these; none of them knows about HTTP.
 */

import type { RemoteRouting } from '../../compute/remote/index.js';
import type { GovernanceService } from '../../governance/service.js';
import type { QueryService } from '../../query/query-service.js';
import type { AsyncQueryService } from '../async/service.js';
import type { Catchment } from '../catchment.js';
import type { ComputeService } from '../compute/service.js';
import type { DataService } from '../data.js';
import type { Metrics } from '../metrics.js';
import { DeployService } from './deploy-service.js';
import { DuckService } from './duck-service.js';
import { LineAccess } from './line-access.js';
import { LineConfigService } from './line-config-service.js';
import { ReadingService } from './reading-service.js';

export { DeployService } from './deploy-service.js';
export { DuckService } from './duck-service.js';
export { LineAccess, type LineRef } from './line-access.js';
export { LineConfigService } from './line-config-service.js';
export { ReadingService } from './reading-service.js';

export interface ApplicationDeps {
  catchment: Catchment;
  data: DataService;
  /** Authentication, authorization, policy management, governed queries and the audit log. */
  governance: GovernanceService;
  /** Governed queries: govern → route → execute → audit. */
  queries: QueryService;
  /** Async queries: jobs, their runner and stored results (FEATURE_ASYNC_QUEUE). */
  asyncQueries: AsyncQueryService;
  /** The compute directory: query workers, assignments, explain. */
  compute: ComputeService;
  metrics: Metrics;
  /** Remote routing: the fleet's health and telemetry (absent: every query runs locally). */
  fleet?: RemoteRouting;
}

export interface Application extends ApplicationDeps {
  access: LineAccess;
  reading: ReadingService;
  lineConfig: LineConfigService;
  deploys: DeployService;
  ducks: DuckService;
}

export function createApplication(deps: ApplicationDeps): Application {
  const { catchment, data, governance } = deps;
  const access = new LineAccess(catchment, data, governance);
  return {
    ...deps,
    access,
    reading: new ReadingService(catchment, data, governance, access),
    lineConfig: new LineConfigService(catchment, () => catchment.clock.now()),
    deploys: new DeployService(catchment, governance),
    ducks: new DuckService(catchment),
  };
}
