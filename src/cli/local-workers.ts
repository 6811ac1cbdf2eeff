/**
 * `duckstring up --workers N`: the whole compute topology on one machine. Starts N query workers as
 * separate processes (each with its own directory, fetching snapshots from the Catchment over HTTP
 * like a worker on another machine), registers them as endpoints `local-1` … `local-N` and routes
 * everyone's queries to them with fallback to local execution — so killing one shows what fallback
 * does. Registration goes through the Catchment's own API, as an operator's would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CatchmentApi } from '../api/client.js';
import { compute as api } from '../api/index.js';

const BIN = fileURLToPath(new URL('../../bin/duckstring.js', import.meta.url));
/** Longest a worker may take to report it is listening. */
const START_TIMEOUT_MS = 60_000;

export interface LocalWorker {
  name: string;
  pid: number;
  grpcUrl: string;
  httpUrl: string;
}

export interface LocalWorkers {
  workers: LocalWorker[];
  /** SIGTERM to every worker (they drain), then waits for them to exit. */
  stop(): Promise<void>;
}

interface Started {
  worker: LocalWorker;
  /** Generated per start; handed only to the Catchment, which stores it encrypted. */
  token: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** Starts `count` workers under `<root>/workers/`, registers and assigns them on the Catchment at `url`. */
export async function startLocalWorkers(opts: {
  root: string;
  count: number;
  url: string;
  adminKey: string;
}): Promise<LocalWorkers> {
  const started: Started[] = [];
  const stop = async () => {
    for (const s of started) s.child.kill('SIGTERM');
    await Promise.all(started.map((s) => s.exited));
  };
  try {
    for (let i = 1; i <= opts.count; i++) started.push(await startWorker(opts.root, `local-${i}`));
    await register(new CatchmentApi(opts.url, opts.adminKey), started);
  } catch (error) {
    await stop();
    throw error;
  }
  return { workers: started.map((s) => s.worker), stop };
}

async function startWorker(root: string, name: string): Promise<Started> {
  const dataDir = path.join(root, 'workers', name);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, [BIN, 'worker', 'start'], {
    env: {
      ...process.env,
      AGENT_TOKEN: token,
      LISTEN_ADDR: '127.0.0.1:0',
      GRPC_LISTEN_ADDR: '127.0.0.1:0',
      WORKER_DATA_DIR: dataDir,
      // A demo worker shares the machine with the Catchment and its siblings.
      MAX_MEMORY_GB: process.env.MAX_MEMORY_GB ?? '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const listening = await new Promise<{ grpc_url: string; http_url: string }>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`query worker ${name} did not start within ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const event = JSON.parse(line) as { event?: string; grpc_url?: string; http_url?: string };
          if (event.event === 'listening' && event.grpc_url && event.http_url) {
            clearTimeout(timer);
            resolve({ grpc_url: event.grpc_url, http_url: event.http_url });
          }
        } catch {
          // A partial line: the rest arrives with the next chunk.
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`query worker ${name} exited (status ${code}) before listening: ${stderr.trim()}`));
    });
  });
  // The worker keeps writing lines (draining, stopped); nobody reads them after start-up.
  child.stdout!.resume();
  return {
    worker: { name, pid: child.pid!, grpcUrl: listening.grpc_url, httpUrl: listening.http_url },
    token,
    child,
    exited,
  };
}

/**
 * Endpoints `local-N` with this start's address and token (a rerun on the same root updates them),
 * and one default assignment of everyone to each, fallback on: together one pool sharing the load.
 */
async function register(client: CatchmentApi, started: Started[]): Promise<void> {
  const known = new Set((await client.call(api.listEndpoints, {})).endpoints.map((e) => e.name));
  const assigned = new Set(
    (await client.call(api.listAssignments, {})).assignments
      .filter((a) => a.subject.kind === 'everyone')
      .map((a) => a.endpoint),
  );
  for (const { worker: w, token } of started) {
    const body = { url: w.grpcUrl, token };
    if (known.has(w.name))
      await client.call(api.updateEndpoint, {
        params: { name: w.name },
        body: { ...body, status: 'active' },
      });
    else await client.call(api.createEndpoint, { body: { name: w.name, ...body } });
    if (!assigned.has(w.name))
      await client.call(api.createAssignment, {
        body: { endpoint: w.name, everyone: true, default: true, fallback_local: true },
      });
  }
}
