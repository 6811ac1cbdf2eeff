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
        // defineProperty so a key such as "__proto__" stays an ordinary own property.
        Object.defineProperty(out, key, {
          value: value(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
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

export function stringifyLossless(value: LosslessJson): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(stringifyLossless).join(',')}]`;
  const parts: string[] = [];
  for (const key of Object.keys(value))
    parts.push(`${JSON.stringify(key)}:${stringifyLossless(value[key]!)}`);
  return `{${parts.join(',')}}`;
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
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: cloneLossless(value[key]!),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out as T;
  }
  return value;
}
