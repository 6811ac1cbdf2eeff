/**
 * Binds one deployed Pond version to its registry database: runs Ripples on their own connections
 * (DuckDB executes off the event loop, so Ripples of one Pond run concurrently), and publishes the
 * Pond's tables as an immutable Parquet snapshot when a run completes.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { publish, readManifest, STAGING_DIR, tableFilePath } from '../compute/snapshots.js';
import { loadPond } from '../pond/loader.js';
import { quoteIdent } from '../pond/names.js';
import { exportTables, executeRipple } from './executor.js';
import type { RippleRunner } from './duck.js';
import type { DuckConfig } from './protocol.js';

/** `'source.table'` → Parquet path of every table each Source currently publishes. */
async function sourceSnapshots(config: DuckConfig): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [source, dataDir] of Object.entries(config.sources)) {
    const manifest = await readManifest(dataDir);
    if (!manifest) continue;
    for (const [table, entry] of Object.entries(manifest.tables)) out[`${source}.${table}`] = tableFilePath(dataDir, entry);
  }
  return out;
}

export async function createRunner(config: DuckConfig): Promise<RippleRunner> {
  const pond = await loadPond(config.codeDir);
  await mkdir(path.dirname(config.registryPath), { recursive: true });
  // One instance per registry file in this process: two instances on one path would corrupt it.
  const instance = await DuckDBInstance.fromCache(config.registryPath);
  const withConnection = async <T>(work: (conn: Awaited<ReturnType<DuckDBInstance['connect']>>) => Promise<T>) => {
    const conn = await instance.connect();
    try {
      return await work(conn);
    } finally {
      conn.closeSync();
    }
  };

  return {
    async run(ripple, f, previousF) {
      const sources = await sourceSnapshots(config);
      const result = await withConnection((conn) =>
        executeRipple({
          conn,
          pond,
          ripple,
          f: new Date(f),
          previousF: previousF === null ? null : new Date(previousF),
          sources,
        }),
      );
      const rows = result.tables.reduce((n, t) => n + t.rows, 0);
      return { rows: result.tables.length > 0 ? rows : null, changed: true };
    },

    async publish(f) {
      const staging = path.join(config.dataDir, STAGING_DIR, `run-${f}-${process.pid}`);
      await mkdir(staging, { recursive: true });
      try {
        const exported = await withConnection((conn) => exportTables(conn, pond.tables, staging));
        await publish(config.dataDir, { f, tables: exported.map((t) => ({ name: t.table, stagedPath: t.file })) });
        return Object.fromEntries(exported.map((t) => [t.table, { rows: t.rows }]));
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },

    async reset() {
      await withConnection(async (conn) => {
        for (const table of pond.tables) await conn.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
      });
    },

    async close() {
      // Instances from the cache are shared; connections are already closed per call.
    },
  };
}
