/**
 * Downloads that go wrong on the wire, from a raw HTTP server standing in for a Catchment that
 * misbehaves or dies mid-file (the real route never answers like this; the worker must cope when
 * the connection does): each fails the open with snapshot_unavailable and leaves nothing cached.
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpSnapshotSource, type SnapshotFile } from '../../../src/compute/worker/http-snapshot-source.js';
import { tempDir } from '../helpers.js';

const SIZE = 256 * 1024;
const file: SnapshotFile = {
  relation: 'orders',
  pond: 'sales',
  major: 1,
  table: 'orders',
  file: 'orders/a.parquet',
  size: SIZE,
  checksum: `${SIZE}:1`,
};

/** What the server does, chosen by the test through the Pond name in the URL. */
const behaviours: Record<string, (res: http.ServerResponse) => void> = {
  /** Announces the size, sends half, then the connection dies. */
  cut: (res) => {
    res.writeHead(200, { 'content-length': String(SIZE), 'x-checksum': file.checksum });
    res.write(Buffer.alloc(SIZE / 2), () => res.socket?.destroy());
  },
  /** No length announced, more bytes than the file has. */
  oversized: (res) => {
    res.writeHead(200, { 'x-checksum': file.checksum });
    res.end(Buffer.alloc(SIZE + 1));
  },
  /** No length announced, ends early but cleanly. */
  short: (res) => {
    res.writeHead(200, { 'x-checksum': file.checksum });
    res.end(Buffer.alloc(SIZE - 1));
  },
  /** Announces another size. */
  announced: (res) => {
    res.writeHead(200, { 'content-length': String(SIZE - 10), 'x-checksum': file.checksum });
    res.end(Buffer.alloc(SIZE - 10));
  },
  /** Headers, then nothing. */
  stall: (res) => {
    res.writeHead(200, { 'content-length': String(SIZE), 'x-checksum': file.checksum });
    res.flushHeaders();
  },
  /** Points elsewhere: the capability must not follow a redirect. */
  redirect: (res) => {
    res.writeHead(302, { location: 'http://example.com/' });
    res.end();
  },
  /** A 500 with no JSON body. */
  broken: (res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('oops');
  },
  /** The well-behaved answer. */
  ok: (res) => {
    res.writeHead(200, { 'content-length': String(SIZE), 'x-checksum': file.checksum });
    res.end(Buffer.alloc(SIZE, 1));
  },
};

let server: http.Server;
let url: string;
let tmp: ReturnType<typeof tempDir>;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  tmp = tempDir('broken-downloads');
  server = http.createServer((req, res) => {
    const pond = req.url!.split('/')[3]!;
    behaviours[pond]!(res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  tmp.cleanup();
});

function parquetFilesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.parquet'));
}

describe('a download that goes wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['cut', /: the download failed \(.+\)$/],
    ['oversized', new RegExp(`: the Catchment sent more than the expected ${SIZE} bytes$`)],
    ['short', new RegExp(`: the download ended after ${SIZE - 1} of ${SIZE} bytes$`)],
    ['announced', new RegExp(`: the Catchment announced ${SIZE - 10} bytes, the query expects ${SIZE}$`)],
    ['stall', /: the download failed \(timed out\)$/],
    ['redirect', /: cannot reach the Catchment \(.+\)$/],
    ['broken', /: the Catchment answered 500$/],
  ];
  it.each(cases)('%s: snapshot_unavailable, nothing cached', async (pond, message) => {
    const dir = path.join(tmp.dir, pond);
    const source = new HttpSnapshotSource({ cacheDir: dir, cacheBytes: 10 * SIZE, downloadTimeoutMs: 1000 });
    const f = { ...file, pond };
    const error = await source.open([f], { capability: 'c.d', snapshotUrl: url }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).toBe('snapshot_unavailable');
    expect(error?.message.startsWith(`snapshot file ${pond}@1/orders/a.parquet: `), error?.message).toBe(
      true,
    );
    expect(error?.message).toMatch(message);
    expect(parquetFilesUnder(dir)).toEqual([]);
    expect(source.cache.size).toBe(0);
    // The same source then takes a good download of the same name.
    const good = { ...file, pond: 'ok' };
    const opened = await source.open([good], { capability: 'c.d', snapshotUrl: url });
    expect(fs.readFileSync(opened.paths.get('orders')!)).toEqual(Buffer.alloc(SIZE, 1));
    opened.release();
  });
});
