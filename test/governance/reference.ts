/**
 * The reference side of the bypass corpus: the user's own query text over physically filtered
 * and masked copies, on one long-lived DuckDB connection (views named like the executor's), with
 * results converted by the same code as the executor's. Only the governed side needs the full
 * per-query sandbox; this keeps the corpus fast.
 */

import type { QueryResult } from '../../src/compute/query.js';
import { readResult } from '../../src/compute/results.js';
import { createViews } from '../../src/compute/sandbox.js';
import { DuckDBInstance } from '../../src/shared/duckdb.js';

export type Outcome = { ok: true; result: QueryResult } | { ok: false; message: string };

export interface ReferenceDatabase {
  run(sql: string): Promise<Outcome>;
  close(): void;
}

export async function openReference(tables: ReadonlyMap<string, string>): Promise<ReferenceDatabase> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  await createViews(
    connection,
    [...tables].map(([key, file]) => {
      const [schema, name] = key.split('.') as [string, string];
      return { schema, name, file };
    }),
  );
  let queue: Promise<unknown> = Promise.resolve();
  return {
    run(sql: string): Promise<Outcome> {
      const work = async (): Promise<Outcome> => {
        try {
          const result = await connection.stream(sql);
          return { ok: true, result: await readResult(result, { rowCountLimit: 100_000 }) };
        } catch (error) {
          return { ok: false, message: (error as Error).message };
        }
      };
      const next = queue.then(work, work);
      queue = next;
      return next;
    },
    close(): void {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
