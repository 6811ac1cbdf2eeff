/** RowBatcher and BatchChannel: bounded messages, every row kept in order, backpressure. */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../../src/compute/results.js';
import { BatchChannel } from '../../../src/compute/worker/batch-channel.js';
import { BATCH_TARGET_BYTES, RowBatcher } from '../../../src/compute/worker/service.js';

const decoder = new TextDecoder();

describe('RowBatcher', () => {
  it('coalesces narrow chunks and splits wide ones, keeping every row in order', async () => {
    const sent: Array<{ rows: JsonValue[][]; bytes: number; count: number }> = [];
    const batcher = new RowBatcher(async (payload, count) => {
      sent.push({ rows: JSON.parse(decoder.decode(payload)) as JsonValue[][], bytes: payload.length, count });
    });
    const narrow = Array.from({ length: 2048 }, (_, i) => [i, null]);
    for (let k = 0; k < 3; k++) await batcher.add(narrow);
    // One chunk of 2048 rows of ~2 KB each: ~4 MB, more than a message should hold.
    const wide = Array.from({ length: 2048 }, (_, i) => [i, 'w'.repeat(2000)]);
    await batcher.add(wide);
    await batcher.flush();
    const all = sent.flatMap((s) => s.rows);
    expect(all).toEqual([...narrow, ...narrow, ...narrow, ...wide]);
    for (const s of sent) {
      expect(s.rows.length).toBe(s.count);
      expect(s.bytes).toBeLessThan(2 * BATCH_TARGET_BYTES);
    }
    expect(sent[0]!.count).toBeGreaterThan(2048);
    expect(sent.length).toBeGreaterThanOrEqual(3);
  });
});

describe('BatchChannel', () => {
  it('makes the writer wait for room and fails it once the reader is gone', async () => {
    const channel = new BatchChannel<number>(2);
    await channel.push(1);
    await channel.push(2);
    let third = false;
    const pending = channel.push(3).then(() => {
      third = true;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    const reader = channel.drain();
    expect((await reader.next()).value).toBe(1);
    await pending;
    expect(third).toBe(true);
    channel.abort(new Error('gone'));
    await expect(channel.push(4)).rejects.toThrow('gone');
  });

  it('ends the reader after queued items, or throws the writer failure after them', async () => {
    const ok = new BatchChannel<number>(4);
    await ok.push(1);
    ok.end();
    const got: number[] = [];
    for await (const n of ok.drain()) got.push(n);
    expect(got).toEqual([1]);

    const failed = new BatchChannel<number>(4);
    await failed.push(7);
    failed.fail(new Error('query failed'));
    const reader = failed.drain();
    expect((await reader.next()).value).toBe(7);
    await expect(reader.next()).rejects.toThrow('query failed');
  });
});
