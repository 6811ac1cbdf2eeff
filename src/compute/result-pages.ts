/**
 * Pages of a stored query result (a Parquet file written by QueryExecutor.exportResult). A page is
 * converted by the same code as an interactive answer (results.ts), and each column whose Parquet
 * type differs from the query's own (HUGEINT stored as DECIMAL(38,0), ENUM as VARCHAR, …) is cast
 * back first, so a page is typed exactly like the interactive answer to the same query.
 *
 * The files are the Catchment's own output, never user paths; one in-memory DuckDB instance with
 * external access limited to the results directory reads them, a connection per page.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '../shared/duckdb.js';
import type { ExportedColumn } from './query.js';
import { type ConvertedResult, readResult } from './results.js';
import { quoteIdentifier, quoteString } from './sql-text.js';

export class ResultPageReader {
  private instance: Promise<DuckDBInstance> | undefined;

  constructor(
    /** The only directory the reader may open files under. */
    private readonly directory: string,
  ) {}

  /** Rows `offset` … `offset + limit − 1` of `file`, in the order the query produced them. */
  async readPage(
    file: string,
    columns: ExportedColumn[],
    offset: number,
    limit: number,
  ): Promise<ConvertedResult> {
    const connection = await (await this.open()).connect();
    try {
      const source = `read_parquet(${quoteString(file)})`;
      const select = await castsBack(connection, source, columns);
      const result = await connection.stream(
        `SELECT ${select} FROM ${source} LIMIT ${Math.trunc(limit)} OFFSET ${Math.trunc(offset)}`,
      );
      return await readResult(result);
    } finally {
      connection.closeSync();
    }
  }

  async close(): Promise<void> {
    const instance = this.instance;
    this.instance = undefined;
    if (instance) (await instance).closeSync();
  }

  private open(): Promise<DuckDBInstance> {
    this.instance ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:', {
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        allow_community_extensions: 'false',
        threads: '2',
      });
      const connection = await instance.connect();
      try {
        // Pages are read in file order (the query's order), and only result files can be opened.
        await connection.run(
          [
            'SET preserve_insertion_order = true',
            `SET allowed_directories = [${quoteString(this.directory)}]`,
            'SET enable_external_access = false',
            'SET lock_configuration = true',
          ].join('; '),
        );
      } finally {
        connection.closeSync();
      }
      return instance;
    })().catch((error: unknown) => {
      this.instance = undefined;
      throw error;
    });
    return this.instance;
  }
}

/** The select list: each column as stored, or cast back to the query's type where Parquet changed it. */
async function castsBack(
  connection: DuckDBConnection,
  source: string,
  columns: ExportedColumn[],
): Promise<string> {
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
  const stored = described.getRows().map((row) => String(row[1]));
  if (stored.length !== columns.length) return '*';
  return columns
    .map((column, i) => {
      const name = quoteIdentifier(column.name);
      return stored[i] === column.sql_type ? name : `CAST(${name} AS ${column.sql_type}) AS ${name}`;
    })
    .join(', ');
}
