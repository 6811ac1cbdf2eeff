/**
 * The DuckDB client's runtime values, loaded with require(). Node 20 imports a CommonJS package
 * into ESM by resolving and lexing every file it re-exports: for @duckdb/node-api (~120 files) that
 * costs ~0.1 CPU-s in every process and worker thread that touches DuckDB — each Duck, Catchment,
 * query worker and governor thread — where require() skips it. Import types from the package itself
 * (`import type`), values from here.
 */
import { createRequire } from 'node:module';
import type * as DuckDB from '@duckdb/node-api';

const duckdb = createRequire(import.meta.url)('@duckdb/node-api') as typeof DuckDB;

export const DuckDBInstance: typeof DuckDB.DuckDBInstance = duckdb.DuckDBInstance;
export type DuckDBInstance = DuckDB.DuckDBInstance;
export const DuckDBTypeId: typeof DuckDB.DuckDBTypeId = duckdb.DuckDBTypeId;
export type DuckDBTypeId = DuckDB.DuckDBTypeId;
export const StatementType: typeof DuckDB.StatementType = duckdb.StatementType;
export type StatementType = DuckDB.StatementType;
export const timestampTZValueFromDate: typeof DuckDB.timestampTZValueFromDate =
  duckdb.timestampTZValueFromDate;
