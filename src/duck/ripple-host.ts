/**
 * The Ripple host: the child process in which a Pond's TypeScript Ripples run, started by the Duck
 * (see ripple-host-client.ts) under Node's permission model. It may read only this script, the Pond's
 * compiled bundle and the Pond's own directory; it may not write files, start processes or workers,
 * or load native addons (so no DuckDB of its own). Everything else a Ripple does goes through its
 * context, which forwards `ctx.sql`, `ctx.writeTable` and `ctx.log` to the Duck over IPC; the Duck
 * runs them on its sandboxed registry connection.
 *
 * This file is bundled on its own by esbuild (dependency-free: Node built-ins and pure modules only).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { quoteIdent, tableNameProblem } from '../pond/names.js';
import { isRipple, type Ripple, type RippleContext, type Row, type SqlParams } from '../pond/sdk.js';
import { missingSnapshot } from './published.js';
import type { FromHost, RippleShape, ToHost } from './ripple-host-protocol.js';

type RunRequest = Extract<ToHost, { type: 'run' }>;

const ripples = new Map<string, { ripple: Ripple; file: string }>();
const calls = new Map<
  number,
  { resolve: (value: unknown) => void; reject: (err: Error) => void; site: Error }
>();
let nextCall = 0;

function send(message: FromHost): void {
  process.send?.(message);
}

process.on('message', (message: ToHost) => {
  if (message.type === 'load') void load(message.bundleFile);
  else if (message.type === 'run') void run(message);
  else if (message.type === 'reply') {
    const pending = calls.get(message.call);
    if (!pending) return;
    calls.delete(message.call);
    if (message.ok) pending.resolve(message.value);
    else {
      // The error points at the Ripple's own call, not at this process's IPC handler.
      pending.site.message = message.message;
      pending.reject(pending.site);
    }
  }
});
// The Duck is gone: nothing can be reported any more.
process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', (reason) => {
  send({ type: 'warning', message: `unhandled rejection in a Ripple: ${failure(reason).message}` });
});
process.on('uncaughtException', (err) => {
  // State is unknown after an uncaught throw (e.g. inside a timer): report it and let the Duck fail
  // every Ripple in flight here and start a fresh host.
  send({ type: 'warning', message: `uncaught exception in a Ripple: ${failure(err).message}` });
  process.exit(70);
});

async function load(bundleFile: string): Promise<void> {
  let modules: Array<[string, Record<string, unknown>]>;
  try {
    modules = (await import(pathToFileURL(bundleFile).href)).default;
  } catch (err) {
    send({ type: 'load-failed', message: failure(err).message });
    return;
  }
  const shapes: RippleShape[] = [];
  const issues: string[] = [];
  const seen = new Set<unknown>();
  for (const [file, exports] of modules) {
    for (const [exportName, value] of Object.entries(exports)) {
      if (!isRipple(value) || seen.has(value)) continue;
      seen.add(value);
      const problems = rippleShapeProblems(value);
      if (problems.length > 0) {
        issues.push(...problems.map((p) => `${file}: export "${exportName}": ${p}`));
        continue;
      }
      ripples.set(value.name, { ripple: value, file });
      shapes.push({ file, name: value.name, parents: [...value.parents], tables: [...value.tables] });
    }
  }
  send({ type: 'loaded', ripples: shapes, issues });
}

/** Type checks for what `ripple()` received: TS types are not enforced at run time. */
function rippleShapeProblems(value: {
  name: unknown;
  parents: unknown;
  tables: unknown;
  run: unknown;
}): string[] {
  const problems: string[] = [];
  if (typeof value.name !== 'string') problems.push('ripple name must be a string');
  if (!Array.isArray(value.parents) || value.parents.some((p) => typeof p !== 'string')) {
    problems.push('parents must be Ripple names or ripple(...) objects');
  }
  if (!Array.isArray(value.tables) || value.tables.some((t) => typeof t !== 'string')) {
    problems.push('tables must be an array of table names');
  } else if (value.tables.length === 0) problems.push('tables must name at least one table');
  if (typeof value.run !== 'function') problems.push('run must be a function');
  return problems;
}

/** Asks the Duck to do something for a run; resolves with its answer. */
function request<T>(message: Extract<FromHost, { type: 'sql' | 'write' }>): Promise<T> {
  const site = new Error();
  return new Promise<T>((resolve, reject) => {
    calls.set(message.call, { resolve: resolve as (v: unknown) => void, reject, site });
    send(message);
  });
}

async function run(req: RunRequest): Promise<void> {
  const entry = ripples.get(req.ripple);
  const published = new Map(req.published);
  let finished = false;
  const pending: Array<Promise<unknown>> = [];
  const live = (what: string) => {
    if (finished) throw new Error(`${what} called after the Ripple returned (missing await?)`);
  };
  // A promise the author forgot to await must neither crash the host nor be lost: it is marked
  // handled here and awaited (and its failure reported) after run() returns.
  const track = <T>(promise: Promise<T>): Promise<T> => {
    pending.push(promise);
    promise.catch(() => {});
    return promise;
  };
  const logAt =
    (level: 'info' | 'warn' | 'error') =>
    (message: string, fields?: Record<string, unknown>): void => {
      const base = { type: 'log' as const, run: req.run, level, message: String(message) };
      try {
        send(fields === undefined ? base : { ...base, fields });
      } catch {
        // Fields that cannot cross the process boundary (functions, sockets…) are sent as text.
        send({ ...base, fields: { fields: String(fields) } });
      }
    };
  const tables = entry?.ripple.tables ?? [];
  const ctx: RippleContext = {
    pond: req.pond,
    ripple: req.ripple,
    f: new Date(req.f),
    previousF: req.previousF ? new Date(req.previousF) : null,
    log: { info: logAt('info'), warn: logAt('warn'), error: logAt('error') },
    sql<T extends Row = Row>(query: string, params?: SqlParams): Promise<T[]> {
      live('ctx.sql');
      return track(
        request<T[]>({ type: 'sql', run: req.run, call: nextCall++, query, params: params as never }),
      );
    },
    readTable(ref: string): string {
      live('ctx.readTable');
      if (!/^[^.]+\.[^.]+$/.test(ref)) throw new Error(`readTable("${ref}"): expected "source.table"`);
      const problem = missingSnapshot(ref, published);
      if (problem) throw new Error(`readTable("${ref}"): ${problem}`);
      const [source = '', table = ''] = ref.split('.');
      return `${quoteIdent(source)}.${quoteIdent(table)}`;
    },
    writeTable(name: string, selectSql: string, params?: SqlParams): Promise<{ rows: number }> {
      live('ctx.writeTable');
      if (!tables.includes(name)) {
        const problem = tableNameProblem(name);
        return track(
          Promise.reject(
            new Error(
              problem
                ? `writeTable("${name}"): ${problem}`
                : `writeTable("${name}"): Ripple "${req.ripple}" does not declare table "${name}" (tables: ${tables.join(', ')}); add it to tables in ripple({...})`,
            ),
          ),
        );
      }
      const call = nextCall++;
      return track(
        request<number>({
          type: 'write',
          run: req.run,
          call,
          table: name,
          selectSql,
          params: params as never,
        }).then((rows) => ({ rows })),
      );
    },
    file(relPath: string): string {
      const absolute = path.resolve(req.pondDir, relPath);
      if (path.isAbsolute(relPath) || !absolute.startsWith(req.pondDir + path.sep)) {
        throw new Error(`file("${relPath}"): expected a path relative to the Pond's root, inside it`);
      }
      if (!existsSync(absolute) || !statSync(absolute).isFile()) {
        throw new Error(`file("${relPath}"): no such file in Pond "${req.pond}"`);
      }
      return absolute;
    },
  };
  let outcome: { ok: true } | { ok: false; message: string; stack?: string } = { ok: true };
  try {
    if (!entry) throw new Error('has no run function');
    await entry.ripple.run(ctx);
    finished = true;
    for (const settled of await Promise.allSettled(pending)) {
      if (settled.status === 'rejected') throw settled.reason;
    }
  } catch (err) {
    outcome = { ok: false, ...failure(err) };
  } finally {
    finished = true;
    await Promise.allSettled(pending);
  }
  send(
    outcome.ok
      ? { type: 'done', run: req.run }
      : {
          type: 'failed',
          run: req.run,
          message: outcome.message,
          ...(outcome.stack ? { stack: outcome.stack } : {}),
        },
  );
}

/** A message naming what went wrong; a refusal of the sandbox says what was refused and why. */
function failure(err: unknown): { message: string; stack?: string } {
  if (!(err instanceof Error)) return { message: `threw a non-Error value: ${String(err)}` };
  const refused = sandboxRefusal(err as Error & { code?: unknown; permission?: unknown; resource?: unknown });
  return { message: refused ?? err.message, ...(err.stack ? { stack: err.stack } : {}) };
}

function sandboxRefusal(
  err: Error & { code?: unknown; permission?: unknown; resource?: unknown },
): string | null {
  if (err.code === 'ERR_DLOPEN_DISABLED')
    return 'refused by the Ripple sandbox: loading a native addon (a TypeScript Ripple cannot load addons)';
  if (err.code !== 'ERR_ACCESS_DENIED') return null;
  const resource = String(err.resource ?? '');
  switch (err.permission) {
    case 'FileSystemRead':
      return `refused by the Ripple sandbox: reading ${resource} (a TypeScript Ripple may read only its own Pond's files; read Sources with ctx.sql or ctx.readTable)`;
    case 'FileSystemWrite':
      return `refused by the Ripple sandbox: writing ${resource} (a TypeScript Ripple may not write files; write tables with ctx.writeTable)`;
    case 'ChildProcess':
      return 'refused by the Ripple sandbox: starting a child process';
    case 'WorkerThreads':
      return 'refused by the Ripple sandbox: starting a worker thread';
    default:
      return `refused by the Ripple sandbox: ${String(err.permission)}${resource ? ` ${resource}` : ''}`;
  }
}
