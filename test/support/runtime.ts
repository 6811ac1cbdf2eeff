/**
 * Helpers for runtime tests with real parts: a real Catchment (HTTP on 127.0.0.1, SQLite, spawned Duck
 * processes running the built CLI), Ponds written to temp dirs, and polling with deadlines.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CatchmentApi } from '../../src/api/client.js';
import { ponds } from '../../src/api/index.js';
import type { LineStatus } from '../../src/api/ponds.js';
import { type RunningCatchment, type StartOptions, startCatchment } from '../../src/catchment/main.js';
import { packPond } from '../../src/pond/archive.js';

export interface PondFiles {
  name: string;
  version?: string;
  sources?: Record<string, string>;
  immediateRetries?: number;
  sourceRetries?: number;
  /** Path under the Pond (e.g. `ripples/n.sql`) → content. */
  files: Record<string, string>;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `duckstring-${prefix}-`));
}

export async function writePond(parent: string, p: PondFiles): Promise<string> {
  const dir = path.join(
    parent,
    `${p.name}-${p.version ?? '1.0.0'}-${Math.random().toString(36).slice(2, 8)}`,
  );
  await mkdir(dir, { recursive: true });
  const sources = Object.entries(p.sources ?? {})
    .map(([k, v]) => `${k} = "${v}"`)
    .join('\n');
  await writeFile(
    path.join(dir, 'pond.toml'),
    `[pond]\nname = "${p.name}"\nversion = "${p.version ?? '1.0.0'}"\nimmediate_retries = ${p.immediateRetries ?? 0}\nsource_retries = ${p.sourceRetries ?? 0}\n${sources ? `\n[sources]\n${sources}\n` : ''}`,
  );
  for (const [rel, content] of Object.entries(p.files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  return dir;
}

/** A TS Ripple that sleeps `ms` (so a test can act mid-run) and then writes one row with the run's F. */
export function sleepyRipple(name: string, ms: number): string {
  return `import { ripple } from 'duckstring/pond';
export const ${name} = ripple({
  name: '${name}',
  async run(ctx) {
    await new Promise((resolve) => setTimeout(resolve, ${ms}));
    await ctx.writeTable('${name}', "SELECT TIMESTAMPTZ '" + ctx.f.toISOString() + "' AS f, 42::BIGINT AS answer");
  },
});
`;
}

export class TestCatchment {
  private constructor(
    readonly running: RunningCatchment,
    readonly root: string,
  ) {}

  static async start(root: string, opts: Partial<StartOptions> = {}): Promise<TestCatchment> {
    const running = await startCatchment({
      root,
      port: 0,
      // Generous: these tests are not about liveness (those set their own), and a loaded machine
      // must not turn a slow Duck into a dead one.
      livenessMs: 60_000,
      watchdogMs: 60_000,
      idleMs: 60_000,
      ...opts,
    });
    return new TestCatchment(running, root);
  }

  get url(): string {
    return this.running.url;
  }

  /** The typed API client, as the administrator. */
  get client(): CatchmentApi {
    return new CatchmentApi(this.url, this.running.adminKey);
  }

  /** Any request (`key` null: none), answered whatever its status. */
  async api<T = any>(
    method: string,
    route: string,
    body?: unknown,
    key: string | null = this.running.adminKey,
  ): Promise<{ status: number; body: T }> {
    const { status, body: answer } = await this.client.send(method, route, { body, key });
    return { status, body: answer as T };
  }

  async deploy(dir: string): Promise<{ status: number; body: any }> {
    const { status, body } = await this.client.exchange(ponds.deploy, { body: await packPond(dir) });
    return { status, body };
  }

  /**
   * The status of the Pond's first line (throws unless the Catchment answers 200). Typed `any`, as
   * `runs`, so tests can index what they expect to be there without a guard per access.
   */
  async status(name: string): Promise<any> {
    const line: LineStatus | undefined = (await this.client.call(ponds.pond, { params: { name } })).lines[0];
    return line;
  }

  async runs(name: string): Promise<any[]> {
    return (await this.client.call(ponds.runs, { params: { name }, query: { limit: 50 } })).runs;
  }

  async close(): Promise<void> {
    await this.running.close();
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A Catchment in its own process (so a test can SIGKILL it like a crash). */
export interface CatchmentProcess {
  url: string;
  key: string;
  child: import('node:child_process').ChildProcess;
  output: () => string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

export async function spawnCatchment(root: string, args: string[] = []): Promise<CatchmentProcess> {
  const { spawn } = await import('node:child_process');
  const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/duckstring.js');
  const child = spawn(process.execPath, [bin, 'catchment', 'start', '--root', root, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  child.stderr!.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await waitFor(
    'the Catchment to listen',
    async () => /listening on (http:\/\/\S+)/.exec(out)?.[1],
    20_000,
  );
  const { readFile } = await import('node:fs/promises');
  const key = (await readFile(path.join(root, 'admin.key'), 'utf8')).trim();
  return { url, key, child, output: () => out, exited };
}

/** Admin API calls against a Catchment process. */
export async function call<T = any>(
  cp: { url: string; key: string },
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const answer = await new CatchmentApi(cp.url, cp.key).send(method, route, { body });
  return { status: answer.status, body: answer.body as T };
}

export async function deployTo(cp: { url: string; key: string }, dir: string): Promise<number> {
  return (await new CatchmentApi(cp.url, cp.key).exchange(ponds.deploy, { body: await packPond(dir) }))
    .status;
}

/**
 * Stops a Catchment process the way an operator would (SIGTERM: it stops its Ducks), then makes sure
 * no Duck recorded under `root` survives — tests must leave no process behind.
 */
export async function stopCatchmentProcess(cp: CatchmentProcess, root: string): Promise<void> {
  if (cp.child.exitCode === null && cp.child.signalCode === null) {
    cp.child.kill('SIGTERM');
    const t = setTimeout(() => cp.child.kill('SIGKILL'), 10_000);
    await cp.exited;
    clearTimeout(t);
  }
  const { CatchmentStore } = await import('../../src/catchment/store/index.js');
  const store = CatchmentStore.open(root);
  const pids = store.listDucks().map((d) => d.pid);
  store.close();
  for (const pid of pids) if (pid !== null && isAlive(pid)) process.kill(pid, 'SIGKILL');
}
