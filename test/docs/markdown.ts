/**
 * Reads a Markdown document into the steps the docs harness runs. Every fenced block gets a kind, so
 * nothing escapes by accident (the same discipline as the governance function allow-list):
 *
 * - `sh` blocks are commands, run in order; a `# …` line right after a command is its output.
 * - an untyped block whose lines start with `$ ` is a transcript: commands and their output.
 * - an untyped block right after a run block (or after `<!-- output of: CMD -->`) is output.
 * - `json`, `toml`, `yaml`, `sql`, `ts` and `text` blocks are data, never run; `<!-- file: PATH -->`
 *   before one writes it to PATH in the scratch directory at that point.
 * - `<!-- not run: REASON -->` before a block excuses it; anything else untyped is an error.
 * - `<!-- run: CMD -->` anywhere runs CMD unseen (setup a reader would have done already).
 */

export type Step =
  | { kind: 'commands'; line: number; lines: string[] }
  | { kind: 'transcript'; line: number; lines: string[] }
  | { kind: 'output'; line: number; of: 'previous' | string; lines: string[] }
  | { kind: 'file'; line: number; path: string; text: string }
  | { kind: 'hidden'; line: number; command: string };

export interface Skipped {
  line: number;
  info: string;
  reason: string;
}

export interface ParsedDoc {
  steps: Step[];
  skipped: Skipped[];
  /** Blocks the harness could not classify: each is a test failure naming its line. */
  problems: string[];
}

const DATA_INFO = new Set(['json', 'toml', 'yaml', 'sql', 'ts', 'text']);
const MARKER = /^<!--\s*(not run|file|output of|run):\s*([\s\S]*?)\s*-->$/;

export function parseDoc(markdown: string): ParsedDoc {
  const lines = markdown.split('\n');
  const steps: Step[] = [];
  const skipped: Skipped[] = [];
  const problems: string[] = [];
  let pending: { kind: string; value: string } | null = null;
  // Whether only prose separates this block from the last run one: an untyped block there is output.
  let afterRunBlock = false;

  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim();
    const marker = MARKER.exec(trimmed);
    if (marker) {
      if (marker[1] === 'run') steps.push({ kind: 'hidden', line: i + 1, command: marker[2]! });
      else pending = { kind: marker[1]!, value: marker[2]! };
      continue;
    }
    const fence = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (!fence) {
      if (trimmed.startsWith('#') && !trimmed.startsWith('#!')) afterRunBlock = false; // a heading
      continue;
    }
    const indent = fence[1]!.length;
    const info = fence[2]!;
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(indent));
    const where = `line ${start}`;
    const marked = pending;
    pending = null;

    if (marked?.kind === 'not run') {
      if (!marked.value) problems.push(`${where}: "not run" needs a reason`);
      skipped.push({ line: start, info, reason: marked.value });
      afterRunBlock = false;
      continue;
    }
    if (marked?.kind === 'file') {
      steps.push({ kind: 'file', line: start, path: marked.value, text: `${body.join('\n')}\n` });
      continue;
    }
    if (marked?.kind === 'output of') {
      steps.push({ kind: 'output', line: start, of: marked.value, lines: body });
      afterRunBlock = false;
      continue;
    }
    if (DATA_INFO.has(info)) {
      skipped.push({ line: start, info, reason: `${info} is not a command` });
      continue;
    }
    if (info === 'sh') {
      steps.push({ kind: 'commands', line: start, lines: body });
      afterRunBlock = true;
      continue;
    }
    if (info !== '') {
      problems.push(`${where}: unknown info string "${info}" (use sh, or mark the block)`);
      continue;
    }
    if (body.some((l) => l.startsWith('$ '))) {
      if (!body[0]!.startsWith('$ ')) problems.push(`${where}: a transcript must start with "$ command"`);
      steps.push({ kind: 'transcript', line: start, lines: body });
      afterRunBlock = false;
      continue;
    }
    if (afterRunBlock) {
      steps.push({ kind: 'output', line: start, of: 'previous', lines: body });
      afterRunBlock = false;
      continue;
    }
    problems.push(
      `${where}: a block that is neither run nor excused — write it as "$ command" + output, ` +
        'give it an info string (sh, json, text, …) or put <!-- not run: REASON --> before it',
    );
  }
  return { steps, skipped, problems };
}
