/**
 * Worker processes under stress: SIGTERM drains (in-flight queries finish, new ones are refused,
 * exit 0, bounded), a query over MAX_MEMORY_GB gets a clear resource error and the worker keeps
 * serving, TLS with a self-signed certificate, oversized and truncated gRPC messages.
 */

import { execFileSync } from 'node:child_process';
import http2 from 'node:http2';
import path from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecuteResponse } from '../../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import { MAX_MESSAGE_BYTES } from '../../../src/compute/worker/server.js';
import { ERROR_CODE_HEADER } from '../../../src/compute/worker/wire-errors.js';
import { tempDir } from '../helpers.js';
import {
  collect,
  spawnWorker,
  type WireSnapshotFile,
  type WorkerProcess,
  workerClient,
  writeSnapshotFile,
} from './support.js';

const TOKEN = 'process-token';

function errorOf(promise: Promise<unknown>): Promise<ConnectError | null> {
  return promise.then(
    () => null,
    (e: unknown) => ConnectError.from(e),
  );
}

describe('worker processes', () => {
  const root = tempDir('worker-process');
  let wide: WireSnapshotFile;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    wide = await writeSnapshotFile(
      root.dir,
      { pond: 'wide', major: 1, table: 't', name: 'w1' },
      'wide.t',
      "SELECT range AS i, repeat('x', 80) || range AS s FROM range(600000)",
    );
  });

  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await w.exited;
    }
    root.cleanup();
  });

  async function start(env: Record<string, string> = {}, args: string[] = []) {
    const worker = await spawnWorker({ AGENT_TOKEN: TOKEN, MAX_MEMORY_GB: '1', ...env }, [
      '--shared-root',
      root.dir,
      ...args,
    ]);
    workers.push(worker);
    return worker;
  }

  it('drains on SIGTERM: the streaming query finishes, new ones are refused, exit 0', async () => {
    const worker = await start();
    const client = workerClient(worker.grpcUrl, TOKEN);
    const stream = client
      .execute({ query: { sql: 'SELECT i, s FROM wide.t', tables: [wide], maxRows: 10_000_000n } })
      [Symbol.asyncIterator]();
    const first = await stream.next();
    expect(first.value?.event.case).toBe('schema');

    worker.child.kill('SIGTERM');
    await worker.event('draining');
    const refused = await errorOf(collect(client.execute({ query: { sql: 'SELECT 1', tables: [] } })));
    expect(refused?.code).toBe(Code.Unavailable);
    expect(refused?.metadata.get(ERROR_CODE_HEADER)).toBe('worker_draining');
    expect(refused?.rawMessage).toBe('worker is draining: it takes no new queries');
    expect((await client.health({})).draining).toBe(true);

    let rows = 0;
    let done: ExecuteResponse['event'] | undefined;
    for (let next = await stream.next(); !next.done; next = await stream.next()) {
      if (next.value.event.case === 'batch') rows += next.value.event.value.rowCount;
      if (next.value.event.case === 'done') done = next.value.event;
    }
    expect(rows).toBe(600000);
    expect(done?.case === 'done' && done.value.rowCount).toBe(600000n);
    expect(await worker.exited).toBe(0);
    expect(worker.stdout.map((l) => JSON.parse(l).event)).toEqual(['listening', 'draining', 'stopped']);
  });

  it('bounds the drain: a caller that never reads does not keep the worker alive', async () => {
    const worker = await start({ WORKER_DRAIN_TIMEOUT: '500ms' });
    const client = workerClient(worker.grpcUrl, TOKEN);
    const stream = client
      .execute({ query: { sql: 'SELECT i, s FROM wide.t', tables: [wide], maxRows: 10_000_000n } })
      [Symbol.asyncIterator]();
    expect((await stream.next()).value?.event.case).toBe('schema');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    // The caller sees its stream end with an error, not a hang.
    const rest = await errorOf(
      (async () => {
        for (let next = await stream.next(); !next.done; next = await stream.next());
      })(),
    );
    expect(rest).not.toBeNull();
  });

  it('answers a query over MAX_MEMORY_GB with resource_limit and keeps serving', async () => {
    const worker = await start({ MAX_MEMORY_GB: '0.1' });
    expect(worker.stdout[0]).toContain('"max_concurrent":1');
    const client = workerClient(worker.grpcUrl, TOKEN);
    const error = await errorOf(
      collect(
        client.execute({ query: { sql: 'SELECT list(range)[1] AS x FROM range(60000000)', tables: [] } }),
      ),
    );
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(error?.metadata.get(ERROR_CODE_HEADER)).toBe('resource_limit');
    expect(error?.rawMessage).toMatch(/^Out of Memory Error/);
    const after = await collect(client.execute({ query: { sql: 'SELECT 42 AS answer', tables: [] } }));
    expect(after.rows).toEqual([[42]]);
    const health = await client.health({});
    expect(health.memoryLimitBytes).toBe(BigInt(Math.floor(0.1 * 1024 ** 3)));
    const metrics = await (await fetch(`${worker.httpUrl}/metrics`)).text();
    expect(metrics).toContain('duckstring_worker_query_errors_total{code="resource_limit"} 1');
  });

  it('serves gRPC over TLS with a self-signed certificate', async () => {
    const cert = path.join(root.dir, 'cert.pem');
    const key = path.join(root.dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    const worker = await start({ WORKER_TLS_CERT_FILE: cert, WORKER_TLS_KEY_FILE: key });
    expect(worker.grpcUrl).toMatch(/^grpcs:\/\/127\.0\.0\.1:\d+$/);
    const { readFileSync } = await import('node:fs');
    const client = workerClient(worker.grpcUrl, TOKEN, { ca: readFileSync(cert) });
    const result = await collect(
      client.execute({ query: { sql: 'SELECT i FROM wide.t ORDER BY i LIMIT 2', tables: [wide] } }),
    );
    expect(result.rows).toEqual([[0], [1]]);
    // Without trusting the certificate, the connection is refused.
    const untrusted = await errorOf(workerClient(worker.grpcUrl, TOKEN).health({}));
    expect(untrusted).not.toBeNull();
    // And a cleartext client cannot talk to it.
    const cleartext = await errorOf(
      workerClient(worker.grpcUrl.replace('grpcs:', 'grpc:'), TOKEN).health({}),
    );
    expect(cleartext).not.toBeNull();
  });

  it('refuses oversized and truncated messages cleanly and keeps serving', async () => {
    const worker = await start();
    const client = workerClient(worker.grpcUrl, TOKEN);
    const sql = `SELECT 1 -- ${'x'.repeat(MAX_MESSAGE_BYTES)}`;
    // A caller that knows the limit (as the Catchment's transport does) refuses before sending.
    const bounded = workerClient(worker.grpcUrl, TOKEN, undefined, MAX_MESSAGE_BYTES);
    const refusedLocally = await errorOf(collect(bounded.execute({ query: { sql, tables: [] } })));
    expect(refusedLocally?.code).toBe(Code.ResourceExhausted);
    expect(refusedLocally?.rawMessage).toMatch(/larger than configured writeMaxBytes/);
    // One that does not gets the worker's own refusal.
    // (Its own HTTP/2 session must be allowed to buffer the message, or Node cuts it first.)
    const unbounded = workerClient(worker.grpcUrl, TOKEN, { maxSessionMemory: 64 });
    const refusedByWorker = await errorOf(collect(unbounded.execute({ query: { sql, tables: [] } })));
    expect(refusedByWorker?.code).toBe(Code.ResourceExhausted);
    expect(refusedByWorker?.rawMessage).toMatch(/larger than configured readMaxBytes/);

    // A frame header announcing 100 bytes followed by 10, then the end of the stream.
    const session = http2.connect(worker.grpcUrl.replace('grpc:', 'http:'));
    const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const request = session.request({
        ':method': 'POST',
        ':path': '/duckstring.worker.v1.WorkerService/Health',
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: `Bearer ${TOKEN}`,
      });
      let headers: Record<string, unknown> = {};
      request.on('response', (h) => {
        headers = { ...h };
      });
      request.on('trailers', (t) => resolve({ ...headers, ...t }));
      request.on('end', () => resolve(headers));
      request.on('error', reject);
      request.resume();
      request.end(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]));
    });
    session.close();
    expect(Number(trailers['grpc-status'])).toBe(Code.InvalidArgument);
    expect(decodeURIComponent(String(trailers['grpc-message']))).toMatch(
      /premature end|incomplete|truncated/i,
    );

    const after = await collect(client.execute({ query: { sql: 'SELECT 7 AS n', tables: [] } }));
    expect(after.rows).toEqual([[7]]);
  });
});
