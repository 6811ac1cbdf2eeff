/**
 * The Catchment root layout. Every path the database stores is root-relative (POSIX separators), so the
 * root can be moved or copied as a whole and a copy is a backup. Absolute paths exist only in memory.
 *
 *   duck.db                               system of record (SQLite)
 *   admin.key                             the admin key (0600)
 *   ponds/{name}/{version}/               each deployed version's source, exactly as uploaded (immutable)
 *   ponds/{name}/m{major}/registry.duckdb the major line's private working database
 *   ponds/{name}/m{major}/data/           published Parquet snapshots
 *   ponds/{name}/m{major}/pond.db         the Duck's run ledger
 */
import fs from 'node:fs';
import path from 'node:path';
import { RootError, ValidationError } from './errors.js';
import { majorSchema, parse, pondNameSchema, versionSchema } from './schemas.js';

export const DB_FILE = 'duck.db';
export const ADMIN_KEY_FILE = 'admin.key';
export const PONDS_DIR = 'ponds';
/**
 * Per-query links to snapshot files (src/compute/snapshot-links.ts): inside the root so they are
 * hard links on the snapshots' filesystem; one folder per Catchment process (`p{pid}`).
 */
export const QUERY_LINKS_DIR = path.join('tmp', 'queries');

/**
 * This process's folder for query links, after removing those of processes that are gone (a crash
 * leaves its links behind; they pin deleted snapshots' disk space).
 */
export function queryLinksDir(root: string): string {
  const base = path.join(root, QUERY_LINKS_DIR);
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  for (const entry of fs.readdirSync(base)) {
    const pid = /^p(\d+)$/.exec(entry)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid))) {
      fs.rmSync(path.join(base, entry), { recursive: true, force: true });
    }
  }
  return path.join(base, `p${process.pid}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `ponds/{name}/{version}`: where a deployed version's source lives. */
export function versionSourceRel(name: string, version: string): string {
  return path.posix.join(
    PONDS_DIR,
    parse('pond name', pondNameSchema, name),
    parse('version', versionSchema, version),
  );
}

/** `ponds/{name}/m{major}`: the major line's runtime directory (owned by its Duck). */
export function lineDirRel(name: string, major: number): string {
  return path.posix.join(
    PONDS_DIR,
    parse('pond name', pondNameSchema, name),
    `m${parse('major', majorSchema, major)}`,
  );
}

export function registryRel(name: string, major: number): string {
  return path.posix.join(lineDirRel(name, major), 'registry.duckdb');
}

export function dataDirRel(name: string, major: number): string {
  return path.posix.join(lineDirRel(name, major), 'data');
}

export function ledgerRel(name: string, major: number): string {
  return path.posix.join(lineDirRel(name, major), 'pond.db');
}

/**
 * Resolves a root-relative path against `root`. Refuses absolute paths and anything escaping the root, so
 * a tampered row can never point the Catchment outside its own directory.
 */
export function resolveInRoot(root: string, rel: string): string {
  if (rel === '' || path.isAbsolute(rel) || path.win32.isAbsolute(rel)) {
    throw new ValidationError(`not a root-relative path: "${rel}"`);
  }
  const absRoot = path.resolve(root);
  const abs = path.resolve(absRoot, ...rel.split('/'));
  if (abs !== absRoot && !abs.startsWith(absRoot + path.sep)) {
    throw new ValidationError(`path escapes the Catchment root: "${rel}"`);
  }
  return abs;
}

/** Absolute path of a deployed version's source directory. */
export function versionSourcePath(root: string, name: string, version: string): string {
  return resolveInRoot(root, versionSourceRel(name, version));
}

/** Absolute paths of one major line's runtime files. */
export function linePaths(root: string, name: string, major: number) {
  return {
    dir: resolveInRoot(root, lineDirRel(name, major)),
    registry: resolveInRoot(root, registryRel(name, major)),
    data: resolveInRoot(root, dataDirRel(name, major)),
    ledger: resolveInRoot(root, ledgerRel(name, major)),
  };
}

/**
 * Creates the root (mode 0700) if needed and checks it is a writable directory. Returns the absolute root.
 * An existing root keeps its mode: the operator may have chosen it deliberately.
 */
export function ensureRoot(root: string): string {
  const abs = path.resolve(root);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new RootError(`cannot inspect Catchment root ${abs}: ${(err as Error).message}`);
    }
  }
  if (st && !st.isDirectory()) throw new RootError(`Catchment root ${abs} exists but is not a directory`);
  if (!st) {
    try {
      fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new RootError(`cannot create Catchment root ${abs}: ${(err as Error).message}`);
    }
  }
  try {
    fs.accessSync(abs, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new RootError(`Catchment root ${abs} is not writable by this process`);
  }
  fs.mkdirSync(path.join(abs, PONDS_DIR), { recursive: true, mode: 0o700 });
  return abs;
}

/** Creates a major line's runtime directories (`m{major}/` and `data/`); returns their absolute paths. */
export function ensureLineDirs(root: string, name: string, major: number): ReturnType<typeof linePaths> {
  const p = linePaths(root, name, major);
  fs.mkdirSync(p.data, { recursive: true, mode: 0o700 });
  return p;
}

/**
 * Moves a fully extracted upload (`stagedDir`, on the same filesystem, e.g. under `ponds/{name}/`) to
 * `ponds/{name}/{version}/` with one rename, so a reader never sees a half-written version. An existing
 * version directory is never replaced (versions are immutable): the staged copy is removed and `false`
 * returned. Call it before `CatchmentStore.deploy`, and remove the directory again if the deploy fails
 * and this call placed it.
 */
export function placeVersionSource(root: string, name: string, version: string, stagedDir: string): boolean {
  const target = versionSourcePath(root, name, version);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
  try {
    fs.renameSync(stagedDir, target);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      fs.rmSync(stagedDir, { recursive: true, force: true });
      return false;
    }
    throw err;
  }
}
