/**
 * The Catchment's HTTP API contract, by area. `api.ponds.runs` is the declaration of
 * `GET /api/ponds/:name/runs`; the server implements it and `CatchmentApi.call` calls it.
 */
export * as duck from './duck.js';
export * from './endpoint.js';
export * as governance from './governance.js';
export * as lines from './lines.js';
export * as operations from './operations.js';
export * as ponds from './ponds.js';
export * as query from './query.js';
