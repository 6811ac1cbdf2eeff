/**
 * The Catchment's side of the Duck data plane (a Duck in `http` storage mode, src/duck/storage.ts):
 * it serves a line's source bundle, run inputs and published files, stages uploads, and publishes
 * them through the SnapshotStore. Nothing here knows HTTP; routes/duck-data.ts is the transport.
 *
 * Scope: every call names one line, and the caller's Duck token was checked for exactly that line
 * before it gets here. Names are matched against strict patterns before they become paths (never a
 * `..`, a separator or an absolute path), and a file outside the line's own folder is unreachable.
 *
 * Uploads are staged under the line's data directory (`data/.staging/remote-<f>/`, same filesystem,
 * so a publish is a rename) with their sha256 in the name; a publish names the hashes it expects,
 * so only bytes that were checked end up published. The manifest switches once, atomically, inside
 * `SnapshotStore.publish`; nothing before that call is visible to readers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LocalSnapshotStore } from '../compute/local-snapshot-store.js';
import { type Manifest, readManifest, SnapshotError, STAGING_DIR } from '../compute/snapshots.js';
import { packPond } from '../pond/archive.js';
import { RequestError } from '../shared/errors.js';
import { IDENTIFIER_SOURCE, NAME_SOURCE } from '../shared/ids.js';
import type { StoredManifest } from './catchment.js';
import { INPUTS_DIR } from './governed-inputs.js';
import type { CatchmentStore } from './store/index.js';
import { linePaths } from './store/index.js';

export interface LineKey {
  name: string;
  major: number;
}

const TABLE = new RegExp(`^${IDENTIFIER_SOURCE}$`);
const SHA256 = /^[0-9a-f]{64}$/;
const F = /^(0|[1-9]\d{0,15})$/;
/** `inputs/<source>@<major>/<table>-<key>.parquet`, as governed-inputs.ts names them. */
const INPUT_FILE = new RegExp(
  `^${INPUTS_DIR}/${NAME_SOURCE}@(0|[1-9]\\d{0,8})/${IDENTIFIER_SOURCE}-[0-9a-f]{20}\\.parquet$`,
);
const UPLOAD_PREFIX = 'remote-';

export interface ServedFile {
  stream: Readable;
  size: number;
  /** Lets go of whatever kept the file from being collected while it streams. */
  release: () => void;
}

function notFound(what: string): RequestError {
  return new RequestError(404, 'not_found', what);
}

export class DuckDataPlane {
  constructor(
    private readonly root: string,
    private readonly store: CatchmentStore,
    private readonly snapshots: LocalSnapshotStore,
    /** Largest upload accepted, bytes (one table of one run). */
    readonly maxUploadBytes: number,
  ) {}

  /** The selected version's source as a Pond archive, if `checksum` is that version's. */
  async source(line: LineKey, checksum: string): Promise<Buffer> {
    const selected = this.store.getLineConfig(line.name, line.major).selected;
    // A stale or foreign checksum answers like a missing one: nothing about other versions leaks.
    if (!SHA256.test(checksum) || selected.checksum !== checksum)
      throw notFound(`no source with checksum ${checksum.slice(0, 64)} for this line`);
    return packPond(this.store.resolve(selected.sourcePath));
  }

  /** One of the line's input files (`inputs/<source>@<major>/<file>`), streamed. */
  async input(line: LineKey, rel: string): Promise<ServedFile> {
    if (!INPUT_FILE.test(rel)) throw notFound(`"${rel}" is not an input file of this line`);
    const file = path.join(linePaths(this.root, line.name, line.major).dir, ...rel.split('/'));
    return this.open(file, () => {}, `no input "${rel}" for this line`);
  }

  /** The line's current manifest (null: nothing published yet). */
  manifest(line: LineKey): Promise<Manifest | null> {
    return readManifest(this.dataDir(line));
  }

  /** A file of the line's current published set (leased while it streams). */
  async snapshot(line: LineKey, file: string): Promise<ServedFile> {
    const manifest = await this.manifest(line);
    const entry = Object.entries(manifest?.tables ?? {}).find(([, e]) => e.file === file);
    if (!entry) throw notFound(`"${file}" is not in this line's published set`);
    const ref = { pond: line.name, major: line.major, table: entry[0], file, checksum: '' };
    const release = this.snapshots.lease([ref]);
    return this.open(this.snapshots.pathOf(ref), release, `"${file}" is not in this line's published set`);
  }

  /**
   * Stages one exported table of run `f`: streamed to a temp file while hashed and counted, kept
   * only if its size and sha256 are what the Duck declared. A retry replaces an earlier upload of
   * the same table. Nothing is visible until `publish`.
   */
  async upload(
    line: LineKey,
    fText: string,
    table: string,
    declared: { sha256: string | undefined; bytes: number | undefined },
    body: Readable,
  ): Promise<{ sha256: string; bytes: number }> {
    if (!F.test(fText)) throw new RequestError(400, 'invalid_request', `f must be epoch ms, got "${fText}"`);
    this.checkTable(line, table);
    const sha256 = declared.sha256?.toLowerCase();
    if (!sha256 || !SHA256.test(sha256))
      throw new RequestError(400, 'invalid_request', 'an upload needs x-sha256: the hex sha256 of its bytes');
    if (declared.bytes !== undefined && declared.bytes > this.maxUploadBytes) throw this.tooLarge();
    const dir = this.uploadDir(line, Number(fText));
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.${table}.${randomBytes(6).toString('hex')}.partial`);
    const hash = createHash('sha256');
    let bytes = 0;
    let oversized = false;
    const counter = async function* (this: DuckDataPlane, source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > this.maxUploadBytes) {
          oversized = true;
          throw this.tooLarge();
        }
        hash.update(chunk);
        yield chunk;
      }
    }.bind(this);
    try {
      await pipeline(body, counter, createWriteStream(temp, { mode: 0o600 }));
    } catch {
      await fsp.rm(temp, { force: true });
      if (oversized) throw this.tooLarge();
      throw new RequestError(400, 'upload_interrupted', `the upload of ${table} did not arrive whole`);
    }
    const actual = hash.digest('hex');
    if (declared.bytes !== undefined && declared.bytes !== bytes) {
      await fsp.rm(temp, { force: true });
      throw new RequestError(
        400,
        'upload_size_mismatch',
        `upload of ${table}: content-length said ${declared.bytes} bytes, ${bytes} arrived`,
      );
    }
    if (actual !== sha256) {
      await fsp.rm(temp, { force: true });
      throw new RequestError(
        400,
        'checksum_mismatch',
        `upload of ${table}: the bytes hash to ${actual}, not the declared ${sha256}`,
      );
    }
    for (const old of await fsp.readdir(dir)) {
      if (old.startsWith(`${table}.`) && old.endsWith('.parquet'))
        await fsp.rm(path.join(dir, old), { force: true });
    }
    await fsp.rename(temp, path.join(dir, `${table}.${actual}.parquet`));
    return { sha256: actual, bytes };
  }

  /**
   * Publishes run f's uploads (exactly the hashes named) as the line's new set, through the
   * SnapshotStore: the manifest switches once, atomically. Refused without any change when a table
   * may not be written by this Pond, an upload is missing, or freshness would go backwards.
   */
  async publish(line: LineKey, f: number, tables: Record<string, { sha256: string }>): Promise<Manifest> {
    const dir = this.uploadDir(line, f);
    const staged: { name: string; stagedPath: string }[] = [];
    for (const [table, { sha256 }] of Object.entries(tables)) {
      this.checkTable(line, table);
      const stagedPath = path.join(dir, `${table}.${sha256}.parquet`);
      if (!(await fsp.stat(stagedPath).catch(() => null))?.isFile()) {
        throw new RequestError(
          409,
          'upload_missing',
          `run ${f} has no upload of ${table} with sha256 ${sha256}; upload it first`,
        );
      }
      staged.push({ name: table, stagedPath });
    }
    const current = await this.manifest(line);
    if (current && f < current.f) {
      throw new RequestError(
        409,
        'freshness_regression',
        `publish at f=${f} is older than the published f=${current.f}; freshness never goes backwards`,
      );
    }
    try {
      await this.snapshots.publish({ pond: line.name, major: line.major }, { f, tables: staged });
    } catch (error) {
      if (error instanceof SnapshotError && error.code === 'invalid_parquet')
        throw new RequestError(
          400,
          'invalid_parquet',
          `an upload of run ${f} is not a readable Parquet file`,
        );
      throw error;
    }
    // This run's uploads are published; older runs' leftovers (failed before publishing) are done with.
    const staging = path.join(this.dataDir(line), STAGING_DIR);
    for (const entry of await fsp.readdir(staging).catch(() => [] as string[])) {
      const m = new RegExp(`^${UPLOAD_PREFIX}(\\d+)$`).exec(entry);
      if (m && Number(m[1]) <= f) await fsp.rm(path.join(staging, entry), { recursive: true, force: true });
    }
    return (await this.manifest(line))!;
  }

  /** The tables the line's selected version writes: the only ones its Duck may upload. */
  private checkTable(line: LineKey, table: string): void {
    const m = this.store.getLineConfig(line.name, line.major).selected.manifest as unknown as StoredManifest;
    if (!TABLE.test(table) || !(m.tables ?? []).includes(table)) {
      throw new RequestError(
        403,
        'permission_denied',
        `${line.name}@${line.major} does not write a table "${table.slice(0, 128)}"`,
      );
    }
  }

  private tooLarge(): RequestError {
    return new RequestError(
      413,
      'upload_too_large',
      `an upload may be at most ${this.maxUploadBytes} bytes (DUCKSTRING_DUCK_UPLOAD_MAX_BYTES)`,
    );
  }

  private dataDir(line: LineKey): string {
    return linePaths(this.root, line.name, line.major).data;
  }

  private uploadDir(line: LineKey, f: number): string {
    return path.join(this.dataDir(line), STAGING_DIR, `${UPLOAD_PREFIX}${f}`);
  }

  private async open(file: string, release: () => void, missing: string): Promise<ServedFile> {
    let handle: FileHandle | undefined;
    try {
      handle = await fsp.open(file, 'r');
      const st = await handle.stat();
      if (!st.isFile()) throw new Error('not a file');
      const stream = handle.createReadStream({ autoClose: true });
      stream.once('close', release);
      return { stream, size: st.size, release };
    } catch {
      await handle?.close().catch(() => {});
      release();
      throw notFound(missing);
    }
  }
}
