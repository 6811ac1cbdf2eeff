import { existsSync } from 'node:fs';
import { readdir, readFile, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPond } from '../../src/duck/loader.js';
import { ARCHIVE_MAGIC, ArchiveError, listPondFiles, packPond, unpackPond } from '../../src/pond/archive.js';
import { cleanupTempDirs, makePond, tempDir, writeFiles } from './helpers.js';

afterAll(cleanupTempDirs);

const POND_FILES = {
  'ripples/a.sql': "SELECT * FROM read_csv('data/x.csv')",
  'ripples/b.ts':
    "import { ripple } from 'duckstring/pond';\nexport const b = ripple({ name: 'b', parents: ['a'], run() {} });\n",
  'data/x.csv': 'id\n1\n2\n',
  'data/nested/deeper/blob.bin': Buffer.from([0, 1, 2, 255, 254]),
  'README.md': '# demo\n',
  // Left out of archives:
  '.env': 'SECRET=1\n',
  '.git/config': '[core]\n',
  'node_modules/pkg/index.js': 'module.exports = 1;\n',
  'dist/out.js': '1\n',
  'sample/shop/orders.csv': 'id\n1\n',
  'registry.duckdb': 'not really',
  'ripples/sample/keep.txt': 'sample/ is only excluded at the top level\n',
};

function hostile(files: Array<{ path: string; size: number }>, data: Buffer = Buffer.alloc(0)): Buffer {
  return gzipSync(Buffer.concat([Buffer.from(`${ARCHIVE_MAGIC}${JSON.stringify({ files })}\n`), data]));
}

async function unpackError(buf: Buffer): Promise<string> {
  const dest = path.join(await tempDir(), 'out');
  try {
    await unpackPond(buf, dest);
  } catch (err) {
    expect(err).toBeInstanceOf(ArchiveError);
    // Nothing may be left behind, not even the staging directory.
    expect(await readdir(path.dirname(dest))).toEqual([]);
    return (err as Error).message;
  }
  throw new Error('expected unpackPond to fail');
}

describe('packPond / unpackPond', () => {
  it('round-trips a Pond, leaving out hidden files, dependencies, build output, samples and registries', async () => {
    const dir = await makePond(POND_FILES);
    expect(await listPondFiles(dir)).toEqual([
      'README.md',
      'data/nested/deeper/blob.bin',
      'data/x.csv',
      'pond.toml',
      'ripples/a.sql',
      'ripples/b.ts',
      'ripples/sample/keep.txt',
    ]);
    const archive = await packPond(dir);
    const dest = path.join(await tempDir(), 'ponds', 'demo', '1.0.0');
    const { files } = await unpackPond(archive, dest);
    expect(files).toEqual(await listPondFiles(dir));
    for (const f of files)
      expect(await readFile(path.join(dest, f))).toEqual(await readFile(path.join(dir, f)));
    expect(existsSync(path.join(dest, '.env'))).toBe(false);
    // The unpacked copy is a working Pond.
    const pond = await loadPond(dest);
    expect(pond.ripples.map((r) => r.name)).toEqual(['a', 'b']);
  });

  it('is deterministic: same tree, same bytes, whatever the mtimes', async () => {
    const one = await makePond(POND_FILES);
    const archive1 = await packPond(one);
    const two = await makePond(POND_FILES);
    // Other mtimes, set rather than waited for: a day earlier, for every file of the second tree.
    const dayEarlier = new Date(Date.now() - 86_400_000);
    for (const file of await listPondFiles(two)) await utimes(path.join(two, file), dayEarlier, dayEarlier);
    expect((await packPond(two)).equals(archive1)).toBe(true);
    await writeFiles(two, { 'data/x.csv': 'id\n1\n3\n' });
    expect((await packPond(two)).equals(archive1)).toBe(false);
  });

  it('refuses symbolic links and enforces size limits when packing', async () => {
    const dir = await makePond({ 'ripples/a.sql': 'SELECT 1' });
    await symlink('/etc/passwd', path.join(dir, 'ripples', 'passwd'));
    await expect(packPond(dir)).rejects.toThrow(
      'ripples/passwd: symbolic links cannot be packed into a Pond',
    );
    const big = await makePond({ 'ripples/a.sql': 'SELECT 1', 'data/big.bin': Buffer.alloc(2048) });
    await expect(packPond(big, { maxBytes: 1024, maxFiles: 100 })).rejects.toThrow(
      /^Pond is \d+ bytes; the limit is 1024$/,
    );
    await expect(packPond(await tempDir())).rejects.toThrow(/not a Pond \(no pond.toml in it\)/);
  });

  it('rejects path traversal and other unsafe paths', async () => {
    const cases: Array<[string, string]> = [
      [
        '../evil.sh',
        'unsafe path in Pond archive: "../evil.sh" (path escapes the Pond or is not normalised)',
      ],
      [
        'ripples/../../evil.sh',
        'unsafe path in Pond archive: "ripples/../../evil.sh" (path escapes the Pond or is not normalised)',
      ],
      ['/etc/cron.d/evil', 'unsafe path in Pond archive: "/etc/cron.d/evil" (absolute path)'],
      [
        'ripples\\..\\evil',
        'unsafe path in Pond archive: "ripples\\\\..\\\\evil" (backslash or NUL in path)',
      ],
      ['a//b', 'unsafe path in Pond archive: "a//b" (path escapes the Pond or is not normalised)'],
    ];
    for (const [p, message] of cases) {
      const buf = hostile(
        [
          { path: 'pond.toml', size: 1 },
          { path: p, size: 1 },
        ],
        Buffer.from('xy'),
      );
      expect(await unpackError(buf)).toBe(message);
    }
  });

  it('says clearly when an archive is not a Pond', async () => {
    expect(await unpackError(Buffer.from('PK\u0003\u0004 a zip file'))).toBe(
      'not a Pond archive (not gzip data)',
    );
    expect(await unpackError(gzipSync(Buffer.from('hello world')))).toBe(
      'not a Pond archive (unknown format: it lacks the duckstring Pond header)',
    );
    expect(await unpackError(hostile([{ path: 'README.md', size: 2 }], Buffer.from('hi')))).toBe(
      'not a Pond archive (no pond.toml at its root)',
    );
    expect(await unpackError(hostile([{ path: 'pond.toml', size: 5 }], Buffer.from('hi')))).toBe(
      'not a Pond archive (file sizes add up to 5 bytes, found 2)',
    );
    expect(await unpackError(gzipSync(Buffer.from(`${ARCHIVE_MAGIC}{"files": 3}\n`)))).toBe(
      'not a Pond archive (malformed file list)',
    );
    const truncated = (await packPond(await makePond({ 'ripples/a.sql': 'SELECT 1' }))).subarray(0, 30);
    expect(await unpackError(truncated)).toMatch(/^not a Pond archive \(corrupt gzip data: /);
  });

  it('stops decompression bombs and refuses to overwrite', async () => {
    const bomb = hostile([{ path: 'pond.toml', size: 5_000_000 }], Buffer.alloc(5_000_000));
    expect(bomb.length).toBeLessThan(10_000);
    const dest = path.join(await tempDir(), 'out');
    await expect(unpackPond(bomb, dest, { maxBytes: 1_000_000, maxFiles: 10 })).rejects.toThrow(
      'Pond archive is larger than 1000000 bytes uncompressed',
    );
    expect(existsSync(dest)).toBe(false);
    const archive = await packPond(await makePond({ 'ripples/a.sql': 'SELECT 1' }));
    await unpackPond(archive, dest);
    await expect(unpackPond(archive, dest)).rejects.toThrow(`${dest} already exists`);
  });
});
