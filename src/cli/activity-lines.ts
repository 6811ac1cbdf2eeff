/** One terminal line per run activity, the same for `duckstring up` and `duckstring watch`. */
import type { RunActivity } from '../catchment/activity.js';

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);
const seconds = (ms: number | null): string => (ms === null ? '' : ` in ${(ms / 1000).toFixed(1)} s`);
const rows = (n: number | null): string => (n === null ? '' : `, ${n.toLocaleString('en-US')} rows written`);

/** `major` is shown only for lines other than 1, so the common case reads as the Pond's name. */
export function activityLine(a: RunActivity): string {
  const pond = a.major === 1 ? a.pond : `${a.pond}@${a.major}`;
  const head = `${clock(a.at)}  `;
  switch (a.kind) {
    case 'run-started':
      return `${head}▶ ${pond} run started (freshness ${new Date(a.f).toISOString()})`;
    case 'run-published':
      return `${head}✔ ${pond} published${seconds(a.durationMs)}${rows(a.rows)}`;
    case 'run-unchanged':
      return `${head}= ${pond} is current: no Source changed since its last run (a no-change pass)`;
    case 'run-failed': {
      const why = a.error ? `: ${a.error.split('\n')[0]}` : '';
      return `${head}✖ ${pond} failed${seconds(a.durationMs)}${why} — see "duckstring history ${a.pond}"`;
    }
  }
}
