/**
 * The Duck dial-back protocol, shared by the Catchment (server side) and the Duck (client side).
 * All traffic is Duck-initiated: `GET …/config`, `GET …/jobs` (long poll) and `POST …/events`.
 * Events are idempotent: the Catchment ignores a replayed event it has already applied.
 */
import { z } from 'zod';

export const rippleSpecSchema = z.object({
  name: z.string(),
  parents: z.array(z.object({ name: z.string(), optional: z.boolean() })),
});

export const duckConfigSchema = z.object({
  line: z.string(),
  name: z.string(),
  major: z.number().int().nonnegative(),
  version: z.string(),
  /**
   * Where the Duck keeps its line (src/duck/storage.ts): `local` uses the absolute paths below, on
   * the Catchment's own disk; `http` a work directory of its own, and the data plane over HTTP (the
   * paths are then left out: such a Duck never needs a path under the Catchment's root).
   */
  storage: z.enum(['local', 'http']).default('local'),
  /** SHA-256 of the selected version's archive: what an http Duck downloads its source by. */
  sourceChecksum: z.string().default(''),
  /** Largest table upload the Catchment accepts from an http Duck, bytes. */
  maxUploadBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024 * 1024),
  /** Absolute path of the deployed version's source (local Ducks share the Catchment's filesystem). */
  codeDir: z.string().optional(),
  registryPath: z.string().optional(),
  dataDir: z.string().optional(),
  ledgerPath: z.string().optional(),
  ripples: z.array(rippleSpecSchema),
  immediateRetries: z.number().int().nonnegative(),
  /** Source Pond name → its published data directory. */
  sources: z.record(z.string(), z.string()),
  /** How long a jobs poll may wait (the Catchment keeps it well under its liveness window). */
  pollWaitMs: z.number().int().positive(),
  /** A Duck with work outstanding but nothing running for this long reports itself failed. */
  watchdogMs: z.number().int().positive(),
});
/** What a Duck is configured with (defaults not yet applied: tests build configs by hand). */
export type DuckConfig = z.input<typeof duckConfigSchema>;

export const duckJobSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('begin-run'),
    f: z.number(),
    version: z.string(),
    force: z.boolean(),
    refresh: z.boolean(),
    sourcesChanged: z.boolean(),
    /**
     * The run's Source tables as the Pond's own principal may see them (row filters and masks
     * applied by the Catchment): 'source.table' → Parquet file, relative to the line's folder
     * (the folder holding registry.duckdb). Ripples read these and nothing else of their Sources.
     */
    inputs: z.record(z.string(), z.string()).default({}),
  }),
  z.object({ kind: z.literal('stop') }),
]);
export type DuckJobMessage = z.infer<typeof duckJobSchema>;

export const jobsResponseSchema = z.object({ jobs: z.array(duckJobSchema) });

const errorInfo = z.object({ message: z.string(), stack: z.string().optional() });

/** One `ctx.log` line of a Ripple attempt; the Duck bounds each attempt's lines (attempt-log.ts). */
export const rippleLogLineSchema = z.object({
  /** Position in the attempt's log, from 0: a replayed event stores nothing twice. */
  seq: z.number().int().nonnegative(),
  at: z.number(),
  level: z.enum(['info', 'warn', 'error']),
  message: z.string().max(16_384),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type RippleLogLine = z.infer<typeof rippleLogLineSchema>;

export const duckEventSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('ripple-start'),
    at: z.number(),
    f: z.number(),
    ripple: z.string(),
    attempt: z.number().int().positive(),
  }),
  z.object({
    kind: z.literal('ripple-done'),
    at: z.number(),
    f: z.number(),
    ripple: z.string(),
    attempt: z.number().int().positive(),
    changed: z.boolean(),
    rows: z.number().int().nonnegative().nullable(),
  }),
  z.object({
    /** `ctx.log` lines of one attempt, sent before that attempt's outcome. */
    kind: z.literal('ripple-log'),
    at: z.number(),
    f: z.number(),
    ripple: z.string(),
    attempt: z.number().int().positive(),
    lines: z.array(rippleLogLineSchema).max(2_000),
  }),
  z.object({
    kind: z.literal('ripple-fail'),
    at: z.number(),
    f: z.number(),
    ripple: z.string(),
    attempt: z.number().int().positive(),
    /** True when the Duck relaunches the Ripple inside the same run (immediate retry budget). */
    retrying: z.boolean(),
    error: errorInfo,
  }),
  z.object({
    kind: z.literal('run-failed'),
    at: z.number(),
    f: z.number(),
    /** The whole run failed (watchdog, export or contract error) rather than one Ripple. */
    error: errorInfo,
  }),
  z.object({
    kind: z.literal('run-published'),
    at: z.number(),
    f: z.number(),
    tables: z.record(z.string(), z.object({ rows: z.number().int().nonnegative() })),
  }),
]);
export type DuckEvent = z.infer<typeof duckEventSchema>;

export const eventsRequestSchema = z.object({ events: z.array(duckEventSchema).max(10_000) });

export function duckPath(name: string, major: number, leaf: 'config' | 'jobs' | 'events'): string {
  return `/api/duck/${encodeURIComponent(name)}/${major}/${leaf}`;
}
