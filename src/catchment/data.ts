/**
 * Reading published data: table listings and queries over the snapshots of every selected line. A
 * query resolves each manifest once, so it reads one published version per table for its whole run.
 */
import { QueryExecutor } from '../compute/query.js';
import { describeTables, queryTablesFromManifest, readManifest } from '../compute/snapshots.js';
import type { Catchment } from './catchment.js';
import { linePaths } from './store/index.js';

export class DataService {
  readonly executor = new QueryExecutor();

  constructor(private readonly catchment: Catchment) {}

  describe(name: string, major: number) {
    return describeTables(linePaths(this.catchment.options.root, name, major).data).then((d) => ({ pond: name, major, ...d }));
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
        for (const [k, v] of queryTablesFromManifest(dataDir, await readManifest(dataDir), qualifiers)) out.set(k, v);
      }
    }
    return out;
  }

  async query(sql: string) {
    return this.executor.execute(sql, { tables: await this.tables() });
  }
}
