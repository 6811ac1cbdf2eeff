export { type InUseCheck, SnapshotLeases } from './leases.js';
export { exportParquet, inspectParquet, type ParquetExportOptions } from './parquet.js';
export {
  httpStatusForQueryError,
  QueryError,
  type QueryErrorCode,
  QueryExecutor,
  type QueryExecutorOptions,
  type QueryLimits,
  type QueryRequest,
  type QueryResult,
} from './query.js';
export {
  type ColumnInfo,
  type ConvertedResult,
  converterFor,
  formatInterval,
  type JsonValue,
  type ReadResultOptions,
  readResult,
  typeName,
} from './results.js';
export {
  collectGarbage,
  describeTables,
  type GarbageCollectionOptions,
  type GarbageCollectionResult,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  type Manifest,
  type PondTablesDescription,
  type PublishInput,
  type PublishOptions,
  publish,
  queryTablesFromManifest,
  readManifest,
  SnapshotError,
  type SnapshotErrorCode,
  stagingPath,
  type TableDescription,
  type TableEntry,
  tableFilePath,
} from './snapshots.js';
