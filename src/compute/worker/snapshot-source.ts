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
import { QueryError } from '../query.js';

/** One file of a query, as the gRPC `SnapshotFile` carries it (its size a bigint there, or a number). */
export interface SnapshotFile {
  /** The name the SQL uses: `pond.table` or `pond@major.table`. */
  relation: string;
  pond: string;
  major: number;
  table: string;
  /** Root-relative inside the line, as SnapshotRef.file: `<table>/<unique>.parquet`. */
  file: string;
  size: number | bigint;
  checksum: string;
}

/** A SnapshotFile whose names passed checkSnapshotFile, its size a number. */
export interface CheckedSnapshotFile extends SnapshotFile {
  size: number;
}

/**
 * Where a line's published snapshots live under a Catchment root (root-relative). Injected: the
 * root's layout is the Catchment's (src/catchment/store/layout.ts).
 */
export type LineDataDir = (pond: string, major: number) => string;

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
  open(files: readonly SnapshotFile[], ctx: SnapshotSourceContext): Promise<OpenedSnapshots>;
}

const POND = /^[a-z][a-z0-9_]*$/;
const TABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `<table>/<name>.parquet`, as the snapshot store names a file: two plain segments. */
const FILE = /^([A-Za-z_][A-Za-z0-9_]*)\/([^/\\\0]+\.parquet)$/;

/**
 * Refuses, before any I/O, a file that is not a snapshot file of its line: an absolute name, `..`,
 * a backslash or NUL, a name of another table, an impossible size. The message says which rule.
 */
export function checkSnapshotFile(f: SnapshotFile): CheckedSnapshotFile {
  const refuse = (why: string) => {
    throw new QueryError('invalid_request', `snapshot file ${JSON.stringify(f.file)} refused: ${why}`);
  };
  if (typeof f.pond !== 'string' || !POND.test(f.pond))
    refuse(`pond ${JSON.stringify(f.pond)} is not a Pond name`);
  if (!Number.isSafeInteger(f.major) || f.major < 0) refuse(`major ${f.major} is not a major version`);
  if (typeof f.table !== 'string' || !TABLE.test(f.table))
    refuse(`table ${JSON.stringify(f.table)} is not a table name`);
  if (typeof f.file !== 'string') refuse('the name is not a string');
  const m = FILE.exec(f.file);
  if (!m) refuse('not a plain name <table>/<file>.parquet inside the line');
  if (m![1] !== f.table) refuse(`it is not a file of table ${f.table}`);
  if (m![2] === '..parquet' || m![2]!.startsWith('.')) refuse('hidden names are not snapshot files');
  const size =
    typeof f.size === 'bigint' && f.size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(f.size) : f.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    refuse(`size ${f.size} is not a byte count`);
  }
  if (typeof f.checksum !== 'string' || f.checksum.length === 0 || f.checksum.length > 256) {
    refuse('the checksum is missing or too long');
  }
  if (typeof f.relation !== 'string' || f.relation.length === 0) refuse('it names no relation');
  // A plain copy: a proto message's extra fields do not travel further.
  return {
    relation: f.relation,
    pond: f.pond,
    major: f.major,
    table: f.table,
    file: f.file,
    size: size as number,
    checksum: f.checksum,
  };
}

/** Reads the files in place under a root laid out as the Catchment's (`<root>/ponds/<pond>/m<major>/data/...`). */
export class SharedRootSnapshotSource implements SnapshotFileSource {
  private readonly root: string;

  constructor(
    root: string,
    private readonly lineDataDir: LineDataDir,
  ) {
    this.root = path.resolve(root);
  }

  async open(requested: readonly SnapshotFile[]): Promise<OpenedSnapshots> {
    const resolved = requested.map((f) => {
      const file = checkSnapshotFile(f);
      const dataDir = path.join(this.root, this.lineDataDir(file.pond, file.major));
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
