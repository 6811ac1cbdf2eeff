/**
 * Reading published data: table listings and queries over the snapshots of every selected line. A
 * query resolves each manifest once, so it reads one published version per table for its whole run.
 */
import { LocalQueryBackend } from '../compute/local-query-backend.js';
import { LocalSnapshotStore } from '../compute/local-snapshot-store.js';
import { QueryExecutor } from '../compute/query.js';
import { type SnapshotRef, snapshotKey } from '../compute/snapshot-store.js';
import { describeTables } from '../compute/snapshots.js';
import { Catalog, type CatalogInput } from '../governance/catalog.js';
import type { QuerySnapshot, QuerySnapshots } from '../query/query-service.js';
import type { Catchment } from './catchment.js';
import { linePaths } from './store/index.js';
import { queryLinksDir } from './store/layout.js';

/**
 * Superseded snapshot files stay this long after they left the published set: longer than any query
 * or Ripple read, since readers in Duck processes hold no lease here.
 */
export const SNAPSHOT_GRACE_MS = 10 * 60_000;

export class DataService {
  /** Published snapshots by logical reference; the local filesystem under the root. */
  readonly snapshots: LocalSnapshotStore;
  readonly executor: QueryExecutor;
  /** Where governed queries run (the QueryBackend port; in process today). */
  readonly backend: LocalQueryBackend;
  private lastCollected = new Map<string, number>();

  constructor(
    private readonly catchment: Catchment,
    private readonly graceMs = SNAPSHOT_GRACE_MS,
  ) {
    const root = catchment.options.root;
    this.snapshots = new LocalSnapshotStore({
      dataDir: (l) => linePaths(root, l.pond, l.major).data,
      clock: catchment.clock,
    });
    this.executor = new QueryExecutor({ leases: this.snapshots.leases, linkDirectory: queryLinksDir(root) });
    this.backend = new LocalQueryBackend(this.executor, this.snapshots);
    catchment.onPublished((name, major) => void this.collect(name, major));
  }

  /** Deletes a line's superseded snapshot files past the grace period (at most once a minute per line). */
  async collect(name: string, major: number, now = this.catchment.clock.now()): Promise<string[]> {
    const key = `${name}@${major}`;
    if (now - (this.lastCollected.get(key) ?? 0) < Math.min(60_000, this.graceMs)) return [];
    this.lastCollected.set(key, now);
    return this.snapshots
      .collect({ pond: name, major }, { now, graceMs: this.graceMs })
      .catch(() => [] as string[]);
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
   * the newest major) and the snapshot behind each 'pond@N.table' key, from one pass over the
   * manifests so a query is governed against the same version it then reads.
   *
   * `leased`: the snapshots stay (garbage collection keeps their files) until `release` is called;
   * see SnapshotStore.acquire. `files` are the same snapshots as local paths, for the Catchment's own
   * in-process readers (governed-inputs.ts); queries get only `refs`.
   */
  async snapshot(leased = false): Promise<{
    catalog: Catalog;
    refs: Map<string, SnapshotRef>;
    files: Map<string, string>;
    release: () => void;
  }> {
    const store = this.catchment.store;
    const lines = store
      .listPonds()
      .flatMap((pond) => store.listLines(pond).map((l) => ({ pond, major: l.major })));
    const { lines: published, release } = leased
      ? await this.snapshots.acquire(lines)
      : { lines: await this.resolveAll(lines), release: () => {} };
    const newest = new Map(store.listPonds().map((pond) => [pond, store.highestMajor(pond)]));
    const tables: CatalogInput['tables'] = [];
    const selected: Record<string, number> = {};
    const refs = new Map<string, SnapshotRef>();
    const files = new Map<string, string>();
    try {
      for (const line of published) {
        for (const t of line.tables) {
          const entry = { pond: line.pond, major: line.major, name: t.ref.table, columns: t.columns };
          // A table the catalog cannot describe is left out (unreadable) rather than breaking every query.
          try {
            Catalog.parse({ tables: [entry], selected: {} });
          } catch {
            continue;
          }
          tables.push(entry);
          const key = snapshotKey(t.ref).toLowerCase();
          refs.set(key, t.ref);
          files.set(key, this.snapshots.pathOf(t.ref));
          if (line.major === newest.get(line.pond)) selected[line.pond] = line.major;
        }
      }
      return { catalog: Catalog.parse({ tables, selected }), refs, files, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  private async resolveAll(lines: Array<{ pond: string; major: number }>) {
    const out = [];
    for (const line of lines) {
      const snapshot = await this.snapshots.resolve(line).catch(() => null);
      if (snapshot) out.push(snapshot);
    }
    return out;
  }

  /** The published data governed queries read (QueryService): leased for each query's run. */
  readonly querySnapshots: QuerySnapshots = {
    snapshot: async (): Promise<QuerySnapshot> => this.snapshot(true),
  };
}
