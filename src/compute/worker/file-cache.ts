/**
 * A bounded disk cache of immutable files, for a query worker's snapshot downloads. Snapshot files
 * never change under their name (a new publish is a new name), so a cached file is valid forever:
 * the cache only decides which to keep.
 *
 * - Bounded by total bytes, evicting the least recently used file that no running query holds.
 *   Files in use are never evicted: while every cached file is held the cache may exceed its cap
 *   (a running query needs its files) and shrinks back as they are released. A single file larger
 *   than the whole cap is refused.
 * - A file appears under its final name only complete: it is filled as a temporary file and renamed
 *   into place, so neither a crash nor a failed download leaves a partial file to be served.
 * - Concurrent requests for the same file share one fill; if it fails, they all get the error and
 *   nothing is left behind.
 * - On start, complete files from an earlier run are adopted (oldest first in the LRU order) and
 *   leftover temporary files are removed.
 *
 * Everything about one key happens in one process; two workers must not share a cache directory.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface FileCacheOptions {
  /** The cache directory (created if missing). */
  dir: string;
  /** The cap on the bytes of cached files. */
  maxBytes: number;
  /**
   * Which files found on start are the cache's own (by key); others are left alone, never counted
   * or evicted, so a cache pointed at a directory holding something else does not delete it.
   */
  adopt?: (key: string) => boolean;
}

/** A cached file held for a reader: not evicted until `release` (idempotent). */
export interface CachedFile {
  path: string;
  release(): void;
}

/** Fills `tempPath` with the file's content: exactly `size` bytes, or it throws. */
export type Fill = (tempPath: string) => Promise<void>;

export class FileTooLargeForCache extends Error {}

interface Entry {
  key: string;
  path: string;
  size: number;
  /** Readers holding the file, including those waiting for its fill. */
  refs: number;
  /** Larger is more recent. */
  used: number;
  /** Pending while the file is being filled; the entry is usable once it resolves. */
  filling: Promise<void> | null;
}

const TEMP_DIR = '.partial';

export class FileCache {
  private readonly entries = new Map<string, Entry>();
  /** Bytes of cached files plus the sizes reserved by fills in progress. */
  private bytes = 0;
  private tick = 0;
  private readonly dir: string;

  constructor(private readonly options: FileCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) {
      throw new Error(`the cache size must be a positive number of bytes, not ${options.maxBytes}`);
    }
    this.dir = path.resolve(options.dir);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.rmSync(path.join(this.dir, TEMP_DIR), { recursive: true, force: true });
    this.adopt();
  }

  /** Bytes the cached files take (and fills in progress will take). */
  get size(): number {
    return this.bytes;
  }

  /** The keys of the files in the cache now, least recently used first (for tests and metrics). */
  keys(): string[] {
    return [...this.entries.values()].sort((a, b) => a.used - b.used).map((e) => e.key);
  }

  /** Is `key` cached, complete, and held by no reader? */
  isIdle(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e.filling === null && e.refs === 0;
  }

  /**
   * The file for `key` (a relative name made of plain segments), filling it with `fill` on a miss.
   * `size` is what the file must measure: a cached file of another size is replaced.
   */
  async acquire(key: string, size: number, fill: Fill): Promise<CachedFile> {
    const target = this.pathOf(key);
    const existing = this.entries.get(key);
    if (existing && existing.size === size) {
      existing.refs++;
      try {
        if (existing.filling) await existing.filling;
      } catch (error) {
        existing.refs--;
        throw error;
      }
      return this.hold(existing);
    }
    if (existing) {
      // Same name, other size: an immutable name should never change, so the cached copy is the
      // odd one out. Replace it unless a reader holds it.
      if (existing.refs > 0) throw new Error(`cached file ${key} is in use with a different size`);
      this.remove(existing);
    }
    if (size > this.options.maxBytes) {
      throw new FileTooLargeForCache(
        `${key} (${size} bytes) is larger than the whole snapshot cache (${this.options.maxBytes} bytes)`,
      );
    }
    const entry: Entry = { key, path: target, size, refs: 1, used: ++this.tick, filling: null };
    this.entries.set(key, entry);
    this.bytes += size;
    this.evict();
    entry.filling = this.fill(entry, fill);
    try {
      await entry.filling;
    } catch (error) {
      if (this.entries.get(key) === entry) {
        this.entries.delete(key);
        this.bytes -= size;
      }
      throw error;
    }
    entry.filling = null;
    return this.hold(entry);
  }

  private async fill(entry: Entry, fill: Fill): Promise<void> {
    const tempDir = path.join(this.dir, TEMP_DIR);
    await fs.promises.mkdir(tempDir, { recursive: true, mode: 0o700 });
    const temp = path.join(tempDir, randomBytes(8).toString('hex'));
    try {
      await fill(temp);
      const st = await fs.promises.stat(temp);
      if (st.size !== entry.size) {
        throw new Error(`${entry.key}: got ${st.size} bytes, expected ${entry.size}`);
      }
      await fs.promises.mkdir(path.dirname(entry.path), { recursive: true, mode: 0o700 });
      await fs.promises.rename(temp, entry.path);
    } catch (error) {
      await fs.promises.rm(temp, { force: true });
      throw error;
    }
  }

  private hold(entry: Entry): CachedFile {
    let held = true;
    return {
      path: entry.path,
      release: () => {
        if (!held) return;
        held = false;
        entry.refs--;
        entry.used = ++this.tick;
        this.evict();
      },
    };
  }

  /** Drops idle files, least recently used first, until the cache fits its cap (or none is idle). */
  private evict(): void {
    if (this.bytes <= this.options.maxBytes) return;
    const idle = [...this.entries.values()]
      .filter((e) => e.refs === 0 && e.filling === null)
      .sort((a, b) => a.used - b.used);
    for (const e of idle) {
      if (this.bytes <= this.options.maxBytes) break;
      this.remove(e);
    }
  }

  /**
   * Synchronous on purpose: the entry and its file go together, so a fill of the same key that
   * starts right after can never have its fresh file deleted by a late unlink.
   */
  private remove(entry: Entry): void {
    this.entries.delete(entry.key);
    this.bytes -= entry.size;
    fs.rmSync(entry.path, { force: true });
  }

  private pathOf(key: string): string {
    const segments = key.split('/');
    if (
      segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0')) ||
      segments[0] === TEMP_DIR
    ) {
      throw new Error(`not a cache key: ${JSON.stringify(key)}`);
    }
    return path.join(this.dir, ...segments);
  }

  /** Registers the complete files an earlier run left, oldest modification first. */
  private adopt(): void {
    const found: Array<{ key: string; size: number; mtime: number }> = [];
    const walk = (dir: string, prefix: string[]) => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        if (prefix.length === 0 && d.name === TEMP_DIR) continue;
        const full = path.join(dir, d.name);
        if (d.isDirectory()) walk(full, [...prefix, d.name]);
        else if (d.isFile() && (this.options.adopt ?? (() => true))([...prefix, d.name].join('/'))) {
          const st = fs.statSync(full);
          found.push({ key: [...prefix, d.name].join('/'), size: st.size, mtime: st.mtimeMs });
        }
      }
    };
    walk(this.dir, []);
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      this.entries.set(f.key, {
        key: f.key,
        path: path.join(this.dir, ...f.key.split('/')),
        size: f.size,
        refs: 0,
        used: ++this.tick,
        filling: null,
      });
      this.bytes += f.size;
    }
    this.evict();
  }
}
