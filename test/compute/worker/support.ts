/** Real worker processes and a typed gRPC client for the worker tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Client, createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  type ExecuteResponse,
  WorkerService,
} from '../../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { ConvertedResult, JsonValue } from '../../../src/compute/results.js';
import type { SnapshotFile } from '../../../src/compute/worker/snapshot-source.js';
import { openDuck } from '../helpers.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface WorkerProcess {
  child: ChildProcess;
  grpcUrl: string;
  httpUrl: string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stdout: string[];
  stderr: () => string;
  /** Resolves when the worker prints the JSON line of `event` (or has printed it already). */
  event(name: string): Promise<Record<string, unknown>>;
}

/** Starts `duckstring worker start` with free ports and waits for its "listening" line. */
export async function spawnWorker(env: Record<string, string>, args: string[] = []): Promise<WorkerProcess> {
  const child = spawnWorkerProcess(env, args);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const stdout: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  const event = (name: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const match = (line: string) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return parsed.event === name ? parsed : null;
      };
      for (const line of stdout) {
        const seen = match(line);
        if (seen) return resolve(seen);
      }
      const onLine = (line: string) => {
        const seen = match(line);
        if (seen) {
          lines.off('line', onLine);
          resolve(seen);
        }
      };
      lines.on('line', onLine);
      void exited.then(() => reject(new Error(`worker exited before printing ${name}`)));
    });
  const listening = new Promise<{ grpc_url: string; http_url: string }>((resolve, reject) => {
    lines.on('line', (line) => {
      stdout.push(line);
      const event = JSON.parse(line) as { event: string; grpc_url: string; http_url: string };
      if (event.event === 'listening') resolve(event);
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before listening: ${stderr}`)));
  });
  const ready = await listening;
  return {
    child,
    grpcUrl: ready.grpc_url,
    httpUrl: ready.http_url,
    exited,
    stdout,
    stderr: () => stderr,
    event,
  };
}

/** Runs `duckstring worker start` expecting it to refuse; resolves with exit code and stderr. */
export async function workerRefusal(env: Record<string, string>, args: string[] = []) {
  const child = spawnWorkerProcess(env, args);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stderr };
}

export type WorkerClient = Client<typeof WorkerService>;

export function workerClient(
  grpcUrl: string,
  token: string | null,
  nodeOptions?: { ca?: Buffer | string; maxSessionMemory?: number },
  writeMaxBytes?: number,
): WorkerClient {
  const auth: Interceptor = (next) => (req) => {
    if (token !== null) req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
  const baseUrl = grpcUrl.replace(/^grpcs:/, 'https:').replace(/^grpc:/, 'http:');
  return createClient(
    WorkerService,
    createGrpcTransport({
      baseUrl,
      interceptors: [auth],
      ...(nodeOptions ? { nodeOptions } : {}),
      ...(writeMaxBytes ? { writeMaxBytes } : {}),
    }),
  );
}

/** Collects an Execute stream into the shape QueryExecutor.execute returns. */
export async function collect(
  stream: AsyncIterable<ExecuteResponse>,
): Promise<ConvertedResult & { batches: number }> {
  const decoder = new TextDecoder();
  const out: ConvertedResult & { batches: number } = {
    columns: [],
    rows: [],
    row_count: 0,
    truncated: false,
    batches: 0,
  };
  for await (const message of stream) {
    const event = message.event;
    if (event.case === 'schema')
      out.columns = event.value.columns.map((c) => ({ name: c.name, type: c.type }));
    else if (event.case === 'batch') {
      out.batches += 1;
      const rows = JSON.parse(decoder.decode(event.value.rowsJson)) as JsonValue[][];
      if (rows.length !== event.value.rowCount) throw new Error('batch row_count disagrees with its rows');
      out.rows.push(...rows);
    } else if (event.case === 'done') {
      out.row_count = Number(event.value.rowCount);
      out.truncated = event.value.truncated;
    }
  }
  return out;
}

/** A root laid out as the Catchment's: `<root>/ponds/<pond>/m<major>/data/<table>/<file>.parquet`. */
export async function writeSnapshot(
  root: string,
  line: { pond: string; major: number; table: string; name: string },
  selectSql: string,
) {
  const file = `${line.table}/${line.name}.parquet`;
  const absolute = path.join(root, 'ponds', line.pond, `m${line.major}`, 'data', file);
  mkdirSync(path.dirname(absolute), { recursive: true });
  const duck = await openDuck();
  try {
    await duck.connection.run(`COPY (${selectSql}) TO '${absolute}' (FORMAT parquet)`);
  } finally {
    duck.close();
  }
  const { statSync } = await import('node:fs');
  return { absolute, file, size: statSync(absolute).size };
}

/** A snapshot file as the generated gRPC types take it (size a bigint). */
export type WireSnapshotFile = Omit<SnapshotFile, 'size'> & { size: bigint };

/** A snapshot written under `root` as a query names it to a worker. */
export async function writeSnapshotFile(
  root: string,
  line: { pond: string; major: number; table: string; name: string },
  relation: string,
  selectSql: string,
): Promise<WireSnapshotFile> {
  const written = await writeSnapshot(root, line, selectSql);
  return {
    relation,
    pond: line.pond,
    major: line.major,
    table: line.table,
    file: written.file,
    size: BigInt(written.size),
    checksum: 'c',
  };
}

/** `duckstring worker start` as a process, on free ports unless `env` says otherwise. */
function spawnWorkerProcess(env: Record<string, string>, args: string[]) {
  return spawn(process.execPath, [path.join(REPO, 'bin/duckstring.js'), 'worker', 'start', ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      LISTEN_ADDR: '127.0.0.1:0',
      GRPC_LISTEN_ADDR: '127.0.0.1:0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
