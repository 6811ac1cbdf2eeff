/**
 * Availability windows on Inlets (engine.md §3.9): an anchor, a fixed interval, a duration, an optional
 * weekday filter and an optional expiry. No cron: the grid is anchor + k × interval. Weekdays are UTC.
 */

export type Weekday = 'MON' | 'TUE' | 'WED' | 'THU' | 'FRI' | 'SAT' | 'SUN';
export const WEEKDAYS: readonly Weekday[] = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

export interface Window {
  name: string;
  /** Epoch ms of the first grid point. */
  startAnchor: number;
  /** Epoch ms between grid points (unit × interval). */
  everyMs: number;
  durationMs: number;
  /** Empty = every day. */
  validDays: Weekday[];
  /** Epoch ms; grid points after it are not kept. */
  until: number | null;
}

function kept(w: Window, t: number): boolean {
  if (w.until !== null && t > w.until) return false;
  if (w.validDays.length > 0) {
    const day = WEEKDAYS[new Date(t).getUTCDay()]!;
    if (!w.validDays.includes(day)) return false;
  }
  return true;
}

/** The end of the occurrence open at `now`, or null when `now` falls outside every occurrence. */
export function activeEnd(w: Window, now: number): number | null {
  if (now < w.startAnchor || w.everyMs <= 0) return null;
  const c = w.startAnchor + Math.floor((now - w.startAnchor) / w.everyMs) * w.everyMs;
  if (!kept(w, c)) return null;
  const end = c + w.durationMs;
  return now < end ? end : null;
}

const MAX_SCAN = 10_000;

/** The first kept grid point strictly after `now`, or null (past `until`, or none within the scan bound). */
export function nextOpen(w: Window, now: number): number | null {
  if (w.everyMs <= 0) return null;
  let c =
    now < w.startAnchor
      ? w.startAnchor
      : w.startAnchor + (Math.floor((now - w.startAnchor) / w.everyMs) + 1) * w.everyMs;
  for (let i = 0; i < MAX_SCAN; i++, c += w.everyMs) {
    if (w.until !== null && c > w.until) return null;
    if (kept(w, c)) return c;
  }
  return null;
}

/** True when two windows have an overlapping occurrence within a year of the later anchor. */
export function windowsOverlap(a: Window, b: Window): boolean {
  const from = Math.max(a.startAnchor, b.startAnchor);
  const horizon = from + 366 * 86_400_000;
  const occurrences = (w: Window): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    let t = w.startAnchor - 1;
    while (out.length < 500) {
      const open = nextOpen(w, t);
      if (open === null || open > horizon) break;
      out.push([open, open + w.durationMs]);
      t = open;
    }
    return out;
  };
  const oa = occurrences(a);
  const ob = occurrences(b);
  let i = 0;
  let j = 0;
  while (i < oa.length && j < ob.length) {
    const [s1, e1] = oa[i]!;
    const [s2, e2] = ob[j]!;
    if (s1 < e2 && s2 < e1) return true;
    if (e1 <= e2) i++;
    else j++;
  }
  return false;
}
