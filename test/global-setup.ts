/** Duck processes run the built CLI (bin/duckstring.js → dist/), so build once before the suite. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Set to the start of the last build this setup ran: every source older than it is in dist/. */
const STAMP = 'dist/.test-build-started';

/**
 * Whether dist/ already holds a build of every source as it is now: each src/**.ts has its .js,
 * and the source and the compiler settings are older than that .js or than the last build here.
 * `npm ci` builds (prepare) right before CI's `npm test`, where tsc, even incremental, has no build
 * info and compiles everything again: ~15 s of one core before the first test starts. Checking
 * the times takes milliseconds. (Incremental tsc does not rewrite a .js whose source was touched
 * but not changed, hence the stamp.)
 */
function distUpToDate(root: string): boolean {
  const mtime = (f: string) => statSync(f).mtimeMs;
  const stamp = existsSync(path.join(root, STAMP)) ? mtime(path.join(root, STAMP)) : 0;
  const settings = Math.max(
    ...['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((f) => mtime(path.join(root, f))),
  );
  const src = path.join(root, 'src');
  for (const rel of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
    const out = path.join(root, 'dist', rel.replace(/\.ts$/, '.js'));
    if (!existsSync(out)) return false;
    const built = Math.max(mtime(out), stamp);
    if (built < mtime(path.join(src, rel)) || built < settings) return false;
  }
  return true;
}

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  if (distUpToDate(root)) return;
  // Incremental: an unchanged tree builds in a few seconds instead of ~20. The build info only
  // knows what it emitted, not whether dist/ still holds it, so a missing dist/ starts afresh.
  const started = new Date();
  const buildInfo = path.join(root, 'test-build.tsbuildinfo');
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) rmSync(buildInfo, { force: true });
  execFileSync(
    process.execPath,
    [
      path.join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--incremental',
      '--tsBuildInfoFile',
      buildInfo,
    ],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  writeFileSync(path.join(root, STAMP), '');
  utimesSync(path.join(root, STAMP), started, started);
}
