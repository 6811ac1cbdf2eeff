/**
 * Remote rows passed through: a worker's batches are checked (src/compute/remote/row-batch.ts) and
 * spliced into the HTTP answer (passthrough-result.ts) without being parsed. The checker is held to
 * JSON.parse itself (every batch it accepts parses to rows of the schema width; every mutation of a
 * batch that still parses to such rows is accepted), and a worker sending anything else — an
 * injected field, an object, a broken string — fails the query cleanly, never reaching an answer.
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DoneSchema,
  RowBatchSchema,
  SchemaSchema,
} from '../../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import { WorkerClientPool } from '../../../src/compute/remote/client-pool.js';
import { RemoteCallFailed } from '../../../src/compute/remote/errors.js';
import { passthroughAnswer, passthroughResult } from '../../../src/compute/remote/passthrough-result.js';
import { RemoteQueryBackend } from '../../../src/compute/remote/remote-backend.js';
import { checkRowBatch, RowBatchRefused } from '../../../src/compute/remote/row-batch.js';
import type { EndpointTarget } from '../../../src/compute/topology.js';
import { type ScriptedWorker, startScriptedWorker } from './scripted-worker.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const COLUMNS = [
  { name: 'id', type: 'BIGINT' },
  { name: 'v', type: 'VARCHAR' },
];

/** Rows with every kind of JSON value the converter writes, strings with escapes and non-ASCII. */
const TRICKY_ROWS = [
  [1, 'plain'],
  [-0.5, 'quote " backslash \\ slash / tab \t newline \n nul \u0000 bell \u0007'],
  ['170141183460469231731687303715884105727', 'ünïcödé 🦆 \u2028\u2029'],
  [1e21, null],
  [true, false],
  [[1, [2, []], {}], { a: [null, { 'k"ey': 'x' }], b: 1.25e-7 }],
  [{ key: 'k', value: [1, 2] }, ''],
];

/** Whether `text` parses to an array of arrays of `width` (the property the checker must decide). */
function parsesToRows(text: string, width: number): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  return Array.isArray(value) && value.every((row) => Array.isArray(row) && row.length === width);
}

function accepts(text: string | Uint8Array, width: number): boolean {
  try {
    checkRowBatch(typeof text === 'string' ? bytes(text) : text, width);
    return true;
  } catch (error) {
    if (error instanceof RowBatchRefused) return false;
    throw error;
  }
}

describe('checkRowBatch', () => {
  it('accepts what the worker writes, counting its rows, with or without whitespace', () => {
    const compact = JSON.stringify(TRICKY_ROWS);
    expect(checkRowBatch(bytes(compact), 2)).toMatchObject({ rows: TRICKY_ROWS.length, open: 0 });
    expect(checkRowBatch(bytes(JSON.stringify(TRICKY_ROWS, null, 2)), 2).rows).toBe(TRICKY_ROWS.length);
    expect(checkRowBatch(bytes(' [ ] '), 2).rows).toBe(0);
    expect(checkRowBatch(bytes('[[]]'), 0).rows).toBe(1);
  });

  it('refuses injection, other shapes and anything JSON.parse refuses', () => {
    const refused = [
      '[1],"x":[',
      '[[1,"a"]],"x":[[1,"a"]',
      '[[1,"a"]],"row_count":0,"x":[[1,"a"]]',
      '{}',
      '[1]',
      '[[1,"a"],{}]',
      '[[1,"a"],"x"]',
      '[[1,"a","b"]]',
      '[[1]]',
      '[[1,"a"]][[2,"b"]]',
      '[[1,"a"]] x',
      '[[1,"a"],]',
      '[[1,"a"]',
      '[[1,"a\\"]]',
      '[[1,"a\\x"]]',
      '[[1,"\\u12G4"]]',
      '[[1,"a\nb"]]',
      '[[01,"a"]]',
      '[[1.,"a"]]',
      '[[1e,"a"]]',
      '[[+1,"a"]]',
      "[[1,'a']]",
      '[[NaN,"a"]]',
      '[[tru,"a"]]',
      '[[{"a" 1},"a"]]',
      '[[{"a":1,},"a"]]',
      '[[{1:1},"a"]]',
      '',
      ']',
    ];
    for (const text of refused) {
      expect(parsesToRows(text, 2), text).toBe(false);
      expect(accepts(text, 2), text).toBe(false);
    }
    // Not UTF-8: the answer would not be either.
    expect(accepts(Uint8Array.from([0x5b, 0x5b, 0x31, 0x2c, 0x22, 0xff, 0x22, 0x5d, 0x5d]), 2)).toBe(false);
    // Nesting past the bound is refused, not a stack overflow.
    expect(accepts(`[[1,${'['.repeat(10_000)}${']'.repeat(10_000)}]]`, 2)).toBe(false);
  });

  it('agrees with JSON.parse on thousands of mutations of a valid batch', () => {
    const base = JSON.stringify(TRICKY_ROWS);
    const alphabet = '[]{},:"\\ -+.0123456789eEtrufalsn\u00e9x';
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    let acceptedMutants = 0;
    for (let i = 0; i < 20_000; i++) {
      let text = base;
      for (let m = 1 + random(3); m > 0; m--) {
        const at = random(text.length + 1);
        const op = random(3);
        const ch = alphabet[random(alphabet.length)]!;
        if (op === 0) text = text.slice(0, at) + ch + text.slice(at);
        else if (op === 1) text = text.slice(0, at) + text.slice(at + 1);
        else text = text.slice(0, at) + ch + text.slice(at + 1);
      }
      const expected = parsesToRows(text, 2);
      expect(accepts(text, 2), text).toBe(expected);
      if (expected) acceptedMutants += 1;
    }
    // Both sides were exercised.
    expect(acceptedMutants).toBeGreaterThan(100);
    expect(acceptedMutants).toBeLessThan(19_000);
  });
});

describe('passthroughAnswer', () => {
  it('is byte for byte JSON.stringify of the result, fields in the same order, and rows parse alike', () => {
    const batches = [TRICKY_ROWS.slice(0, 3), [], TRICKY_ROWS.slice(3)].map((rows) =>
      checkRowBatch(bytes(JSON.stringify(rows)), 2),
    );
    const result = passthroughResult(COLUMNS, batches, 10, true);
    const expected = { columns: COLUMNS, rows: TRICKY_ROWS, row_count: 10, truncated: true };
    const answer = passthroughAnswer(result)!.toString('utf8');
    expect(answer).toBe(JSON.stringify(expected));
    expect(JSON.stringify(result)).toBe(JSON.stringify(expected));
    expect(result).toEqual(expected);
    expect(Object.keys(result)).toEqual(['columns', 'rows', 'row_count', 'truncated']);
  });

  it('keeps the JSON value when a batch has whitespace, and has no answer for other results', () => {
    const spaced = checkRowBatch(bytes(` \n${JSON.stringify(TRICKY_ROWS, null, 1)}\t`), 2);
    const answer = passthroughAnswer(passthroughResult(COLUMNS, [spaced], 7, false))!;
    expect(JSON.parse(answer.toString('utf8'))).toEqual({
      columns: COLUMNS,
      rows: TRICKY_ROWS,
      row_count: 7,
      truncated: false,
    });
    expect(passthroughAnswer(passthroughResult(COLUMNS, [], 0, false))!.toString()).toBe(
      JSON.stringify({ columns: COLUMNS, rows: [], row_count: 0, truncated: false }),
    );
    expect(passthroughAnswer({ columns: COLUMNS, rows: [], row_count: 0, truncated: false })).toBeUndefined();
  });
});

describe('a worker sending a batch that is not rows', () => {
  const workers: ScriptedWorker[] = [];
  const pool = new WorkerClientPool();
  afterEach(async () => {
    pool.close();
    for (const w of workers.splice(0)) await w.close();
  });

  it.each([
    ['an injected field', '[[1,"a"]],"x":[[2,"b"]', 1],
    ['an object', '{}', 0],
    ['a row that is not an array', '[1]', 1],
    ['a broken string', '[[1,"a]]', 1],
    ['a row count that does not match', '[[1,"a"],[2,"b"]]', 1],
  ])(
    '%s fails the remote call as a protocol error, before any answer exists',
    async (_what, rowsJson, rowCount) => {
      const w = await startScriptedWorker(`tok-${randomBytes(8).toString('hex')}`);
      workers.push(w);
      w.execute = async function* () {
        yield { case: 'schema', value: create(SchemaSchema, { columns: COLUMNS }) };
        yield {
          case: 'batch',
          value: create(RowBatchSchema, { rowsJson: bytes('[[0,"ok"]]'), rowCount: 1 }),
        };
        yield { case: 'batch', value: create(RowBatchSchema, { rowsJson: bytes(rowsJson), rowCount }) };
        yield { case: 'done', value: create(DoneSchema, { rowCount: 9n, truncated: false }) };
      };
      const endpoint: EndpointTarget = {
        name: 'w1',
        url: w.url,
        token: w.token,
        status: 'active',
        capacity: null,
        revision: 1,
      };
      const backend = new RemoteQueryBackend(() => pool.acquire(endpoint), {
        sizeOf: () => 10,
        capability: () => '',
        snapshotUrl: () => 'http://127.0.0.1:1',
      });
      const error = await backend
        .execute({ sql: 'SELECT 1', tables: [], principal: 'alice', timeoutMs: 5_000 })
        .catch((e: unknown) => e);
      // A RemoteCallFailed is the router's cue to fall back (or answer 503): no row reached anyone.
      expect(error).toBeInstanceOf(RemoteCallFailed);
      expect(error).toMatchObject({ endpoint: 'w1', reason: 'protocol' });
      expect((error as Error).message).not.toContain('"x"');
    },
  );

  it('more rows than the row limit fail the same way', async () => {
    const w = await startScriptedWorker(`tok-${randomBytes(8).toString('hex')}`);
    workers.push(w);
    w.execute = async function* () {
      yield { case: 'schema', value: create(SchemaSchema, { columns: COLUMNS }) };
      yield {
        case: 'batch',
        value: create(RowBatchSchema, { rowsJson: bytes('[[0,"a"],[1,"b"]]'), rowCount: 2 }),
      };
      yield { case: 'done', value: create(DoneSchema, { rowCount: 2n, truncated: false }) };
    };
    const endpoint: EndpointTarget = {
      name: 'w1',
      url: w.url,
      token: w.token,
      status: 'active',
      capacity: null,
      revision: 1,
    };
    const backend = new RemoteQueryBackend(
      () => pool.acquire(endpoint),
      { sizeOf: () => 10, capability: () => '', snapshotUrl: () => 'http://127.0.0.1:1' },
      { maxRows: 1 },
    );
    const error = await backend
      .execute({ sql: 'SELECT 1', tables: [], principal: 'alice', timeoutMs: 5_000 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ endpoint: 'w1', reason: 'protocol' });
  });
});
