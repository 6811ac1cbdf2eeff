/**
 * `duckstring logs POND [--ripple R] [--follow]`: the `ctx.log` lines the Catchment stored for a
 * Pond's Ripple attempts. `--follow` polls with the API's cursor and prints lines as they arrive,
 * until Ctrl-C.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { logs as logApi } from '../api/index.js';
import type { LogLine } from '../api/logs.js';
import { CatchmentClient, type ConnectionOptions } from './client.js';
import { type CliIO, UsageError } from './io.js';
import { withConnection } from './runtime.js';

const POLL_MS = 1_000;

type LogsOptions = ConnectionOptions & {
  major?: number;
  ripple?: string;
  limit: string;
  follow?: boolean;
  json?: boolean;
};

const stamp = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** One line as printed: time, level, ripple#attempt, message and its fields as key=value. */
export function formatLogLine(l: LogLine): string {
  const fields = l.fields
    ? Object.entries(l.fields)
        .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('')
    : '';
  return `${stamp(l.at)} ${l.level.padEnd(5)} ${l.ripple}#${l.attempt} ${l.message}${fields}`;
}

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

export function registerLogsCommand(program: Command, io: CliIO): void {
  withConnection(
    program
      .command('logs')
      .description("A Pond's Ripple log lines (ctx.log), oldest first; --follow keeps printing new ones.")
      .argument('<pond>'),
  )
    .addOption(
      new Option('-m, --major <n>', 'major line (default: the newest)').argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0)
          throw new UsageError(`--major must be a non-negative integer, got "${v}"`);
        return n;
      }),
    )
    .option('-r, --ripple <name>', 'only this Ripple')
    .option('-n, --limit <n>', 'lines to show (the newest)', '100')
    .option('-f, --follow', 'keep printing new lines as they arrive (Ctrl-C stops)')
    .option('--json', 'print JSON Lines')
    .action(async (name: string, opts: LogsOptions) => {
      const limit = positiveInt('--limit')(opts.limit);
      if (limit > 1000) throw new UsageError(`--limit is at most 1000, got ${limit}`);
      const client = new CatchmentClient(opts);
      const print = (lines: readonly LogLine[]) => {
        for (const l of lines) io.stdout(`${opts.json ? JSON.stringify(l) : formatLogLine(l)}\n`);
      };
      const fetch = (since?: number) =>
        client.call(logApi.logs, {
          params: { name },
          query: { major: opts.major, ripple: opts.ripple, limit, since },
        });
      const first = await fetch();
      print(first.lines);
      if (!opts.follow) {
        if (first.lines.length === 0 && !opts.json)
          io.stderr(`no log lines for ${name}${opts.ripple ? ` (ripple ${opts.ripple})` : ''} yet\n`);
        return;
      }
      // Ctrl-C ends the follow cleanly (exit 0) rather than killing the process mid-line.
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        let cursor = first.next;
        while (!stop.signal.aborted) {
          await pause(POLL_MS, stop.signal);
          if (stop.signal.aborted) break;
          // Drain everything new before pausing again: a burst longer than one page is not delayed.
          for (;;) {
            const page = await fetch(cursor);
            print(page.lines);
            cursor = page.next;
            if (page.lines.length < limit || stop.signal.aborted) break;
          }
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });
}
