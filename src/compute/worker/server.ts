/**
 * Starts a query worker in this process: the internal gRPC service (Connect, gRPC protocol over
 * HTTP/2, cleartext or TLS) on GRPC_LISTEN_ADDR, and plain HTTP on LISTEN_ADDR for `GET /health`
 * (JSON) and `GET /metrics` (Prometheus text). Both HTTP routes are open: they carry no secret and
 * no query text, and monitoring systems scrape them without the worker's token. Every gRPC call
 * needs the token.
 *
 * `close()` drains: new queries are refused (UNAVAILABLE "worker is draining"), queries in flight
 * may finish for up to the drain timeout, then everything stops.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { WorkerService } from '../grpc/gen/duckstring/worker/v1/worker_pb.js';
import { QueryExecutor } from '../query.js';
import type { WorkerConfig } from './config.js';
import { DuckLauncher } from './duck-launcher.js';
import { DuckdbMonitor } from './duckdb-monitor.js';
import { JobStore } from './jobs.js';
import { workerServiceImpl } from './service.js';
import type { LineDataDir, SnapshotFileSource } from './snapshot-source.js';
import { snapshotSourceFor } from './source-selection.js';
import { workerError } from './wire-errors.js';
import { WorkerCore } from './worker-core.js';
import { WorkerMetrics } from './worker-metrics.js';

/** Largest gRPC message either way; a larger one is refused cleanly (RESOURCE_EXHAUSTED). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface RunningWorker {
  /** `grpc://host:port` or `grpcs://host:port`, as an endpoint is registered. */
  grpcUrl: string;
  /** `http://host:port` for /health and /metrics. */
  httpUrl: string;
  /** Drains (bounded by the config's drain timeout), then stops. Idempotent. */
  close(): Promise<void>;
}

export interface StartWorkerOptions {
  /** Overrides the source the config selects (tests, or a custom snapshot transport). */
  source?: SnapshotFileSource;
  /** Where a line's snapshots are under a shared root (the Catchment's layout; needed with --shared-root). */
  lineDataDir?: LineDataDir;
  /** Extra environment for the Ducks the worker launches (tests pass watchdog settings). */
  duckEnv?: Record<string, string>;
}

export async function startWorker(
  config: WorkerConfig,
  options: StartWorkerOptions = {},
): Promise<RunningWorker> {
  const tls = config.tls
    ? { cert: await fsp.readFile(config.tls.certFile), key: await fsp.readFile(config.tls.keyFile) }
    : null;
  await fsp.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // A previous run killed without draining may have left results and links behind; they are void.
  for (const dir of ['links', 'results']) {
    await fsp.rm(path.join(config.dataDir, dir), { recursive: true, force: true });
  }
  const monitor = await DuckdbMonitor.open();
  const executor = new QueryExecutor({
    maxConcurrent: config.maxConcurrent,
    // The fair share per principal matters on a shared worker just as in the Catchment.
    defaults: { memoryLimit: `${Math.max(1, Math.floor(config.queryMemoryBytes / 1024 ** 2))}MiB` },
    linkDirectory: path.join(config.dataDir, 'links'),
    onInstance: monitor.track,
  });
  let core: WorkerCore | undefined;
  const metrics: WorkerMetrics = new WorkerMetrics({
    active: { help: 'Queries accepted and not finished.', read: () => core?.activeCount ?? 0 },
    queued: { help: 'Queries waiting for a slot.', read: () => executor.slots.load().waiting },
    running: { help: 'Queries running.', read: () => executor.slots.load().running },
    stored_results: { help: 'Async results kept on disk.', read: (): number => jobs.stored() },
    memory_used_bytes: { help: 'Memory DuckDB reports in use.', read: () => monitor.memoryUsed() },
    memory_limit_bytes: { help: 'MAX_MEMORY_GB in bytes.', read: () => config.maxMemoryBytes },
    draining: { help: '1 while draining after SIGTERM.', read: () => (core?.draining ? 1 : 0) },
    uptime_seconds: { help: 'Seconds since start.', read: () => core?.uptimeSeconds() ?? 0 },
  });
  const jobs: JobStore = new JobStore(() => core!, metrics, {
    resultsDir: path.join(config.dataDir, 'results'),
    ttlMs: config.resultTtlMs,
    cleanupIntervalMs: config.cleanupIntervalMs,
  });
  if (!options.source && config.sharedRoot !== null && !options.lineDataDir)
    throw new Error('a worker reading a shared root needs the root layout (StartWorkerOptions.lineDataDir)');
  const source = options.source ?? snapshotSourceFor(config, options.lineDataDir ?? (() => ''));
  core = new WorkerCore(config, executor, source, monitor, {
    stored: () => jobs.stored(),
    cleaned: () => metrics.cleaned,
    completed: () => metrics.completed,
  });
  const liveCore = core;
  const ducks = new DuckLauncher({
    dataDir: config.dataDir,
    ...(options.duckEnv ? { env: options.duckEnv } : {}),
  });

  const handler = connectNodeAdapter({
    routes: (router) => router.service(WorkerService, workerServiceImpl(liveCore, jobs, metrics, ducks)),
    interceptors: [bearerToken(config.token)],
    grpc: true,
    grpcWeb: false,
    connect: false,
    readMaxBytes: MAX_MESSAGE_BYTES,
    writeMaxBytes: MAX_MESSAGE_BYTES,
  });
  // Node's default session memory (10 MB) is below one maximal message: a large request would be
  // cut with ENHANCE_YOUR_CALM instead of the RESOURCE_EXHAUSTED the size check gives.
  const sessionOptions = { maxSessionMemory: Math.ceil((4 * MAX_MESSAGE_BYTES) / 1024 ** 2) };
  const grpcServer = tls
    ? http2.createSecureServer({ ...tls, ...sessionOptions }, handler)
    : http2.createServer(sessionOptions, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  grpcServer.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });

  const httpServer = http.createServer((req, res) => {
    const route = req.method === 'GET' ? req.url?.split('?')[0] : undefined;
    const answer = async () => {
      if (route === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(await liveCore.health()));
      } else if (route === '/metrics') {
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'not_found', message: 'GET /health or GET /metrics' } }));
      }
    };
    answer().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  try {
    await listen(grpcServer, config.grpc);
    await listen(httpServer, config.http);
  } catch (error) {
    await ducks.close(0);
    grpcServer.close();
    httpServer.close();
    await jobs.close();
    await executor.close();
    monitor.close();
    throw error;
  }

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      liveCore.draining = true;
      // Ducks stop with their worker: a Duck left behind would keep its line's token alive here.
      await Promise.all([liveCore.waitIdle(config.drainTimeoutMs), ducks.close(config.drainTimeoutMs)]);
      await jobs.close();
      for (const session of sessions) session.close();
      const grpcClosed = new Promise<void>((resolve) => grpcServer.close(() => resolve()));
      // Sessions that do not end by themselves (a caller holding its connection) are cut.
      const cut = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, 1000);
      await grpcClosed;
      clearTimeout(cut);
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await executor.close();
      monitor.close();
      // Results and links belong to this run; a chosen data dir keeps the rest (the snapshot cache).
      const leftovers = config.dataDirIsTemporary
        ? [config.dataDir]
        : [path.join(config.dataDir, 'links'), path.join(config.dataDir, 'results')];
      for (const dir of leftovers) await fsp.rm(dir, { recursive: true, force: true });
    })();
    return closing;
  };

  return {
    grpcUrl: `${tls ? 'grpcs' : 'grpc'}://${hostPort(grpcServer.address() as AddressInfo)}`,
    httpUrl: `http://${hostPort(httpServer.address() as AddressInfo)}`,
    close,
  };
}

/** Compares the bearer token in constant time (SHA-256 of both, so lengths never differ). */
function bearerToken(token: string): Interceptor {
  const expected = createHash('sha256').update(token).digest();
  return (next) => async (request) => {
    const header = request.header.get('authorization') ?? '';
    const given = createHash('sha256')
      .update(header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '\0')
      .digest();
    if (!timingSafeEqual(given, expected)) {
      throw workerError('unauthenticated', 'missing or wrong worker token');
    }
    return next(request);
  };
}

function listen(server: http.Server | http2.Http2Server, at: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function hostPort(address: AddressInfo): string {
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}
