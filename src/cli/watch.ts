/**
 * `duckstring watch`: a line per run start, publication, no-change pass and failure, as `duckstring
 * up` prints them, from any Catchment's event stream (`GET /api/events`). When the stream breaks (the
 * Catchment restarts) it reconnects with backoff and resumes after the last event it printed. Ctrl-C
 * ends it with status 0.
 */
import type { Command } from 'commander';
import { ApiError, ApiUnreachable, CatchmentApi } from '../api/client.js';
import { events } from '../api/index.js';
import { activityLine } from './activity-lines.js';
import { type ConnectionOptions, DEFAULT_ROOT, DEFAULT_URL, readLocalKey } from './client.js';
import { type CliIO, UsageError } from './io.js';
import { withConnection } from './runtime.js';

export interface WatchOptions extends ConnectionOptions {
  pond?: string;
  json?: boolean;
}

/** Waits between reconnection attempts: doubling from the first, capped at the last. */
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000] as const;

export function registerWatchCommand(program: Command, io: CliIO): void {
  withConnection(
    program
      .command('watch')
      .description(
        'Print a line per run start, publication and failure as they happen, until Ctrl-C (reconnects if the Catchment restarts).',
      )
      .option('--pond <pond>', 'only this Pond')
      .option('--json', 'print each activity as one line of JSON'),
  ).action(async (opts: WatchOptions) => {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await watch(opts, io, stop.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}

/** Follows the stream until `signal` aborts; refusals (bad key, unknown Pond) are UsageErrors. */
export async function watch(opts: WatchOptions, io: CliIO, signal: AbortSignal): Promise<void> {
  const url = (opts.catchment ?? process.env.DUCKSTRING_CATCHMENT_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const api = new CatchmentApi(
    url,
    opts.key ?? process.env.DUCKSTRING_KEY ?? readLocalKey(opts.root ?? DEFAULT_ROOT),
  );
  let lastEventId: string | undefined;
  let connected = false;
  let failures = 0;
  while (!signal.aborted) {
    let why: string;
    try {
      const stream = api.stream(
        events.stream,
        { query: { pond: opts.pond } },
        {
          signal,
          ...(lastEventId ? { lastEventId } : {}),
          onOpen: () => {
            io.stderr(
              connected
                ? `reconnected to ${url}\n`
                : `watching ${url} for run activity${opts.pond ? ` of ${opts.pond}` : ''} (Ctrl-C to stop)\n`,
            );
            connected = true;
            failures = 0;
          },
        },
      );
      for await (const ev of stream) {
        if (ev.event === 'gap') {
          io.stderr(`note: ${ev.data.message}\n`);
          continue;
        }
        lastEventId = ev.id || lastEventId;
        io.stdout(opts.json ? `${JSON.stringify(ev.data)}\n` : `${activityLine(ev.data)}\n`);
      }
      why = 'the Catchment ended the stream';
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status !== 503 && err.status < 500) {
        const hint = err.status === 401 ? ' (pass --key KEY or set DUCKSTRING_KEY)' : '';
        throw new UsageError(`${err.message}${hint}`, 2);
      }
      // Never connected: most likely the wrong address, which retrying will not fix.
      if (!connected && err instanceof ApiUnreachable)
        throw new UsageError(
          `cannot reach the Catchment at ${url} (${err.reason}). Is it running? Start one with "duckstring catchment start" or pass --catchment URL.`,
          1,
        );
      why =
        err instanceof ApiUnreachable
          ? `cannot reach it: ${err.reason}`
          : err instanceof ApiError
            ? err.message
            : `the stream broke: ${(err as Error).message}`;
    }
    if (signal.aborted) return;
    const wait = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
    failures++;
    io.stderr(`reconnecting to ${url} in ${(wait / 1000).toFixed(1)} s… (${why})\n`);
    await pause(wait, signal);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
