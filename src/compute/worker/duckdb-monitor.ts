/**
 * What DuckDB itself says about the worker: its version and the memory its instances use right
 * now. Every query runs in its own DuckDB instance (sandbox.ts), so memory is the sum of
 * `duckdb_memory()` over the instances alive at the moment of asking plus the monitor's own.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '../../shared/duckdb.js';

const MEMORY_SQL = 'SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory()';

export class DuckdbMonitor {
  private readonly live = new Map<DuckDBInstance, Set<Promise<unknown>>>();

  private constructor(
    private readonly own: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly version: string,
  ) {}

  static async open(): Promise<DuckdbMonitor> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    const version = String((await connection.runAndReadAll('SELECT version()')).getRows()[0]?.[0] ?? '');
    return new DuckdbMonitor(instance, connection, version);
  }

  /** For QueryExecutorOptions.onInstance: tracks a query's instance until it closes. */
  readonly track = (instance: DuckDBInstance): (() => Promise<void>) => {
    const probes = new Set<Promise<unknown>>();
    this.live.set(instance, probes);
    return async () => {
      this.live.delete(instance);
      // A probe still reading must finish before its instance is closed under it.
      await Promise.allSettled([...probes]);
    };
  };

  private reading: Promise<number> | null = null;

  /** Bytes DuckDB reports in use across the worker's instances (concurrent callers share one read). */
  memoryUsed(): Promise<number> {
    this.reading ??= this.readAll().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async readAll(): Promise<number> {
    let total = await readMemory(this.connection);
    for (const [instance, probes] of this.live) {
      const probe = (async () => {
        const connection = await instance.connect();
        try {
          return await readMemory(connection);
        } finally {
          connection.closeSync();
        }
      })();
      probes.add(probe);
      try {
        total += await probe.catch(() => 0);
      } finally {
        probes.delete(probe);
      }
    }
    return total;
  }

  close(): void {
    this.connection.closeSync();
    this.own.closeSync();
  }
}

async function readMemory(connection: DuckDBConnection): Promise<number> {
  const value = (await connection.runAndReadAll(MEMORY_SQL)).getRows()[0]?.[0];
  return value === undefined || value === null ? 0 : Number(value);
}
