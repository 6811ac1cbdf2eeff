/**
 * Binds one deployed Pond version to its registry database: runs Ripples on their own connections
 * (DuckDB executes off the event loop, so Ripples of one Pond run concurrently), and publishes the
 * Pond's tables as an immutable Parquet snapshot when a run completes.
 *
 * The registry is sandboxed (sandbox.ts) and TS Ripples run in a sandboxed Ripple host; a Ripple's
 * Sources are the run's `inputs`, files the Catchment wrote into the line's folder with the Pond's
 * own policy applied. The Sources' data directories (`config.sources`) are never read.
 *
 * `changed` is honest (fingerprint.ts): a Ripple reports whether its tables' rows differ from the
 * previous run's snapshot, and a publish whether the whole snapshot does.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../pond/names.js';
import type { RippleLogSink, RippleRunner } from './duck.js';
import { closeRippleHost, executeRipple, exportTables, RippleError } from './executor.js';
import {
  fingerprintParquet,
  PublishedFingerprints,
  readStagedFingerprint,
  tableChanged,
  writeStagedFingerprint,
} from './fingerprint.js';
import { loadPond } from './loader.js';
import { pondRelativeStack } from './pond-stack.js';
import type { DuckConfig } from './protocol.js';
import { enterPondDir, openSandboxedRegistry } from './sandbox.js';
import { type LineStorage, LocalStorage } from './storage.js';

/** `ctx.log` of a Ripple: JSON lines in the Duck's log file, and the attempt's log sent to the Catchment. */
function rippleLogger(line: string, ripple: string, sink: RippleLogSink | undefined) {
  const write = (level: 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    sink?.(level, message, fields);
    process.stderr.write(
      `${JSON.stringify({ time: Date.now(), level, duck: line, ripple, msg: message, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
    );
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

export { resolveInputs } from './storage.js';

export async function createRunner(
  config: DuckConfig,
  storage: LineStorage = new LocalStorage(config),
): Promise<RippleRunner> {
  const pond = await loadPond(await storage.codeDir(config));
  const lineDir = storage.lineDir;
  await mkdir(lineDir, { recursive: true });
  // The registry reaches the version's files and the line's own folder, nothing else; see sandbox.ts.
  const leaveDir = enterPondDir(pond.dir);
  let instance: DuckDBInstance;
  try {
    instance = await openSandboxedRegistry(storage.registryPath, {
      codeDir: pond.dir,
      dataDirs: [...storage.dataDirs],
    });
  } catch (err) {
    leaveDir();
    throw err;
  }
  const withConnection = async <T>(work: (conn: DuckDBConnection) => Promise<T>) => {
    const conn = await instance.connect();
    try {
      return await work(conn);
    } finally {
      conn.closeSync();
    }
  };

  /** Per-run staging folder; its name depends only on F, so a restarted Duck finds what it staged. */
  const stagingFor = async (f: number): Promise<string> => {
    const dir = path.join(storage.stagingRoot, `run-${f}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  const fingerprints = new PublishedFingerprints(path.join(lineDir, 'published-fingerprints.json'));
  if (await storage.needsRebuild()) {
    try {
      await withConnection((conn) => rebuildRegistry(conn, storage, fingerprints));
    } catch (err) {
      await closeRippleHost(pond);
      instance.closeSync();
      leaveDir();
      throw err;
    }
  }
  /** Publishes one after another: each compares with the snapshot it replaces. */
  let publishing: Promise<unknown> = Promise.resolve();

  return {
    async run(ripple, f, inputs, sink) {
      const sources = await storage.inputs(inputs);
      // The previous successful run is the one last published (survives Duck restarts).
      const published = await storage.manifest();
      // An earlier run's snapshot; none when this run was already published (a replay): then
      // nothing is known to be unchanged.
      const previous = published && published.f < f ? published : null;
      const previousF = previous?.f ?? null;
      const log = rippleLogger(config.line, ripple, sink);
      // Each table is exported as soon as its Ripple finishes, before any later run can overwrite it
      // in the registry (Ripples of the next run may already be running): the published set of run
      // F is exactly what run F's Ripples wrote.
      const known = await fingerprints.read();
      const { result, changed } = await withConnection(async (conn) => {
        const r = await executeRipple({
          conn,
          pond,
          ripple,
          f: new Date(f),
          previousF: previousF === null ? null : new Date(previousF),
          sources,
          log,
        }).catch((err: unknown) => {
          // The stack the Catchment stores is the Ripple's own, in the Pond's file names; the
          // Duck's frames (executor, runner) say nothing to the Pond's author.
          if (err instanceof RippleError)
            err.stack = err.rippleStack ? pondRelativeStack(err.rippleStack, pond.dir) : err.message;
          throw err;
        });
        const exported = await exportTables(
          conn,
          r.tables.map((t) => t.name),
          await stagingFor(f),
        );
        let changed = previous === null;
        for (const e of exported) {
          const fingerprint = await fingerprintParquet(conn, e.file);
          await writeStagedFingerprint(e.file, fingerprint);
          if (tableChanged(e.table, fingerprint, previous, known)) changed = true;
        }
        return { result: r, changed };
      });
      const rows = result.tables.reduce((n, t) => n + t.rows, 0);
      return { rows: result.tables.length > 0 ? rows : null, changed };
    },

    publish(f) {
      const next = publishing.then(() => publishRun(f));
      publishing = next.catch(() => undefined);
      return next;
    },

    async reset() {
      await withConnection(async (conn) => {
        for (const table of pond.tables) await conn.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
      });
    },

    async close() {
      // A new version gets a registry instance of its own: the sandbox names the version's directory.
      await closeRippleHost(pond);
      instance.closeSync();
      leaveDir();
    },
  };

  async function publishRun(f: number): ReturnType<RippleRunner['publish']> {
    const staging = await stagingFor(f);
    const staged = (await readdir(staging)).filter((n) => n.endsWith('.parquet'));
    // A replayed completion of a run already published (a restarted Duck, a re-dispatch): nothing
    // new, and whether it changed was the business of the first completion; say it did.
    const current = await storage.manifest();
    if (staged.length === 0 && current !== null && current.f >= f) {
      await rm(staging, { recursive: true, force: true });
      return { tables: {}, changed: true };
    }
    const previous = current !== null && current.f < f ? current : null;
    const known = await fingerprints.read();
    const tables = staged.map((n) => ({
      name: n.slice(0, -'.parquet'.length),
      stagedPath: path.join(staging, n),
    }));
    // Footers and fingerprints are read on the registry's own instance: no throwaway DuckDB per publish.
    const { manifest, added } = await withConnection(async (connection) => {
      const byName = new Map<string, string | null>();
      for (const t of tables) {
        byName.set(
          t.name,
          (await readStagedFingerprint(t.stagedPath).catch(() => null)) ??
            (await fingerprintParquet(connection, t.stagedPath)),
        );
      }
      const m = await storage.publish(f, tables, connection);
      const files = new Map<string, string>();
      for (const [name, fingerprint] of byName) {
        const entry = m.tables[name];
        if (entry && fingerprint !== null) files.set(entry.file, fingerprint);
      }
      return { manifest: m, added: { byName, files } };
    });
    await fingerprints.record(manifest, added.files);
    const changed =
      previous === null ||
      [...added.byName].some(([name, fingerprint]) => tableChanged(name, fingerprint, previous, known));
    // This run's folder, and those of older runs that failed before publishing, are done with.
    const stagingRoot = storage.stagingRoot;
    for (const entry of await readdir(stagingRoot)) {
      const m = /^run-(\d+)$/.exec(entry);
      if (m && Number(m[1]) <= f) await rm(path.join(stagingRoot, entry), { recursive: true, force: true });
    }
    return {
      tables: Object.fromEntries(
        tables.map(({ name }) => [name, { rows: manifest.tables[name]?.rows ?? 0 }]),
      ),
      changed,
    };
  }
}

/**
 * Gives a registry that has never run here (an http Duck in a new work directory) the line's
 * published tables, so Ripples reading their previous output (`previousF`, incremental tables) see
 * what they would see on the machine that ran the line before. Carried over: each published table's
 * rows and column types as Parquet holds them, and its fingerprint (so `changed` stays honest). Not
 * carried over: tables a Ripple wrote but the Pond does not publish, indexes, constraints, views,
 * sequences and anything else that lived only in the old registry.
 */
async function rebuildRegistry(
  conn: DuckDBConnection,
  storage: LineStorage,
  fingerprints: PublishedFingerprints,
): Promise<void> {
  const manifest = await storage.manifest();
  const added = new Map<string, string>();
  for (const [table, entry] of Object.entries(manifest?.tables ?? {})) {
    const file = await storage.fetchPublished(entry.file);
    await conn.run(
      `CREATE OR REPLACE TABLE ${quoteIdent(table)} AS SELECT * FROM read_parquet(${quoteLiteral(file)})`,
    );
    const fingerprint = await fingerprintParquet(conn, file);
    if (fingerprint !== null) added.set(entry.file, fingerprint);
  }
  if (manifest) await fingerprints.record(manifest, added);
  await storage.rebuilt();
}
