/**
 * A scripted WorkerService on a real HTTP/2 server (gRPC protocol), for the router's tests of
 * failure paths a real worker cannot be made to show on demand: a stream that stops half-way, a
 * malformed batch, a draining answer. The real worker (src/compute/worker) is exercised by the
 * process tests; this is the far side of the wire, not a stand-in for our own client code.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import {
  DoneSchema,
  type ExecuteResponse,
  ExecuteResponseSchema,
  HealthResponseSchema,
  type QuerySpec,
  RowBatchSchema,
  SchemaSchema,
  WorkerService,
} from '../../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';

export type ExecuteScript = (spec: QuerySpec, ctx: HandlerContext) => AsyncIterable<ExecuteResponse['event']>;

export interface ScriptedWorker {
  url: string;
  port: number;
  token: string;
  /** Authorization headers seen, one per call, in order. */
  seenAuth: string[];
  executeCalls: number;
  healthCalls: number;
  draining: boolean;
  execute: ExecuteScript;
  close(): Promise<void>;
}

/** Sends the columns, the rows in batches of `batch`, then Done. */
export function answer(
  columns: Array<{ name: string; type: string }>,
  rows: unknown[][],
  batch = 2,
): ExecuteScript {
  return async function* () {
    yield { case: 'schema', value: create(SchemaSchema, { columns }) };
    for (let i = 0; i < rows.length; i += batch) {
      const part = rows.slice(i, i + batch);
      yield {
        case: 'batch',
        value: create(RowBatchSchema, { rowsJson: encode(part), rowCount: part.length }),
      };
    }
    yield { case: 'done', value: create(DoneSchema, { rowCount: BigInt(rows.length), truncated: false }) };
  };
}

export const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

export async function startScriptedWorker(token: string, port = 0): Promise<ScriptedWorker> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const worker: ScriptedWorker = {
    url: '',
    port: 0,
    token,
    seenAuth: [],
    executeCalls: 0,
    healthCalls: 0,
    draining: false,
    execute: answer([], []),
    close: async () => {},
  };
  const authorize = (ctx: HandlerContext) => {
    const auth = ctx.requestHeader.get('authorization') ?? '';
    worker.seenAuth.push(auth);
    if (auth !== `Bearer ${worker.token}`) throw new ConnectError('invalid token', Code.Unauthenticated);
  };
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(WorkerService, {
        health(_req, ctx) {
          worker.healthCalls += 1;
          authorize(ctx);
          return create(HealthResponseSchema, { workerVersion: 'test', draining: worker.draining });
        },
        async *execute(req, ctx) {
          authorize(ctx);
          worker.executeCalls += 1;
          if (worker.draining) throw new ConnectError('worker is draining', Code.Unavailable);
          // The client always sends a query.
          for await (const event of worker.execute(req.query!, ctx))
            yield create(ExecuteResponseSchema, { event });
        },
      }),
  });
  const server = http2.createServer(handler);
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  worker.port = (server.address() as AddressInfo).port;
  worker.url = `grpc://127.0.0.1:${worker.port}`;
  worker.close = () =>
    new Promise<void>((resolve) => {
      // Like a killed process: every open session goes away at once.
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    });
  return worker;
}
