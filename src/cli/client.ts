/**
 * How CLI commands reach a Catchment: its URL and key come from flags, then the environment
 * (`DUCKSTRING_CATCHMENT_URL`, `DUCKSTRING_KEY`), then the local defaults (127.0.0.1:7474 and the
 * admin key file of `./.duckstring`). Every failure becomes one clear sentence.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ApiError, ApiUnreachable, CatchmentApi } from '../api/client.js';
import type { AnyEndpoint, RequestOf, ResponseOf } from '../api/endpoint.js';
import { UsageError } from './io.js';

export interface ConnectionOptions {
  catchment?: string;
  key?: string;
  root?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:7474';
export const DEFAULT_ROOT = '.duckstring';

/**
 * The CLI's handle on a Catchment: the typed API client (src/api/client.ts) with its connection
 * taken from flags, environment or local defaults, and its failures turned into UsageErrors.
 */
export class CatchmentClient {
  readonly url: string;
  private readonly api: CatchmentApi;

  constructor(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env) {
    this.api = new CatchmentApi(
      opts.catchment ?? env.DUCKSTRING_CATCHMENT_URL ?? DEFAULT_URL,
      opts.key ?? env.DUCKSTRING_KEY ?? readLocalKey(opts.root ?? DEFAULT_ROOT),
    );
    this.url = this.api.url;
  }

  async call<E extends AnyEndpoint>(e: E, request: RequestOf<E>): Promise<ResponseOf<E>> {
    try {
      return await this.api.call(e, request);
    } catch (err) {
      if (err instanceof ApiUnreachable) {
        throw new UsageError(
          `cannot reach the Catchment at ${this.url} (${err.reason}). Is it running? Start one with "duckstring catchment start" or pass --catchment URL.`,
          1,
        );
      }
      if (err instanceof ApiError) {
        const hint = err.status === 401 ? ' (pass --key KEY or set DUCKSTRING_KEY)' : '';
        throw new UsageError(`${err.message}${hint}`, err.status < 500 ? 2 : 1);
      }
      throw err;
    }
  }
}

/** The admin key a local Catchment wrote under `root`, if there is one. */
export function readLocalKey(root: string): string | undefined {
  try {
    return readFileSync(path.join(root, 'admin.key'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Renders rows as an aligned text table. */
export function formatTable(columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cell = (v: unknown): string =>
    v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const cells = rows.map((r) => r.map(cell));
  const widths = columns.map((c, i) =>
    Math.min(60, Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length))),
  );
  const clip = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  const line = (r: readonly string[]) =>
    r
      .map((s, i) => clip(s, widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)].join('\n');
}

/** RFC 4180 CSV. */
export function formatCsv(columns: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const esc = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.map(esc).join(','), ...rows.map((r) => r.map(esc).join(','))].join('\n');
}
