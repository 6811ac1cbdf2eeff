/** Temp Pond directories for tests: write a file map, get the directory, clean up after. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const made: string[] = [];

export async function tempDir(prefix = 'duckstring-pond-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function writeFiles(root: string, files: Record<string, string | Buffer>): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  return root;
}

/** A Pond directory holding `files`; pond.toml defaults to a source-less Pond named `demo`. */
export async function makePond(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await tempDir();
  return writeFiles(dir, { 'pond.toml': '[pond]\nname = "demo"\nversion = "1.0.0"\n', ...files });
}

export async function cleanupTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export const MANIFEST_WITH_SOURCES = (sources: string) =>
  `[pond]\nname = "demo"\nversion = "1.0.0"\n\n[sources]\n${sources}\n`;
