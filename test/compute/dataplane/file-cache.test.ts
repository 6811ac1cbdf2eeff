/**
 * The worker's snapshot cache on a real directory: fills are real files written by the test, as a
 * download would write them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileCache, FileTooLargeForCache } from '../../../src/compute/worker/file-cache.js';
import { tempDir } from '../helpers.js';

const dirs: Array<{ cleanup: () => void }> = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function cacheDir(): string {
  const t = tempDir('file-cache');
  dirs.push(t);
  return path.join(t.dir, 'cache');
}

/** A fill writing `size` bytes of `byte`, counting its calls. */
function filler(size: number, byte = 7) {
  const fill = async (temp: string) => {
    fill.calls++;
    await fs.promises.writeFile(temp, Buffer.alloc(size, byte));
  };
  fill.calls = 0;
  return fill;
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

describe('the snapshot file cache', () => {
  it('fills on a miss and serves the same file on a hit', async () => {
    const dir = cacheDir();
    const cache = new FileCache({ dir, maxBytes: 1000 });
    const fill = filler(100);
    const a = await cache.acquire('sales/m1/orders/a.parquet', 100, fill);
    expect(a.path).toBe(path.join(dir, 'sales', 'm1', 'orders', 'a.parquet'));
    expect(fs.readFileSync(a.path)).toEqual(Buffer.alloc(100, 7));
    a.release();
    const again = await cache.acquire('sales/m1/orders/a.parquet', 100, fill);
    expect(again.path).toBe(a.path);
    expect(fill.calls).toBe(1);
    expect(cache.size).toBe(100);
    again.release();
  });

  it('shares one fill between concurrent requests for the same file', async () => {
    const cache = new FileCache({ dir: cacheDir(), maxBytes: 1000 });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let calls = 0;
    const fill = async (temp: string) => {
      calls++;
      await gate;
      await fs.promises.writeFile(temp, Buffer.alloc(50));
    };
    const pending = [1, 2, 3].map(() => cache.acquire('p/m1/t/x.parquet', 50, fill));
    open();
    const held = await Promise.all(pending);
    expect(calls).toBe(1);
    expect(new Set(held.map((h) => h.path)).size).toBe(1);
    expect(cache.size).toBe(50);
    for (const h of held) h.release();
    expect(cache.isIdle('p/m1/t/x.parquet')).toBe(true);
  });

  it('evicts the least recently used idle file when over its cap', async () => {
    const dir = cacheDir();
    const cache = new FileCache({ dir, maxBytes: 250 });
    for (const name of ['a', 'b'])
      (await cache.acquire(`p/m1/t/${name}.parquet`, 100, filler(100))).release();
    // Touch a: b becomes the least recently used.
    (await cache.acquire('p/m1/t/a.parquet', 100, filler(100))).release();
    (await cache.acquire('p/m1/t/c.parquet', 100, filler(100))).release();
    expect(cache.keys()).toEqual(['p/m1/t/a.parquet', 'p/m1/t/c.parquet']);
    expect(cache.size).toBe(200);
    expect(filesUnder(dir)).toEqual(
      ['p/m1/t/a.parquet', 'p/m1/t/c.parquet'].map((f) => path.join(...f.split('/'))),
    );
  });

  it('never evicts a file in use, and shrinks back to its cap once it is released', async () => {
    const dir = cacheDir();
    const cache = new FileCache({ dir, maxBytes: 150 });
    const a = await cache.acquire('p/m1/t/a.parquet', 100, filler(100));
    const b = await cache.acquire('p/m1/t/b.parquet', 100, filler(100, 9));
    // Both held: over the cap, both still there and readable.
    expect(cache.size).toBe(200);
    expect(fs.readFileSync(a.path)).toEqual(Buffer.alloc(100, 7));
    expect(fs.readFileSync(b.path)).toEqual(Buffer.alloc(100, 9));
    b.release();
    // b is idle but the least recently used idle file: evicted; a is still held.
    expect(cache.keys()).toEqual(['p/m1/t/a.parquet']);
    expect(fs.existsSync(b.path)).toBe(false);
    expect(fs.existsSync(a.path)).toBe(true);
    a.release();
    a.release();
    expect(cache.size).toBe(100);
    expect(cache.isIdle('p/m1/t/a.parquet')).toBe(true);
  });

  it('leaves nothing behind when a fill fails, gives every waiter the error, and retries next time', async () => {
    const dir = cacheDir();
    const cache = new FileCache({ dir, maxBytes: 1000 });
    const failing = async (temp: string) => {
      await fs.promises.writeFile(temp, Buffer.alloc(10));
      throw new Error('connection reset');
    };
    const results = await Promise.allSettled([
      cache.acquire('p/m1/t/x.parquet', 100, failing),
      cache.acquire('p/m1/t/x.parquet', 100, failing),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain('connection reset');
    expect(filesUnder(dir)).toEqual([]);
    expect(cache.size).toBe(0);
    expect(cache.keys()).toEqual([]);
    const fill = filler(100);
    (await cache.acquire('p/m1/t/x.parquet', 100, fill)).release();
    expect(fill.calls).toBe(1);
  });

  it('refuses a fill of the wrong size', async () => {
    const dir = cacheDir();
    const cache = new FileCache({ dir, maxBytes: 1000 });
    await expect(cache.acquire('p/m1/t/x.parquet', 100, filler(99))).rejects.toThrow(
      'p/m1/t/x.parquet: got 99 bytes, expected 100',
    );
    expect(filesUnder(dir)).toEqual([]);
    expect(cache.size).toBe(0);
  });

  it('refuses a file larger than the whole cache, and keys that are not plain relative names', async () => {
    const cache = new FileCache({ dir: cacheDir(), maxBytes: 100 });
    const fill = filler(101);
    await expect(cache.acquire('p/m1/t/big.parquet', 101, fill)).rejects.toBeInstanceOf(FileTooLargeForCache);
    for (const key of ['../x', 'p/../../x', '/etc/passwd', 'p//x', 'p\\x', 'a\0b', '.partial/x']) {
      await expect(cache.acquire(key, 1, fill), key).rejects.toThrow('not a cache key');
    }
    expect(fill.calls).toBe(0);
  });

  it('adopts complete files after a restart and drops partial ones', async () => {
    const dir = cacheDir();
    const first = new FileCache({ dir, maxBytes: 1000 });
    (await first.acquire('p/m1/t/a.parquet', 100, filler(100))).release();
    fs.mkdirSync(path.join(dir, '.partial'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.partial', 'leftover'), 'x');
    const second = new FileCache({ dir, maxBytes: 1000 });
    expect(second.keys()).toEqual(['p/m1/t/a.parquet']);
    expect(second.size).toBe(100);
    expect(fs.existsSync(path.join(dir, '.partial'))).toBe(false);
    const fill = filler(100);
    (await second.acquire('p/m1/t/a.parquet', 100, fill)).release();
    expect(fill.calls).toBe(0);
    // An adopted file of another size than expected is replaced.
    (await second.acquire('p/m1/t/a.parquet', 120, filler(120))).release();
    expect(fs.statSync(path.join(dir, 'p', 'm1', 't', 'a.parquet')).size).toBe(120);
  });

  it('leaves files that are not its own alone: not counted, never evicted', async () => {
    const dir = cacheDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x'.repeat(500));
    fs.mkdirSync(path.join(dir, 'p', 'm1', 't'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'p', 'm1', 't', 'old.parquet'), Buffer.alloc(60));
    const cache = new FileCache({ dir, maxBytes: 100, adopt: (key) => key.endsWith('.parquet') });
    expect(cache.keys()).toEqual(['p/m1/t/old.parquet']);
    expect(cache.size).toBe(60);
    (await cache.acquire('p/m1/t/new.parquet', 60, filler(60))).release();
    expect(cache.keys()).toEqual(['p/m1/t/new.parquet']);
    expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('x'.repeat(500));
  });
});
