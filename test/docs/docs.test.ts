/**
 * The docs are executed: every command block of README.md and docs/*.md runs, in order, in a scratch
 * directory against a real Catchment, and its documented output must match what is printed (after
 * the masks of compare.ts). A block is run, or data (json, toml, …), or excused with
 * `<!-- not run: REASON -->`; anything else fails here. Conventions: README.md, "The docs are executed".
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../support/runtime.js';
import { parseDoc } from './markdown.js';
import { DocSession, REPO } from './session.js';

const DOCS = [
  'README.md',
  ...readdirSync(path.join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
].filter((doc) => !process.env.DOCS_ONLY || doc.includes(process.env.DOCS_ONLY));

const scratchDirs: string[] = [];
afterAll(async () => {
  await Promise.all(scratchDirs.map(removeDir));
});

describe.each(DOCS)('%s', (doc) => {
  const parsed = parseDoc(readFileSync(path.join(REPO, doc), 'utf8'));

  it('has every block run, data or excused with a reason', () => {
    expect(parsed.problems).toEqual([]);
  });

  it.skipIf(!parsed.steps.some((s) => s.kind !== 'file'))(
    'runs as written',
    async () => {
      const scratch = await tempDir('docs');
      scratchDirs.push(scratch);
      const session = new DocSession(doc, scratch);
      try {
        await session.run(parsed);
      } finally {
        await session.close();
      }
      expect(session.failures.join('\n\n')).toBe('');
    },
    120_000,
  );
});
