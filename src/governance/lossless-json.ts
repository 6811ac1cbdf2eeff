/**
 * JSON parse/stringify that keeps every number exactly as written.
 *
 * DuckDB's serialized AST carries UINT64 values (query_location = 18446744073709551615) and
 * doubles written as `50.0`; plain JSON.parse turns the first into a rounded double and the
 * second into an integer, and json_deserialize_sql then rejects the tree (node-stack.md §4).
 * Numbers are therefore kept as their source text in a `JsonNumber`.
 */

export class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type LosslessJson = null | boolean | string | JsonNumber | LosslessJson[] | LosslessObject;
export interface LosslessObject {
  [key: string]: LosslessJson;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// JSON forbids raw control characters inside strings; JSON.parse below rejects them.
const STRING = /"(?:[^"\\]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WHITESPACE = /[ \t\n\r]*/y;

export function parseLossless(text: string): LosslessJson {
  let pos = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`invalid JSON at offset ${pos}: ${what}`);
  };
  const skip = (): void => {
    // DuckDB writes no whitespace: test one character before running the regex.
    const c = text.charCodeAt(pos);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
    WHITESPACE.lastIndex = pos;
    WHITESPACE.exec(text);
    pos = WHITESPACE.lastIndex;
  };
  const value = (): LosslessJson => {
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const out: LosslessObject = {};
      skip();
      if (text[pos] === '}') {
        pos++;
        return out;
      }
      for (;;) {
        skip();
        if (text[pos] !== '"') fail('expected a key');
        const key = string();
        skip();
        if (text[pos++] !== ':') fail('expected ":"');
        setOwn(out, key, value());
        skip();
        const next = text[pos++];
        if (next === '}') return out;
        if (next !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const out: LosslessJson[] = [];
      skip();
      if (text[pos] === ']') {
        pos++;
        return out;
      }
      for (;;) {
        out.push(value());
        skip();
        const next = text[pos++];
        if (next === ']') return out;
        if (next !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(text);
    if (!match) return fail('unexpected character');
    pos = NUMBER.lastIndex;
    return new JsonNumber(match[0]);
  };
  const string = (): string => {
    // Fast path: a string with no escape is its own text (a raw control character still fails).
    for (let i = pos + 1; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        const out = text.slice(pos + 1, i);
        pos = i + 1;
        return out;
      }
      if (c === 0x5c || c < 0x20) break;
    }
    STRING.lastIndex = pos;
    const match = STRING.exec(text);
    if (!match) return fail('malformed string');
    pos = STRING.lastIndex;
    return JSON.parse(match[0]) as string;
  };
  const result = value();
  skip();
  if (pos !== text.length) fail('trailing characters');
  return result;
}

/**
 * Adds an own property. Plain assignment keeps the object in V8's fast mode (defineProperty on
 * every key made every AST node a slow dictionary object, for parse, clone and walk alike); only
 * "__proto__", whose assignment would set the prototype instead, needs defineProperty.
 */
function setOwn(out: LosslessObject, key: string, value: LosslessJson): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  } else out[key] = value;
}

export function stringifyLossless(value: LosslessJson): string {
  const out: string[] = [];
  writeLossless(value, out);
  return out.join('');
}

/** Quoted object keys: an AST uses a few dozen field names over and over. */
const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, quoted);
  }
  return quoted;
}

function writeLossless(value: LosslessJson, out: string[]): void {
  if (value === null) out.push('null');
  else if (typeof value === 'boolean') out.push(value ? 'true' : 'false');
  else if (typeof value === 'string') out.push(JSON.stringify(value));
  else if (value instanceof JsonNumber) out.push(value.text);
  else if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      writeLossless(value[i]!, out);
    }
    out.push(']');
  } else {
    out.push('{');
    let first = true;
    for (const key of Object.keys(value)) {
      if (!first) out.push(',');
      first = false;
      out.push(quotedKey(key), ':');
      writeLossless(value[key]!, out);
    }
    out.push('}');
  }
}

export function isJsonObject(value: LosslessJson | undefined): value is LosslessObject {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonNumber)
  );
}

/** Deep copy (JsonNumber instances are immutable and shared). */
export function cloneLossless<T extends LosslessJson>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneLossless) as T;
  if (isJsonObject(value)) {
    const out: LosslessObject = {};
    for (const key of Object.keys(value)) setOwn(out, key, cloneLossless(value[key]!));
    return out as T;
  }
  return value;
}
