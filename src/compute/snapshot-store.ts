/**
 * The SnapshotStore port: published snapshots by logical reference, never by path. Queries, the
 * query service and (later) remote workers and Ducks name a snapshot file as `{pond, major, table,
 * file, checksum}`; only an implementation knows where the bytes are. The local filesystem is the
 * first implementation (local-snapshot-store.ts); an HTTP one comes with remote Ducks.
 *
 * Everything here is plain data, so a reference can cross a process or machine boundary as is.
 */
import type { ColumnInfo } from './parquet.js';
import type { PublishInput } from './snapshots.js';

/** One published snapshot file of one table of one Pond major line. */
export interface SnapshotRef {
  pond: string;
  major: number;
  table: string;
  /** The file's name inside its line, as the manifest records it (`<table>/<unique>.parquet`). */
  file: string;
  /**
   * Identifies the file's content version: a reader holding a ref whose checksum no longer matches
   * the store's is reading something else. Snapshot files are immutable and uniquely named, so the
   * local store derives it from the manifest entry (size and publication time) rather than hashing.
   */
  checksum: string;
}

/** A Pond major line, by name. */
export interface LineKey {
  pond: string;
  major: number;
}

export interface SnapshotTable {
  ref: SnapshotRef;
  columns: ColumnInfo[];
  rows: number;
  bytes: number;
  /** Epoch ms when this file entered the published set. */
  publishedAt: number;
}

/** The published table set of one line, as one manifest described it. */
export interface LineSnapshot extends LineKey {
  /** Increases by one per publish. */
  seq: number;
  /** Freshness of the whole set, epoch ms. */
  f: number;
  publishedAt: number;
  tables: SnapshotTable[];
}

/** Snapshots held for a reader: garbage collection keeps their files until `release` (idempotent). */
export interface LeasedSnapshots {
  lines: LineSnapshot[];
  release(): void;
}

export interface SnapshotStore {
  /** The line's published set now; null when nothing was ever published. */
  resolve(line: LineKey): Promise<LineSnapshot | null>;
  /**
   * Resolves every line and leases what it resolved, so the files stay until released. Never hands
   * out a reference whose file was already removed: a reader racing a republish and its garbage
   * collection gets the newer set instead of a failure. Lines with nothing published are left out.
   */
  acquire(lines: readonly LineKey[]): Promise<LeasedSnapshots>;
  /** Leases references a reader already holds (released by the returned function). */
  lease(refs: readonly SnapshotRef[]): () => void;
  /** Publishes staged tables as the line's new set (see snapshots.ts for the semantics). */
  publish(line: LineKey, input: PublishInput): Promise<LineSnapshot>;
  /** Deletes files that left the line's set more than `graceMs` ago and are not leased. */
  collect(line: LineKey, options: { now: number; graceMs: number }): Promise<string[]>;
}

/** `pond@major.table`, the key governance names a table of a line by. */
export function snapshotKey(ref: Pick<SnapshotRef, 'pond' | 'major' | 'table'>): string {
  return `${ref.pond}@${ref.major}.${ref.table}`;
}
