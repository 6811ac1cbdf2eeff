import type { DuckDBConnection } from '@duckdb/node-api';
import type { ColumnInfo } from './results.js';
import { quoteIdentifier, quoteString } from './sql-text.js';

export type { ColumnInfo };

export interface ParquetExportOptions {
  /** Default zstd: the best size/speed trade-off measured on our stack (node-stack.md §1). */
  compression?: 'zstd' | 'snappy' | 'gzip' | 'uncompressed';
  rowGroupSize?: number;
}

/**
 * Writes the result of `selectSql` to a Parquet file and returns the number of rows written.
 * `selectSql` is trusted (the Duck's own SQL), it is not sandboxed here.
 *
 * Parquet has no 128-bit integer and DuckDB would silently write HUGEINT/UHUGEINT columns as
 * DOUBLE (so `sum(bigint)` would lose exactness past 2^53). Top-level HUGEINT/UHUGEINT columns are
 * therefore written as DECIMAL(38,0): exact, and a value beyond 38 digits fails the export with a
 * Conversion Error instead of being rounded. (Nested 128-bit integers are left to DuckDB.)
 */
export async function exportParquet(
  connection: DuckDBConnection,
  selectSql: string,
  targetPath: string,
  options: ParquetExportOptions = {},
): Promise<number> {
  const compression = options.compression ?? 'zstd';
  const rowGroup =
    options.rowGroupSize === undefined ? '' : `, ROW_GROUP_SIZE ${Math.trunc(options.rowGroupSize)}`;
  const source = await exactIntegersSelect(connection, selectSql);
  const result = await connection.run(
    `COPY (${source}) TO ${quoteString(targetPath)} (FORMAT parquet, COMPRESSION ${compression}${rowGroup})`,
  );
  return Number(result.rowsChanged);
}

async function exactIntegersSelect(connection: DuckDBConnection, selectSql: string): Promise<string> {
  const described = await connection.runAndReadAll(`DESCRIBE (${selectSql})`);
  const wide = described
    .getRows()
    .filter((row) => row[1] === 'HUGEINT' || row[1] === 'UHUGEINT')
    .map((row) => quoteIdentifier(String(row[0])));
  if (wide.length === 0) return selectSql;
  const replace = wide.map((column) => `CAST(${column} AS DECIMAL(38,0)) AS ${column}`).join(', ');
  return `SELECT * REPLACE (${replace}) FROM (${selectSql})`;
}

/** Row count and column schema of a Parquet file, read from its footer (no data scan). */
export async function inspectParquet(
  connection: DuckDBConnection,
  filePath: string,
): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const literal = quoteString(filePath);
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal})`);
  const columns = described.getRows().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  const counted = await connection.runAndReadAll(
    `SELECT coalesce(sum(num_rows), 0)::BIGINT FROM parquet_file_metadata(${literal})`,
  );
  const rows = Number(counted.getRows()[0]?.[0] ?? 0);
  return { rows, columns };
}
