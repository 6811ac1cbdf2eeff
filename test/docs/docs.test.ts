/**
 * The docs are executed: every command block of README.md and docs/*.md runs, in order, in a scratch
 * directory against a real Catchment, and its documented output must match what is printed (after
 * the masks of compare.ts). A block is run, or data (json, toml, …), or excused with
 * `<!-- not run: REASON -->`; anything else fails here. Conventions: README.md, "The docs are executed".
 * The runs themselves are one test file per document (run-*.test.ts), listed in RUN_FILES.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDoc } from './markdown.js';
import { REPO } from './session.js';

const DOCS = [
  'README.md',
  ...readdirSync(path.join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** The test file that runs a document: `docs/cli.md` → `run-cli.test.ts`. */
const runFile = (doc: string) =>
  path.join(REPO, 'test/docs', `run-${path.basename(doc, '.md').toLowerCase()}.test.ts`);

describe.each(DOCS)('%s', (doc) => {
  const parsed = parseDoc(readFileSync(path.join(REPO, doc), 'utf8'));

  it('has every block run, data or excused with a reason', () => {
    expect(parsed.problems).toEqual([]);
  });

  it('is run by a test file of its own when it has anything to run', () => {
    const runs = parsed.steps.some((s) => s.kind !== 'file');
    if (runs) expect(existsSync(runFile(doc)), `${path.relative(REPO, runFile(doc))} runs ${doc}`).toBe(true);
  });
});
