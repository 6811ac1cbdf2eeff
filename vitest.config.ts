import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (measured per file, in CPU-seconds and wall time), started first.
 * On a clean clone vitest has no duration cache and orders files by size, which ran the four
 * four-line fuzz shards — a third of the suite's CPU — last, leaving the suite to finish on them.
 * Prefixes of paths under the root; everything else keeps vitest's order (cached durations, size).
 */
const LONGEST_FIRST = [
  'test/governance/fuzz-',
  'test/compute/remote/bypass-remote.test.ts',
  'test/runtime/reliability.test.ts',
  'test/runtime/up.test.ts',
  'test/scenarios.test.ts',
  'test/simulation/simulation.test.ts',
  'test/docs/run-compute.test.ts',
  'test/docs/run-cli.test.ts',
  'test/docs/run-readme.test.ts',
  'test/engine.random.test.ts',
  'test/compute/remote/fleet.test.ts',
  'test/governance/http.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (spec: TestSpecification) => {
      const file = relative(this.ctx.config.root, spec.moduleId);
      const i = LONGEST_FIRST.findIndex((prefix) => file.startsWith(prefix));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    const rest = await super.sort(files.filter((f) => rank(f) === LONGEST_FIRST.length));
    const first = files
      .filter((f) => rank(f) < LONGEST_FIRST.length)
      .sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
    return [...first, ...rest];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Deadlines, not expectations: generous so a loaded machine is slow, not red.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Vitest's default on a 2-core machine is ONE worker (cores - 1), so every file ran after the
    // other. Most runtime files wait on processes and the network rather than burn CPU, and the
    // governance fuzzer is split into shards: three workers keep both cores busy.
    pool: 'forks',
    maxWorkers: 3,
    minWorkers: 1,
    sequence: { sequencer: LongestFirst },
  },
});
