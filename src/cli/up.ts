/**
 * `duckstring up` (what `npm start` runs): a local Catchment on `./.duckstring` with the bundled demo
 * pipeline deployed and pulsed, progress shown as it runs, then three commands to try. Ctrl-C stops
 * the Catchment and its Ducks; running it again resumes from the same root.
 */
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { EngineEvent } from '../engine/engine.js';
import { activityLine } from './activity-lines.js';
import { type CliIO, processIO, UsageError } from './io.js';
import { type LocalWorkers, startLocalWorkers } from './local-workers.js';

const processStdout = processIO.stdout;

const DEMO_DIR = fileURLToPath(new URL('../../examples/ponds', import.meta.url));
const DEMO_ORDER = ['transactions', 'products', 'sales', 'reports'];

export interface UpOptions {
  root: string;
  host: string;
  port: string;
  rows: string;
  workers: string;
  /** For tests: exit once the first run has completed instead of waiting for Ctrl-C. */
  exitAfterRun?: boolean;
}

export function registerUpCommand(program: Command, io: CliIO): void {
  program
    .command('up')
    .description(
      'Start a local Catchment with the demo pipeline (transactions, products → sales → reports) and run it once.',
    )
    .option('--root <dir>', 'state root', '.duckstring')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '7474')
    .option('--rows <n>', 'transactions to generate', '1000000')
    .option(
      '--workers <n>',
      'also start N local query workers (separate processes) and route queries to them, with fallback to the Catchment',
      '0',
    )
    .option('--exit-after-run', 'stop once the demo run has completed (instead of serving until Ctrl-C)')
    .action((opts: UpOptions) => up(opts, io));
}

async function up(opts: UpOptions, io: CliIO): Promise<void> {
  const rows = Number(opts.rows);
  if (!Number.isSafeInteger(rows) || rows < 0)
    throw new UsageError(`--rows must be a non-negative integer, got "${opts.rows}"`);
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0–65535, got "${opts.port}"`);
  const workerCount = Number(opts.workers);
  if (!Number.isInteger(workerCount) || workerCount < 0 || workerCount > 16)
    throw new UsageError(`--workers must be a whole number from 0 to 16, got "${opts.workers}"`);
  const root = path.resolve(opts.root);

  const { startCatchment } = await import('../catchment/main.js');
  const { RootLockedError } = await import('../catchment/root-lock.js');
  const { deployArchive } = await import('../catchment/deploy.js');
  const { packPond } = await import('../pond/archive.js');
  const { catchmentLogger } = await import('../catchment/logger.js');
  const { runActivity } = await import('../catchment/activity.js');
  const running = await startCatchment({
    root,
    host: opts.host,
    port,
    log: catchmentLogger(path.join(root, 'catchment.log')),
    // Local workers are only useful with remote routing on (both flags; docs/compute.md).
    ...(workerCount > 0
      ? { env: { ...process.env, FEATURE_REMOTE_ROUTING: 'on', FEATURE_INTERNAL_GRPC: 'on' } }
      : {}),
  }).catch((error: unknown) => {
    // Another Catchment owns this root: bad input, not a crash.
    if (error instanceof RootLockedError) throw new UsageError(error.message);
    throw error;
  });
  const { catchment } = running;
  let workers: LocalWorkers | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    io.stdout(`\nStopping the Catchment${workers ? ', its query workers' : ''} and its Ducks…\n`);
    // The Catchment first: it closes its connections to the workers, which then drain at once.
    await running.close();
    await workers?.stop();
  };
  try {
    io.stdout(`duckstring Catchment at ${running.url} (state in ${root})\n`);
    if (running.keyCreated)
      io.stdout(
        `Admin key (shown once; stored 0600 in ${path.join(root, 'admin.key')}):\n  ${running.adminKey}\n`,
      );

    if (workerCount > 0) {
      workers = await startLocalWorkers({
        root,
        count: workerCount,
        url: running.url,
        adminKey: running.adminKey,
      });
      io.stdout(
        `Query workers (queries run on them, and fall back to the Catchment if they cannot):\n${workers.workers
          .map((w) => `  ${w.name.padEnd(10)} ${w.grpcUrl}  pid ${w.pid}\n`)
          .join('')}`,
      );
    }

    // The demo Ponds, with the requested volume, staged under the root so a rerun deploys the same bytes.
    const staged = path.join(root, 'demo-ponds');
    await rm(staged, { recursive: true, force: true });
    await mkdir(staged, { recursive: true });
    for (const name of DEMO_ORDER)
      await cp(path.join(DEMO_DIR, name), path.join(staged, name), { recursive: true });
    const genFile = path.join(staged, 'transactions', 'data', 'generator.json');
    const gen = JSON.parse(await readFile(genFile, 'utf8')) as Record<string, unknown>;
    await writeFile(genFile, `${JSON.stringify({ ...gen, rows }, null, 2)}\n`);
    for (const name of DEMO_ORDER) {
      const existing = catchment.store.getSelectedVersion(name, 1);
      if (existing) {
        // Resume: keep what this root already runs (its data volume included).
        io.stdout(`already deployed ${name} ${existing.version}\n`);
        continue;
      }
      const out = await deployArchive(catchment, await packPond(path.join(staged, name)));
      io.stdout(`deployed ${out.name} ${out.version}\n`);
    }

    const rowsWritten = (pond: string, f: number, ripple: string): number | null => {
      const run = catchment.store.getPondRun(pond, 1, f);
      const attempts = run ? catchment.store.listRunAttempts(run.id).filter((a) => a.ripple === ripple) : [];
      return attempts.at(-1)?.rowsWritten ?? null;
    };
    // The bar counts the Ripples of the Ponds this pulse runs (not every Pond on the root), each run once.
    const ripplesOf = new Map(catchment.specs().map((p) => [p.name, p.ripples.length]));
    const progress = new Progress(io);
    const counted = new Map<string, number>();
    let firstRunDone = false;
    const done = new Promise<void>((resolve) => {
      catchment.onEvents((events: readonly EngineEvent[]) => {
        for (const e of events) {
          const pond = e.pond.replace(/@\d+$/, '');
          if (!firstRunDone && e.kind === 'pond-start' && !e.pass && !counted.has(e.pond)) {
            counted.set(e.pond, e.f);
            progress.expect(ripplesOf.get(e.pond) ?? 0);
          } else if (!firstRunDone && e.kind === 'ripple-done' && counted.get(e.pond) === e.f)
            progress.ripple(`${pond}.${e.ripple}`, rowsWritten(pond, e.f, e.ripple));
          for (const a of runActivity([e], catchment.store)) progress.log(activityLine(a));
          // On a resumed root the demo's data may come out the same: reports then passes.
          if (!firstRunDone && (e.kind === 'pond-done' || e.kind === 'pond-pass') && pond === 'reports') {
            firstRunDone = true;
            resolve();
          }
        }
      });
    });
    catchment.control('reports@1', 'pulse');
    await done;
    progress.stop();

    io.stdout('\nPublished tables:\n');
    const { describeTables } = await import('../compute/snapshots.js');
    for (const name of DEMO_ORDER) {
      const d = await describeTables(path.join(root, 'ponds', name, 'm1', 'data'));
      for (const t of d.tables)
        io.stdout(`  ${`${name}.${t.name}`.padEnd(28)} ${String(t.rows).padStart(10)} rows\n`);
    }
    const env = `DUCKSTRING_CATCHMENT_URL=${running.url}`;
    io.stdout(
      `\nAPI: ${running.url} (OpenAPI description at ${running.url}/openapi.json)\nTry, in another terminal${port === 7474 ? '' : ` (with ${env})`}:\n` +
        `  npx duckstring query "SELECT category, sum(total_revenue) AS revenue FROM reports.monthly_summary GROUP BY ALL ORDER BY revenue DESC"\n` +
        '  npx duckstring status\n' +
        '  npx duckstring trigger wave reports      # keep the pipeline fresh continuously\n' +
        (workers
          ? `  npx duckstring compute status           # where queries ran; kill ${workers.workers[0]!.pid} to see fallback\n`
          : '') +
        '\nPress Ctrl-C to stop.\n',
    );
    if (opts.exitAfterRun) return;
    // From here on every run prints a line as it happens (the listener above keeps running).
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await stop();
  }
}

/**
 * A progress bar on a terminal (event lines print above it); plain numbered lines otherwise. Its total
 * grows as Ponds start, so it counts only what this pulse runs.
 */
class Progress {
  private readonly multi: MultiBar | null;
  private readonly bar: SingleBar | null;
  private done = 0;
  private total = 0;
  stopped = false;

  constructor(private readonly io: CliIO) {
    const tty = process.stdout.isTTY === true && io.stdout === processStdout;
    this.multi = tty
      ? new MultiBar({
          format: ' {bar} {value}/{total} Ripples | {status}',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: true,
        })
      : null;
    this.bar = this.multi ? this.multi.create(0, 0, { status: 'pulsing reports' }) : null;
  }

  expect(ripples: number): void {
    this.total += ripples;
    this.bar?.setTotal(this.total);
  }

  log(line: string): void {
    if (this.multi && !this.stopped) this.multi.log(`${line}\n`);
    else this.io.stdout(`${line}\n`);
  }

  ripple(name: string, rows: number | null): void {
    this.done++;
    const what = `${name} done${rows === null ? '' : `, ${rows.toLocaleString('en-US')} rows written`}`;
    if (this.bar) {
      this.multi!.log(`  ${what}\n`);
      this.bar.update(Math.min(this.done, this.total), { status: what });
    } else this.io.stdout(`  [${this.done}/${this.total}] ${what}\n`);
  }

  stop(): void {
    this.stopped = true;
    this.multi?.stop();
  }
}
