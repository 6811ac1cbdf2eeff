/**
 * The Duck's side of a Ripple host (see ripple-host.ts): starts the sandboxed child process, loads a
 * Pond's bundle into it, and serves the runs it executes. Every request from the host is parsed and
 * checked against the run it names, because Ripple code can forge them.
 *
 * Why a child process: Node's permission model is per process, and the Duck itself must load the
 * DuckDB native addon; granting `--allow-addons` to a process running Ripple code would let a Ripple
 * open a DuckDB of its own. The host gets no addons, no child processes, no workers, no file writes,
 * and reads only its own script, the bundle and the Pond's directory.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { Row, SqlParams } from '../pond/sdk.js';
import { type FromHost, fromHostSchema, type RippleShape, type ToHost } from './ripple-host-protocol.js';

/** Where compiled bundles go; named by content hash, so reloading unchanged code reuses the file. */
export const BUNDLE_DIR = path.join(tmpdir(), 'duckstring-ripple-bundles');

/** Writes `code` to `BUNDLE_DIR/<prefix>-<hash>.mjs` (atomically, once) and returns the path. */
export async function writeBundle(prefix: string, code: string): Promise<string> {
  await mkdir(BUNDLE_DIR, { recursive: true });
  const file = path.join(
    BUNDLE_DIR,
    `${prefix}${createHash('sha256').update(code).digest('hex').slice(0, 24)}.mjs`,
  );
  if (!existsSync(file)) {
    const partial = `${file}.${randomBytes(6).toString('hex')}.partial`;
    await writeFile(partial, code);
    await rename(partial, file);
  }
  return file;
}

let hostScript: Promise<string> | null = null;

/**
 * The host as one self-contained file, so the sandbox need grant read access to that file alone.
 * Built from `ripple-host.ts` when running from sources (tests) and from `ripple-host.js` in dist.
 */
function hostScriptFile(): Promise<string> {
  hostScript ??= (async () => {
    const here = fileURLToPath(import.meta.url);
    const entry = path.join(path.dirname(here), `ripple-host${path.extname(here)}`);
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
    });
    return writeBundle('ripple-host-', result.outputFiles[0]?.text ?? '');
  })();
  hostScript.catch(() => {
    hostScript = null;
  });
  return hostScript;
}

/** A Ripple's failure as the host reported it (its message, its stack). */
export class HostRunFailure extends Error {
  constructor(
    message: string,
    readonly rippleStack: string | undefined,
  ) {
    super(message);
    this.name = 'HostRunFailure';
  }
}

export interface HostRunRequest {
  ripple: string;
  /** Tables the Ripple declared: the only ones its writes may name. */
  tables: readonly string[];
  pond: string;
  f: Date;
  previousF: Date | null;
  published: Array<[string, string[]]>;
}

export interface HostRunHandlers {
  sql(query: string, params: SqlParams | undefined): Promise<Row[]>;
  write(table: string, selectSql: string, params: SqlParams | undefined): Promise<number>;
  log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> | undefined): void;
}

interface ActiveRun {
  request: HostRunRequest;
  handlers: HostRunHandlers;
  /** Requests being served: the run ends only once they settle, so its connection is free again. */
  inflight: Set<Promise<unknown>>;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Paths are passed to Node's permission flags, which split on commas. */
function permissionPath(p: string): string {
  if (p.includes(',')) throw new Error(`cannot sandbox a path containing a comma: ${p}`);
  return p;
}

export class RippleHost {
  private readonly runs = new Map<number, ActiveRun>();
  private nextRun = 0;
  private loading: {
    resolve: (r: { ripples: RippleShape[]; issues: string[] }) => void;
    reject: (e: Error) => void;
  } | null = null;
  private exited: Error | null = null;
  private lastWarning = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly pondDir: string,
    private readonly log: (message: string) => void,
  ) {
    child.on('message', (raw) => this.receive(raw));
    child.on('exit', (code, signal) => this.gone(`exited (${signal ?? `code ${code}`})`));
    child.on('error', (err) => this.gone(`failed: ${err.message}`));
    this.idle();
  }

  /** Starts a host for the Pond in `pondDir` and loads its bundle; the Ripples it found come back. */
  static async start(
    pondDir: string,
    bundleFile: string,
    log: (message: string) => void = () => {},
  ): Promise<{ host: RippleHost; ripples: RippleShape[]; issues: string[] }> {
    const script = await hostScriptFile();
    const child = fork(script, [], {
      execArgv: [
        '--experimental-permission',
        `--allow-fs-read=${permissionPath(script)}`,
        `--allow-fs-read=${permissionPath(bundleFile)}`,
        `--allow-fs-read=${permissionPath(path.join(pondDir, '*'))}`,
        '--enable-source-maps',
        '--disable-warning=ExperimentalWarning',
      ],
      cwd: pondDir,
      // Nothing of the Duck's environment (its token above all) reaches Ripple code.
      env: process.env.TZ ? { TZ: process.env.TZ } : {},
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const host = new RippleHost(child, pondDir, log);
    try {
      return { host, ...(await host.load(bundleFile)) };
    } catch (err) {
      host.close();
      throw err;
    }
  }

  get alive(): boolean {
    return this.exited === null;
  }

  private load(bundleFile: string): Promise<{ ripples: RippleShape[]; issues: string[] }> {
    return new Promise((resolve, reject) => {
      this.loading = { resolve, reject };
      this.busy();
      this.send({ type: 'load', bundleFile });
    }).finally(() => {
      this.loading = null;
      this.idle();
    }) as Promise<{ ripples: RippleShape[]; issues: string[] }>;
  }

  /** Runs one Ripple; rejects with `HostRunFailure` when it fails, for whatever reason. */
  run(request: HostRunRequest, handlers: HostRunHandlers): Promise<void> {
    if (this.exited) return Promise.reject(new HostRunFailure(this.exited.message, undefined));
    const id = this.nextRun++;
    return new Promise<void>((resolve, reject) => {
      this.runs.set(id, { request, handlers, inflight: new Set(), resolve, reject });
      this.busy();
      this.send({
        type: 'run',
        run: id,
        ripple: request.ripple,
        pond: request.pond,
        pondDir: this.pondDir,
        f: request.f,
        previousF: request.previousF,
        published: request.published,
      });
    }).finally(() => {
      this.runs.delete(id);
      if (this.runs.size === 0) this.idle();
    });
  }

  close(): void {
    if (this.exited) return;
    this.gone('was closed');
    this.child.kill('SIGKILL');
  }

  private send(message: ToHost): void {
    try {
      this.child.send(message);
    } catch (err) {
      this.gone(`cannot be reached: ${(err as Error).message}`);
    }
  }

  /** A host with nothing to do must not keep its parent process alive. */
  private idle(): void {
    if (this.runs.size > 0 || this.loading) return;
    this.child.unref();
    this.child.channel?.unref();
  }

  private busy(): void {
    this.child.ref();
    this.child.channel?.ref();
  }

  private receive(raw: unknown): void {
    const parsed = fromHostSchema.safeParse(raw);
    if (!parsed.success) {
      this.log(`Ripple host sent a malformed message; ignored (${parsed.error.issues[0]?.message ?? ''})`);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'loaded':
        this.loading?.resolve({ ripples: message.ripples, issues: message.issues });
        return;
      case 'load-failed':
        this.loading?.reject(new HostRunFailure(message.message, undefined));
        return;
      case 'warning':
        this.lastWarning = message.message;
        this.log(message.message);
        return;
      default:
        this.forRun(message);
    }
  }

  private forRun(message: Exclude<FromHost, { type: 'loaded' | 'load-failed' | 'warning' }>): void {
    const run = this.runs.get(message.run);
    if (!run) return; // Finished or never started: a late or forged request, answered by nobody.
    switch (message.type) {
      case 'log':
        run.handlers.log(message.level, message.message, message.fields);
        return;
      case 'sql':
        this.serve(run, message.call, () => run.handlers.sql(message.query, message.params));
        return;
      case 'write':
        if (!run.request.tables.includes(message.table)) {
          this.reply(message.call, {
            ok: false,
            message: `writeTable("${message.table}"): Ripple "${run.request.ripple}" does not declare table "${message.table}"`,
          });
          return;
        }
        this.serve(run, message.call, () =>
          run.handlers.write(message.table, message.selectSql, message.params),
        );
        return;
      case 'done':
        void Promise.allSettled(run.inflight).then(() => run.resolve());
        return;
      case 'failed':
        void Promise.allSettled(run.inflight).then(() =>
          run.reject(new HostRunFailure(message.message, message.stack)),
        );
        return;
    }
  }

  private serve(run: ActiveRun, call: number, work: () => Promise<unknown>): void {
    const p = work().then(
      (value) => this.reply(call, { ok: true, value }),
      (err) => this.reply(call, { ok: false, message: err instanceof Error ? err.message : String(err) }),
    );
    run.inflight.add(p);
    void p.finally(() => run.inflight.delete(p));
  }

  private reply(call: number, answer: { ok: true; value: unknown } | { ok: false; message: string }): void {
    if (this.exited) return;
    try {
      this.child.send({ type: 'reply', call, ...answer } satisfies ToHost);
    } catch (err) {
      this.child.send({ type: 'reply', call, ok: false, message: (err as Error).message } satisfies ToHost);
    }
  }

  private gone(how: string): void {
    if (this.exited) return;
    const detail = this.lastWarning ? ` after: ${this.lastWarning}` : '';
    this.exited = new Error(`the Ripple host ${how}${detail}`);
    this.loading?.reject(new HostRunFailure(`${this.exited.message}`, undefined));
    for (const run of this.runs.values()) {
      void Promise.allSettled(run.inflight).then(() =>
        run.reject(new HostRunFailure(this.exited?.message ?? 'the Ripple host is gone', undefined)),
      );
    }
  }
}
