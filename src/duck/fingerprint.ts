/**
 * Whether a Ripple's output actually changed: a content fingerprint per exported table, compared
 * with the fingerprint of the same table in the previously published snapshot.
 *
 * The fingerprint is over the rows as a multiset, not over the Parquet bytes: a Ripple's output
 * order is not defined (DuckDB parallelises), and the same rows can land in other row groups, so
 * bytes would change when nothing did. Each row hashes to 64 bits (DuckDB `hash`, twice with
 * different salts), and the sums of those hashes (exact HUGEINTs, so duplicate rows add up rather
 * than cancel as XOR would) plus the row count and the column names and types make the fingerprint.
 * A different DuckDB build may hash differently; that can only report a change that did not happen,
 * never hide one.
 *
 * Fingerprints of the published set are kept beside the registry, keyed by the published file
 * (`<table>/<unique>.parquet`), so a fingerprint can never be attributed to another snapshot: a file
 * the map does not know (an older Duck published it, the map was lost) counts as changed.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import type { Manifest } from '../compute/snapshots.js';

const FINGERPRINT_VERSION = 'rows-v1';

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The content fingerprint of one Parquet file's rows and schema (order-insensitive), or null when it
 * cannot be taken: a run never fails for it, it only counts as changed.
 */
export async function fingerprintParquet(conn: DuckDBConnection, file: string): Promise<string | null> {
  try {
    return await fingerprintOrThrow(conn, file);
  } catch {
    return null;
  }
}

async function fingerprintOrThrow(conn: DuckDBConnection, file: string): Promise<string> {
  const source = `read_parquet(${quoteLiteral(file)})`;
  const columns = await conn.runAndReadAll(
    `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${source})`,
  );
  const sums = await conn.runAndReadAll(
    `SELECT count(*)::VARCHAR AS n, coalesce(sum(hash(t)), 0)::VARCHAR AS h1,
            coalesce(sum(hash(t, 'duckstring')), 0)::VARCHAR AS h2
     FROM ${source} t`,
  );
  return createHash('sha256')
    .update(
      JSON.stringify({
        v: FINGERPRINT_VERSION,
        columns: columns.getRows().map((r) => [String(r[0]), String(r[1])]),
        rows: sums.getRowObjectsJS()[0],
      }),
    )
    .digest('hex');
}

/** Where a staged table's fingerprint waits for the publish (beside `<table>.parquet`). */
export function stagedFingerprintPath(stagedParquet: string): string {
  return stagedParquet.replace(/\.parquet$/, '.fingerprint');
}

export async function writeStagedFingerprint(
  stagedParquet: string,
  fingerprint: string | null,
): Promise<void> {
  if (fingerprint !== null) await fsp.writeFile(stagedFingerprintPath(stagedParquet), fingerprint);
}

/** The staged fingerprint, or null when there is none (staged by a Duck that did not write them). */
export async function readStagedFingerprint(stagedParquet: string): Promise<string | null> {
  try {
    return (await fsp.readFile(stagedFingerprintPath(stagedParquet), 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

const storeSchema = z.object({ files: z.record(z.string(), z.string()) });

/** Published file (`<table>/<unique>.parquet`) → its fingerprint, for the files of the current snapshot. */
export class PublishedFingerprints {
  constructor(private readonly file: string) {}

  async read(): Promise<Map<string, string>> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw error;
    }
    // A damaged map only costs "changed" answers, never a failed run.
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return new Map();
    }
    const parsed = storeSchema.safeParse(raw);
    return parsed.success ? new Map(Object.entries(parsed.data.files)) : new Map();
  }

  /**
   * Keeps the fingerprints of `manifest`'s files: those just published (`added`) and carried-forward
   * ones. Best effort: the snapshot is already published, and a lost map only costs "changed" answers.
   */
  async record(manifest: Manifest, added: ReadonlyMap<string, string>): Promise<void> {
    try {
      await this.write(manifest, added);
    } catch {
      // The next run finds no fingerprint for these files and reports a change.
    }
  }

  private async write(manifest: Manifest, added: ReadonlyMap<string, string>): Promise<void> {
    const known = await this.read();
    const files: Record<string, string> = {};
    for (const entry of Object.values(manifest.tables)) {
      const fingerprint = added.get(entry.file) ?? known.get(entry.file);
      if (fingerprint) files[entry.file] = fingerprint;
    }
    const temp = `${this.file}.tmp-${process.pid}`;
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    await fsp.writeFile(temp, `${JSON.stringify({ files }, null, 2)}\n`);
    await fsp.rename(temp, this.file);
  }
}

/**
 * Whether `table`'s new fingerprint differs from the one it has in `previous` (the snapshot of an
 * earlier run). Unknown on either side counts as changed.
 */
export function tableChanged(
  table: string,
  fingerprint: string | null,
  previous: Manifest | null,
  known: ReadonlyMap<string, string>,
): boolean {
  const entry = previous?.tables[table];
  if (!entry || fingerprint === null) return true;
  return known.get(entry.file) !== fingerprint;
}
