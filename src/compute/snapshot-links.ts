/**
 * Per-query links to snapshot files: the sandbox reads a query's snapshots only through names that
 * exist for that query alone, in a folder with an unguessable name that is removed when the query
 * ends.
 *
 * Why: DuckDB can confine a query to an exact list of files (`allowed_paths`), but any SQL that
 * reaches a file-reading function can then read those files whole, bypassing the governed
 * subquery. The rewrite refuses such SQL (allow-lists); this is the layer under it. A path a query
 * could ever learn is a random one that dies with the query and says nothing about the root's
 * layout, so it cannot be replayed, and the root's own paths are never handed to DuckDB.
 *
 * A hard link also pins the file's content: garbage collection may delete the published name while
 * the query runs, and the query keeps reading what it started with.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SnapshotLinks {
  /** The link for each given file, in order. */
  paths: string[];
  /** Replaces every link and original path (and the folder) in a message by `<snapshot>`. */
  scrub(message: string): string;
  /** Removes the folder and its links; never throws. */
  release(): Promise<void>;
}

/** Links `files` into a fresh folder under `base` (created if missing; default: the OS temp dir). */
export async function linkSnapshots(files: readonly string[], base = os.tmpdir()): Promise<SnapshotLinks> {
  await fsp.mkdir(base, { recursive: true, mode: 0o700 });
  const dir = path.join(base, `q-${randomBytes(16).toString('hex')}`);
  await fsp.mkdir(dir, { mode: 0o700 });
  const paths: string[] = [];
  try {
    for (const [i, file] of files.entries()) {
      const link = path.join(dir, `${i}.parquet`);
      await fsp.link(file, link).catch(async (error: NodeJS.ErrnoException) => {
        // Another filesystem (or one without hard links): a symbolic link still hides the name.
        if (error.code === 'EXDEV' || error.code === 'EPERM') await fsp.symlink(file, link);
        else throw error;
      });
      paths.push(link);
    }
  } catch (error) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw error;
  }
  const secrets = [...paths, ...files, dir].sort((a, b) => b.length - a.length);
  return {
    paths,
    scrub: (message) => secrets.reduce((text, secret) => text.split(secret).join('<snapshot>'), message),
    release: () => fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined),
  };
}
