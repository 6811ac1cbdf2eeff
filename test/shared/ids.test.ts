import { describe, expect, it } from 'vitest';
import {
  IDENTIFIER_PATTERN,
  isDuckdbReservedName,
  isLineId,
  lineId,
  NAME_PATTERN,
  parseLineId,
} from '../../src/shared/ids.js';

describe('shared identifiers', () => {
  it('Pond names are lowercase identifiers; table identifiers may be mixed case', () => {
    for (const n of ['sales', 'a', 'x_1']) expect(NAME_PATTERN.test(n), n).toBe(true);
    for (const n of ['Sales', '1a', '_a', 'a-b', 'a.b', '']) expect(NAME_PATTERN.test(n), n).toBe(false);
    for (const n of ['Daily', '_t', 't1']) expect(IDENTIFIER_PATTERN.test(n), n).toBe(true);
    for (const n of ['1t', 't-1', 't.x']) expect(IDENTIFIER_PATTERN.test(n), n).toBe(false);
  });

  it('line ids round-trip, major 0 included, and nothing else parses', () => {
    for (const [name, major] of [
      ['sales', 0],
      ['sales', 1],
      ['a_b', 42],
    ] as const) {
      expect(parseLineId(lineId(name, major))).toEqual({ name, major });
      expect(isLineId(lineId(name, major))).toBe(true);
    }
    for (const id of ['sales', 'sales@', 'sales@01', 'Sales@1', 'sales@1.0', '@1', 'a@b@1']) {
      expect(isLineId(id), id).toBe(false);
      expect(() => parseLineId(id), id).toThrow(/not a line id/);
    }
  });

  it("DuckDB's own catalog and schema names are reserved, in any case", () => {
    for (const n of ['main', 'TEMP', 'system', 'memory', 'information_schema', 'pg_catalog']) {
      expect(isDuckdbReservedName(n), n).toBe(true);
    }
    expect(isDuckdbReservedName('sales')).toBe(false);
  });
});
