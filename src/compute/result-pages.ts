/**
 * Pages of a stored query result (a Parquet file written by QueryExecutor.exportResult). A page is
 * converted by the same code as an interactive answer (results.ts), and each column whose Parquet
 * type differs from the query's own (HUGEINT stored as DECIMAL(38,0), ENUM as VARCHAR, …) is cast
 * back first, so a page is typed exactly like the interactive answer to the same query.
 *
 * A page is read by row number (`read_parquet(…, file_row_number = true)` and a range on it), not
 * by OFFSET: DuckDB prunes the row groups outside the range by their statistics, so page N costs
 * what page 1 costs, where OFFSET decoded every row before it (paging a whole result was quadratic).
 * What a page needs to know of its file — its stored columns, hence the select list — is read once
 * per file (keyed by size and mtime, so a rewritten file is described again), and connections are
 * reused between pages.
 *
 * The files are the Catchment's own output, never user paths; one in-memory DuckDB instance with
 * external access limited to the results directory reads them.
 */
import { statSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '../shared/duckdb.js';
import type { ExportedColumn } from './query.js';
import { type ConvertedResult, readResult } from './results.js';
import { quoteIdentifier, quoteString } from './sql-text.js';

/** Files whose select list is remembered; a page of any other is described first (one DESCRIBE). */
const DESCRIBED_FILES = 64;
/** Idle connections kept for the next pages. */
const IDLE_CONNECTIONS = 4;
/** DuckDB refuses `file_row_number = true` on a file that has a column of that name. */
const ROW_NUMBER = 'file_row_number';

interface Described {
  key: string;
  select: string;
  byRowNumber: boolean;
}

export class ResultPageReader {
  private instance: Promise<DuckDBInstance> | undefined;
  private readonly described = new Map<string, Described>();
  private idle: DuckDBConnection[] = [];

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
    const connection = this.idle.pop() ?? (await (await this.open()).connect());
    let reusable = false;
    try {
      const first = Math.trunc(offset);
      const count = Math.trunc(limit);
      const { select, byRowNumber } = await this.describe(connection, file, columns);
      const sql = byRowNumber
        ? `SELECT ${select} FROM read_parquet(${quoteString(file)}, file_row_number = true) WHERE ${ROW_NUMBER} >= ${first} AND ${ROW_NUMBER} < ${first + count}`
        : `SELECT ${select} FROM read_parquet(${quoteString(file)}) LIMIT ${count} OFFSET ${first}`;
      const page = await readResult(await connection.stream(sql));
      reusable = true;
      return page;
    } finally {
      // A connection whose read failed part-way is not trusted with the next page.
      if (reusable && this.idle.length < IDLE_CONNECTIONS && this.instance) this.idle.push(connection);
      else connection.closeSync();
    }
  }

  async close(): Promise<void> {
    const instance = this.instance;
    this.instance = undefined;
    for (const connection of this.idle.splice(0)) connection.closeSync();
    this.described.clear();
    if (instance) (await instance).closeSync();
  }

  /** The select list of `file`, from the cache while the file is unchanged. */
  private async describe(
    connection: DuckDBConnection,
    file: string,
    columns: ExportedColumn[],
  ): Promise<Described> {
    const stat = statSync(file);
    const key = `${stat.size}:${stat.mtimeMs}`;
    const known = this.described.get(file);
    if (known?.key === key) {
      // Most recently used last: the oldest entry is the one evicted.
      this.described.delete(file);
      this.described.set(file, known);
      return known;
    }
    const stored = (
      await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quoteString(file)})`)
    )
      .getRows()
      .map((row) => ({ name: String(row[0]), type: String(row[1]) }));
    const described: Described = {
      key,
      select: selectList(stored, columns),
      byRowNumber: !stored.some((c) => c.name.toLowerCase() === ROW_NUMBER),
    };
    this.described.delete(file);
    this.described.set(file, described);
    if (this.described.size > DESCRIBED_FILES) this.described.delete(this.described.keys().next().value!);
    return described;
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

/**
 * The select list: each stored column under the query's name, cast back to the query's type where
 * Parquet changed it. Stored names are used to read, as the writer renames duplicates (a, a_1).
 */
function selectList(stored: Array<{ name: string; type: string }>, columns: ExportedColumn[]): string {
  if (stored.length !== columns.length) return stored.map((c) => quoteIdentifier(c.name)).join(', ');
  return columns
    .map((column, i) => {
      const source = quoteIdentifier(stored[i]!.name);
      const name = quoteIdentifier(column.name);
      if (stored[i]!.type !== column.sql_type) return `CAST(${source} AS ${column.sql_type}) AS ${name}`;
      return stored[i]!.name === column.name ? name : `${source} AS ${name}`;
    })
    .join(', ');
}
