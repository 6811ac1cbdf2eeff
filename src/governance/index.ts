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
  Policy,
  type PolicyDocument,
  type PolicyDocumentInput,
  PRINCIPAL_KINDS,
  PRIVILEGES,
  type Principal,
  type PrincipalKind,
  type Privilege,
  parseSecurable,
  policyDocumentSchema,
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
