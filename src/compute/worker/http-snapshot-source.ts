/**
 * A worker's snapshot files fetched from the Catchment (the default; `--shared-root` reads them in
 * place instead). The Catchment sends, with each query, the files it may read and a short-lived
 * capability naming exactly them; this source downloads each over HTTP
 * (`GET <snapshotUrl>/internal/snapshots/<pond>/<major>/<file>`, `Authorization: Capability ...`),
 * checks it is what was announced (size, checksum header), and keeps it in a bounded LRU disk cache
 * by its immutable name, so the next query over the same snapshot reads it from disk.
 *
 * Names are checked before any I/O: a file list naming anything outside a line's snapshot files is
 * refused (`invalid_request`, INVALID_ARGUMENT on the wire). Any download failure is
 * `snapshot_unavailable` with a message naming the file, never the capability.
 */
import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SNAPSHOT_ROUTE_PREFIX } from '../capability.js';
import { QueryError } from '../query.js';
import { type CachedFile, FileCache, FileTooLargeForCache } from './file-cache.js';

// The SnapshotFileSource port is defined by the worker (src/compute/worker/snapshot-source.ts, in
// the worker helper's branch). Until the branches merge, its shape is written here as the design
// states it; the lead replaces these two local types with imports from snapshot-source.ts.
/** One snapshot file a query may read, as the worker receives it (proto SnapshotFile). */
export interface SnapshotFile {
  /** The name the SQL uses for it. */
  relation: string;
  pond: string;
  major: number;
  table: string;
  /** The file's name inside its line (`<table>/<unique>.parquet`, as SnapshotRef.file). */
  file: string;
  /** Bytes; a bigint as the generated proto type has it, or a number. */
  size: number | bigint;
  checksum: string;
}

/** A SnapshotFile whose names passed checkSnapshotFile, its size a number. */
export interface CheckedSnapshotFile extends SnapshotFile {
  size: number;
}

export interface SnapshotFileSource {
  open(
    files: SnapshotFile[],
    ctx: { capability: string; snapshotUrl: string },
  ): Promise<{ paths: Map<string, string>; release(): void }>;
}

export interface HttpSnapshotSourceOptions {
  /** The cache directory (the worker's own; not shared with another worker). */
  cacheDir: string;
  /** The cache's cap in bytes. */
  cacheBytes: number;
  /** Longest a single download may take before it is abandoned. Default 5 minutes. */
  downloadTimeoutMs?: number;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

const POND = /^[a-z][a-z0-9_]*$/;
/** `<claims>.<mac>`, both base64url (src/compute/capability.ts). */
const CAPABILITY = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const TABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `<table>/<name>.parquet`, as the snapshot store names a file: two plain segments. */
const FILE = /^([A-Za-z_][A-Za-z0-9_]*)\/([^/\\\0]+\.parquet)$/;

/**
 * Refuses, before any I/O, a file that is not a snapshot file of its line: an absolute name, `..`,
 * a backslash or NUL, a name of another table, an impossible size. The message says which rule.
 */
export function checkSnapshotFile(f: SnapshotFile): CheckedSnapshotFile {
  const refuse = (why: string) => {
    throw new QueryError('invalid_request', `snapshot file ${JSON.stringify(f.file)} refused: ${why}`);
  };
  if (typeof f.pond !== 'string' || !POND.test(f.pond))
    refuse(`pond ${JSON.stringify(f.pond)} is not a Pond name`);
  if (!Number.isSafeInteger(f.major) || f.major < 0) refuse(`major ${f.major} is not a major version`);
  if (typeof f.table !== 'string' || !TABLE.test(f.table))
    refuse(`table ${JSON.stringify(f.table)} is not a table name`);
  if (typeof f.file !== 'string') refuse('the name is not a string');
  const m = FILE.exec(f.file);
  if (!m) refuse('not a plain name <table>/<file>.parquet inside the line');
  if (m![1] !== f.table) refuse(`it is not a file of table ${f.table}`);
  if (m![2] === '..parquet' || m![2]!.startsWith('.')) refuse('hidden names are not snapshot files');
  const size =
    typeof f.size === 'bigint' && f.size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(f.size) : f.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    refuse(`size ${f.size} is not a byte count`);
  }
  if (typeof f.checksum !== 'string' || f.checksum.length === 0 || f.checksum.length > 256) {
    refuse('the checksum is missing or too long');
  }
  if (typeof f.relation !== 'string' || f.relation.length === 0) refuse('it names no relation');
  // A plain copy: a proto message's extra fields do not travel further.
  return {
    relation: f.relation,
    pond: f.pond,
    major: f.major,
    table: f.table,
    file: f.file,
    size: size as number,
    checksum: f.checksum,
  };
}

/** The cache key of a file: its immutable name, `pond/m<major>/<table>/<file>.parquet`. */
const CACHE_KEY = /^[a-z][a-z0-9_]*\/m(0|[1-9]\d*)\/[A-Za-z_][A-Za-z0-9_]*\/[^/\\\0.][^/\\\0]*\.parquet$/;

function cacheKey(f: SnapshotFile): string {
  return `${f.pond}/m${f.major}/${f.file}`;
}

/** The download URL of a file under the Catchment's base URL. */
export function snapshotFileUrl(
  snapshotUrl: string,
  f: Pick<SnapshotFile, 'pond' | 'major' | 'file'>,
): string {
  const base = snapshotUrl.replace(/\/+$/, '');
  const prefix = base.endsWith(SNAPSHOT_ROUTE_PREFIX) ? base : `${base}${SNAPSHOT_ROUTE_PREFIX}`;
  const file = f.file.split('/').map(encodeURIComponent).join('/');
  return `${prefix}/${encodeURIComponent(f.pond)}/${f.major}/${file}`;
}

export class HttpSnapshotSource implements SnapshotFileSource {
  readonly cache: FileCache;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: HttpSnapshotSourceOptions) {
    this.cache = new FileCache({
      dir: options.cacheDir,
      maxBytes: options.cacheBytes,
      adopt: (key) => CACHE_KEY.test(key),
    });
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.downloadTimeoutMs ?? 5 * 60_000;
  }

  async open(
    requested: SnapshotFile[],
    ctx: { capability: string; snapshotUrl: string },
  ): Promise<{ paths: Map<string, string>; release(): void }> {
    const files = requested.map(checkSnapshotFile);
    const relations = new Set<string>();
    for (const f of files) {
      if (relations.has(f.relation)) {
        throw new QueryError('invalid_request', `relation ${JSON.stringify(f.relation)} is listed twice`);
      }
      relations.add(f.relation);
    }
    if (files.length > 0) {
      checkBaseUrl(ctx.snapshotUrl);
      // Checked here so that no error further down (a header the HTTP client refuses) can quote it.
      if (typeof ctx.capability !== 'string' || !CAPABILITY.test(ctx.capability)) {
        throw new QueryError('invalid_request', 'the snapshot capability is missing or malformed');
      }
    }

    const results = await Promise.allSettled(
      files.map((f) => this.cache.acquire(cacheKey(f), f.size, (temp) => this.download(f, ctx, temp))),
    );
    const held = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const h of held) h.release();
      throw asUnavailable(failed.reason);
    }
    const paths = new Map(files.map((f, i): [string, string] => [f.relation, (held[i] as CachedFile).path]));
    let released = false;
    return {
      paths,
      release: () => {
        if (released) return;
        released = true;
        for (const h of held) h.release();
      },
    };
  }

  private async download(
    f: CheckedSnapshotFile,
    ctx: { capability: string; snapshotUrl: string },
    temp: string,
  ): Promise<void> {
    const what = `snapshot file ${f.pond}@${f.major}/${f.file}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await this.fetch(snapshotFileUrl(ctx.snapshotUrl, f), {
        headers: { authorization: `Capability ${ctx.capability}` },
        redirect: 'error',
        signal,
      });
    } catch (error) {
      throw unavailable(`${what}: cannot reach the Catchment (${describe(error)})`);
    }
    if (response.status !== 200) {
      const reason = await refusal(response);
      throw unavailable(`${what}: the Catchment answered ${response.status}${reason ? ` (${reason})` : ''}`);
    }
    const length = response.headers.get('content-length');
    if (length !== null && Number(length) !== f.size) {
      await response.body?.cancel().catch(() => {});
      throw unavailable(`${what}: the Catchment announced ${length} bytes, the query expects ${f.size}`);
    }
    const checksum = response.headers.get('x-checksum');
    if (checksum !== f.checksum) {
      await response.body?.cancel().catch(() => {});
      throw unavailable(
        `${what}: its checksum is ${JSON.stringify(checksum)}, the query expects ${JSON.stringify(f.checksum)}`,
      );
    }
    if (!response.body) throw unavailable(`${what}: the Catchment sent no body`);
    try {
      await pipeline(
        response.body,
        limitTo(f.size, what),
        fs.createWriteStream(temp, { flags: 'wx', mode: 0o600 }),
        {
          signal,
        },
      );
    } catch (error) {
      if (error instanceof QueryError) throw error;
      throw unavailable(`${what}: the download failed (${describe(error)})`);
    }
  }
}

/** Passes at most `size` bytes, failing as soon as more arrive (a stream is never buffered whole). */
function limitTo(size: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > size) done(unavailable(`${what}: the Catchment sent more than the expected ${size} bytes`));
      else done(null, chunk);
    },
    flush(done) {
      if (seen !== size) done(unavailable(`${what}: the download ended after ${seen} of ${size} bytes`));
      else done();
    },
  });
}

function checkBaseUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new QueryError('invalid_request', `snapshot_url ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new QueryError('invalid_request', `snapshot_url ${JSON.stringify(url)} is not an http(s) URL`);
  }
}

/** The Catchment's error message, if its answer has the usual `{"error":{"message"}}` shape. */
async function refusal(response: Response): Promise<string | undefined> {
  try {
    const text = (await response.text()).slice(0, 2000);
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}

function unavailable(message: string): QueryError {
  return new QueryError('snapshot_unavailable', message);
}

function asUnavailable(error: unknown): QueryError {
  if (error instanceof QueryError) return error;
  if (error instanceof FileTooLargeForCache) return unavailable(error.message);
  return unavailable(`snapshot files unavailable: ${describe(error)}`);
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error);
}
