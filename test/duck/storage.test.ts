/**
 * The http storage of a Duck against a real HTTP server standing in for the Catchment's data plane:
 * an upload whose connection breaks is sent again, and the publish is asked for only once every
 * table arrived whole; inputs are downloaded once and then served from the cache; a damaged source
 * bundle is never unpacked.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_FORMAT } from '../../src/compute/snapshots.js';
import { DuckClient } from '../../src/duck/client.js';
import { HttpStorage } from '../../src/duck/storage.js';
import { removeDir, tempDir } from '../support/runtime.js';

let work: string;
let server: http.Server;
let url: string;
const TOKEN = 'duck-token';
const seen: string[] = [];
/** Uploads the server kept: table → sha256 of the bytes received. */
const uploads = new Map<string, string>();
let breakNextUpload = 0;
let published: unknown = null;
/** The next publish goes through but its answer is lost (the connection breaks). */
let losePublishAnswer = false;
const INPUT = Buffer.from('input parquet bytes (content does not matter here)');

const manifest = (f: number) => ({
  format: MANIFEST_FORMAT,
  seq: 1,
  f,
  publishedAt: f,
  tables: {},
  retired: [],
});

beforeAll(async () => {
  work = await tempDir('duck-storage');
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const upload = /^\/api\/duck\/demo\/1\/uploads\/(\d+)\/(\w+)$/.exec(req.url ?? '');
      if (req.method === 'PUT' && upload) {
        if (breakNextUpload > 0) {
          breakNextUpload--;
          req.socket.destroy();
          return;
        }
        const sha = createHash('sha256').update(body).digest('hex');
        if (sha !== req.headers['x-sha256']) return void res.writeHead(400).end();
        uploads.set(upload[2]!, sha);
        return void res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
      }
      if (req.method === 'POST' && req.url === '/api/duck/demo/1/publish') {
        if (published !== null && (published as { f: number }).f === JSON.parse(body.toString('utf8')).f) {
          // As the Catchment does: the uploads of a published run are consumed.
          return void res
            .writeHead(409, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: { code: 'upload_missing', message: 'no upload' } }));
        }
        published = JSON.parse(body.toString('utf8'));
        if (losePublishAnswer) {
          losePublishAnswer = false;
          req.socket.destroy();
          return;
        }
        const { f } = published as { f: number };
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ manifest: manifest(f) }));
      }
      if (
        req.method === 'GET' &&
        req.url === '/api/duck/demo/1/inputs/src%401/t-0123456789abcdef0123.parquet'
      ) {
        return void res.writeHead(200, { 'content-length': String(INPUT.length) }).end(INPUT);
      }
      if (req.method === 'GET' && req.url === '/api/duck/demo/1/manifest') {
        const f = (published as { f: number } | null)?.f;
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ manifest: f === undefined ? null : manifest(f) }));
      }
      if (req.method === 'GET' && req.url?.startsWith('/api/duck/demo/1/source/')) {
        return void res
          .writeHead(200, { 'x-sha256': '0'.repeat(64) })
          .end(Buffer.from('not the bytes announced'));
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await removeDir(work);
});

function storage(dir: string): HttpStorage {
  return new HttpStorage(new DuckClient(url, TOKEN, 'demo', 1), 'demo@1', dir, 1024 * 1024);
}

describe('http storage', () => {
  it('sends an upload again when its connection breaks, and publishes only what arrived', async () => {
    const s = storage(path.join(work, 'a'));
    await s.prepare();
    const staged = path.join(s.stagingRoot, 'run-5');
    await mkdir(staged, { recursive: true });
    await writeFile(path.join(staged, 'one.parquet'), 'first table');
    await writeFile(path.join(staged, 'two.parquet'), 'second table');
    breakNextUpload = 2;
    seen.length = 0;
    const m = await s.publish(5, [
      { name: 'one', stagedPath: path.join(staged, 'one.parquet') },
      { name: 'two', stagedPath: path.join(staged, 'two.parquet') },
    ]);
    expect(m.f).toBe(5);
    expect(breakNextUpload).toBe(0);
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(Object.fromEntries(uploads)).toEqual({ one: sha('first table'), two: sha('second table') });
    expect(published).toEqual({
      f: 5,
      tables: { one: { sha256: sha('first table') }, two: { sha256: sha('second table') } },
    });
    // Two broken attempts of the first upload, then each table once, then the publish, last.
    expect(seen).toEqual([
      'PUT /api/duck/demo/1/uploads/5/one',
      'PUT /api/duck/demo/1/uploads/5/one',
      'PUT /api/duck/demo/1/uploads/5/one',
      'PUT /api/duck/demo/1/uploads/5/two',
      'POST /api/duck/demo/1/publish',
    ]);
  });

  it('takes a publish whose answer was lost as done once the set is at its freshness', async () => {
    const s = storage(path.join(work, 'e'));
    await s.prepare();
    const file = path.join(work, 'e.parquet');
    await writeFile(file, 'table');
    losePublishAnswer = true;
    seen.length = 0;
    const m = await s.publish(7, [{ name: 'one', stagedPath: file }]);
    expect(m.f).toBe(7);
    expect(losePublishAnswer).toBe(false);
    expect(seen).toEqual([
      'PUT /api/duck/demo/1/uploads/7/one',
      'POST /api/duck/demo/1/publish',
      'POST /api/duck/demo/1/publish',
      'GET /api/duck/demo/1/manifest',
    ]);
  });

  it('refuses to upload a table over the limit without sending it', async () => {
    const s = new HttpStorage(new DuckClient(url, TOKEN, 'demo', 1), 'demo@1', path.join(work, 'b'), 4);
    await s.prepare();
    const file = path.join(work, 'big.parquet');
    await writeFile(file, 'more than four bytes');
    seen.length = 0;
    await expect(s.publish(6, [{ name: 'one', stagedPath: file }])).rejects.toThrow(
      /accepts uploads up to 4/,
    );
    expect(seen).toEqual([]);
  });

  it('downloads an input once, then reads it from the cache by its immutable name', async () => {
    const s = storage(path.join(work, 'c'));
    await s.prepare();
    seen.length = 0;
    const inputs = { 'src.t': 'inputs/src@1/t-0123456789abcdef0123.parquet' };
    const first = await s.inputs(inputs);
    const second = await s.inputs(inputs);
    expect(first).toEqual(second);
    expect(await readFile(first['src.t']!)).toEqual(INPUT);
    expect(seen).toEqual(['GET /api/duck/demo/1/inputs/src%401/t-0123456789abcdef0123.parquet']);
    await expect(s.inputs({ 'src.t': '../outside.parquet' })).rejects.toThrow(
      /not a path inside the line's folder/,
    );
  });

  it('never unpacks a source bundle whose bytes do not match their checksum', async () => {
    const dir = path.join(work, 'd');
    const s = storage(dir);
    await s.prepare();
    const checksum = 'a'.repeat(64);
    await expect(
      s.codeDir({
        line: 'demo@1',
        name: 'demo',
        major: 1,
        version: '1.0.0',
        storage: 'http',
        sourceChecksum: checksum,
        ripples: [],
        immediateRetries: 0,
        sources: {},
        pollWaitMs: 1000,
        watchdogMs: 1000,
      }),
    ).rejects.toThrow(/arrived damaged/);
    expect(existsSync(path.join(dir, 'code', checksum))).toBe(false);
  }, 20_000);
});
