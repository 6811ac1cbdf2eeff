/**
 * DuckDB results → JSON-safe values that keep their meaning.
 *
 * Mapping (decisions marked *):
 * - BIGINT, UBIGINT, HUGEINT, UHUGEINT, BIGNUM: a JSON number when within ±(2^53−1), else a
 *   decimal string*, so no integer is ever rounded. Clients that need one shape can always
 *   accept `number | string` and parse strings with BigInt.
 * - TINYINT…UINTEGER: numbers. DOUBLE/FLOAT: numbers; NaN/±Infinity become "NaN"/"Infinity"/
 *   "-Infinity". FLOAT is written with the shortest digits that round-trip through float32*.
 * - DECIMAL: exact decimal string ("12.30").
 * - DATE: "YYYY-MM-DD". TIMESTAMP/TIMESTAMPTZ: ISO-8601 UTC with "Z" and the type's full precision*
 *   (6 fraction digits; TIMESTAMP_MS 3, TIMESTAMP_NS 9, TIMESTAMP_S none). TIME: "HH:MM:SS.ffffff".
 *   TIMETZ: "HH:MM:SS.ffffff+HH:MM". Infinite dates/timestamps: "infinity" / "-infinity".
 * - INTERVAL: ISO-8601 duration, signs per component like PostgreSQL's iso_8601 style*
 *   ("P1Y2M3DT4H5M6.789S", "P-1D", zero "PT0S").
 * - BLOB, GEOMETRY (WKB): base64. BIT: "0101". UUID: canonical string. ENUM: its label.
 * - LIST/ARRAY: arrays. STRUCT: objects. MAP: arrays of {key, value}* (keys need not be strings
 *   and order is kept). UNION: {tag, value}*. VARIANT: the inner value.
 * - NULL: null at any depth.
 */
import type {
  DuckDBBitValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBGeometryValue,
  DuckDBIntervalValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBResult,
  DuckDBStructValue,
  DuckDBTimeNSValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeTZValue,
  DuckDBTimeValue,
  DuckDBType,
  DuckDBUnionValue,
  DuckDBUUIDValue,
  DuckDBValue,
  DuckDBVariantValue,
} from '@duckdb/node-api';
import { DuckDBTypeId } from '../shared/duckdb.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ColumnInfo {
  name: string;
  type: string;
}

export interface ConvertedResult {
  columns: ColumnInfo[];
  rows: JsonValue[][];
  row_count: number;
  /** True when the result had more rows than `rowCountLimit`; `rows` holds the first ones. */
  truncated: boolean;
}

type Converter = (value: DuckDBValue) => JsonValue;

const MAX_JS_DATE_MS = 8.64e15;
const MS_PER_DAY = 86_400_000;

/** DuckDB's name for a column type, e.g. "BIGINT", "DECIMAL(10,2)", "JSON" (aliases win). */
export function typeName(type: DuckDBType): string {
  return type.alias ?? type.toString();
}

function exactInteger(value: bigint): number | string {
  return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value.toString();
}

function finiteOrLabel(value: number): number | string {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

function shortestFloat32(value: number): number | string {
  if (!Number.isFinite(value)) return finiteOrLabel(value);
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}

function pad(value: number | bigint, width: number): string {
  return value.toString().padStart(width, '0');
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => i.toString().padStart(2, '0'));
// Timestamps in a result are usually clustered, so the calendar date of the last day is cached.
let cachedDay = Number.NaN;
let cachedDayText = '';

/** "2024-01-02T03:04:05" for whole seconds since the epoch, or null outside JS Date's range. */
function isoSeconds(seconds: number): string | null {
  const day = Math.floor(seconds / 86_400);
  if (day !== cachedDay) {
    const ms = day * MS_PER_DAY;
    if (!(Math.abs(ms) <= MAX_JS_DATE_MS)) return null;
    const iso = new Date(ms).toISOString();
    cachedDayText = iso.slice(0, iso.indexOf('T'));
    cachedDay = day;
  }
  const rest = seconds - day * 86_400;
  const h = Math.floor(rest / 3600);
  const m = Math.floor((rest - h * 3600) / 60);
  return `${cachedDayText}T${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[rest - h * 3600 - m * 60]}`;
}

function fractionText(fraction: number | bigint, digits: number): string {
  return typeof fraction === 'number' && digits <= 9
    ? (10 ** digits + fraction).toString().slice(1)
    : pad(fraction, digits);
}

/**
 * Formats an instant given as an integer count of 1/unitsPerSecond seconds since the epoch.
 * Number arithmetic when exact (the common case, fast), BigInt otherwise.
 */
function formatInstant(
  total: bigint,
  unitsPerSecond: number,
  fractionDigits: number,
  fallback: () => string,
): string {
  let seconds: number;
  let fraction: number | bigint;
  const asNumber = Number(total);
  if (Number.isSafeInteger(asNumber)) {
    seconds = Math.floor(asNumber / unitsPerSecond);
    fraction = asNumber - seconds * unitsPerSecond;
  } else {
    const big = BigInt(unitsPerSecond);
    const whole = floorDiv(total, big);
    seconds = Number(whole);
    fraction = total - whole * big;
  }
  const base = isoSeconds(seconds);
  if (base === null) return fallback();
  return fractionDigits === 0 ? `${base}Z` : `${base}.${fractionText(fraction, fractionDigits)}Z`;
}

/** DuckDB's own text ("294247-01-10 04:00:54.775806+00") reshaped to ISO, for instants beyond JS Date. */
function isoFromDuckText(text: string): string {
  return `${text.replace(/\+00$/, '').replace(' ', 'T')}Z`;
}

function infinityLabel(isPositive: boolean): string {
  return isPositive ? 'infinity' : '-infinity';
}

function formatDate(value: DuckDBDateValue): string {
  if (!value.isFinite) return infinityLabel(value.days > 0);
  const ms = value.days * MS_PER_DAY;
  if (Math.abs(ms) > MAX_JS_DATE_MS) return value.toString();
  const iso = new Date(ms).toISOString();
  return iso.slice(0, iso.indexOf('T'));
}

function timeOfDay(totalUnits: bigint, unitsPerSecond: bigint, fractionDigits: number): string {
  const seconds = totalUnits / unitsPerSecond;
  const fraction = totalUnits % unitsPerSecond;
  const h = seconds / 3600n;
  const m = (seconds % 3600n) / 60n;
  const s = seconds % 60n;
  return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}.${pad(fraction, fractionDigits)}`;
}

function formatTimeTZ(value: DuckDBTimeTZValue): string {
  const offset = Math.abs(value.offset);
  const sign = value.offset < 0 ? '-' : '+';
  const hh = pad(Math.floor(offset / 3600), 2);
  const mm = pad(Math.floor((offset % 3600) / 60), 2);
  const ss = offset % 60;
  return `${timeOfDay(value.micros, 1_000_000n, 6)}${sign}${hh}:${mm}${ss ? `:${pad(ss, 2)}` : ''}`;
}

/** ISO-8601 duration; each component carries its own sign (DuckDB intervals mix signs). */
export function formatInterval(value: DuckDBIntervalValue): string {
  const years = Math.trunc(value.months / 12);
  const months = value.months % 12;
  let date = '';
  if (years) date += `${years}Y`;
  if (months) date += `${months}M`;
  if (value.days) date += `${value.days}D`;
  const negative = value.micros < 0n;
  const abs = negative ? -value.micros : value.micros;
  const sign = negative ? '-' : '';
  const hours = abs / 3_600_000_000n;
  const minutes = (abs % 3_600_000_000n) / 60_000_000n;
  const micros = abs % 60_000_000n;
  let time = '';
  if (hours) time += `${sign}${hours}H`;
  if (minutes) time += `${sign}${minutes}M`;
  if (micros) {
    const whole = micros / 1_000_000n;
    const fraction = micros % 1_000_000n;
    const fractionText = fraction ? `.${pad(fraction, 6).replace(/0+$/, '')}` : '';
    time += `${sign}${whole}${fractionText}S`;
  }
  if (!date && !time) return 'PT0S';
  return `P${date}${time ? `T${time}` : ''}`;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function nullable(convert: Converter): Converter {
  return (value) => (value === null || value === undefined ? null : convert(value));
}

/** Builds the converter for one column type once; applied per value. Handles NULL at every depth. */
export function converterFor(type: DuckDBType): Converter {
  return nullable(baseConverter(type));
}

function baseConverter(type: DuckDBType): Converter {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.VARCHAR:
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.SQLNULL:
      return (v) => v as JsonValue;
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return (v) => exactInteger(v as bigint);
    case DuckDBTypeId.DOUBLE:
      return (v) => finiteOrLabel(v as number);
    case DuckDBTypeId.FLOAT:
      return (v) => shortestFloat32(v as number);
    case DuckDBTypeId.DECIMAL:
      return (v) => (v as DuckDBDecimalValue).toString();
    case DuckDBTypeId.DATE:
      return (v) => formatDate(v as DuckDBDateValue);
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return (v) => {
        const ts = v as DuckDBTimestampValue | DuckDBTimestampTZValue;
        if (!ts.isFinite) return infinityLabel(ts.micros > 0n);
        return formatInstant(ts.micros, 1_000_000, 6, () => isoFromDuckText(ts.toString()));
      };
    case DuckDBTypeId.TIMESTAMP_MS:
      return (v) => {
        const ts = v as DuckDBTimestampMillisecondsValue;
        if (!ts.isFinite) return infinityLabel(ts.millis > 0n);
        return formatInstant(ts.millis, 1000, 3, () => isoFromDuckText(ts.toString()));
      };
    case DuckDBTypeId.TIMESTAMP_S:
      return (v) => {
        const ts = v as DuckDBTimestampSecondsValue;
        if (!ts.isFinite) return infinityLabel(ts.seconds > 0n);
        return formatInstant(ts.seconds, 1, 0, () => isoFromDuckText(ts.toString()));
      };
    case DuckDBTypeId.TIMESTAMP_NS:
      return (v) => {
        const ts = v as DuckDBTimestampNanosecondsValue;
        if (!ts.isFinite) return infinityLabel(ts.nanos > 0n);
        return formatInstant(ts.nanos, 1_000_000_000, 9, () => isoFromDuckText(ts.toString()));
      };
    case DuckDBTypeId.TIME:
      return (v) => timeOfDay((v as DuckDBTimeValue).micros, 1_000_000n, 6);
    case DuckDBTypeId.TIME_NS:
      return (v) => timeOfDay((v as DuckDBTimeNSValue).nanos, 1_000_000_000n, 9);
    case DuckDBTypeId.TIME_TZ:
      return (v) => formatTimeTZ(v as DuckDBTimeTZValue);
    case DuckDBTypeId.INTERVAL:
      return (v) => formatInterval(v as DuckDBIntervalValue);
    case DuckDBTypeId.BLOB:
      return (v) => base64((v as DuckDBBlobValue).bytes);
    case DuckDBTypeId.GEOMETRY:
      return (v) => base64((v as DuckDBGeometryValue).bytes);
    case DuckDBTypeId.BIT:
      return (v) => (v as DuckDBBitValue).toString();
    case DuckDBTypeId.UUID:
      return (v) => (v as DuckDBUUIDValue).toString();
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const item = converterFor(type.valueType);
      return (v) => (v as DuckDBListValue).items.map(item);
    }
    case DuckDBTypeId.STRUCT: {
      const names = type.entryNames;
      const fields = type.entryTypes.map(converterFor);
      return (v) => {
        const entries = (v as DuckDBStructValue).entries;
        const out: { [key: string]: JsonValue } = {};
        for (let i = 0; i < names.length; i++) {
          const name = names[i]!;
          out[name] = fields[i]!(entries[name] ?? null);
        }
        return out;
      };
    }
    case DuckDBTypeId.MAP: {
      const key = converterFor(type.keyType);
      const value = converterFor(type.valueType);
      return (v) => (v as DuckDBMapValue).entries.map((e) => ({ key: key(e.key), value: value(e.value) }));
    }
    case DuckDBTypeId.UNION: {
      const members = new Map(type.memberTags.map((tag, i) => [tag, converterFor(type.memberTypes[i]!)]));
      return (v) => {
        const u = v as DuckDBUnionValue;
        const member = members.get(u.tag) ?? convertUntyped;
        return { tag: u.tag, value: member(u.value) };
      };
    }
    case DuckDBTypeId.VARIANT:
      return (v) => {
        const inner = v as DuckDBVariantValue;
        return inner.type ? converterFor(inner.type)(inner.value) : convertUntyped(inner.value);
      };
    default:
      return convertUntyped;
  }
}

/** Best effort for values whose type is not known up front (VARIANT without type, odd types). */
function convertUntyped(value: DuckDBValue): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      return finiteOrLabel(value);
    case 'bigint':
      return exactInteger(value);
  }
  if ('items' in value) return (value.items as DuckDBValue[]).map(convertUntyped);
  if ('entries' in value && Array.isArray(value.entries)) {
    return (value as DuckDBMapValue).entries.map((e) => ({
      key: convertUntyped(e.key),
      value: convertUntyped(e.value),
    }));
  }
  if ('entries' in value) {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries((value as DuckDBStructValue).entries)) out[k] = convertUntyped(v);
    return out;
  }
  if ('bytes' in value) return base64(value.bytes);
  return String(value);
}

export interface ReadResultOptions {
  /** Stop after this many rows and report `truncated`; the rest of the result is never converted. */
  rowCountLimit?: number;
  /** Called between chunks; throw from it to abort (e.g. a deadline). */
  onChunk?: () => void;
}

/**
 * Reads a (streaming or materialized) DuckDB result chunk by chunk, converting column by column:
 * one converter per column, no per-row objects.
 */
export async function readResult(
  result: DuckDBResult,
  options: ReadResultOptions = {},
): Promise<ConvertedResult> {
  const limit = options.rowCountLimit ?? Number.POSITIVE_INFINITY;
  const columnCount = result.columnCount;
  const columns: ColumnInfo[] = [];
  const converters: Converter[] = [];
  for (let c = 0; c < columnCount; c++) {
    const type = result.columnType(c);
    columns.push({ name: result.columnName(c), type: typeName(type) });
    converters.push(converterFor(type));
  }
  const rows: JsonValue[][] = [];
  let truncated = false;
  for (;;) {
    options.onChunk?.();
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    if (rows.length >= limit) {
      truncated = true;
      break;
    }
    const take = Math.min(chunk.rowCount, limit - rows.length);
    const start = rows.length;
    for (let r = 0; r < take; r++) rows.push(new Array<JsonValue>(columnCount));
    for (let c = 0; c < columnCount; c++) {
      const vector = chunk.getColumnVector(c);
      const convert = converters[c]!;
      for (let r = 0; r < take; r++) rows[start + r]![c] = convert(vector.getItem(r));
    }
    if (take < chunk.rowCount) {
      truncated = true;
      break;
    }
  }
  return { columns, rows, row_count: rows.length, truncated };
}
