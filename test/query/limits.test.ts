/**
 * The checks made before any parsing: SQL size (UTF-8 bytes), bracket nesting read the way DuckDB's
 * scanner reads literals and comments, and per-principal admission.
 */
import { describe, expect, it } from 'vitest';
import { QueryLimitError } from '../../src/governance/errors.js';
import { QueryAdmission } from '../../src/query/admission.js';
import { bracketDepth, checkSqlText, requestBodyLimit, resolveQueryLimits } from '../../src/query/limits.js';

const refusal = (sql: string, limits = { maxSqlBytes: 100, maxNestingDepth: 3 }) => {
  try {
    checkSqlText(sql, limits);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(QueryLimitError);
    const e = error as QueryLimitError;
    return { code: e.code, status: e.status, message: e.message };
  }
};

describe('checkSqlText', () => {
  it('refuses a text past the size limit in UTF-8 bytes with 413, naming the limit', () => {
    expect(refusal(`SELECT '${'x'.repeat(91)}'`)).toBeUndefined(); // exactly 100 bytes
    expect(refusal(`SELECT '${'x'.repeat(92)}'`)).toEqual({
      code: 'sql_too_large',
      status: 413,
      message: 'the SQL text is 101 bytes; queries are limited to 100 bytes (maxSqlBytes)',
    });
    // 30 characters, 120 bytes.
    expect(
      refusal('é'.repeat(30).replace(/^/, "SELECT '").concat("'"), { maxSqlBytes: 64, maxNestingDepth: 3 })
        ?.code,
    ).toBe('sql_too_large');
    expect(refusal('x'.repeat(65 * 1024), resolveQueryLimits())?.message).toBe(
      'the SQL text is 65 KiB; queries are limited to 64 KiB (maxSqlBytes)',
    );
  });

  it('refuses nesting past the depth limit with 400, naming the limit', () => {
    expect(refusal('SELECT (((1)))')).toBeUndefined();
    expect(refusal('SELECT ((((1))))')).toEqual({
      code: 'sql_too_complex',
      status: 400,
      message:
        'the SQL nests brackets (subqueries, expressions, lists) more than 3 levels deep (maxNestingDepth); flatten it, for example with CTEs',
    });
    expect(refusal('SELECT [[[{a: 1}]]]')?.code).toBe('sql_too_complex');
  });
});

describe('bracketDepth', () => {
  it('counts ( [ { nesting, not sequences', () => {
    expect(bracketDepth('SELECT 1')).toBe(0);
    expect(bracketDepth('SELECT (1), (2), ((3))')).toBe(2);
    expect(bracketDepth('SELECT [1, {a: (2)}]')).toBe(3);
    expect(bracketDepth('SELECT ))) + (((1')).toBe(3);
  });

  it('skips literals, quoted identifiers and comments as DuckDB does', () => {
    expect(bracketDepth("SELECT '((((', 'it''s (((' ")).toBe(0);
    expect(bracketDepth("SELECT E'\\'(((', e'((('")).toBe(0);
    expect(bracketDepth("SELECT x'(((' ")).toBe(0);
    expect(bracketDepth('SELECT "a(((""" FROM t')).toBe(0);
    expect(bracketDepth('SELECT $$((($$, $tag$ ((( $ $tag$')).toBe(0);
    expect(bracketDepth('SELECT 1 -- (((\n + (2)')).toBe(1);
    expect(bracketDepth('SELECT /* ( /* ((( */ ( */ (1)')).toBe(1);
    expect(bracketDepth('SELECT a$b$ FROM t WHERE ((x))')).toBe(2);
    expect(bracketDepth('SELECT $1, (($2))')).toBe(2);
  });

  it('cannot be fooled into undercounting by brackets inside literals', () => {
    // A closing bracket inside a string must not cancel an opening one outside it.
    expect(bracketDepth("SELECT ((((')))))' || 1))))")).toBe(4);
    expect(bracketDepth('SELECT (((("))))))" + 1))))')).toBe(4);
  });

  it('stops scanning once past the limit', () => {
    expect(bracketDepth(`SELECT ${'('.repeat(1000)}`, 10)).toBe(11);
  });
});

describe('resolveQueryLimits', () => {
  it('has documented defaults and refuses nonsense', () => {
    expect(resolveQueryLimits()).toEqual({
      maxSqlBytes: 65536,
      maxNestingDepth: 64,
      maxQueriesPerPrincipal: 4,
      timeoutMs: 30_000,
      governorThreads: 2,
    });
    expect(() => resolveQueryLimits({ maxSqlBytes: 0 })).toThrow(/maxSqlBytes/);
    expect(() => resolveQueryLimits({ bogus: 1 } as never)).toThrow(/invalid query limits/);
    expect(requestBodyLimit({ maxSqlBytes: 1000 })).toBeGreaterThanOrEqual(6 * 1000);
  });
});

describe('QueryAdmission', () => {
  it('admits up to the limit per principal (case-insensitively), then refuses with 429 until one ends', () => {
    const admission = new QueryAdmission(2);
    const first = admission.admit('Alice');
    admission.admit('alice');
    const other = admission.admit('bob');
    let refused: QueryLimitError | undefined;
    try {
      admission.admit('ALICE');
    } catch (error) {
      refused = error as QueryLimitError;
    }
    expect(refused).toBeInstanceOf(QueryLimitError);
    expect(refused).toMatchObject({ code: 'too_many_queries', status: 429, retryAfterSeconds: 1 });
    expect(refused?.message).toBe(
      '"ALICE" already has 2 queries in progress, the most one principal may have at once (maxQueriesPerPrincipal); retry when one has finished',
    );
    first();
    first(); // releasing twice frees one place only
    expect(admission.count('alice')).toBe(1);
    admission.admit('alice');
    expect(() => admission.admit('alice')).toThrow(QueryLimitError);
    other();
    expect(admission.count('bob')).toBe(0);
  });
});
