/**
 * A QueryResult whose rows stay as the worker's checked JSON batches (./row-batch.ts). The HTTP
 * answer splices the batches in as they are (`passthroughAnswer`), so a remote answer costs no
 * parse and no re-serialization; any other reader of `rows` gets them parsed on first access, the
 * same values, so the QueryResult contract is unchanged.
 */
import type { QueryResult } from '../query.js';
import type { ColumnInfo, JsonValue } from '../results.js';
import type { CheckedRowBatch } from './row-batch.js';

/** The raw batches of a passthrough result (a WeakMap: no visible field, nothing for equality). */
const rawBatches = new WeakMap<QueryResult, readonly CheckedRowBatch[]>();

export function passthroughResult(
  columns: ColumnInfo[],
  batches: readonly CheckedRowBatch[],
  rowCount: number,
  truncated: boolean,
): QueryResult {
  let parsed: JsonValue[][] | undefined;
  const result = {
    columns,
    // The same field order as a local result: the answer's bytes follow it.
    get rows(): JsonValue[][] {
      parsed ??= batches.flatMap(
        (b) =>
          JSON.parse(
            Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength).toString('utf8'),
          ) as JsonValue[][],
      );
      return parsed;
    },
    row_count: rowCount,
    truncated,
  } as QueryResult;
  rawBatches.set(result, batches);
  return result;
}

/**
 * The JSON answer of a passthrough result — the same JSON value, fields in the same order, as
 * `JSON.stringify(result)` (byte for byte, as our worker writes no whitespace) — or undefined for
 * any other result.
 */
export function passthroughAnswer(result: QueryResult): Buffer | undefined {
  const batches = rawBatches.get(result);
  if (!batches) return undefined;
  const parts: Uint8Array[] = [Buffer.from(`{"columns":${JSON.stringify(result.columns)},"rows":[`)];
  const comma = Buffer.from(',');
  let first = true;
  for (const b of batches) {
    if (b.rows === 0) continue;
    if (!first) parts.push(comma);
    first = false;
    parts.push(b.bytes.subarray(b.open + 1, b.close));
  }
  parts.push(
    Buffer.from(`],"row_count":${JSON.stringify(result.row_count)},"truncated":${result.truncated}}`),
  );
  return Buffer.concat(parts);
}
