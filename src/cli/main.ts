/**
 * The `duckstring` command line. `runCli` is the whole program minus the process: tests call it with
 * collecting streams, `bin/duckstring.js` calls `main` with the real ones.
 */
import { Command, CommanderError } from 'commander';
import { DEMO_SCENARIO } from '../sim/demo.js';
import { registerComputeCommands } from './compute.js';
import { registerComputeStatusCommand } from './compute-status.js';
import { registerGovernanceCommands } from './governance.js';
import { type CliIO, processIO, UsageError } from './io.js';
import { registerLogsCommand } from './logs.js';
import { registerPondCommands } from './pond.js';
import { registerQueriesCommand } from './queries.js';
import { registerRuntimeCommands } from './runtime.js';
import { runScenarioText, simulateCommand } from './simulate.js';
import { registerUpCommand } from './up.js';
import { registerWatchCommand } from './watch.js';
import { registerWorkerCommands } from './worker.js';

const VERSION = '0.1.0';

function buildProgram(io: CliIO): Command {
  const program = new Command('duckstring')
    .description(
      'A data platform for DuckDB: versioned Ponds, freshness-driven orchestration, governed queries.',
    )
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run "duckstring --help" for usage)');

  program
    .command('simulate')
    .description(
      'Run the orchestration engine over a scenario file in simulated time (JSON Lines on stdout).',
    )
    .argument('<scenario>', 'scenario JSON file (format: docs/simulate.md)')
    .option('--table', 'print a readable timeline and summary instead of JSON Lines')
    .addHelpText(
      'after',
      '\nExit status: 0 on success, 2 when the scenario is invalid (nothing is simulated).\n' +
        'Example: duckstring simulate examples/scenarios/demo-wave.json --table',
    )
    .action(async (file: string, opts: { table?: boolean }) => simulateCommand(file, opts, io));

  program
    .command('demo')
    .description(
      'Simulate the bundled demo pipeline (transactions, products → sales → reports) under a Wave.',
    )
    .option('--json', 'print JSON Lines instead of the readable timeline')
    .action((opts: { json?: boolean }) => {
      io.stdout(
        'duckstring demo: transactions, products → sales → reports, Wave on reports, 30 s simulated.\n' +
          'Every Pond settles to the 3 s cadence of the slowest Ripple (sales.join_lines).\n\n',
      );
      runScenarioText(JSON.stringify(DEMO_SCENARIO), 'demo', { table: !opts.json }, io);
    });

  registerPondCommands(program, io);
  registerRuntimeCommands(program, io);
  registerLogsCommand(program, io);
  registerQueriesCommand(program, io);
  registerGovernanceCommands(program, io);
  registerComputeCommands(program, io);
  registerUpCommand(program, io);
  registerWatchCommand(program, io);
  registerWorkerCommands(program, io);
  registerComputeStatusCommand(program, io);

  program
    .command('duck', { hidden: true })
    .description(
      'Run a Duck worker (started by the Catchment; reads DUCKSTRING_CATCHMENT_URL, DUCKSTRING_DUCK_TOKEN, DUCKSTRING_DUCK)',
    )
    .action(async () => {
      const { DuckSetupError, runDuckFromEnv } = await import('../duck/main.js');
      try {
        await runDuckFromEnv();
      } catch (err) {
        if (err instanceof DuckSetupError) throw new UsageError(err.message);
        throw err;
      }
    });

  return program;
}

/** Runs one command line (without the node and script arguments); resolves to the exit status. */
export async function runCli(argv: string[], io: CliIO = processIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCli(argv.slice(2), processIO);
}
