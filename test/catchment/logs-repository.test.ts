/** The Ripple log repository over a real duck.db: idempotent appends, cursor reads, retention. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CatchmentStore,
  RippleLogRepository,
  SqlRunner,
  ValidationError,
} from '../../src/catchment/store/index.js';

const T0 = Date.UTC(2025, 0, 6);
let tmp: string;
let store: CatchmentStore;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'catchment-logs-'));
  store = CatchmentStore.open(path.join(tmp, 'root'));
});

afterEach(() => {
  store.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const lines = (n: number, at = T0, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    seq: from + i,
    at: at + i,
    level: 'info' as const,
    message: `m${from + i}`,
  }));

const attempt = { pond: 'sales', major: 1, f: T0, ripple: 'load', attempt: 1 };

describe('ripple logs', () => {
  it('ignores a replayed event but keeps a new execution reusing the attempt key', () => {
    expect(store.logs.append({ ...attempt, lines: lines(3) })).toBe(3);
    expect(store.logs.append({ ...attempt, lines: lines(3) })).toBe(0);
    expect(store.logs.append({ ...attempt, lines: lines(2, T0 + 10_000) })).toBe(2);
    expect(store.logs.list({ pond: 'sales', major: 1 }).map((l) => l.message)).toEqual([
      'm0',
      'm1',
      'm2',
      'm0',
      'm1',
    ]);
  });

  it('pages forward from a cursor, filters by ripple and line, and tails without one', () => {
    store.logs.append({ ...attempt, lines: lines(4) });
    store.logs.append({
      ...attempt,
      ripple: 'other',
      lines: [{ seq: 0, at: T0, level: 'warn', message: 'x', fields: { n: 1 } }],
    });
    store.logs.append({ ...attempt, major: 2, lines: lines(1) });
    const all = store.logs.list({ pond: 'sales', major: 1 });
    expect(all.map((l) => [l.ripple, l.message])).toEqual([
      ['load', 'm0'],
      ['load', 'm1'],
      ['load', 'm2'],
      ['load', 'm3'],
      ['other', 'x'],
    ]);
    expect(all[4]!.fields).toEqual({ n: 1 });
    expect(
      store.logs.list({ pond: 'sales', major: 1, since: all[1]!.id, limit: 2 }).map((l) => l.message),
    ).toEqual(['m2', 'm3']);
    expect(
      store.logs.list({ pond: 'sales', major: 1, ripple: 'load', limit: 2 }).map((l) => l.message),
    ).toEqual(['m2', 'm3']);
    expect(store.logs.latestId('sales', 1)).toBe(all[4]!.id);
    expect(store.logs.latestId('nothing', 1)).toBe(0);
  });

  it('keeps the newest lines of a line past its retention, other lines untouched', () => {
    const logs = new RippleLogRepository(new SqlRunner(store.db), 5);
    logs.append({ ...attempt, major: 2, lines: lines(2) });
    logs.append({ ...attempt, lines: lines(4) });
    logs.append({ ...attempt, f: T0 + 1, lines: lines(4) });
    expect(logs.list({ pond: 'sales', major: 1 })).toHaveLength(5);
    expect(logs.list({ pond: 'sales', major: 1 }).map((l) => [l.f, l.message])[0]).toEqual([T0, 'm3']);
    expect(logs.list({ pond: 'sales', major: 2 })).toHaveLength(2);
  });

  it('refuses a line that is not one', () => {
    expect(() =>
      store.logs.append({ ...attempt, lines: [{ seq: -1, at: T0, level: 'info', message: 'x' }] }),
    ).toThrow(ValidationError);
    expect(() => store.logs.append({ ...attempt, ripple: 'bad name', lines: lines(1) })).toThrow(
      ValidationError,
    );
  });
});
