export {
  Catalog,
  type CatalogColumn,
  type CatalogInput,
  type CatalogTable,
  catalogSchema,
  listVisibleTables,
  type VisibleTable,
} from './catalog.js';
export { GovernanceError, type GovernanceErrorCode, PolicyError } from './errors.js';
export {
  formatSecurable,
  parseSecurable,
  Policy,
  type PolicyDocument,
  type PolicyDocumentInput,
  policyDocumentSchema,
  type Principal,
  PRINCIPAL_KINDS,
  type PrincipalKind,
  PRIVILEGES,
  type Privilege,
  type Securable,
} from './policy.js';
export {
  closeSharedGovernor,
  type GovernContext,
  type GovernedQuery,
  type GovernedTable,
  Governor,
  governQuery,
} from './rewrite.js';
export { type SanitizedError, sanitizeExecutionError } from './sanitize.js';
