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
  diffDocuments,
  fileToDocument,
  type PolicyFile,
  parsePolicyFile,
  policyFileSchema,
} from './policy-file.js';
export {
  type GovernContext,
  type GovernedQuery,
  type GovernedTable,
  Governor,
} from './rewrite.js';
export { type SanitizedError, sanitizeExecutionError } from './sanitize.js';
export {
  type ChangeOutcome,
  EntityConflict,
  GovernanceService,
  type GovernanceServiceOptions,
  type Identity,
  Unauthenticated,
  UnknownEntity,
} from './service.js';
export {
  ADMINS_GROUP,
  type ApiKeyInfo,
  type AuditEntry,
  BOOTSTRAP_ADMIN,
  bootstrapDocument,
  GovernanceStore,
} from './store.js';
