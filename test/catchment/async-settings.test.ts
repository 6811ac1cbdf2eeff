/**
 * The async-query settings (switch grammar, durations, a bad value naming its variable) and the
 * results cursor (round trip; any change, another job or another key refused with 400).
 */
import { describe, expect, it } from 'vitest';
import { AsyncConfigError, readAsyncQueryConfig } from '../../src/catchment/async/config.js';
import { CursorCodec, InvalidCursor } from '../../src/catchment/async/cursor.js';

describe('readAsyncQueryConfig', () => {
  it('defaults to off, a 10 minute TTL and a 1 minute sweep', () => {
    expect(readAsyncQueryConfig({})).toMatchObject({
      enabled: false,
      cursorMode: false,
      resultTtlMs: 600_000,
      cleanupIntervalMs: 60_000,
    });
  });

  it('reads the switches like the remote-routing flags and durations with units', () => {
    const config = readAsyncQueryConfig({
      FEATURE_ASYNC_QUEUE: ' Yes ',
      FEATURE_CURSOR_MODE: '1',
      QUERY_RESULT_TTL: '30s',
      QUERY_CLEANUP_INTERVAL: '250ms',
    });
    expect(config).toMatchObject({
      enabled: true,
      cursorMode: true,
      resultTtlMs: 30_000,
      cleanupIntervalMs: 250,
    });
    expect(readAsyncQueryConfig({ FEATURE_ASYNC_QUEUE: 'off', QUERY_RESULT_TTL: '2h' })).toMatchObject({
      enabled: false,
      resultTtlMs: 7_200_000,
    });
    // The product's one duration grammar: compound and fractional groups too.
    expect(readAsyncQueryConfig({ QUERY_RESULT_TTL: '1h30m', QUERY_CLEANUP_INTERVAL: '1.5s' })).toMatchObject(
      {
        resultTtlMs: 5_400_000,
        cleanupIntervalMs: 1_500,
      },
    );
  });

  it('refuses a value that does not parse, naming the variable', () => {
    expect(() => readAsyncQueryConfig({ FEATURE_ASYNC_QUEUE: 'enabled' })).toThrow(
      new AsyncConfigError(
        'FEATURE_ASYNC_QUEUE',
        '"enabled" is not a switch value (use 1/0, true/false, yes/no or on/off)',
      ),
    );
    for (const bad of ['0', '-5s', '10 minutes', '250', '0s']) {
      expect(() => readAsyncQueryConfig({ QUERY_RESULT_TTL: bad })).toThrow(
        `QUERY_RESULT_TTL: "${bad}" is not a positive duration (e.g. 500ms, 30s, 10m, 1h30m)`,
      );
    }
  });
});

describe('CursorCodec', () => {
  const key = Buffer.alloc(32, 7);
  const codec = new CursorCodec(key);
  const job = 'q_0123456789abcdef0123456789abcdef';

  it('gives back the offset it encoded, for that job only', () => {
    for (const offset of [0, 1, 999, 1_000_000, 2 ** 40])
      expect(codec.decode(job, codec.encode(job, offset))).toBe(offset);
    const other = 'q_ffffffffffffffffffffffffffffffff';
    expect(() => codec.decode(other, codec.encode(job, 10))).toThrow(InvalidCursor);
  });

  it('refuses a changed offset, a changed signature, another key and garbage', () => {
    const cursor = codec.encode(job, 1000);
    const [body, signature] = cursor.split('.') as [string, string];
    const moved = `${Buffer.from('2000').toString('base64url')}.${signature}`;
    const flipped = `${body}.${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`;
    const foreign = new CursorCodec(Buffer.alloc(32, 8)).encode(job, 1000);
    for (const bad of [moved, flipped, foreign]) {
      expect(() => codec.decode(job, bad)).toThrow(
        'the cursor was not issued for this query job (changed, or from another job)',
      );
    }
    for (const bad of [
      '',
      '.',
      'abc',
      `${Buffer.from('-1').toString('base64url')}.${signature}`,
      `${body}.${signature}x`,
    ]) {
      expect(() => codec.decode(job, bad)).toThrow(
        'the cursor is malformed: pass the next_cursor of a previous page unchanged',
      );
    }
    const error = (() => {
      try {
        codec.decode(job, moved);
      } catch (e) {
        return e as InvalidCursor;
      }
    })();
    expect(error).toMatchObject({ httpStatus: 400, code: 'invalid_cursor' });
  });
});
