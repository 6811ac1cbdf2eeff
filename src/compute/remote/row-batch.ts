/**
 * Checks a worker's RowBatch payload (`rows_json`) without building its values, so the Catchment
 * can pass the bytes into the HTTP answer instead of parsing and re-serializing them.
 *
 * Why this is safe although a worker is trusted less than the Catchment: the check is a complete
 * JSON grammar check (RFC 8259: strings with their escapes and no raw control characters, numbers,
 * literals, objects, arrays, nothing after the value) plus well-formed UTF-8, and the top value must
 * be an array whose every element is an array of exactly the schema's width. The bytes between the
 * outer brackets are therefore a comma-separated list of complete JSON arrays: spliced into
 * `"rows":[…]` they can only add rows of that width, never close the array early or add a field to
 * the answer (`[1],"x":[` fails the grammar; `{}` or `[1]` fail the shape). What it does not check —
 * that the values are what local execution would give — no parse would check either.
 */

import { isUtf8 } from 'node:buffer';

/** A checked batch: `rows` rows of the schema width; its rows are `bytes[open + 1, close)`. */
export interface CheckedRowBatch {
  bytes: Uint8Array;
  rows: number;
  /** Offsets of the outer `[` and `]`. */
  open: number;
  close: number;
}

/** Deeper nesting than DuckDB types produce in practice; bounds the checker's recursion. */
const MAX_DEPTH = 256;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;

/** Why a batch is refused, for the protocol error (never echoing the worker's bytes). */
export class RowBatchRefused extends Error {}

/** The batch's shape and row count, or RowBatchRefused. */
export function checkRowBatch(bytes: Uint8Array, width: number): CheckedRowBatch {
  if (!isUtf8(bytes)) throw new RowBatchRefused('a batch that is not UTF-8');
  const end = bytes.length;
  let i = skipSpace(bytes, 0);
  if (bytes[i] !== OPEN_ARRAY) throw new RowBatchRefused('a batch that is not an array of rows');
  const open = i;
  let rows = 0;
  i = skipSpace(bytes, i + 1);
  if (bytes[i] !== CLOSE_ARRAY) {
    for (;;) {
      if (bytes[i] !== OPEN_ARRAY) throw new RowBatchRefused('a batch that is not an array of rows');
      i = skipSpace(bytes, elements(bytes, i, 1));
      if (lastCount !== width) throw new RowBatchRefused('a row that is not of the schema width');
      rows += 1;
      if (bytes[i] === COMMA) {
        i = skipSpace(bytes, i + 1);
        continue;
      }
      if (bytes[i] === CLOSE_ARRAY) break;
      throw new RowBatchRefused('a batch that is not JSON');
    }
  }
  const close = i;
  if (skipSpace(bytes, close + 1) !== end) throw new RowBatchRefused('a batch with bytes after its rows');
  return { bytes, rows, open, close };
}

function skipSpace(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i += 1;
  }
}

/** The element count of the array `elements` last finished (no object allocated per row). */
let lastCount = 0;

/** The offset after the `]` of the array starting at `i`; its element count in `lastCount`. */
function elements(b: Uint8Array, i: number, depth: number): number {
  let count = 0;
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_ARRAY) {
    lastCount = 0;
    return i + 1;
  }
  for (;;) {
    i = skipSpace(b, value(b, i, depth + 1));
    count += 1;
    const c = b[i];
    if (c === CLOSE_ARRAY) {
      lastCount = count;
      return i + 1;
    }
    if (c !== COMMA) throw notJson();
    i = skipSpace(b, i + 1);
  }
}

/** The offset after the JSON value starting at `i`. */
function value(b: Uint8Array, i: number, depth: number): number {
  if (depth > MAX_DEPTH) throw new RowBatchRefused('a batch nested too deeply');
  const c = b[i];
  if (c === QUOTE) return string(b, i);
  if (c === OPEN_ARRAY) return elements(b, i, depth);
  if (c === OPEN_OBJECT) return object(b, i, depth);
  if (c === 0x74) return literal(b, i, 'true');
  if (c === 0x66) return literal(b, i, 'false');
  if (c === 0x6e) return literal(b, i, 'null');
  if (c === MINUS || isDigit(c)) return number(b, i);
  throw notJson();
}

function object(b: Uint8Array, i: number, depth: number): number {
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_OBJECT) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) throw notJson();
    i = skipSpace(b, string(b, i));
    if (b[i] !== COLON) throw notJson();
    i = skipSpace(b, value(b, skipSpace(b, i + 1), depth + 1));
    const c = b[i];
    if (c === CLOSE_OBJECT) return i + 1;
    if (c !== COMMA) throw notJson();
    i = skipSpace(b, i + 1);
  }
}

function string(b: Uint8Array, i: number): number {
  const end = b.length;
  i += 1;
  while (i < end) {
    const c = b[i]!;
    // Most bytes are plain text: one comparison decides (0x20 < c, not a quote or a backslash).
    if (c > QUOTE && c !== BACKSLASH) {
      i += 1;
      continue;
    }
    if (c === QUOTE) return i + 1;
    if (c < 0x20) throw notJson();
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) if (!isHex(b[i + k])) throw notJson();
        i += 6;
      } else if (
        e === QUOTE ||
        e === BACKSLASH ||
        e === 0x2f ||
        e === 0x62 ||
        e === 0x66 ||
        e === 0x6e ||
        e === 0x72 ||
        e === 0x74
      ) {
        i += 2;
      } else throw notJson();
    } else i += 1;
  }
  throw notJson();
}

function number(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i += 1;
  if (b[i] === ZERO) i += 1;
  else if (isDigit(b[i])) i = digits(b, i);
  else throw notJson();
  if (b[i] === DOT) {
    if (!isDigit(b[i + 1])) throw notJson();
    i = digits(b, i + 1);
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i += 1;
    if (b[i] === PLUS || b[i] === MINUS) i += 1;
    if (!isDigit(b[i])) throw notJson();
    i = digits(b, i);
  }
  return i;
}

function digits(b: Uint8Array, i: number): number {
  while (isDigit(b[i])) i += 1;
  return i;
}

function literal(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) throw notJson();
  return i + word.length;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= 0x39;
}

function isHex(c: number | undefined): boolean {
  return (
    c !== undefined && ((c >= ZERO && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
  );
}

function notJson(): RowBatchRefused {
  return new RowBatchRefused('a batch that is not JSON');
}
