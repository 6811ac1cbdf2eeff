/**
 * Snapshots on the local filesystem: each line's manifest and immutable files under its data
 * directory (snapshots.ts). References become absolute paths only here, at the last moment, when a
 * local reader (the query executor) opens them.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { type Clock, systemClock } from '../shared/clock.js';
import { SnapshotLeases } from './leases.js';
import type { LeasedSnapshots, LineKey, LineSnapshot, SnapshotRef, SnapshotStore } from './snapshot-store.js';
import {
  collectGarbage,
  type Manifest,
  type PublishInput,
  publish,
  readManifest,
  SnapshotError,
} from './snapshots.js';

/** Resolutions of one line before a reader gives up on a set that keeps being replaced under it. */
const RESOLVE_ATTEMPTS = 3;
const FILE = /^([A-Za-z_][A-Za-z0-9_]*)\/[^/\0]+\.parquet$/;

export interface LocalSnapshotStoreOptions {
  /** The data directory of a line (`ponds/{name}/m{major}/data`). */
  dataDir: (line: LineKey) => string;
  /** Shared with every local reader, so garbage collection never deletes a file being read. */
  leases?: SnapshotLeases;
  /** Stamps publications (publishedAt, retired). */
  clock?: Clock;
}

export class LocalSnapshotStore implements SnapshotStore {
  readonly leases: SnapshotLeases;

  constructor(private readonly options: LocalSnapshotStoreOptions) {
    this.leases = options.leases ?? new SnapshotLeases();
  }

  async resolve(line: LineKey): Promise<LineSnapshot | null> {
    return toSnapshot(line, await readManifest(this.options.dataDir(line)));
  }

  async acquire(lines: readonly LineKey[]): Promise<LeasedSnapshots> {
    const releases: Array<() => void> = [];
    const release = () => {
      for (const r of releases.splice(0)) r();
    };
    const out: LineSnapshot[] = [];
    try {
      for (const line of lines) {
        const snapshot = await this.acquireLine(line, releases);
        if (snapshot) out.push(snapshot);
      }
    } catch (error) {
      release();
      throw error;
    }
    return { lines: out, release };
  }

  /**
   * Reads the manifest and leases its files in the same turn; if garbage collection removed one in
   * the moment between (the manifest was read just before a republish retired it), the manifest has
   * moved on: resolve again, now racing only a further republish. After a few attempts the last
   * set is returned as is (the reader then reports the snapshot unavailable).
   */
  private async acquireLine(line: LineKey, releases: Array<() => void>): Promise<LineSnapshot | null> {
    for (let attempt = 1; ; attempt++) {
      // An unreadable manifest leaves the line out, like an unpublished one, rather than failing
      // every reader of every other line.
      const manifest = await readManifest(this.options.dataDir(line)).catch(() => null);
      const snapshot = toSnapshot(line, manifest);
      if (!snapshot) return null;
      const release = this.lease(snapshot.tables.map((t) => t.ref));
      if (attempt >= RESOLVE_ATTEMPTS || (await this.allPresent(snapshot))) {
        releases.push(release);
        return snapshot;
      }
      release();
    }
  }

  private async allPresent(snapshot: LineSnapshot): Promise<boolean> {
    for (const t of snapshot.tables) {
      try {
        await fsp.access(this.pathOf(t.ref));
      } catch {
        return false;
      }
    }
    return true;
  }

  lease(refs: readonly SnapshotRef[]): () => void {
    return this.leases.acquire(refs.map((r) => this.pathOf(r)));
  }

  publish(line: LineKey, input: PublishInput): Promise<LineSnapshot> {
    const now = (this.options.clock ?? systemClock).now();
    return publish(this.options.dataDir(line), input, { now }).then((m) => toSnapshot(line, m)!);
  }

  async collect(line: LineKey, options: { now: number; graceMs: number }): Promise<string[]> {
    const result = await collectGarbage(this.options.dataDir(line), { ...options, inUse: this.leases });
    return result.deleted;
  }

  /**
   * The absolute path behind a reference, for a local reader. A reference may come from elsewhere,
   * so it is checked to name a file inside its line's data directory and of its own table.
   */
  pathOf(ref: SnapshotRef): string {
    const m = FILE.exec(ref.file);
    if (!m || m[1] !== ref.table || !Number.isInteger(ref.major) || ref.major < 0) {
      throw new SnapshotError('invalid_input', `not a snapshot reference: ${JSON.stringify(ref)}`);
    }
    const dataDir = this.options.dataDir({ pond: ref.pond, major: ref.major });
    const file = path.resolve(dataDir, ref.file);
    if (path.dirname(path.dirname(file)) !== path.resolve(dataDir)) {
      throw new SnapshotError('invalid_input', `not a snapshot reference: ${JSON.stringify(ref)}`);
    }
    return file;
  }
}

function toSnapshot(line: LineKey, manifest: Manifest | null): LineSnapshot | null {
  if (!manifest) return null;
  return {
    pond: line.pond,
    major: line.major,
    seq: manifest.seq,
    f: manifest.f,
    publishedAt: manifest.publishedAt,
    tables: Object.entries(manifest.tables).map(([table, entry]) => ({
      ref: {
        pond: line.pond,
        major: line.major,
        table,
        file: entry.file,
        checksum: `${entry.bytes}:${entry.publishedAt}`,
      },
      columns: entry.columns,
      rows: entry.rows,
      bytes: entry.bytes,
      publishedAt: entry.publishedAt,
    })),
  };
}
