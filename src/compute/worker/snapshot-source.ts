/**
 * Where a worker gets the snapshot files a query may read. The Catchment sends the exact files
 * (root-relative names, size, checksum) and nothing else; a source turns them into local paths
 * for the sandboxed executor. Two implementations: a shared root (`--shared-root DIR`, here) for
 * workers that see the Catchment's filesystem, and HTTP downloads into a bounded cache (the
 * data-plane side, `http-snapshot-source.ts`).
 *
 * Every name is checked before any I/O: a file must be a plain `<table>/<name>.parquet` inside its
 * line, so a request cannot name anything outside the snapshot store.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { dataDirRel } from '../../catchment/store/layout.js';
import { QueryError } from '../query.js';

/** One file of a query, as the gRPC `SnapshotFile` carries it. */
export interface WorkerSnapshotFile {
  /** The name the SQL uses: `pond.table` or `pond@major.table`. */
  relation: string;
  pond: string;
  major: number;
  table: string;
  /** Root-relative inside the line, as SnapshotRef.file: `<table>/<unique>.parquet`. */
  file: string;
  size: number;
  checksum: string;
}

export interface SnapshotSourceContext {
  /** The Catchment's grant to download exactly these files (HTTP source only). */
  capability: string;
  /** The Catchment's base URL for downloads (HTTP source only). */
  snapshotUrl: string;
  signal?: AbortSignal;
}

export interface OpenedSnapshots {
  /** relation → absolute local path. */
  paths: Map<string, string>;
  /** Lets the source evict or unpin the files again (idempotent). */
  release(): void;
}

export interface SnapshotFileSource {
  /**
   * Local paths for exactly `files`. Refusals and failures are QueryErrors (`invalid_request` for a
   * name outside the store, `snapshot_unavailable` when a file cannot be had), never naming a path.
   */
  open(files: readonly WorkerSnapshotFile[], ctx: SnapshotSourceContext): Promise<OpenedSnapshots>;
}

const FILE_NAME = /^([A-Za-z_][A-Za-z0-9_]*)\/([^/\\\0]+\.parquet)$/;

/**
 * Refuses (invalid_request → INVALID_ARGUMENT) any file that is not a plain name inside its
 * line's table folder: `..`, absolute, NUL, backslash, another table's folder, a bad pond or major.
 * Returns the line-relative data directory (`ponds/<pond>/m<major>/data`).
 */
export function checkSnapshotFile(file: WorkerSnapshotFile): string {
  const refuse = (why: string): never => {
    throw new QueryError('invalid_request', `snapshot file for "${file.relation}" refused: ${why}`);
  };
  const m = FILE_NAME.exec(file.file);
  if (!m || m[2] === '..' || m[2]!.startsWith('.')) refuse('not a file name inside its line');
  if (m![1] !== file.table) refuse("the file is not in its table's folder");
  if (!Number.isInteger(file.major) || file.major < 0) refuse('not a valid major version');
  try {
    return dataDirRel(file.pond, file.major);
  } catch {
    return refuse('not a valid Pond name');
  }
}

/** Reads the files in place under a root laid out as the Catchment's (`<root>/ponds/<pond>/m<major>/data/...`). */
export class SharedRootSnapshotSource implements SnapshotFileSource {
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async open(files: readonly WorkerSnapshotFile[]): Promise<OpenedSnapshots> {
    const resolved = files.map((file) => {
      const dataDir = path.join(this.root, checkSnapshotFile(file));
      const absolute = path.resolve(dataDir, file.file);
      // Belt and braces after the name check: the path stays inside the line's data directory.
      if (!absolute.startsWith(`${dataDir}${path.sep}`)) {
        throw new QueryError(
          'invalid_request',
          `snapshot file for "${file.relation}" refused: outside its line`,
        );
      }
      return { file, absolute };
    });
    const paths = new Map<string, string>();
    for (const { file, absolute } of resolved) {
      const stat = await fsp.stat(absolute).catch(() => null);
      // Snapshot files are immutable and uniquely named, so a size mismatch means another file.
      if (!stat?.isFile() || (file.size > 0 && stat.size !== file.size)) {
        throw new QueryError(
          'snapshot_unavailable',
          `the published snapshot of "${file.relation}" is not available on this worker's shared root`,
        );
      }
      paths.set(file.relation, absolute);
    }
    return { paths, release: () => undefined };
  }
}
