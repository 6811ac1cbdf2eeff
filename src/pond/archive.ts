/**
 * A Pond's upload format: one gzip stream holding
 *
 *   `DUCKSTRING-POND/1\n`  then one JSON line `{"files":[{"path","size"},…]}`  then the file bytes
 *   concatenated in that order.
 *
 * Packing is deterministic — paths sorted, no timestamps, owners or modes stored, gzip header
 * without mtime — so the same tree always gives the same bytes (and the same hash).
 *
 * What is left out, and why:
 * - hidden files and directories (`.git`, `.env`, editor state): never Pond content, and `.env`
 *   is where secrets live;
 * - `node_modules`, `dist`, `build` anywhere: Ripples are bundled from source at load time and may
 *   import nothing outside the Pond;
 * - the top-level `sample/` directory: sample Source data is for `pond run` on the author's
 *   machine; a Catchment reads real Source snapshots;
 * - `*.duckdb` / `*.duckdb.wal` files: local registries.
 * Symbolic links are refused rather than followed, so an archive never captures files from
 * outside the Pond.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { DomainError } from '../shared/errors.js';

const MAGIC = 'DUCKSTRING-POND/1\n';
const EXCLUDED_DIRS = new Set(['node_modules', 'dist', 'build']);
const EXCLUDED_TOP_LEVEL_DIRS = new Set(['sample']);
const EXCLUDED_FILE_SUFFIXES = ['.duckdb', '.duckdb.wal'];

export interface ArchiveLimits {
  /** Total uncompressed size of the files. */
  maxBytes: number;
  maxFiles: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 256 * 1024 * 1024, maxFiles: 10_000 };

/** A Pond that cannot be packed, or bytes that are not a safe Pond archive. */
export class ArchiveError extends DomainError {
  constructor(message: string) {
    super({ code: 'invalid_archive', httpStatus: 400, message });
  }
}

/** The Pond-relative paths (with `/`) that `packPond` would include, sorted. */
export async function listPondFiles(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'pond.toml')))
    throw new ArchiveError(`${root}: not a Pond (no pond.toml in it)`);
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(root, rel), { withFileTypes: true });
    for (const entry of entries) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.name.startsWith('.')) continue;
      if (entry.isSymbolicLink())
        throw new ArchiveError(`${child}: symbolic links cannot be packed into a Pond`);
      if (entry.isDirectory()) {
        if (EXCLUDED_DIRS.has(entry.name) || (rel === '' && EXCLUDED_TOP_LEVEL_DIRS.has(entry.name)))
          continue;
        await walk(child);
      } else if (entry.isFile() && !EXCLUDED_FILE_SUFFIXES.some((s) => entry.name.endsWith(s))) {
        files.push(child);
      }
    }
  };
  await walk('');
  // Code-unit order, not locale order: the same on every machine.
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function packPond(dir: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<Buffer> {
  const root = path.resolve(dir);
  const files = await listPondFiles(root);
  if (files.length > limits.maxFiles) {
    throw new ArchiveError(`Pond has ${files.length} files; the limit is ${limits.maxFiles}`);
  }
  const contents = await Promise.all(files.map((f) => readFile(path.join(root, f))));
  const total = contents.reduce((sum, c) => sum + c.length, 0);
  if (total > limits.maxBytes)
    throw new ArchiveError(`Pond is ${total} bytes; the limit is ${limits.maxBytes}`);
  const header = JSON.stringify({ files: files.map((p, i) => ({ path: p, size: contents[i]!.length })) });
  const body = Buffer.concat([Buffer.from(`${MAGIC}${header}\n`, 'utf8'), ...contents]);
  return gzipSync(body, { level: 9 });
}

const headerSchema = z.object({
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative() }).strict()),
});

/** Why `p` may not be written under the destination, or null. */
function unsafePath(p: string): string | null {
  if (p === '' || p.length > 1024) return 'empty or overlong path';
  if (p.includes('\\') || p.includes('\u0000')) return 'backslash or NUL in path';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'absolute path';
  const parts = p.split('/');
  if (parts.some((s) => s === '' || s === '.' || s === '..'))
    return 'path escapes the Pond or is not normalised';
  return null;
}

/**
 * Unpacks a Pond archive into `destDir`, which must not exist yet. Files are written to a sibling
 * temp directory first and renamed into place, so a bad archive leaves nothing behind.
 */
export async function unpackPond(
  archive: Buffer,
  destDir: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
): Promise<{ files: string[] }> {
  const body = decompress(archive, limits);
  if (!body.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) {
    throw new ArchiveError('not a Pond archive (unknown format: it lacks the duckstring Pond header)');
  }
  const headerEnd = body.indexOf(0x0a, MAGIC.length);
  if (headerEnd < 0) throw new ArchiveError('not a Pond archive (truncated header)');
  let parsed: z.infer<typeof headerSchema>;
  try {
    parsed = headerSchema.parse(JSON.parse(body.subarray(MAGIC.length, headerEnd).toString('utf8')));
  } catch {
    throw new ArchiveError('not a Pond archive (malformed file list)');
  }
  const entries = parsed.files;
  if (entries.length > limits.maxFiles) {
    throw new ArchiveError(`archive holds ${entries.length} files; the limit is ${limits.maxFiles}`);
  }
  const seen = new Set<string>();
  for (const { path: p } of entries) {
    const problem = unsafePath(p);
    if (problem) throw new ArchiveError(`unsafe path in Pond archive: ${JSON.stringify(p)} (${problem})`);
    if (seen.has(p)) throw new ArchiveError(`Pond archive lists ${JSON.stringify(p)} twice`);
    seen.add(p);
  }
  // A file may not also be used as a directory (`a` and `a/b`).
  for (const p of seen) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (seen.has(prefix))
        throw new ArchiveError(`Pond archive uses ${JSON.stringify(prefix)} as both file and directory`);
    }
  }
  if (!seen.has('pond.toml')) throw new ArchiveError('not a Pond archive (no pond.toml at its root)');
  const dataStart = headerEnd + 1;
  const expected = entries.reduce((sum, e) => sum + e.size, 0);
  if (body.length - dataStart !== expected) {
    throw new ArchiveError(
      `not a Pond archive (file sizes add up to ${expected} bytes, found ${body.length - dataStart})`,
    );
  }

  const target = path.resolve(destDir);
  if (existsSync(target)) throw new ArchiveError(`${target} already exists`);
  await mkdir(path.dirname(target), { recursive: true });
  const staging = `${target}.partial-${randomBytes(6).toString('hex')}`;
  try {
    let offset = dataStart;
    for (const entry of entries) {
      const file = path.join(staging, ...entry.path.split('/'));
      // Belt and braces: the resolved path must stay inside the staging directory.
      if (!file.startsWith(staging + path.sep))
        throw new ArchiveError(`unsafe path in Pond archive: ${entry.path}`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body.subarray(offset, offset + entry.size), { flag: 'wx' });
      offset += entry.size;
    }
    await rename(staging, target);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  return { files: entries.map((e) => e.path) };
}

function decompress(archive: Buffer, limits: ArchiveLimits): Buffer {
  if (archive.length < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b) {
    throw new ArchiveError('not a Pond archive (not gzip data)');
  }
  // Room for the header line on top of the files themselves; stops decompression bombs early.
  const maxOutputLength = limits.maxBytes + MAGIC.length + 1024 + limits.maxFiles * 1100;
  try {
    return gunzipSync(archive, { maxOutputLength });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new ArchiveError(`Pond archive is larger than ${limits.maxBytes} bytes uncompressed`);
    }
    throw new ArchiveError(`not a Pond archive (corrupt gzip data: ${(err as Error).message})`);
  }
}

/** Exported for tests that build hostile archives by hand. */
export const ARCHIVE_MAGIC = MAGIC;
