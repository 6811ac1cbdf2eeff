/**
 * Published snapshots of one Pond major line: `ponds/{name}/m{major}/data/`.
 *
 * Layout:
 *   data/current.json            the pointer: the manifest of the published table set
 *   data/<table>/<unique>.parquet immutable snapshot files, never rewritten
 *   data/.staging/               optional place for the Duck to write files before publishing
 *
 * A publish moves staged files under new immutable names, then switches the pointer by replacing
 * current.json atomically (write temp, fsync, rename, fsync dir). Readers resolve the manifest once
 * and read exact files, so they see one version or the other, never a mix (node-stack.md §1:
 * rewriting a Parquet file in place, even by rename onto the same name, tears reads).
 *
 * Table-set semantics (decision): a publish REPLACES the tables it names and CARRIES FORWARD every
 * other table of the previous manifest unchanged, because a Duck re-exports only what a run changed
 * and the whole set is then valid at the new freshness. A table leaves the set only when named in
 * `drop`.
 *
 * Single writer: one Duck publishes a given data dir (one Duck per Pond major line). Publishes in
 * this process are additionally serialised per directory.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { DuckDBInstance } from '../shared/duckdb.js';
import { DomainError } from '../shared/errors.js';
import { IDENTIFIER_PATTERN, IDENTIFIER_SOURCE } from '../shared/ids.js';
import type { InUseCheck } from './leases.js';
import { type ColumnInfo, inspectParquet } from './parquet.js';

export const MANIFEST_FILE = 'current.json';
export const MANIFEST_FORMAT = 'duckstring.snapshots/1';
export const STAGING_DIR = '.staging';
const MANIFEST_TEMP_PREFIX = `${MANIFEST_FILE}.tmp-`;

export type SnapshotErrorCode =
  | 'invalid_input'
  | 'freshness_regression'
  | 'staged_file_missing'
  | 'invalid_parquet'
  | 'cross_device'
  | 'corrupt_manifest';

/**
 * A snapshot could not be published or read. Callers reach the store only through the runtime, so
 * every one of these is a server fault (500: logged, and the caller is told `internal`).
 */
export class SnapshotError extends DomainError {
  declare readonly code: SnapshotErrorCode;

  constructor(code: SnapshotErrorCode, message: string) {
    super({ code, httpStatus: 500, message });
  }
}

const tableNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'table names are identifiers: letters, digits, _ (max 128)');

const columnSchema = z.object({ name: z.string(), type: z.string() });

const tableEntrySchema = z.object({
  /** Relative to the data dir, always `<table>/<unique>.parquet`. */
  file: z.string().regex(new RegExp(`^${IDENTIFIER_SOURCE}/[^/]+\\.parquet$`)),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  columns: z.array(columnSchema),
  /** Epoch ms when this file entered the set (carried-forward tables keep theirs). */
  publishedAt: z.number(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  /** Increases by one per publish. */
  seq: z.number().int().nonnegative(),
  /** Freshness of the whole set, epoch ms. */
  f: z.number().int().nonnegative(),
  publishedAt: z.number(),
  tables: z.record(tableNameSchema, tableEntrySchema),
  /** Files that left the set and when: garbage collection measures the grace period from `at`. */
  retired: z.array(z.object({ file: z.string(), at: z.number() })),
});

export type TableEntry = z.infer<typeof tableEntrySchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type { ColumnInfo };

const publishInputSchema = z
  .object({
    f: z.number().int('f is epoch milliseconds (an integer)').nonnegative(),
    tables: z.array(z.object({ name: tableNameSchema, stagedPath: z.string().min(1) })),
    drop: z.array(tableNameSchema).optional(),
  })
  .superRefine((input, ctx) => {
    const seen = new Set<string>();
    for (const { name } of input.tables) {
      const key = name.toLowerCase();
      if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `table "${name}" is listed twice` });
      seen.add(key);
    }
    for (const name of input.drop ?? []) {
      if (seen.has(name.toLowerCase()))
        ctx.addIssue({ code: 'custom', message: `table "${name}" is both published and dropped` });
    }
  });

export type PublishInput = z.input<typeof publishInputSchema>;

export interface PublishOptions {
  /** Clock for publishedAt/retired stamps (epoch ms); defaults to Date.now(). */
  now?: number;
  /** Connection used to read the staged files' footers; a short-lived in-memory DuckDB otherwise. */
  connection?: DuckDBConnection;
}

function issuesMessage(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Reads the published manifest; null when nothing was ever published. */
export async function readManifest(dataDir: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dataDir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SnapshotError('corrupt_manifest', `${path.join(dataDir, MANIFEST_FILE)} is not valid JSON`);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    throw new SnapshotError(
      'corrupt_manifest',
      `${path.join(dataDir, MANIFEST_FILE)} is not a snapshot manifest: ${issuesMessage(result.error)}`,
    );
  }
  return result.data;
}

/** Absolute path of a table's published file in a manifest. */
export function tableFilePath(dataDir: string, entry: TableEntry): string {
  return path.resolve(dataDir, entry.file);
}

/** A fresh path inside `data/.staging/` (same filesystem as the data dir, so publish can rename). */
export async function stagingPath(dataDir: string, table: string): Promise<string> {
  tableNameSchema.parse(table);
  const dir = path.join(dataDir, STAGING_DIR);
  await fsp.mkdir(dir, { recursive: true });
  return path.join(dir, `${table}-${Date.now()}-${randomBytes(6).toString('hex')}.parquet`);
}

const publishQueues = new Map<string, Promise<unknown>>();

/** Runs publishes of one directory one after another inside this process. */
function serialised<T>(dataDir: string, work: () => Promise<T>): Promise<T> {
  const key = path.resolve(dataDir);
  const previous = publishQueues.get(key) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.catch(() => undefined);
  publishQueues.set(key, settled);
  void settled.then(() => {
    if (publishQueues.get(key) === settled) publishQueues.delete(key);
  });
  return next;
}

async function fsyncPath(target: string): Promise<void> {
  const handle = await fsp.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(target: string): Promise<boolean> {
  try {
    await fsp.stat(target);
    return true;
  } catch {
    return false;
  }
}

async function withInspector<T>(
  connection: DuckDBConnection | undefined,
  work: (c: DuckDBConnection) => Promise<T>,
): Promise<T> {
  if (connection) return work(connection);
  const instance = await DuckDBInstance.create(':memory:', {
    threads: '1',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const own = await instance.connect();
  try {
    return await work(own);
  } finally {
    own.closeSync();
    instance.closeSync();
  }
}

interface StagedTable {
  name: string;
  stagedPath: string;
  rows: number;
  bytes: number;
  columns: ColumnInfo[];
}

/**
 * Publishes staged Parquet files as the Pond line's new snapshot set and returns the new manifest.
 * Fails without changing anything (files stay staged, the pointer is untouched) on bad input, a
 * freshness going backwards, a missing or unreadable staged file, or a staged file on another
 * filesystem.
 */
export function publish(
  dataDir: string,
  input: PublishInput,
  options: PublishOptions = {},
): Promise<Manifest> {
  const parsed = publishInputSchema.safeParse(input);
  if (!parsed.success) {
    return Promise.reject(
      new SnapshotError('invalid_input', `invalid publish: ${issuesMessage(parsed.error)}`),
    );
  }
  return serialised(dataDir, () => publishNow(dataDir, parsed.data, options));
}

async function publishNow(
  dataDir: string,
  input: z.output<typeof publishInputSchema>,
  options: PublishOptions,
): Promise<Manifest> {
  const now = options.now ?? Date.now();
  await fsp.mkdir(dataDir, { recursive: true });
  const previous = await readManifest(dataDir);
  if (previous && input.f < previous.f) {
    throw new SnapshotError(
      'freshness_regression',
      `publish at f=${input.f} is older than the published f=${previous.f}; freshness never goes backwards`,
    );
  }
  for (const name of input.drop ?? []) {
    if (!previous?.tables[name]) {
      throw new SnapshotError('invalid_input', `cannot drop table "${name}": it is not published`);
    }
  }

  const staged: StagedTable[] = await withInspector(options.connection, async (connection) => {
    const out: StagedTable[] = [];
    for (const table of input.tables) {
      const stagedPath = path.resolve(table.stagedPath);
      const stat = await fsp.stat(stagedPath).catch(() => null);
      if (!stat?.isFile()) {
        throw new SnapshotError(
          'staged_file_missing',
          `staged file for "${table.name}" not found: ${stagedPath}`,
        );
      }
      try {
        const info = await inspectParquet(connection, stagedPath);
        out.push({ name: table.name, stagedPath, bytes: stat.size, ...info });
      } catch (error) {
        throw new SnapshotError(
          'invalid_parquet',
          `staged file for "${table.name}" is not a readable Parquet file (${stagedPath}): ${(error as Error).message}`,
        );
      }
    }
    return out;
  });

  // Move every file first; only then switch the pointer. Undo the moves if anything fails.
  const moved: { from: string; to: string }[] = [];
  const entries: Record<string, TableEntry> = {};
  const seed = randomBytes(4).toString('hex');
  try {
    for (const [index, table] of staged.entries()) {
      const dir = path.join(dataDir, table.name);
      await fsp.mkdir(dir, { recursive: true });
      const fileName = `${input.f}-${now}-${seed}${index}.parquet`;
      const target = path.join(dir, fileName);
      await fsyncPath(table.stagedPath);
      try {
        await fsp.rename(table.stagedPath, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EXDEV') {
          throw new SnapshotError(
            'cross_device',
            `staged file ${table.stagedPath} is on another filesystem than ${dataDir}; stage it under the data dir (stagingPath())`,
          );
        }
        throw error;
      }
      moved.push({ from: table.stagedPath, to: target });
      // The orphan age of a file counts from its placement, not from when the Duck wrote it.
      const stamp = new Date(now);
      await fsp.utimes(target, stamp, stamp);
      entries[table.name] = {
        file: `${table.name}/${fileName}`,
        rows: table.rows,
        bytes: table.bytes,
        columns: table.columns,
        publishedAt: now,
      };
    }
    for (const dir of new Set(staged.map((t) => path.join(dataDir, t.name)))) await fsyncPath(dir);

    const manifest = nextManifest(previous, input, entries, now);
    await writeManifest(dataDir, manifest);
    return manifest;
  } catch (error) {
    for (const { from, to } of moved.reverse()) await fsp.rename(to, from).catch(() => undefined);
    throw error;
  }
}

function nextManifest(
  previous: Manifest | null,
  input: z.output<typeof publishInputSchema>,
  published: Record<string, TableEntry>,
  now: number,
): Manifest {
  const dropped = new Set(input.drop ?? []);
  const tables: Record<string, TableEntry> = {};
  const retired: Manifest['retired'] = [...(previous?.retired ?? [])];
  for (const [name, entry] of Object.entries(previous?.tables ?? {})) {
    if (dropped.has(name) || published[name]) retired.push({ file: entry.file, at: now });
    else tables[name] = entry;
  }
  Object.assign(tables, published);
  return {
    format: MANIFEST_FORMAT,
    seq: (previous?.seq ?? 0) + 1,
    f: input.f,
    publishedAt: now,
    tables,
    retired,
  };
}

async function writeManifest(dataDir: string, manifest: Manifest): Promise<void> {
  // Forget retirements whose files garbage collection already removed, so the list stays short.
  const still: Manifest['retired'] = [];
  for (const r of manifest.retired) if (await exists(path.join(dataDir, r.file))) still.push(r);
  manifest.retired = still;

  const temp = path.join(dataDir, `${MANIFEST_TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  const handle = await fsp.open(temp, 'wx');
  try {
    await handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fsp.rename(temp, path.join(dataDir, MANIFEST_FILE));
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await fsyncPath(dataDir);
}

export interface GarbageCollectionOptions {
  /** Epoch ms; defaults to Date.now(). */
  now?: number;
  /** How long a file stays after it left the published set (or, for orphans, after placement). */
  graceMs: number;
  /** Files being read right now (absolute paths), e.g. a SnapshotLeases or a Set; checked just before each delete. */
  inUse?: InUseCheck;
}

export interface GarbageCollectionResult {
  /** Paths relative to the data dir. */
  deleted: string[];
  /** Unreferenced files kept because they are in use or still inside the grace period. */
  kept: string[];
}

/**
 * Deletes snapshot files that are no longer published, once the grace period has passed since they
 * left the set, and never a file in use. Orphans (files never published: a crashed publish, old
 * staging files, temp manifests) age from their modification time. Only files this module creates
 * are candidates; anything else in the directory is left alone.
 */
export async function collectGarbage(
  dataDir: string,
  options: GarbageCollectionOptions,
): Promise<GarbageCollectionResult> {
  if (!Number.isFinite(options.graceMs) || options.graceMs < 0) {
    throw new SnapshotError('invalid_input', 'graceMs must be a non-negative number');
  }
  const now = options.now ?? Date.now();
  const manifest = await readManifest(dataDir);
  const referenced = new Set(Object.values(manifest?.tables ?? {}).map((t) => t.file));
  const retiredAt = new Map((manifest?.retired ?? []).map((r) => [r.file, r.at]));
  const result: GarbageCollectionResult = { deleted: [], kept: [] };

  const candidates: string[] = [];
  const topLevel = await fsp.readdir(dataDir, { withFileTypes: true }).catch(() => []);
  for (const entry of topLevel) {
    if (entry.isFile() && entry.name.startsWith(MANIFEST_TEMP_PREFIX)) candidates.push(entry.name);
    if (!entry.isDirectory()) continue;
    if (entry.name !== STAGING_DIR && !IDENTIFIER_PATTERN.test(entry.name)) continue;
    const inner = await fsp.readdir(path.join(dataDir, entry.name), { withFileTypes: true }).catch(() => []);
    for (const file of inner) {
      if (file.isFile() && file.name.endsWith('.parquet')) candidates.push(`${entry.name}/${file.name}`);
    }
  }

  for (const relative of candidates) {
    if (referenced.has(relative)) continue;
    const absolute = path.resolve(dataDir, relative);
    let since = retiredAt.get(relative);
    if (since === undefined) {
      const stat = await fsp.stat(absolute).catch(() => null);
      if (!stat) continue;
      since = stat.mtimeMs;
    }
    if (now - since < options.graceMs || options.inUse?.has(absolute)) {
      result.kept.push(relative);
      continue;
    }
    await fsp.rm(absolute, { force: true });
    result.deleted.push(relative);
  }

  // Directories of dropped tables disappear once empty.
  for (const entry of topLevel) {
    if (!entry.isDirectory() || entry.name === STAGING_DIR || manifest?.tables[entry.name]) continue;
    if (!IDENTIFIER_PATTERN.test(entry.name)) continue;
    await fsp.rmdir(path.join(dataDir, entry.name)).catch(() => undefined);
  }
  return result;
}

export interface TableDescription {
  name: string;
  rows: number;
  bytes: number;
  columns: ColumnInfo[];
  publishedAt: string;
}

export interface PondTablesDescription {
  /** Freshness of the published set, epoch ms, and as ISO-8601. Null when nothing is published. */
  f: number | null;
  freshness: string | null;
  publishedAt: string | null;
  tables: TableDescription[];
}

/** Schema, row counts and freshness of a Pond line's published tables (GET /api/ponds/{name}/tables). */
export async function describeTables(dataDir: string): Promise<PondTablesDescription> {
  const manifest = await readManifest(dataDir);
  if (!manifest) return { f: null, freshness: null, publishedAt: null, tables: [] };
  const tables = Object.entries(manifest.tables)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, entry]) => ({
      name,
      rows: entry.rows,
      bytes: entry.bytes,
      columns: entry.columns,
      publishedAt: new Date(entry.publishedAt).toISOString(),
    }));
  return {
    f: manifest.f,
    freshness: new Date(manifest.f).toISOString(),
    publishedAt: new Date(manifest.publishedAt).toISOString(),
    tables,
  };
}

/**
 * The query-side view of one manifest: `qualifier.table` → absolute file, for each qualifier (e.g.
 * `['sales', 'sales@2']` when major 2 is the selected line). Resolve once per query and pass the
 * map to QueryExecutor.execute so the whole query reads one published version.
 */
export function queryTablesFromManifest(
  dataDir: string,
  manifest: Manifest | null,
  qualifiers: readonly string[],
): Map<string, string> {
  const tables = new Map<string, string>();
  if (!manifest) return tables;
  for (const [name, entry] of Object.entries(manifest.tables)) {
    for (const qualifier of qualifiers) tables.set(`${qualifier}.${name}`, tableFilePath(dataDir, entry));
  }
  return tables;
}
