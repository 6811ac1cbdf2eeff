/**
 * The Duck data plane: what a Duck in `http` storage mode reads and writes over HTTP instead of the
 * Catchment's disk. Every call is authorized by the Duck token of the line in the path, and reaches
 * that line's files only. The JSON calls are endpoints; the byte transfers (source bundle, inputs,
 * published files, uploads) are streams registered outside the route table, named here so the Duck
 * and the server share their paths.
 */
import { z } from 'zod/v4';
import { NAME_PATTERN } from '../shared/ids.js';
import { endpoint } from './endpoint.js';

const duckParams = z.object({
  name: z.string().regex(NAME_PATTERN),
  major: z.coerce.number().int().nonnegative(),
});

export const duckManifest = endpoint({
  method: 'GET',
  path: '/api/duck/:name/:major/manifest',
  summary: "Duck: the line's published snapshot manifest, or null (Duck token)",
  auth: 'duck',
  params: duckParams,
  response: z.object({ manifest: z.looseObject({ f: z.number(), seq: z.number() }).nullable() }),
});

export const duckPublish = endpoint({
  method: 'POST',
  path: '/api/duck/:name/:major/publish',
  summary: "Duck: publish a run's uploaded tables as the line's snapshot at freshness f (Duck token)",
  auth: 'duck',
  params: duckParams,
  body: z.object({
    f: z.number().int().nonnegative(),
    /** Table → the sha256 of its upload for run f (the Catchment publishes exactly those bytes). */
    tables: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  }),
  response: z.object({
    manifest: z.looseObject({ f: z.number(), seq: z.number() }),
  }),
});

/** Byte transfers of the data plane (paths under `/api/duck/:name/:major/`). */
export const DUCK_DATA_STREAMS = {
  /** GET: the selected version's source as a Pond archive (src/pond/archive.ts); `x-sha256` of the bytes. */
  source: 'source',
  /** GET `inputs/<source>@<major>/<file>.parquet`: one of the run's governed input files. */
  inputs: 'inputs',
  /** GET `snapshots/<table>/<file>.parquet`: a file of the line's current published set. */
  snapshots: 'snapshots',
  /** PUT `uploads/<f>/<table>` with `x-sha256`: one exported table of run f, staged, not visible. */
  uploads: 'uploads',
} as const;

/** The content type of an upload: the server streams it to disk instead of buffering it. */
export const UPLOAD_CONTENT_TYPE = 'application/vnd.duckstring.table+parquet';

/** Default largest upload the Catchment accepts (one table of one run), in bytes. */
export const DEFAULT_DUCK_UPLOAD_MAX_BYTES = 4 * 1024 * 1024 * 1024;

export function duckDataPath(name: string, major: number, ...rest: string[]): string {
  return `/api/duck/${encodeURIComponent(name)}/${major}/${rest.map(encodeURIComponent).join('/')}`;
}
