/**
 * Reading published data: table listings and queries over the snapshots of every selected line. A
 * query resolves each manifest once, so it reads one published version per table for its whole run.
 */
import { QueryExecutor } from '../compute/query.js';
import {
  collectGarbage,
  describeTables,
  queryTablesFromManifest,
  readManifest,
} from '../compute/snapshots.js';
import { Catalog, type CatalogInput } from '../governance/catalog.js';
import type { QuerySource } from '../governance/service.js';
import type { Catchment } from './catchment.js';
import { linePaths } from './store/index.js';
import { queryLinksDir } from './store/layout.js';

/**
 * Superseded snapshot files stay this long after they left the published set: longer than any query
 * or Ripple read, since readers in Duck processes hold no lease here.
 */
export const SNAPSHOT_GRACE_MS = 10 * 60_000;

export class DataService {
  readonly executor: QueryExecutor;
  private lastCollected = new Map<string, number>();

  constructor(
    private readonly catchment: Catchment,
    private readonly graceMs = SNAPSHOT_GRACE_MS,
  ) {
    this.executor = new QueryExecutor({ linkDirectory: queryLinksDir(catchment.options.root) });
    catchment.onPublished((name, major) => void this.collect(name, major));
  }

  /** Deletes a line's superseded snapshot files past the grace period (at most once a minute per line). */
  async collect(name: string, major: number, now = Date.now()): Promise<string[]> {
    const key = `${name}@${major}`;
    if (now - (this.lastCollected.get(key) ?? 0) < Math.min(60_000, this.graceMs)) return [];
    this.lastCollected.set(key, now);
    const dataDir = linePaths(this.catchment.options.root, name, major).data;
    const result = await collectGarbage(dataDir, {
      now,
      graceMs: this.graceMs,
      inUse: this.executor.leases,
    }).catch(() => null);
    return result?.deleted ?? [];
  }

  describe(name: string, major: number) {
    return describeTables(linePaths(this.catchment.options.root, name, major).data).then((d) => ({
      pond: name,
      major,
      ...d,
    }));
  }

  /**
   * The governed catalog (every published table of every line, with its columns; `pond.table` means
   * the newest major) and the snapshot file behind each 'pond@N.table' key, read from one pass over
   * the manifests so a query is governed against the same version it then reads.
   *
   * `leased`: each manifest's files are leased in the same turn as the manifest is read, so garbage
   * collection (same process) cannot delete them before the query is done; call `release` then.
   */
  async snapshot(
    leased = false,
  ): Promise<{ catalog: Catalog; files: Map<string, string>; release: () => void }> {
    const releases: (() => void)[] = [];
    const store = this.catchment.store;
    const tables: CatalogInput['tables'] = [];
    const selected: Record<string, number> = {};
    const files = new Map<string, string>();
    for (const pond of store.listPonds()) {
      const newest = store.highestMajor(pond);
      for (const l of store.listLines(pond)) {
        const dataDir = linePaths(this.catchment.options.root, l.pond, l.major).data;
        const manifest = await readManifest(dataDir).catch(() => null);
        if (!manifest) continue;
        const qualifier = `${l.pond}@${l.major}`;
        if (leased) {
          releases.push(
            this.executor.leases.acquire(queryTablesFromManifest(dataDir, manifest, [qualifier]).values()),
          );
        }
        for (const [key, file] of queryTablesFromManifest(dataDir, manifest, [qualifier])) {
          const name = key.slice(qualifier.length + 1);
          const entry = { pond: l.pond, major: l.major, name, columns: manifest.tables[name]!.columns };
          // A table the catalog cannot describe is left out (unreadable) rather than breaking every query.
          try {
            Catalog.parse({ tables: [entry], selected: {} });
          } catch {
            continue;
          }
          tables.push(entry);
          files.set(key.toLowerCase(), file);
          if (l.major === newest) selected[l.pond] = l.major;
        }
      }
    }
    const release = () => {
      for (const r of releases.splice(0)) r();
    };
    try {
      return { catalog: Catalog.parse({ tables, selected }), files, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** The query side the governance service runs governed SQL through. */
  readonly source: QuerySource = {
    snapshot: () => this.snapshot(true),
    execute: (sql, tables, options) =>
      this.executor.execute(sql, {
        tables,
        ...(options ? { principal: options.principal, limits: { timeoutMs: options.timeoutMs } } : {}),
      }),
  };
}
