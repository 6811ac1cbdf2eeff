/**
 * Where a Duck keeps its line's state and how it reaches published data: its storage mode.
 *
 * - `local`: the Catchment's own folders, by the absolute paths the config carries (a Duck on the
 *   Catchment's machine). It reads inputs and the manifest from the line's folder and publishes
 *   into the line's data directory itself.
 * - `http`: a work directory of its own (`DUCKSTRING_DUCK_WORKDIR`, default a per-line folder in
 *   the user's cache directory) and nothing of the Catchment's disk. Source bundle, inputs, the
 *   manifest and the published files come over HTTP with the Duck's token; each exported table is
 *   uploaded (streamed, sha256 checked by the Catchment, retried) and the Catchment publishes.
 *
 * Work directory layout (http):
 *   code/<checksum>/     the Pond version's source, one folder per version, never rewritten
 *   line/                registry.duckdb, ledger.db, inputs/ (cached by immutable name),
 *                        staging/run-<f>/ (exports), published-fingerprints.json, rebuild marker
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DUCK_DATA_STREAMS, duckDataPath, UPLOAD_CONTENT_TYPE } from '../api/duck-data.js';
import { type Manifest, publish, readManifest, STAGING_DIR } from '../compute/snapshots.js';
import { unpackPond } from '../pond/archive.js';
import type { DuckClient } from './client.js';
import type { DuckConfig } from './protocol.js';

export type StorageKind = 'local' | 'http';

export interface LineStorage {
  readonly kind: StorageKind;
  /** The line's working folder: registry, ledger, inputs, fingerprints. */
  readonly lineDir: string;
  readonly registryPath: string;
  readonly ledgerPath: string;
  /** Where run f's exports are staged (`<stagingRoot>/run-<f>`). */
  readonly stagingRoot: string;
  /** Folders besides the code the sandboxed registry may reach. */
  readonly dataDirs: readonly string[];
  /** The folder holding this config's version of the Pond's source. */
  codeDir(config: DuckConfig): Promise<string>;
  /** The line's published set (null: nothing published yet). */
  manifest(): Promise<Manifest | null>;
  /** The run's inputs as absolute paths ('source.table' → file), fetched when needed. */
  inputs(inputs: Readonly<Record<string, string>>): Promise<Record<string, string>>;
  /** Publishes staged tables as the line's set at f; returns the new manifest. */
  publish(
    f: number,
    tables: readonly { name: string; stagedPath: string }[],
    connection: DuckDBConnection,
  ): Promise<Manifest>;
  /**
   * http: the registry must be rebuilt from the published set before running (a work directory
   * without its line's registry). Always false for local storage.
   */
  needsRebuild(): Promise<boolean>;
  /** Downloads one published file (a manifest entry's `file`) to a local path for a rebuild. */
  fetchPublished(file: string): Promise<string>;
  /** Records that the registry now holds the published set. */
  rebuilt(): Promise<void>;
  /**
   * Drops cached inputs no open run needs (`keep`: paths relative to the line's folder). Local
   * storage keeps none of its own: the Catchment collects the line's inputs.
   */
  pruneInputs(keep: ReadonlySet<string>): Promise<void>;
}

/**
 * `'source.table'` → absolute path of each input the Catchment gave the run. Inputs are relative to
 * the line's folder and must stay inside it: the Duck reads nothing of a Source but what it was given.
 */
export function resolveInputs(
  lineDir: string,
  inputs: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [ref, rel] of Object.entries(inputs)) {
    const absolute = path.resolve(lineDir, rel);
    if (rel === '' || path.isAbsolute(rel) || !absolute.startsWith(lineDir + path.sep)) {
      throw new Error(`input ${ref}: "${rel}" is not a path inside the line's folder`);
    }
    out[ref] = absolute;
  }
  return out;
}

export class LocalStorage implements LineStorage {
  readonly kind = 'local' as const;
  readonly lineDir: string;
  readonly registryPath: string;
  readonly ledgerPath: string;
  readonly stagingRoot: string;
  readonly dataDirs: readonly string[];
  private readonly dataDir: string;

  constructor(config: DuckConfig) {
    const { registryPath, ledgerPath, dataDir } = config;
    if (!registryPath || !ledgerPath || !dataDir || !config.codeDir)
      throw new Error('local storage needs codeDir, registryPath, dataDir and ledgerPath in the config');
    this.registryPath = registryPath;
    this.ledgerPath = ledgerPath;
    this.lineDir = path.dirname(path.resolve(registryPath));
    this.dataDir = path.resolve(dataDir);
    this.stagingRoot = path.join(this.dataDir, STAGING_DIR);
    this.dataDirs = this.dataDir.startsWith(this.lineDir + path.sep)
      ? [this.lineDir]
      : [this.lineDir, this.dataDir];
  }

  async codeDir(config: DuckConfig): Promise<string> {
    if (!config.codeDir) throw new Error('the config names no codeDir');
    return config.codeDir;
  }

  manifest(): Promise<Manifest | null> {
    return readManifest(this.dataDir);
  }

  async inputs(inputs: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    return resolveInputs(this.lineDir, inputs);
  }

  publish(f: number, tables: readonly { name: string; stagedPath: string }[], connection: DuckDBConnection) {
    return publish(this.dataDir, { f, tables: [...tables] }, { connection });
  }

  async needsRebuild(): Promise<boolean> {
    return false;
  }

  fetchPublished(): Promise<string> {
    return Promise.reject(new Error('local storage reads published files in place'));
  }

  async rebuilt(): Promise<void> {}

  async pruneInputs(): Promise<void> {}
}

/** Default work directory of a line's Duck: the user's cache directory, never the Catchment's root. */
export function defaultWorkDir(line: string, env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir() || os.tmpdir(), '.cache');
  return path.join(cache, 'duckstring', 'ducks', line);
}

/** Attempts of one transfer before the run fails (a refused one, 4xx, is never retried). */
const TRANSFER_ATTEMPTS = 4;
const REBUILD_MARKER = 'registry.rebuilt';

/** A transfer the Catchment refused (4xx): retrying would not help. */
export class TransferRefused extends Error {}

export class HttpStorage implements LineStorage {
  readonly kind = 'http' as const;
  readonly lineDir: string;
  readonly registryPath: string;
  readonly ledgerPath: string;
  readonly stagingRoot: string;
  readonly dataDirs: readonly string[];
  private readonly name: string;
  private readonly major: number;

  constructor(
    private readonly client: DuckClient,
    line: string,
    readonly workDir: string,
    private readonly maxUploadBytes: number,
  ) {
    const at = line.lastIndexOf('@');
    this.name = line.slice(0, at);
    this.major = Number(line.slice(at + 1));
    this.lineDir = path.join(path.resolve(workDir), 'line');
    this.registryPath = path.join(this.lineDir, 'registry.duckdb');
    this.ledgerPath = path.join(this.lineDir, 'ledger.db');
    this.stagingRoot = path.join(this.lineDir, 'staging');
    this.dataDirs = [this.lineDir];
  }

  /** Creates the work directory (owner only). */
  async prepare(): Promise<void> {
    await fsp.mkdir(this.lineDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(path.join(this.workDir, 'code'), { recursive: true, mode: 0o700 });
  }

  async codeDir(config: DuckConfig): Promise<string> {
    const checksum = config.sourceChecksum ?? '';
    if (!/^[0-9a-f]{64}$/.test(checksum))
      throw new Error(`the config's source checksum "${checksum}" is not a sha256`);
    const dir = path.join(this.workDir, 'code', checksum);
    if (await isDir(dir)) return dir;
    const bytes = await this.retrying(`source ${checksum.slice(0, 12)}`, async () => {
      const res = await this.get(duckDataPath(this.name, this.major, DUCK_DATA_STREAMS.source, checksum));
      const body = Buffer.from(await res.arrayBuffer());
      const declared = res.headers.get('x-sha256');
      const actual = createHash('sha256').update(body).digest('hex');
      if (declared !== actual)
        throw new Error(`source bundle arrived damaged (sha256 ${actual}, sent ${declared})`);
      return body;
    });
    const temp = path.join(this.workDir, 'code', `.${checksum}-${randomBytes(4).toString('hex')}`);
    await unpackPond(bytes, temp);
    try {
      await fsp.rename(temp, dir);
    } catch (error) {
      // Another process of this line placed it first: versions are immutable, keep theirs.
      await fsp.rm(temp, { recursive: true, force: true });
      if (!(await isDir(dir))) throw error;
    }
    return dir;
  }

  manifest(): Promise<Manifest | null> {
    return this.client.manifest();
  }

  async inputs(inputs: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const out = resolveInputs(this.lineDir, inputs);
    for (const [ref, rel] of Object.entries(inputs)) {
      const target = out[ref]!;
      if (await isFile(target)) continue; // immutable names: a cached file is the file
      const segments = rel.split(/[\\/]/);
      await this.download(duckDataPath(this.name, this.major, ...segments), target, `input ${ref}`);
    }
    return out;
  }

  async publish(f: number, tables: readonly { name: string; stagedPath: string }[]): Promise<Manifest> {
    const hashes: Record<string, { sha256: string }> = {};
    for (const t of tables) hashes[t.name] = { sha256: await this.upload(f, t.name, t.stagedPath) };
    return this.retrying(`publish of run ${f}`, async () => {
      try {
        return await this.client.publish(f, hashes);
      } catch (error) {
        const message = (error as Error).message;
        if (!message.startsWith('Catchment refused')) throw error;
        // An earlier attempt was published but its answer lost: the uploads are consumed and the
        // set is at f already. Anything else refused will not change on retry.
        const current = /\bupload_missing\b/.test(message) ? await this.client.manifest() : null;
        if (current && current.f === f) return current;
        throw new TransferRefused(message);
      }
    });
  }

  async pruneInputs(keep: ReadonlySet<string>): Promise<void> {
    const base = path.join(this.lineDir, 'inputs');
    for (const dir of await fsp.readdir(base).catch(() => [] as string[])) {
      for (const name of await fsp.readdir(path.join(base, dir)).catch(() => [] as string[])) {
        // A partial file is a download in progress (or a leftover a later download replaces).
        if (name.endsWith('.partial') || keep.has(path.join('inputs', dir, name))) continue;
        await fsp.rm(path.join(base, dir, name), { force: true });
      }
    }
  }

  async needsRebuild(): Promise<boolean> {
    return !(await isFile(path.join(this.lineDir, REBUILD_MARKER)));
  }

  async fetchPublished(file: string): Promise<string> {
    const target = path.join(this.lineDir, 'rebuild', `${randomBytes(6).toString('hex')}.parquet`);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await this.download(
      duckDataPath(this.name, this.major, DUCK_DATA_STREAMS.snapshots, ...file.split('/')),
      target,
      `published ${file}`,
    );
    return target;
  }

  async rebuilt(): Promise<void> {
    await fsp.rm(path.join(this.lineDir, 'rebuild'), { recursive: true, force: true });
    await fsp.writeFile(path.join(this.lineDir, REBUILD_MARKER), `${new Date().toISOString()}\n`);
  }

  /** Streams one table of run f to the Catchment; its sha256 (what the publish names). */
  private async upload(f: number, table: string, file: string): Promise<string> {
    const { size } = await fsp.stat(file);
    if (size > this.maxUploadBytes)
      throw new TransferRefused(
        `table ${table} of run ${f} is ${size} bytes; the Catchment accepts uploads up to ${this.maxUploadBytes}`,
      );
    const sha256 = await hashFile(file);
    const url = new URL(
      duckDataPath(this.name, this.major, DUCK_DATA_STREAMS.uploads, String(f), table),
      this.client.baseUrl,
    );
    await this.retrying(`upload of ${table} (run ${f})`, () =>
      putFile(url, file, size, {
        authorization: `Bearer ${this.client.token}`,
        'content-type': UPLOAD_CONTENT_TYPE,
        'x-sha256': sha256,
      }),
    );
    return sha256;
  }

  private async get(route: string): Promise<Response> {
    const res = await fetch(new URL(route, this.client.baseUrl), {
      headers: { authorization: `Bearer ${this.client.token}` },
    });
    if (res.status >= 200 && res.status < 300) return res;
    const text = await res.text().catch(() => '');
    if (res.status >= 400 && res.status < 500)
      throw new TransferRefused(`Catchment refused GET ${route}: ${res.status} ${text}`);
    throw new Error(`Catchment answered GET ${route}: ${res.status} ${text}`);
  }

  /** Downloads to a temp name beside `target`, checks the length, then renames: never a torn file. */
  private async download(route: string, target: string, what: string): Promise<void> {
    await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    await this.retrying(what, async () => {
      const res = await this.get(route);
      const temp = `${target}.${randomBytes(4).toString('hex')}.partial`;
      try {
        if (!res.body) throw new Error('empty answer');
        let bytes = 0;
        const count = new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(Readable.fromWeb(res.body as never), count, createWriteStream(temp, { mode: 0o600 }));
        const declared = Number(res.headers.get('content-length'));
        if (Number.isFinite(declared) && declared !== bytes)
          throw new Error(`${what}: ${bytes} of ${declared} bytes arrived`);
        await fsp.rename(temp, target);
      } catch (error) {
        await fsp.rm(temp, { force: true });
        throw error;
      }
    });
  }

  private async retrying<T>(what: string, work: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let attempt = 1; attempt <= TRANSFER_ATTEMPTS; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (error instanceof TransferRefused) throw error;
        last = error;
        if (attempt < TRANSFER_ATTEMPTS) await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
      }
    }
    throw new Error(`${what} failed after ${TRANSFER_ATTEMPTS} attempts: ${(last as Error).message}`);
  }
}

async function isDir(p: string): Promise<boolean> {
  return (await fsp.stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function isFile(p: string): Promise<boolean> {
  return (await fsp.stat(p).catch(() => null))?.isFile() ?? false;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** PUT of a file as a stream with its length (node:http: fetch would send it chunked). */
function putFile(url: URL, file: string, size: number, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: 'PUT', headers: { ...headers, 'content-length': String(size) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          if (status >= 200 && status < 300) resolve();
          else if (status >= 400 && status < 500)
            reject(new TransferRefused(`Catchment refused PUT ${url.pathname}: ${status} ${text}`));
          else reject(new Error(`Catchment answered PUT ${url.pathname}: ${status} ${text}`));
        });
      },
    );
    req.on('error', reject);
    createReadStream(file).on('error', reject).pipe(req);
  });
}
