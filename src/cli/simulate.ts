import { readFile } from 'node:fs/promises';
import { toJsonLines, toTable } from '../sim/format.js';
import { parseScenario, ScenarioError } from '../sim/scenario.js';
import { simulate } from '../sim/simulator.js';
import { type CliIO, UsageError } from './io.js';

export interface SimulateOptions {
  table?: boolean;
}

/** `duckstring simulate FILE`: validates the whole scenario first; nothing runs if any field is wrong. */
export async function simulateCommand(file: string, opts: SimulateOptions, io: CliIO): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read scenario ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  runScenarioText(text, file, opts, io);
}

export function runScenarioText(text: string, label: string, opts: SimulateOptions, io: CliIO): void {
  let scenario: ReturnType<typeof parseScenario>;
  try {
    scenario = parseScenario(text);
  } catch (err) {
    if (err instanceof ScenarioError) {
      throw new UsageError(
        `invalid scenario ${label}:\n${err.issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
      );
    }
    throw err;
  }
  const result = simulate(scenario);
  io.stdout(
    opts.table
      ? toTable(result.lines, result.summary, result.actions)
      : toJsonLines(result.lines, result.summary),
  );
}
