/** Duck processes run the built CLI (bin/duckstring.js → dist/), so build once before the suite. */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  // Incremental: an unchanged tree builds in a few seconds instead of ~20. The build info only
  // knows what it emitted, not whether dist/ still holds it, so a missing dist/ starts afresh.
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
}
