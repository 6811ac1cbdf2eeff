/**
 * Async queries from the command line: `duckstring query --async SQL` (prints the job id),
 * `duckstring query --wait 10s SQL` (submit, wait, page through the whole result with a progress
 * line on stderr) and `duckstring queries list|show|results|cancel|delete`.
 */
import type { Command } from 'commander';
import { queries as queriesApi } from '../api/index.js';
import { MAX_SUBMIT_WAIT_SECONDS, type QueryJobView } from '../api/queries.js';
import { parseDuration } from '../engine/duration.js';
import { CatchmentClient, type ConnectionOptions, formatCsv, formatTable } from './client.js';
import { type CliIO, UsageError } from './io.js';
import { withConnection } from './runtime.js';

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'EXPIRED']);
const POLL_MS = 500;
const PAGE_ROWS = 10_000;

export interface OutputOptions {
  json?: boolean;
  csv?: boolean;
}

function describeJob(job: QueryJobView): string {
  const lines = [
    `${job.id}  ${job.state}`,
    `  sql:       ${job.sql}`,
    `  submitted: ${job.created_at}${job.request_id ? `  (request ${job.request_id})` : ''}`,
    `  attempts:  ${job.attempts}`,
  ];
  if (job.finished_at) lines.push(`  finished:  ${job.finished_at}`);
  if (job.row_count !== null) lines.push(`  rows:      ${job.row_count}`);
  if (job.placement) lines.push(`  ran on:    ${job.placement}`);
  if (job.expires_at) lines.push(`  expires:   ${job.expires_at}`);
  // Worth a section only when there is history beyond the one attempt "ran on" already names.
  if (
    job.attempt_log.length > 1 ||
    job.attempt_log.some((a) => a.outcome !== 'succeeded' && a.outcome !== 'running')
  ) {
    lines.push('  attempt history:');
    for (const a of job.attempt_log) {
      lines.push(`    #${a.attempt}  ${a.target}  ${a.outcome}${a.reason ? `  (${a.reason})` : ''}`);
    }
  }
  if (job.error) {
    lines.push(
      `  error:     ${job.error.code}: ${job.error.message}${job.error.error_id ? ` (error id ${job.error.error_id})` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Every page of a finished job, printed as one result; progress goes to stderr. */
async function printAllResults(
  client: CatchmentClient,
  id: string,
  opts: OutputOptions,
  io: CliIO,
): Promise<void> {
  const rows: unknown[][] = [];
  let columns: Array<{ name: string; type: string }> = [];
  let total = 0;
  let cursor: string | undefined;
  for (;;) {
    const page = await client.call(queriesApi.results, {
      params: { id },
      query: { max_rows: PAGE_ROWS, ...(cursor ? { cursor } : {}) },
    });
    columns = page.columns;
    total = page.total_rows;
    rows.push(...page.rows);
    if (!opts.json && !opts.csv && total > PAGE_ROWS) io.stderr(`\rfetched ${rows.length} of ${total} rows`);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  if (!opts.json && !opts.csv && total > PAGE_ROWS) io.stderr('\n');
  const names = columns.map((c) => c.name);
  if (opts.json)
    io.stdout(`${JSON.stringify({ columns, rows, row_count: rows.length, truncated: false })}\n`);
  else if (opts.csv) io.stdout(`${formatCsv(names, rows)}\n`);
  else io.stdout(`${formatTable(names, rows)}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`);
}

/** Polls `job` until it is final or `waitMs` passed (then says how to look at it later). */
async function waitForJob(
  client: CatchmentClient,
  from: QueryJobView,
  waitMs: number,
  waitText: string,
): Promise<QueryJobView> {
  let job = from;
  const deadline = Date.now() + waitMs;
  while (!FINAL.has(job.state)) {
    if (Date.now() >= deadline) {
      throw new UsageError(
        `query job ${job.id} is still ${job.state} after ${waitText}; see it with: duckstring queries show ${job.id}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await client.call(queriesApi.show, { params: { id: job.id } });
  }
  return job;
}

/** `--wait DURATION` of `queries show|results`: 0 (do not wait) when absent. */
function waitOption(wait: string | undefined): number {
  if (wait === undefined) return 0;
  try {
    return parseDuration(wait);
  } catch (error) {
    throw new UsageError(`--wait: ${(error as Error).message}`);
  }
}

/** `query --async` / `query --wait`: submit a job, then print its id or wait and print its result. */
export async function runAsyncQuery(
  sql: string,
  opts: ConnectionOptions & OutputOptions & { async?: boolean; wait?: string },
  io: CliIO,
): Promise<void> {
  const client = new CatchmentClient(opts);
  const waitMs = waitOption(opts.wait);
  const first = Math.min(waitMs / 1000, MAX_SUBMIT_WAIT_SECONDS);
  const submitted = await client.call(queriesApi.submit, {
    body: { sql, ...(first > 0 ? { wait: first } : {}) },
  });
  if (opts.async) {
    io.stdout(`${submitted.job.id}\n`);
    return;
  }
  const job = await waitForJob(client, submitted.job, waitMs, opts.wait ?? '0s');
  if (job.state !== 'SUCCEEDED') {
    throw new UsageError(`query job ${job.id} ${job.state}${job.error ? `: ${job.error.message}` : ''}`);
  }
  await printAllResults(client, job.id, opts, io);
}

export function registerQueriesCommand(program: Command, io: CliIO): void {
  const queries = program
    .command('queries')
    .description('Async query jobs: list, show, results, cancel, delete.');
  withConnection(queries.command('list').description('Your async query jobs, newest first.'))
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(async (opts: ConnectionOptions & { limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit is 1 to 500');
      const res = await new CatchmentClient(opts).call(queriesApi.list, { query: { limit } });
      if (opts.json) return io.stdout(`${JSON.stringify(res)}\n`);
      if (res.jobs.length === 0) return io.stdout('No async query jobs.\n');
      io.stdout(
        `${formatTable(
          ['id', 'state', 'submitted', 'rows', 'sql'],
          res.jobs.map((j) => [
            j.id,
            j.state,
            j.created_at,
            j.row_count ?? '',
            j.sql.length > 60 ? `${j.sql.slice(0, 57)}...` : j.sql,
          ]),
        )}\n`,
      );
    });
  withConnection(queries.command('show').description('One async query job.').argument('<id>'))
    .option('--json', 'print JSON')
    .option('--wait <duration>', 'wait up to this long for the job to finish first (e.g. 30s)')
    .action(async (id: string, opts: ConnectionOptions & { json?: boolean; wait?: string }) => {
      const waitMs = waitOption(opts.wait);
      const client = new CatchmentClient(opts);
      let job = await client.call(queriesApi.show, { params: { id } });
      if (waitMs > 0) job = await waitForJob(client, job, waitMs, opts.wait!);
      io.stdout(opts.json ? `${JSON.stringify(job)}\n` : describeJob(job));
    });
  withConnection(queries.command('results').description("A finished job's whole result.").argument('<id>'))
    .option('--json', 'print the JSON result')
    .option('--csv', 'print CSV')
    .option('--wait <duration>', 'wait up to this long for the job to finish first (e.g. 30s)')
    .action(async (id: string, opts: ConnectionOptions & OutputOptions & { wait?: string }) => {
      const waitMs = waitOption(opts.wait);
      const client = new CatchmentClient(opts);
      if (waitMs > 0)
        await waitForJob(client, await client.call(queriesApi.show, { params: { id } }), waitMs, opts.wait!);
      await printAllResults(client, id, opts, io);
    });
  withConnection(
    queries.command('cancel').description('Cancel a queued or running job.').argument('<id>'),
  ).action(async (id: string, opts: ConnectionOptions) => {
    const job = await new CatchmentClient(opts).call(queriesApi.cancel, { params: { id } });
    io.stdout(`${job.id} ${job.state}\n`);
  });
  withConnection(
    queries.command('delete').description('Delete a finished job and its result.').argument('<id>'),
  ).action(async (id: string, opts: ConnectionOptions) => {
    await new CatchmentClient(opts).call(queriesApi.remove, { params: { id } });
    io.stdout(`deleted ${id}\n`);
  });
}
