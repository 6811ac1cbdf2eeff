/**
 * `duckstring pond init | check | run`: authoring a Pond and running it locally, no Catchment
 * needed. Bad input (an invalid Pond, bad sample data) exits 2; a failing Ripple exits 1.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { RippleRunResult } from '../duck/executor.js';
import type { LoadedPond } from '../duck/loader.js';
import { PondError } from '../pond/manifest.js';
import { ScaffoldError, scaffoldPond } from '../pond/scaffold.js';
import { type CliIO, UsageError } from './io.js';

export function registerPondCommands(program: Command, io: CliIO): void {
  const pond = program.command('pond').description('Author a Pond and run it locally.');

  pond
    .command('init')
    .description('Scaffold a new Pond (pond.toml, a .sql and a .ts Ripple, a data file, sample/).')
    .argument('<name>', 'Pond name (lowercase letters, digits and _)')
    .option('--dir <dir>', 'where to create it (default: ./NAME)')
    .action(async (name: string, opts: { dir?: string }) => initCommand(name, opts, io));

  pond
    .command('check')
    .description('Validate a Pond without deploying it and print its Ripple graph.')
    .argument('[dir]', 'Pond directory', '.')
    .addHelpText('after', '\nExit status: 0 when the Pond is valid, 2 otherwise (every problem is listed).')
    .action(async (dir: string) => checkCommand(dir, io));

  pond
    .command('run')
    .description('Run every Ripple once, in topological order, against sample Source data.')
    .argument('[dir]', 'Pond directory', '.')
    .option(
      '--sample <dir>',
      'sample Source data: <dir>/<source>/<table>.parquet|.csv|.json (default: DIR/sample)',
    )
    .option('--registry <path>', 'keep the registry database here (default: a fresh one, discarded)')
    .option('--out <dir>', 'export every table of the Pond to <dir>/<table>.parquet')
    .addHelpText(
      'after',
      '\nExit status: 0 on success, 1 when a Ripple fails, 2 when the Pond or its sample data is invalid.',
    )
    .action(async (dir: string, opts: { sample?: string; registry?: string; out?: string }) =>
      runCommand(dir, opts, io),
    );
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function pondProblems(err: PondError, dir: string): UsageError {
  if (err.issues.length === 1) return new UsageError(err.issues[0]!);
  return new UsageError(
    `${err.issues.length} problems in Pond ${path.resolve(dir)}:\n${err.issues.map((i) => `  ${i}`).join('\n')}`,
  );
}

async function initCommand(name: string, opts: { dir?: string }, io: CliIO): Promise<void> {
  const dir = path.resolve(opts.dir ?? name);
  try {
    const files = await scaffoldPond(name, dir);
    io.stdout(`Created Pond "${name}" in ${dir}:\n${files.map((f) => `  ${f}`).join('\n')}\n`);
    io.stdout(`Next: duckstring pond check ${dir} && duckstring pond run ${dir}\n`);
  } catch (err) {
    if (err instanceof ScaffoldError) throw new UsageError(err.message);
    throw err;
  }
}

// The Duck modules (DuckDB, esbuild) are imported when a pond command runs, not at CLI start-up:
// every other command, and every Duck and Catchment process, would pay for them otherwise.
async function loadOrExplain(dir: string): Promise<LoadedPond> {
  const { loadPond } = await import('../duck/loader.js');
  try {
    return await loadPond(dir);
  } catch (err) {
    if (err instanceof PondError) throw pondProblems(err, dir);
    throw err;
  }
}

function describe(pond: LoadedPond): string {
  const m = pond.manifest;
  const lines = [`Pond ${m.name} ${m.version} (major ${m.major}): valid`];
  lines.push(
    m.sources.length === 0
      ? 'sources: none (an Inlet)'
      : `sources: ${m.sources.map((s) => `${s.name} >= ${s.minVersion}${s.optional ? ' (optional)' : ''}`).join(', ')}`,
  );
  lines.push(`retries: immediate ${m.immediateRetries}, source ${m.sourceRetries}`);
  lines.push(`ripples (${pond.ripples.length}, in run order):`);
  const width = Math.max(...pond.ripples.map((r) => r.name.length));
  const fileWidth = Math.max(...pond.ripples.map((r) => r.file.length));
  for (const r of pond.ripples) {
    const parts = [
      `  ${r.name.padEnd(width)}  ${r.kind.padEnd(3)}  ${r.file.padEnd(fileWidth)}`,
      `parents: ${r.parents.length > 0 ? r.parents.join(', ') : '-'}`,
      `writes: ${r.tables.join(', ')}`,
    ];
    if (r.sourceReads.length > 0) parts.push(`reads: ${r.sourceReads.join(', ')}`);
    lines.push(parts.join('  '));
  }
  lines.push(`tables: ${pond.tables.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

async function checkCommand(dir: string, io: CliIO): Promise<void> {
  io.stdout(describe(await loadOrExplain(dir)));
}

function formatStep(step: RippleRunResult, width: number): string {
  const rows = step.tables.reduce((sum, t) => sum + t.rows, 0);
  const written =
    step.tables.length > 0
      ? step.tables.map((t) => `${t.name} (${t.rows.toLocaleString('en-US')})`).join(', ')
      : 'nothing';
  return `  ${step.ripple.padEnd(width)}  ${`${Math.round(step.durationMs)} ms`.padStart(8)}  ${`${rows.toLocaleString('en-US')} rows`.padStart(14)}  → ${written}\n`;
}

async function runCommand(
  dir: string,
  opts: { sample?: string; registry?: string; out?: string },
  io: CliIO,
): Promise<void> {
  const pond = await loadOrExplain(dir);
  const width = Math.max(...pond.ripples.map((r) => r.name.length));
  io.stdout(
    `pond run: ${pond.manifest.name} ${pond.manifest.version}, ${plural(pond.ripples.length, 'Ripple')}\n`,
  );
  const [{ RippleError }, { runPondLocally }] = await Promise.all([
    import('../duck/executor.js'),
    import('../duck/local-run.js'),
  ]);
  try {
    const result = await runPondLocally({
      dir,
      sampleDir: opts.sample,
      registryPath: opts.registry,
      outDir: opts.out,
      onRipple: (step) => io.stdout(formatStep(step, width)),
      onLog: (line) => io.stdout(`    ${line}\n`),
    });
    const rows = result.steps.reduce((sum, s) => sum + s.tables.reduce((n, t) => n + t.rows, 0), 0);
    const where = opts.registry ? `registry: ${path.resolve(opts.registry)}` : 'fresh registry, discarded';
    io.stdout(
      `ok: ${plural(result.steps.length, 'Ripple')} in ${(result.durationMs / 1000).toFixed(2)} s, ${rows.toLocaleString('en-US')} rows written (${where})\n`,
    );
    if (result.exported.length > 0) {
      io.stdout(`exported ${plural(result.exported.length, 'table')} to ${path.resolve(opts.out ?? '.')}\n`);
    }
  } catch (err) {
    if (err instanceof PondError) throw pondProblems(err, dir);
    if (err instanceof RippleError) {
      if (err.rippleStack) io.stderr(`${err.rippleStack}\n`);
      throw new UsageError(err.message, 1);
    }
    throw err;
  }
}
