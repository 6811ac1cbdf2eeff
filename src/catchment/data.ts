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

/**
 * Superseded snapshot files stay this long after they left the published set: longer than any query
 * or Ripple read, since readers in Duck processes hold no lease here.
 */
export const SNAPSHOT_GRACE_MS = 10 * 60_000;

export class DataService {
  readonly executor = new QueryExecutor();
  private lastCollected = new Map<string, number>();

  constructor(
    private readonly catchment: Catchment,
    private readonly graceMs = SNAPSHOT_GRACE_MS,
  ) {
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

  /** `pond.table` names the newest major of a Pond; `"pond@N".table` a specific one. */
  async tables(): Promise<Map<string, string>> {
    const store = this.catchment.store;
    const out = new Map<string, string>();
    for (const pond of store.listPonds()) {
      const newest = store.highestMajor(pond);
      for (const l of store.listLines(pond)) {
        const dataDir = linePaths(this.catchment.options.root, l.pond, l.major).data;
        const qualifiers = [`${l.pond}@${l.major}`, ...(l.major === newest ? [l.pond] : [])];
        for (const [k, v] of queryTablesFromManifest(dataDir, await readManifest(dataDir), qualifiers))
          out.set(k, v);
      }
    }
    return out;
  }

  async query(sql: string) {
    return this.executor.execute(sql, { tables: await this.tables() });
  }

  /**
   * The governed catalog (every published table of every line, with its columns; `pond.table` means
   * the newest major) and the snapshot file behind each 'pond@N.table' key, read from one pass over
   * the manifests so a query is governed against the same version it then reads.
   */
  async snapshot(): Promise<{ catalog: Catalog; files: Map<string, string> }> {
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
    return { catalog: Catalog.parse({ tables, selected }), files };
  }

  /** The query side the governance service runs governed SQL through. */
  readonly source: QuerySource = {
    snapshot: () => this.snapshot(),
    execute: (sql, tables) => this.executor.execute(sql, { tables }),
  };
}
