/**
 * The Catchment's HTTP API contract, by area. `api.ponds.runs` is the declaration of
 * `GET /api/ponds/:name/runs`; the server implements it and `CatchmentApi.call` calls it.
 */
export * as compute from './compute.js';
export * as computeStatus from './compute-status.js';
export * as duck from './duck.js';
export * as duckData from './duck-data.js';
export * from './endpoint.js';
export * as events from './events.js';
export * as governance from './governance.js';
export * as lines from './lines.js';
export * as logs from './logs.js';
export * as operations from './operations.js';
export * as ponds from './ponds.js';
export * as queries from './queries.js';
export * as query from './query.js';

import * as compute from './compute.js';
import * as computeStatus from './compute-status.js';
import * as duck from './duck.js';
import * as duckData from './duck-data.js';
import * as events from './events.js';
import * as governance from './governance.js';
import * as lines from './lines.js';
import * as logs from './logs.js';
import * as operations from './operations.js';
import * as ponds from './ponds.js';
import * as queries from './queries.js';
import * as query from './query.js';

/** Every area of the contract: `api.ponds.runs` is `GET /api/ponds/:name/runs`. */
export const api = {
  operations,
  ponds,
  lines,
  logs,
  query,
  queries,
  governance,
  compute,
  computeStatus,
  duck,
  duckData,
  events,
};
