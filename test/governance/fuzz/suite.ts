/**
 * Differential fuzzing of the governance rewrite (issue 7, item 8), in shards: each
 * `test/governance/fuzz-*.test.ts` file runs one slice of the cases in its own vitest worker, so the
 * 20,000 cases use every core. Each generated query runs
 * governed (rewritten, over the raw snapshots) and as reference (the user's text over the
 * principal's physically filtered and masked copy). Either the rewrite refuses it, or both give the
 * same answer; no hidden value ever appears in a governed answer or error; and a query the
 * reference cannot run must not return data governed.
 *
 * Reproduce a failure with the seed and case printed in its message (the shard holding the case runs it):
 *   DUCKSTRING_FUZZ_SEED=<seed> DUCKSTRING_FUZZ_ONLY=<case> npx vitest run test/governance/fuzz-
 * DUCKSTRING_FUZZ_CASES changes the number of cases (default 20,000); DUCKSTRING_FUZZ_SEED=random
 * picks a fresh seed (printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryExecutor } from '../../../src/compute/query.js';
import { tempDir } from '../../compute/helpers.js';
import { mixSeed } from '../../support/prng.js';
import { FUZZ_CORPUS } from '../corpus-fuzz.js';
import { type Snapshots, writeSnapshots } from '../fixtures.js';
import { FORBIDDEN_TOKENS, type GeneratedQuery, generateQuery } from './generator.js';
import {
  type CaseReport,
  canonicalRows,
  describeCase,
  executorTablesFor,
  type FuzzFixture,
  governQuery,
  type Outcome,
  openFuzzFixture,
  runCase,
  runGoverned,
} from './harness.js';
import { KNOWN_FINDINGS } from './known-findings.js';

const DEFAULT_SEED = 0x5eed_0007;

function seedFromEnv(): number {
  const raw = process.env.DUCKSTRING_FUZZ_SEED?.trim();
  if (raw === undefined || raw === '') return DEFAULT_SEED;
  if (raw === 'random') return (Math.random() * 2 ** 32) >>> 0;
  const n = Number(raw);
  if (!Number.isInteger(n))
    throw new Error(`DUCKSTRING_FUZZ_SEED must be an integer or "random", got "${raw}"`);
  return n >>> 0;
}

function countFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

const SEED = seedFromEnv();
const CASES = countFromEnv('DUCKSTRING_FUZZ_CASES', 20_000);
const ONLY = process.env.DUCKSTRING_FUZZ_ONLY?.trim() ? countFromEnv('DUCKSTRING_FUZZ_ONLY', 0) : undefined;
/** Cases in flight at once: the governor, the governed and the reference connections overlap. */
const IN_FLIGHT = 4;

/** How many `fuzz-<n>.test.ts` files share the cases (each declares its shard number). */
export const FUZZ_SHARDS = 4;

const caseQuery = (index: number): GeneratedQuery => generateQuery(mixSeed(SEED, index));

/** The case indices of one shard: a contiguous slice of 0 … CASES-1. */
export function shardCases(shard: number, cases: number, shards = FUZZ_SHARDS): number[] {
  const from = Math.floor((shard * cases) / shards);
  const to = Math.floor(((shard + 1) * cases) / shards);
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/**
 * Declares shard `shard` of the fuzzer. Shard 0 also checks the generator and replays the corpus;
 * the last shard also compares the fast path with the QueryExecutor sandbox.
 */
export function defineFuzzShard(shard: number): void {
  const slice = shardCases(shard, CASES);
  const last = shard === FUZZ_SHARDS - 1;
  let tmp: ReturnType<typeof tempDir>;
  let snapshots: Snapshots;
  let fx: FuzzFixture;

  beforeAll(async () => {
    console.log(
      `governance fuzz shard ${shard + 1}/${FUZZ_SHARDS}: seed ${SEED} (DUCKSTRING_FUZZ_SEED=${SEED}), ${ONLY === undefined ? `cases ${slice[0]}…${slice.at(-1)} of ${CASES}` : `case #${ONLY} only`}`,
    );
    tmp = tempDir('governance-fuzz');
    snapshots = await writeSnapshots(tmp.dir);
    fx = await openFuzzFixture(snapshots, `${tmp.dir.replace(/\/$/, '')}/raw`);
  });

  afterAll(() => {
    fx?.close();
    tmp?.cleanup();
  });

  describe(`governance differential fuzzer, shard ${shard + 1}/${FUZZ_SHARDS}`, () => {
    it.runIf(shard === 0)(
      'generates the same queries from the same seed, with no hidden value in their text',
      () => {
        for (let i = 0; i < 300; i++) {
          const a = caseQuery(i);
          expect(caseQuery(i)).toEqual(a);
          for (const token of FORBIDDEN_TOKENS) expect(a.sql.toLowerCase()).not.toContain(token);
          expect(a.sql).not.toMatch(
            /\b(random|now|uuid|gen_random_uuid|any_value)\s*\(|\bcurrent_timestamp\b/i,
          );
        }
      },
    );

    const only = ONLY !== undefined && (slice.includes(ONLY) || (last && ONLY >= CASES));
    it.runIf(ONLY === undefined || only)(
      `refused, or the reference's answer, and never a hidden value (seed ${SEED}, cases ${slice[0]}…${slice.at(-1)})`,
      async () => {
        const indices = ONLY === undefined ? slice : [ONLY];
        const started = Date.now();
        const cpuBefore = process.cpuUsage();
        const verdicts = new Map<string, number>();
        const tags = new Map<string, number>();
        const known = new Map<string, number>();
        const failures: string[] = [];
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < indices.length) {
            const index = indices[next++]!;
            const query = caseQuery(index);
            const report = await runCase(fx, query);
            for (const tag of query.tags) tags.set(tag, (tags.get(tag) ?? 0) + 1);
            let verdict: string = report.verdict;
            if (report.verdict === 'problem') {
              const finding = KNOWN_FINDINGS.find((f) => f.matches(report));
              if (finding) {
                verdict = `known:${finding.id}`;
                known.set(finding.id, (known.get(finding.id) ?? 0) + 1);
              } else if (failures.length < 25) failures.push(describeCase(report, SEED, index));
              else failures.push('');
            }
            verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
            if (ONLY !== undefined) console.log(describeCase(report, SEED, index));
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
        const seconds = (Date.now() - started) / 1000;
        const cpu = process.cpuUsage(cpuBefore);
        console.log(
          `governance fuzz: ${indices.length} cases in ${seconds.toFixed(1)} s (process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s), seed ${SEED}; verdicts ${JSON.stringify(Object.fromEntries([...verdicts].sort()))}`,
        );
        if (known.size > 0) {
          console.log(
            `governance fuzz: KNOWN FINDINGS still present (not failures): ${JSON.stringify(Object.fromEntries(known))}`,
          );
        }
        const shown = failures.filter((f) => f !== '');
        expect(
          failures.length,
          `${failures.length} failing cases (seed ${SEED}); the first ${shown.length}:\n\n${shown.join('\n\n')}`,
        ).toBe(0);
        if (ONLY === undefined && indices.length >= 5_000) {
          // The generator must keep exercising what it claims to, and most queries must really run:
          // in every shard of at least 5,000 cases, not only over all of them.
          for (const tag of REQUIRED_TAGS)
            expect(tags.get(tag) ?? 0, `shape ${tag} generated`).toBeGreaterThan(5);
          expect(verdicts.get('same') ?? 0, 'answered queries').toBeGreaterThan(indices.length * 0.4);
          // Tolerated, but it must stay rare or it could hide a systematic difference.
          expect(verdicts.get('error-one-side') ?? 0, 'errors on one side only').toBeLessThan(
            indices.length * 0.01,
          );
          expect(verdicts.get('optimizer-dependent') ?? 0, 'optimiser-dependent answers').toBeLessThan(
            indices.length * 0.01,
          );
        }
      },
      600_000,
    );

    it.runIf(shard === 0 && ONLY === undefined)(
      'the fuzz corpus: every shape and every former finding agrees with the reference',
      async () => {
        const problems: string[] = [];
        const stillOpen = new Set<string>();
        for (const [i, entry] of FUZZ_CORPUS.entries()) {
          const query = {
            sql: entry.sql,
            principal: 'bob',
            ordered: entry.ordered ?? false,
            mustRefuse: false,
            tags: [],
          };
          const report = await runCase(fx, query);
          if (report.verdict !== 'problem') continue;
          const known = KNOWN_FINDINGS.find((f) => f.matches(report));
          if (entry.finding && known?.id === entry.finding) stillOpen.add(entry.finding);
          else problems.push(describeCase(report, SEED, -1 - i));
        }
        for (const finding of KNOWN_FINDINGS) {
          if (!stillOpen.has(finding.id)) {
            console.log(`governance fuzz: no corpus entry reproduces ${finding.id} any more; is it fixed?`);
          }
        }
        expect(problems, problems.join('\n\n')).toEqual([]);
      },
    );

    it.runIf(last && ONLY === undefined)(
      'the fast path gives the same verdicts as the QueryExecutor sandbox (200 cases)',
      async () => {
        const executor = new QueryExecutor({ maxConcurrent: 2 });
        const mismatches: string[] = [];
        let compared = 0;
        try {
          for (let i = 0; compared < 200 && i < 2_000; i++) {
            const index = CASES + i;
            const query = caseQuery(index);
            const governed = await governQuery(fx, query).catch(() => null);
            if (!governed) continue;
            compared += 1;
            const [fast, sandboxed] = await Promise.all([
              runGoverned(fx, governed),
              executor.execute(governed.sql, { tables: executorTablesFor(governed, snapshots) }).then(
                (result): Outcome => ({ ok: true, result }),
                (error: unknown): Outcome => ({ ok: false, message: (error as Error).message, error }),
              ),
            ]);
            const same =
              fast.ok === sandboxed.ok &&
              (!fast.ok ||
                !sandboxed.ok ||
                (JSON.stringify(fast.result.columns) === JSON.stringify(sandboxed.result.columns) &&
                  JSON.stringify(canonicalRows(fast.result, query.ordered)) ===
                    JSON.stringify(canonicalRows(sandboxed.result, query.ordered))));
            if (!same) {
              const report: CaseReport = {
                query,
                verdict: 'problem',
                problems: ['fast path and QueryExecutor disagree'],
                governedSql: governed.sql,
                governed: fast,
                reference: sandboxed,
              };
              mismatches.push(describeCase(report, SEED, index).replace('reference:', 'sandbox:  '));
            }
          }
        } finally {
          await executor.close();
        }
        expect(compared).toBe(200);
        expect(mismatches, mismatches.slice(0, 5).join('\n\n')).toEqual([]);
      },
      300_000,
    );
  });
}

/** Shapes the generator must produce in any run of at least 5,000 cases. */
const REQUIRED_TAGS = [
  'join-inner',
  'join-left',
  'join-cross',
  'join-natural',
  'join-using',
  'join-lateral',
  'set-union',
  'set-union-all',
  'set-intersect',
  'set-except',
  'set-union-by-name',
  'cte',
  'recursive-cte',
  'cte-shadows-catalog-name',
  'scalar-subquery',
  'predicate-in-subquery',
  'predicate-exists',
  'correlated',
  'window',
  'aggregate',
  'group-by-all',
  'having',
  'qualify',
  'order-by-all',
  'limit',
  'cast',
  'name-variant',
  'major-2',
  'quoted-column',
  'upper-case-column',
  'column-alias-list',
  'item-star',
  'item-qualified-star',
  'item-list',
  'item-struct',
  'predicate-side-channel',
  'refused-function',
  'refused-table-function',
  'hr',
];
