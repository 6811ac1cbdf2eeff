/**
 * One document, run as written (a test file per document, so vitest runs them side by side).
 * `docs.test.ts` checks that every document is classified and has such a file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { removeDir, tempDir } from '../support/runtime.js';
import { parseDoc } from './markdown.js';
import { DocSession, REPO } from './session.js';

export function runDocTest(doc: string, timeoutMs = 120_000): void {
  it(
    `${doc} runs as written`,
    async () => {
      const parsed = parseDoc(readFileSync(path.join(REPO, doc), 'utf8'));
      const scratch = await tempDir('docs');
      const session = new DocSession(doc, scratch);
      try {
        await session.run(parsed);
      } finally {
        await session.close();
        await removeDir(scratch);
      }
      expect(session.failures.join('\n\n')).toBe('');
    },
    timeoutMs,
  );
}
