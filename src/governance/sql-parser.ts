/**
 * DuckDB's own parser, as a service: SQL → AST (json_serialize_sql) and AST → SQL
 * (json_deserialize_sql), plus binding a query to learn its column types. It runs on a private
 * in-memory instance with no tables and external access locked, so nothing it is given can
 * reach data or files; calls are serialised because one connection runs one statement at a time.
 */
import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import { DuckDBInstance } from '../shared/duckdb.js';
import { isJsonObject, type LosslessObject, parseLossless, stringifyLossless } from './lossless-json.js';

export class DuckSqlParser {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly serializeStatement: DuckDBPreparedStatement,
    private readonly deserializeStatement: DuckDBPreparedStatement,
  ) {}

  static async create(): Promise<DuckSqlParser> {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: '1',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const connection = await instance.connect();
    await connection.run('SET enable_external_access = false; SET lock_configuration = true');
    const serialize = await connection.prepare('SELECT json_serialize_sql($1::VARCHAR)');
    const deserialize = await connection.prepare('SELECT json_deserialize_sql($1::JSON)');
    return new DuckSqlParser(instance, connection, serialize, deserialize);
  }

  /** The parse result: `{error: false, statements: [...]}` or `{error: true, error_type, error_message}`. */
  serialize(sql: string): Promise<LosslessObject> {
    return this.exclusive(async () => {
      this.serializeStatement.bindVarchar(1, sql);
      const parsed = parseLossless(await singleValue(this.serializeStatement));
      if (!isJsonObject(parsed)) throw new Error('json_serialize_sql returned no object');
      return parsed;
    });
  }

  /** SQL text for a parse result of the shape `serialize` returns. */
  deserialize(root: LosslessObject): Promise<string> {
    return this.exclusive(async () => {
      this.deserializeStatement.bindVarchar(1, stringifyLossless(root));
      return singleValue(this.deserializeStatement);
    });
  }

  /** Column names and types of a SELECT, by binding it (nothing is executed). */
  describe(selectSql: string): Promise<{ name: string; type: string }[]> {
    return this.exclusive(async () => {
      const prepared = await this.connection.prepare(selectSql);
      try {
        const out: { name: string; type: string }[] = [];
        for (let i = 0; i < prepared.columnCount; i++) {
          out.push({ name: prepared.columnName(i), type: prepared.columnType(i).toString() });
        }
        return out;
      } finally {
        prepared.destroySync();
      }
    });
  }

  /**
   * Runs trusted statements (no result) on the parser's own instance: the empty stand-in tables
   * of column-names.ts. Never give it user SQL.
   */
  runTrusted(sql: string): Promise<void> {
    return this.exclusive(async () => {
      await this.connection.run(sql);
    });
  }

  close(): void {
    this.serializeStatement.destroySync();
    this.deserializeStatement.destroySync();
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The one value of a one-row, one-column statement, as text. Reads only the first chunk: a reader
 * that reads to the end costs a second round trip to DuckDB on every call, and the governor makes
 * three such calls per query.
 */
async function singleValue(statement: DuckDBPreparedStatement): Promise<string> {
  const result = await statement.run();
  const chunk = await result.fetchChunk();
  return String(chunk && chunk.rowCount > 0 ? chunk.getColumnVector(0).getItem(0) : undefined);
}
