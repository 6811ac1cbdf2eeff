/**
 * The DuckDB side of the Ripple sandbox: a registry instance that can reach only the files a Pond line
 * owns. Settings are applied globally on a bootstrap connection, then locked, so no Ripple statement
 * (`SET enable_external_access = true`, `SET allowed_directories = …`, `SET temp_directory = …`) can
 * widen them again:
 *
 * - `enable_external_access = false`: no network, no file outside `allowed_directories`, no `INSTALL`
 *   or `LOAD` of extensions (autoinstall/autoload off too, so nothing arrives implicitly);
 * - `allowed_directories`: the Pond version's own files and the line's folder (DuckDB adds its temp
 *   directory, `<registry>.tmp/`, itself). `..` cannot climb out of an allowed directory;
 * - `file_search_path = codeDir`, and the process's working directory must be `codeDir` too: DuckDB
 *   checks a relative path (`read_csv('data/x.csv')`) against the working directory, so only then do
 *   shipped data files pass the check and resolve to the Pond's copy.
 *
 * `ATTACH ':memory:'` (the executor's catalog of Source views) needs no file access and still works.
 */
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteLiteral } from '../pond/names.js';
import { DuckDBInstance } from '../shared/duckdb.js';

export interface SandboxDirs {
  /** The deployed Pond version's directory (read: shipped data files). */
  codeDir: string;
  /** Directories the registry may read and write: the line's folder (registry, inputs, staging). */
  dataDirs: readonly string[];
}

/** Opens (creating if needed) the registry at `registryPath`, restricted to `dirs`. */
export async function openSandboxedRegistry(
  registryPath: string,
  dirs: SandboxDirs,
): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(registryPath);
  const conn = await instance.connect();
  try {
    await lockDown(conn, dirs);
  } catch (err) {
    conn.closeSync();
    instance.closeSync();
    throw err;
  }
  conn.closeSync();
  return instance;
}

/** Applies the sandbox to the connection's whole database instance (irreversibly). */
export async function lockDown(conn: DuckDBConnection, dirs: SandboxDirs): Promise<void> {
  const allowed = [dirs.codeDir, ...dirs.dataDirs].map((d) => {
    if (!path.isAbsolute(d)) throw new Error(`sandbox directory must be absolute, got "${d}"`);
    // The trailing separator keeps `/x/pond` from admitting `/x/pond-other`.
    return quoteLiteral(`${path.resolve(d)}${path.sep}`);
  });
  await conn.run(`SET GLOBAL autoinstall_known_extensions = false`);
  await conn.run(`SET GLOBAL autoload_known_extensions = false`);
  await conn.run(`SET GLOBAL allowed_directories = [${allowed.join(', ')}]`);
  await conn.run(`SET GLOBAL file_search_path = ${quoteLiteral(path.resolve(dirs.codeDir))}`);
  await conn.run(`SET GLOBAL enable_external_access = false`);
  await conn.run(`SET GLOBAL lock_configuration = true`);
}

/**
 * DuckDB resolves relative paths against the process's working directory before checking them, so
 * the process that runs a Pond's SQL must work in that Pond's directory. Returns a function that
 * restores the previous one.
 */
export function enterPondDir(codeDir: string): () => void {
  const previous = process.cwd();
  process.chdir(codeDir);
  return () => process.chdir(previous);
}
