/**
 * The duration grammar shared by every place duckstring reads a duration (CLI flags, scenario files,
 * Tide bounds, windows): one or more `<number><unit>` groups, case-insensitive, summed.
 * Units: ms, s, m, h, d, w. Decimals are allowed (`1.5s`); nothing else may appear (`1h30` is invalid).
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

const GROUP = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

export class DurationError extends Error {}

/** Parses a compound duration into whole milliseconds; throws DurationError with a readable reason. */
export function parseDuration(text: string): number {
  const src = text.trim().toLowerCase();
  if (src === '') throw new DurationError('empty duration (expected e.g. "30s", "1h30m", "100ms")');
  GROUP.lastIndex = 0;
  let total = 0;
  let pos = 0;
  while (pos < src.length) {
    GROUP.lastIndex = pos;
    const m = GROUP.exec(src);
    if (!m) {
      throw new DurationError(
        `invalid duration "${text}" at "${src.slice(pos)}" (expected <number><unit> groups, units ms s m h d w)`,
      );
    }
    total += Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
    pos = GROUP.lastIndex;
  }
  return Math.round(total);
}

/** A single `<int><unit>` group, as window `every` requires (a fixed grid step). */
export function parseSingleUnit(text: string): { unit: DurationUnit; interval: number; ms: number } {
  const m = /^(\d+)(ms|s|m|h|d|w)$/i.exec(text.trim());
  if (!m)
    throw new DurationError(`invalid interval "${text}" (expected one <integer><unit> group, e.g. "1h")`);
  const unit = m[2]!.toLowerCase() as DurationUnit;
  const interval = Number(m[1]);
  return { unit, interval, ms: interval * UNIT_MS[unit] };
}

/** Formats milliseconds compactly for people (`90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = Math.abs(ms);
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return (ms < 0 ? '-' : '') + parts.join('');
}
