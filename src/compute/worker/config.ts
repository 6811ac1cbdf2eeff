/**
 * The worker's settings: environment variables, each overridable by a command-line flag. Parsed
 * once at startup; any invalid value stops the worker with a message naming the variable, so a
 * typo never silently falls back to a default.
 *
 * Memory and admission: MAX_MEMORY_GB caps DuckDB for everything the worker runs. It is split
 * evenly between the queries allowed to run at once (MAX_CONCURRENT_QUERIES, reduced so that each
 * gets at least 256 MiB, never below 1), and each query's DuckDB gets its share as a hard
 * `memory_limit` (no spilling). Queries beyond that wait in a bounded queue (MAX_QUEUED_QUERIES);
 * beyond the queue the worker refuses with RESOURCE_EXHAUSTED, so the caller can fall back.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export interface WorkerTls {
  certFile: string;
  keyFile: string;
}

export interface WorkerConfig {
  /** Every call must carry it (`authorization: Bearer <token>`). Never logged. */
  token: string;
  /** HTTP: GET /health and GET /metrics. Port 0 picks a free port (announced on start). */
  http: { host: string; port: number };
  /** Internal gRPC. */
  grpc: { host: string; port: number };
  maxMemoryBytes: number;
  /** Queries running at once. */
  maxConcurrent: number;
  /** Queries waiting for a slot at most. */
  maxQueued: number;
  /** DuckDB memory_limit of one query, in bytes (maxMemoryBytes / maxConcurrent). */
  queryMemoryBytes: number;
  resultTtlMs: number;
  cleanupIntervalMs: number;
  /** Longest a SIGTERM drain waits for in-flight queries. */
  drainTimeoutMs: number;
  tls: WorkerTls | null;
  /** Read snapshot files from this root (laid out as the Catchment's) instead of downloading. */
  sharedRoot: string | null;
  /** Downloaded snapshot files and async results live under it. */
  dataDir: string;
  /** True when dataDir is the default per-process temporary folder (removed on close). */
  dataDirIsTemporary: boolean;
  cacheDir: string;
  cacheMaxBytes: number;
}

/** Flags, as commander gives them (each overrides its environment variable). */
export interface WorkerFlags {
  listenAddr?: string;
  grpcListenAddr?: string;
  maxMemoryGb?: string;
  maxConcurrent?: string;
  queryResultTtl?: string;
  queryCleanupInterval?: string;
  sharedRoot?: string;
  dataDir?: string;
  cacheDir?: string;
  cacheMaxGb?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

export class WorkerConfigError extends Error {}

const MIN_QUERY_MEMORY = 256 * 1024 * 1024;
const GIB = 1024 ** 3;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "30s", "10m", "1h", "250ms" → milliseconds; anything else is refused. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : null;
}

/** "host:port" (IPv6 as "[::1]:port"); port 0 asks the OS for a free one. */
export function parseAddress(text: string): { host: string; port: number } | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65_535) return null;
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

const positiveNumber = z.coerce.number().finite().positive();
const positiveInteger = z.coerce.number().int().positive();

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and checks the worker's settings; throws WorkerConfigError naming the first bad one. */
export function loadWorkerConfig(env: Env, flags: WorkerFlags = {}): WorkerConfig {
  const pick = (flag: string | undefined, name: string): { name: string; value: string | undefined } => {
    if (flag !== undefined) return { name, value: flag };
    const value = env[name];
    return { name, value: value === undefined || value.trim() === '' ? undefined : value };
  };
  const fail = (name: string, why: string): never => {
    throw new WorkerConfigError(`${name}: ${why}`);
  };
  const address = (flag: string | undefined, name: string, fallback: string) => {
    const { value } = pick(flag, name);
    return parseAddress(value ?? fallback) ?? fail(name, `"${value}" is not an address like 127.0.0.1:9443`);
  };
  const duration = (flag: string | undefined, name: string, fallback: string) => {
    const { value } = pick(flag, name);
    return parseDuration(value ?? fallback) ?? fail(name, `"${value}" is not a duration like 30s, 10m or 1h`);
  };
  const number = <T extends number>(
    flag: string | undefined,
    name: string,
    schema: z.ZodType<T, z.ZodTypeDef, unknown>,
    fallback: T,
    what: string,
  ): T => {
    const { value } = pick(flag, name);
    if (value === undefined) return fallback;
    const parsed = schema.safeParse(value.trim());
    return parsed.success ? parsed.data : fail(name, `"${value}" is not ${what}`);
  };

  const token = env.AGENT_TOKEN;
  if (token === undefined || token.trim() === '') {
    fail(
      'AGENT_TOKEN',
      'required: the token every call to this worker must carry (set it in the environment)',
    );
  }
  const http = address(flags.listenAddr, 'LISTEN_ADDR', '127.0.0.1:9443');
  const grpc = address(flags.grpcListenAddr, 'GRPC_LISTEN_ADDR', '127.0.0.1:9444');
  const defaultMemoryGb = Math.max(0.25, Math.floor(os.totalmem() / GIB / 2));
  const maxMemoryGb = number(
    flags.maxMemoryGb,
    'MAX_MEMORY_GB',
    positiveNumber,
    defaultMemoryGb,
    'a positive number of GB',
  );
  const maxMemoryBytes = Math.floor(maxMemoryGb * GIB);
  const requested = number(
    flags.maxConcurrent,
    'MAX_CONCURRENT_QUERIES',
    positiveInteger,
    Math.max(1, os.availableParallelism()),
    'a positive integer',
  );
  const maxConcurrent = Math.max(1, Math.min(requested, Math.floor(maxMemoryBytes / MIN_QUERY_MEMORY)));
  const maxQueued = number(
    undefined,
    'MAX_QUEUED_QUERIES',
    z.coerce.number().int().min(0),
    64,
    'a whole number',
  );
  const resultTtlMs = duration(flags.queryResultTtl, 'QUERY_RESULT_TTL', '10m');
  const cleanupIntervalMs = duration(flags.queryCleanupInterval, 'QUERY_CLEANUP_INTERVAL', '1m');
  const drainTimeoutMs = duration(undefined, 'WORKER_DRAIN_TIMEOUT', '30s');

  const cert = pick(flags.tlsCertFile, 'WORKER_TLS_CERT_FILE').value;
  const key = pick(flags.tlsKeyFile, 'WORKER_TLS_KEY_FILE').value;
  if ((cert === undefined) !== (key === undefined)) {
    fail(
      cert === undefined ? 'WORKER_TLS_CERT_FILE' : 'WORKER_TLS_KEY_FILE',
      'TLS needs both WORKER_TLS_CERT_FILE and WORKER_TLS_KEY_FILE (or neither)',
    );
  }
  const sharedRoot = flags.sharedRoot ?? env.WORKER_SHARED_ROOT ?? null;
  const chosenDataDir = pick(flags.dataDir, 'WORKER_DATA_DIR').value;
  const dataDir = path.resolve(chosenDataDir ?? path.join(os.tmpdir(), `duckstring-worker-${process.pid}`));
  const cacheDir = path.resolve(
    pick(flags.cacheDir, 'WORKER_CACHE_DIR').value ?? path.join(dataDir, 'cache'),
  );
  const cacheMaxGb = number(
    flags.cacheMaxGb,
    'WORKER_CACHE_MAX_GB',
    positiveNumber,
    10,
    'a positive number of GB',
  );
  return {
    token: token as string,
    http,
    grpc,
    maxMemoryBytes,
    maxConcurrent,
    maxQueued,
    queryMemoryBytes: Math.floor(maxMemoryBytes / maxConcurrent),
    resultTtlMs,
    cleanupIntervalMs,
    drainTimeoutMs,
    tls:
      cert !== undefined && key !== undefined
        ? { certFile: path.resolve(cert), keyFile: path.resolve(key) }
        : null,
    sharedRoot: sharedRoot === null || sharedRoot.trim() === '' ? null : path.resolve(sharedRoot),
    dataDir,
    dataDirIsTemporary: chosenDataDir === undefined,
    cacheDir,
    cacheMaxBytes: Math.floor(cacheMaxGb * GIB),
  };
}
