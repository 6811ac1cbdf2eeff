/**
 * Limits that keep one principal's queries from starving everyone else's, and the cheap checks on
 * the SQL text that run before any parsing: its size and how deeply it nests brackets. Parsing and
 * rewriting cost grows with both (nested subqueries superlinearly), so a text past either limit is
 * refused before it reaches the parser.
 */
import { z } from 'zod';
import { QueryLimitError } from '../governance/errors.js';

const positiveInt = z.number().int().positive();

export const queryLimitsSchema = z
  .object({
    /** Largest SQL text accepted, in UTF-8 bytes (413 sql_too_large past it). */
    maxSqlBytes: positiveInt.max(16 * 1024 * 1024).default(64 * 1024),
    /** Deepest nesting of ( [ { accepted, outside literals and comments (400 sql_too_complex past it). */
    maxNestingDepth: positiveInt.max(1000).default(64),
    /** Queries one principal may have accepted and unfinished at once (429 too_many_queries past it). */
    maxQueriesPerPrincipal: positiveInt.default(4),
    /** One deadline for parsing, rewriting, waiting for a slot and executing, from acceptance. */
    timeoutMs: positiveInt.default(30_000),
    /** Worker threads that parse and rewrite queries. */
    governorThreads: positiveInt.max(64).default(2),
  })
  .strict();

export type QueryLimitsConfig = z.output<typeof queryLimitsSchema>;
export type QueryLimitsInput = z.input<typeof queryLimitsSchema>;

export function resolveQueryLimits(input: QueryLimitsInput = {}): QueryLimitsConfig {
  const parsed = queryLimitsSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'limits'}: ${i.message}`);
    throw new Error(`invalid query limits: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The largest JSON request body that can carry a query within the size limit: each byte of SQL
 * takes at most 6 bytes once JSON-escaped (\u0000), plus room for the envelope.
 */
export function requestBodyLimit(limits: Pick<QueryLimitsConfig, 'maxSqlBytes'>): number {
  return limits.maxSqlBytes * 6 + 4096;
}

export function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** Throws sql_too_large or sql_too_complex; O(length), no allocation beyond the byte count. */
export function checkSqlText(
  sql: string,
  limits: Pick<QueryLimitsConfig, 'maxSqlBytes' | 'maxNestingDepth'>,
): void {
  // Cheap bound first: a UTF-8 byte is at least one UTF-16 unit, at most three per unit.
  if (sql.length > limits.maxSqlBytes || Buffer.byteLength(sql, 'utf8') > limits.maxSqlBytes) {
    throw new QueryLimitError(
      'sql_too_large',
      `the SQL text is ${formatBytes(Buffer.byteLength(sql, 'utf8'))}; queries are limited to ${formatBytes(limits.maxSqlBytes)} (maxSqlBytes)`,
    );
  }
  const depth = bracketDepth(sql, limits.maxNestingDepth);
  if (depth > limits.maxNestingDepth) {
    throw new QueryLimitError(
      'sql_too_complex',
      `the SQL nests brackets (subqueries, expressions, lists) more than ${limits.maxNestingDepth} levels deep (maxNestingDepth); flatten it, for example with CTEs`,
    );
  }
}

const isIdentChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 128;

/**
 * The deepest nesting of ( [ { in `sql`, reading string literals ('' and E'' with backslash
 * escapes), quoted identifiers, dollar-quoted strings and comments (-- and nested block comments)
 * as DuckDB's scanner does. Stops counting once past `stopAbove`. An unterminated literal or
 * comment ends the scan: the parser refuses such text anyway.
 */
export function bracketDepth(sql: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 40 || c === 91 || c === 123) {
      // ( [ {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
      i++;
    } else if (c === 41 || c === 93 || c === 125) {
      // ) ] }
      if (depth > 0) depth--;
      i++;
    } else if (c === 39) {
      // '…': an E'…' literal also takes backslash escapes.
      const prev = i > 0 ? sql.charCodeAt(i - 1) : 0;
      const escapes = (prev === 69 || prev === 101) && !(i > 1 && isIdentChar(sql.charCodeAt(i - 2)));
      i = skipQuoted(sql, i, 39, escapes);
    } else if (c === 34) {
      i = skipQuoted(sql, i, 34, false);
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i + 2);
      i = end < 0 ? n : end + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      i = skipBlockComment(sql, i);
    } else if (c === 36 && !(i > 0 && isIdentChar(sql.charCodeAt(i - 1)))) {
      i = skipDollarQuoted(sql, i);
    } else if (isIdentChar(c)) {
      // A whole identifier or number at once, so a '$' inside one is not a dollar quote.
      i++;
      while (i < n && isIdentChar(sql.charCodeAt(i))) i++;
    } else {
      i++;
    }
  }
  return deepest;
}

/** Index just past the literal opened at `start`; doubled quotes stay inside it. */
function skipQuoted(sql: string, start: number, quote: number, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (backslashEscapes && c === 92) i += 2;
    else if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}

/** Block comments nest in DuckDB's scanner (as in PostgreSQL). */
function skipBlockComment(sql: string, start: number): number {
  let level = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
      level++;
      i += 2;
    } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
      level--;
      i += 2;
      if (level === 0) return i;
    } else i++;
  }
  return sql.length;
}

const DOLLAR_TAG = /\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

/** `$tag$ … $tag$` (tag optional); a `$` not opening one (a parameter like $1) is skipped alone. */
function skipDollarQuoted(sql: string, start: number): number {
  DOLLAR_TAG.lastIndex = start;
  const open = DOLLAR_TAG.exec(sql);
  if (!open) return start + 1;
  const close = sql.indexOf(open[0], start + open[0].length);
  return close < 0 ? sql.length : close + open[0].length;
}
