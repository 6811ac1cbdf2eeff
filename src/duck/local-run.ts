/**
 * One local Pond Run without a Catchment (`duckstring pond run`): every Ripple once, sequentially
 * in topological order, on a registry of its own, against sample Source data laid out as
 * `<sample>/<source>/<table>.parquet|.csv|.json`. CSV and JSON samples are converted to Parquet
 * first, so Ripples read Sources exactly as they do on a Catchment: from a Parquet snapshot. Ripples
 * run in the same sandbox as on a Duck (sandbox.ts, ripple-host.ts): what works here works deployed.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { PondError } from '../pond/manifest.js';
import { nameProblem, quoteLiteral } from '../pond/names.js';
import type { RippleLogger } from '../pond/sdk.js';
import { DuckDBInstance } from '../shared/duckdb.js';
import {
  closeRippleHost,
  type ExportedTable,
  executeRipple,
  exportTables,
  type RippleRunResult,
} from './executor.js';
import { type LoadedPond, loadPond } from './loader.js';
import { enterPondDir, openSandboxedRegistry } from './sandbox.js';

export interface LocalRunOptions {
  dir: string;
  /** Sample Source data; defaults to `<dir>/sample`. */
  sampleDir?: string;
  /** Keep the registry here (created if absent); default: a fresh one in a temp dir, removed after. */
  registryPath?: string;
  /** Export every table of the Pond to `<outDir>/<table>.parquet` after a successful run. */
  outDir?: string;
  /** Freshness of the run; default now. */
  f?: Date;
  /** Receives each finished Ripple as it completes. */
  onRipple?: (result: RippleRunResult) => void;
  /** Receives Ripples' `ctx.log` lines and notes about sample data. */
  onLog?: (line: string) => void;
}

export interface LocalRunResult {
  pond: LoadedPond;
  steps: RippleRunResult[];
  durationMs: number;
  /** Sources with sample data: `'source.table'` → Parquet file. */
  sources: Record<string, string>;
  exported: ExportedTable[];
}

const SAMPLE_EXTENSIONS = ['.parquet', '.csv', '.json'] as const;

export async function runPondLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const started = performance.now();
  const pond = await loadPond(options.dir);
  const log = options.onLog ?? (() => {});
  const scratch = await mkdtemp(path.join(tmpdir(), 'duckstring-pond-run-'));
  // Resolved now: the run itself works in the Pond's directory.
  const outDir = options.outDir ? path.resolve(options.outDir) : null;
  const registryPath = options.registryPath
    ? path.resolve(options.registryPath)
    : path.join(scratch, 'registry.duckdb');
  let instance: DuckDBInstance | null = null;
  let leaveDir: (() => void) | null = null;
  try {
    const sampleDir = path.resolve(options.sampleDir ?? path.join(pond.dir, 'sample'));
    const sources = await prepareSamples(pond, sampleDir, path.join(scratch, 'sources'), log);
    // The same sandbox as on a Duck, so a Ripple that runs here runs deployed: the registry reaches
    // the Pond's files, its own folder and the prepared samples; TS Ripples run in a Ripple host.
    leaveDir = enterPondDir(pond.dir);
    instance = await openSandboxedRegistry(registryPath, {
      codeDir: pond.dir,
      dataDirs: [...new Set([scratch, path.dirname(registryPath)])],
    });
    const conn = await instance.connect();
    try {
      const f = options.f ?? new Date();
      const steps: RippleRunResult[] = [];
      for (const ripple of pond.ripples) {
        const result = await executeRipple({
          conn,
          pond,
          ripple,
          f,
          previousF: null,
          sources,
          log: rippleLogger(ripple.name, log),
        });
        steps.push(result);
        options.onRipple?.(result);
      }
      let exported: ExportedTable[] = [];
      if (outDir) exported = await exportTo(conn, pond.tables, outDir, scratch);
      return { pond, steps, durationMs: performance.now() - started, sources, exported };
    } finally {
      conn.closeSync();
    }
  } finally {
    await closeRippleHost(pond);
    instance?.closeSync();
    leaveDir?.();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The sandboxed registry writes only inside its folders: export there, then move the files out. */
async function exportTo(
  conn: DuckDBConnection,
  tables: readonly string[],
  outDir: string,
  scratch: string,
): Promise<ExportedTable[]> {
  const staging = path.join(scratch, 'export');
  await mkdir(staging, { recursive: true });
  const staged = await exportTables(conn, tables, staging);
  await mkdir(outDir, { recursive: true });
  const exported: ExportedTable[] = [];
  for (const table of staged) {
    const file = path.join(outDir, path.basename(table.file));
    await copyFile(table.file, file);
    exported.push({ ...table, file });
  }
  return exported;
}

function rippleLogger(ripple: string, log: (line: string) => void): RippleLogger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    log(
      `[${ripple}] ${level}: ${message}${fields ? ` ${JSON.stringify(fields, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}` : ''}`,
    );
  return { info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * Finds the sample file of each Source table and copies it, as Parquet, under `workDir` (the only
 * place the sandboxed registry may read them from). The developer's own files, so converted on an
 * in-memory DuckDB of their own, outside the sandbox.
 */
async function prepareSamples(
  pond: LoadedPond,
  sampleDir: string,
  workDir: string,
  log: (line: string) => void,
): Promise<Record<string, string>> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    return await convertSamples(conn, pond, sampleDir, workDir, log);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

async function convertSamples(
  conn: DuckDBConnection,
  pond: LoadedPond,
  sampleDir: string,
  workDir: string,
  log: (line: string) => void,
): Promise<Record<string, string>> {
  const sources: Record<string, string> = {};
  const issues: string[] = [];
  for (const source of pond.manifest.sources) {
    const dir = path.join(sampleDir, source.name);
    let entries: string[];
    try {
      entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch {
      log(`note: no sample data for Source "${source.name}" (expected ${dir}/<table>.parquet|.csv|.json)`);
      continue;
    }
    for (const file of entries.sort()) {
      if (file.startsWith('.')) continue;
      const ext = SAMPLE_EXTENSIONS.find((e) => file.endsWith(e));
      const shown = path.join(dir, file);
      if (!ext) {
        issues.push(`${shown}: unsupported sample file (expected <table>.parquet, .csv or .json)`);
        continue;
      }
      const table = file.slice(0, -ext.length);
      const problem = nameProblem(table);
      if (problem) {
        issues.push(`${shown}: table ${problem}`);
        continue;
      }
      const ref = `${source.name}.${table}`;
      if (sources[ref]) {
        issues.push(`${shown}: a second sample file for ${ref}`);
        continue;
      }
      await mkdir(workDir, { recursive: true });
      const target = path.join(workDir, `${source.name}.${table}.parquet`);
      if (ext === '.parquet') {
        await copyFile(shown, target);
        sources[ref] = target;
        continue;
      }
      const reader = ext === '.csv' ? 'read_csv' : 'read_json';
      try {
        await conn.run(
          `COPY (SELECT * FROM ${reader}(${quoteLiteral(shown)})) TO ${quoteLiteral(target)} (FORMAT parquet)`,
        );
      } catch (err) {
        issues.push(`${shown}: cannot read sample file: ${(err as Error).message.split('\n')[0]}`);
        continue;
      }
      sources[ref] = target;
    }
  }
  if (issues.length > 0) throw new PondError(issues);
  return sources;
}
