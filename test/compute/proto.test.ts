/**
 * The committed TypeScript of the worker contract is what the .proto generates: regenerating into a
 * scratch folder (buf + protoc-gen-es from devDependencies, offline) gives the same files byte for
 * byte. Run `npm run generate:proto` after changing proto/.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const GENERATED = path.join(REPO, 'src/compute/grpc/gen');

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('generated gRPC code', () => {
  const scratch = tempDir('proto-gen');
  afterAll(() => scratch.cleanup());

  it('matches what proto/ generates', async () => {
    const buf = path.join(REPO, 'node_modules/.bin/buf');
    await promisify(execFile)(buf, ['generate', '--output', scratch.dir], { cwd: REPO });
    // buf writes each plugin's `out` below --output.
    const regenerated = path.join(scratch.dir, 'src/compute/grpc/gen');
    expect(files(regenerated)).toEqual(files(GENERATED));
    for (const f of files(GENERATED)) {
      expect(readFileSync(path.join(regenerated, f), 'utf8'), f).toBe(
        readFileSync(path.join(GENERATED, f), 'utf8'),
      );
    }
  }, 60_000);
});
