/**
 * The async-query switches and retention, read once when the Catchment starts. The switch grammar
 * is the remote-routing flags' (src/compute/remote/flags.ts): 1/0, true/false, yes/no, on/off,
 * empty = off; anything else stops the start naming the variable. Durations use the one duration
 * grammar of the product (500ms, 30s, 10m, 1h30m).
 */
import { parseSwitch, SWITCH_RULE } from '../../compute/remote/flags.js';
import { parseDuration } from '../../engine/duration.js';

export interface AsyncQueryConfig {
  /** FEATURE_ASYNC_QUEUE: the /api/queries endpoints answer (off: 404 async_disabled). */
  enabled: boolean;
  /** FEATURE_CURSOR_MODE: results are paged by cursor; off: one page up to SINGLE_PAGE_CAP rows. */
  cursorMode: boolean;
  /** QUERY_RESULT_TTL: how long a finished job and its result are kept (default 10 min). */
  resultTtlMs: number;
  /** QUERY_CLEANUP_INTERVAL: how often expired jobs are swept (default 1 min). */
  cleanupIntervalMs: number;
  /** Async jobs running at once on the Catchment (they also share the executor's slots). */
  maxRunning: number;
  /** Jobs one principal may have QUEUED or RUNNING; past it, 429. */
  maxQueuedPerPrincipal: number;
}

/** With cursor mode off, the whole result comes in one page of at most this many rows. */
export const SINGLE_PAGE_CAP = 10_000;
/** The largest `max_rows` a results page may ask for. */
export const MAX_PAGE_ROWS = 10_000;
/** Rows per page when `max_rows` is not given. */
export const DEFAULT_PAGE_ROWS = 1_000;

export class AsyncConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'AsyncConfigError';
  }
}

function readSwitch(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const value = parseSwitch(env[name]);
  if (value === null)
    throw new AsyncConfigError(name, `"${env[name]}" is not a switch value (${SWITCH_RULE})`);
  return value;
}

function readDuration(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallbackMs: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallbackMs;
  let ms: number;
  try {
    ms = parseDuration(raw);
  } catch {
    ms = Number.NaN;
  }
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new AsyncConfigError(name, `"${raw}" is not a positive duration (e.g. 500ms, 30s, 10m, 1h30m)`);
  }
  return ms;
}

export function readAsyncQueryConfig(env: Readonly<Record<string, string | undefined>>): AsyncQueryConfig {
  return {
    enabled: readSwitch(env, 'FEATURE_ASYNC_QUEUE'),
    cursorMode: readSwitch(env, 'FEATURE_CURSOR_MODE'),
    resultTtlMs: readDuration(env, 'QUERY_RESULT_TTL', 10 * 60_000),
    cleanupIntervalMs: readDuration(env, 'QUERY_CLEANUP_INTERVAL', 60_000),
    maxRunning: 2,
    maxQueuedPerPrincipal: 100,
  };
}
