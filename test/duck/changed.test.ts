/**
 * Honest `changed` (issue 8, item 5): a Duck reports whether a Ripple's output, and a run's published
 * snapshot, differ from the previous run's — by the rows as a multiset and the schema, not by the
 * Parquet bytes. The runner is built exactly as a Duck builds it.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/compute/snapshots.js';
import type { RippleRunner } from '../../src/duck/duck.js';
import { createRunner } from '../../src/duck/runner.js';
import { DuckDBInstance } from '../../src/shared/duckdb.js';
import { cleanupTempDirs, MANIFEST_WITH_SOURCES, tempDir, writeFiles } from '../pond/helpers.js';

let lineDir: string;
let runner: RippleRunner;
let f = Date.parse('2024-05-01T00:00:00Z');

/** Writes one run's input file for `shop.orders` and returns the run's inputs. */
async function inputsWith(rows: string, name: string): Promise<Record<string, string>> {
  const rel = `inputs/${name}/shop.orders.parquet`;
  await mkdir(path.join(lineDir, 'inputs', name), { recursive: true });
  const scratch = await DuckDBInstance.create(':memory:');
  const conn = await scratch.connect();
  try {
    await conn.run(
      `COPY (SELECT * FROM (VALUES ${rows}) t(id, amount)) TO '${path.join(lineDir, rel)}' (FORMAT parquet)`,
    );
  } finally {
    conn.closeSync();
    scratch.closeSync();
  }
  return { 'shop.orders': rel };
}

/** One run of both Ripples, then its publish: what each reported. */
async function runOnce(inputs: Record<string, string>) {
  const runF = f++;
  const orders = await runner.run('orders', runF, inputs);
  const constant = await runner.run('constant', runF, inputs);
  const published = await runner.publish(runF);
  return { orders: orders.changed, constant: constant.changed, run: published.changed };
}

beforeAll(async () => {
  const root = await tempDir('duckstring-changed-');
  lineDir = path.join(root, 'ponds', 'demo', 'm1');
  const codeDir = path.join(root, 'ponds', 'demo', '1.0.0');
  await writeFiles(codeDir, {
    'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"'),
    // No ORDER BY: the output order is whatever DuckDB makes of the input's.
    'ripples/orders.sql': 'SELECT id, amount FROM shop.orders',
    'ripples/constant.sql': 'SELECT 42 AS answer',
  });
  runner = await createRunner({
    line: 'demo@1',
    name: 'demo',
    major: 1,
    version: '1.0.0',
    codeDir,
    registryPath: path.join(lineDir, 'registry.duckdb'),
    dataDir: path.join(lineDir, 'data'),
    ledgerPath: path.join(lineDir, 'pond.db'),
    ripples: [],
    immediateRetries: 0,
    sources: {},
    pollWaitMs: 1000,
    watchdogMs: 30_000,
  });
});

afterAll(async () => {
  await runner?.close();
  await cleanupTempDirs();
});

describe('changed', () => {
  it('the first run changed everything; an identical re-run changed nothing, also in another row order', async () => {
    const first = await inputsWith('(1, 10.5), (2, 4.0), (3, 1.5), (3, 1.5)', 'a');
    expect(await runOnce(first)).toEqual({ orders: true, constant: true, run: true });
    expect(await runOnce(first)).toEqual({ orders: false, constant: false, run: false });
    const reordered = await inputsWith('(3, 1.5), (2, 4.0), (3, 1.5), (1, 10.5)', 'b');
    expect(await runOnce(reordered)).toEqual({ orders: false, constant: false, run: false });
    // Every run still publishes: the snapshot's freshness advances with each run.
    expect((await readManifest(path.join(lineDir, 'data')))?.f).toBe(f - 1);
  });

  it('different rows, a lost duplicate or a different type is a change, of that Ripple and of the run', async () => {
    const base = await inputsWith('(1, 10.5), (2, 4.0), (3, 1.5), (3, 1.5)', 'c');
    await runOnce(base);
    expect(await runOnce(base)).toMatchObject({ run: false });

    const other = await inputsWith('(1, 10.5), (2, 4.0), (3, 1.6), (3, 1.5)', 'd');
    expect(await runOnce(other)).toEqual({ orders: true, constant: false, run: true });
    expect(await runOnce(base)).toEqual({ orders: true, constant: false, run: true });

    // The same values once each: a multiset, not a set (XOR of row hashes would cancel these).
    const deduplicated = await inputsWith('(1, 10.5), (2, 4.0), (3, 1.5)', 'e');
    expect(await runOnce(deduplicated)).toEqual({ orders: true, constant: false, run: true });
    const doubled = await inputsWith('(1, 10.5), (2, 4.0), (3, 1.5), (1, 10.5), (2, 4.0), (3, 1.5)', 'f');
    expect(await runOnce(doubled)).toEqual({ orders: true, constant: false, run: true });
    const doubledAgain = await inputsWith(
      '(1, 10.5), (1, 10.5), (2, 4.0), (2, 4.0), (3, 1.5), (3, 1.5)',
      'g',
    );
    expect(await runOnce(doubledAgain)).toEqual({ orders: false, constant: false, run: false });

    const retyped = await inputsWith(
      '(1, 10.5::DOUBLE), (1, 10.5), (2, 4.0), (2, 4.0), (3, 1.5), (3, 1.5)',
      'h',
    );
    expect(await runOnce(retyped)).toEqual({ orders: true, constant: false, run: true });
  });

  it('a replayed publish of a run already published claims a change: nothing is known', async () => {
    const inputs = await inputsWith('(7, 7.0)', 'i');
    await runOnce(inputs);
    const again = await runOnce(inputs);
    expect(again.run).toBe(false);
    const replayed = await runner.publish(f - 1);
    expect(replayed).toEqual({ tables: {}, changed: true });
  });

  it('a re-run at the freshness already published (a restarted Duck) reports a change', async () => {
    const inputs = await inputsWith('(8, 8.0)', 'j');
    await runOnce(inputs);
    const runF = f - 1;
    expect((await runner.run('orders', runF, inputs)).changed).toBe(true);
    expect((await runner.publish(runF)).changed).toBe(true);
  });
});
