/**
 * The compute directory: worker endpoints and the assignments that route principals, groups or
 * everyone to them, in duck.db. `createComputeDirectory` gives the pieces the Catchment composes:
 * the ComputeDirectory port the router reads (`directory`) and the repository the management
 * service writes (`store`).
 */
import type Database from 'better-sqlite3';
import { type PolicySource, StoredComputeDirectory } from './directory.js';
import { ComputeStore } from './store.js';
import { TokenCipher } from './token-cipher.js';

export { type PolicySource, StoredComputeDirectory } from './directory.js';
export { InvalidEndpointUrl, normalizeEndpointUrl, parseEndpointUrl } from './endpoint-url.js';
export type { EndpointHealthReport, EndpointHealthView } from './health-view.js';
export {
  type ConsideredAssignment,
  describeAssignment,
  type Membership,
  NO_ASSIGNMENT,
  type ResolvableAssignment,
  RouteResolver,
} from './resolution.js';
export {
  type AssignmentInput,
  ComputeService,
  type EndpointInput,
  type EndpointPatch,
  type EndpointView,
  type ExplainedRoute,
} from './service.js';
export { ComputeStore, type StoredAssignment, type StoredEndpoint, type Subject } from './store.js';
export { TokenCipher } from './token-cipher.js';

export interface ComputeDirectoryParts {
  store: ComputeStore;
  cipher: TokenCipher;
  directory: StoredComputeDirectory;
}

/** The directory over the Catchment's duck.db handle, its tokens under `<root>/secrets/compute.key`. */
export function createComputeDirectory(opts: {
  db: Database.Database;
  root: string;
  policy: PolicySource;
}): ComputeDirectoryParts {
  const store = new ComputeStore(opts.db);
  const cipher = TokenCipher.forRoot(opts.root);
  return { store, cipher, directory: new StoredComputeDirectory(store, cipher, opts.policy) };
}
