/** Renders simulator output: JSON Lines (the machine format of engine.md §7) or a readable timeline. */
import type { SimAction, SimLine, SimSummary } from './simulator.js';

export function toJsonLines(lines: readonly SimLine[], summary: SimSummary): string {
  const out = lines.map((l) => {
    const o: Record<string, unknown> = { t: l.t, kind: l.kind, pond: l.pond };
    if (l.ripple !== undefined) o.ripple = l.ripple;
    o.f = l.f;
    return JSON.stringify(o);
  });
  out.push(JSON.stringify(summary));
  return `${out.join('\n')}\n`;
}

const VERB: Record<SimLine['kind'], string> = {
  'pond-start': 'run >',
  'pond-done': 'run done',
  'pond-pass': 'run passed',
  'pond-fail': 'run FAILED',
  'ripple-start': '  start',
  'ripple-done': '  done',
  'ripple-fail': '  FAILED',
};

const fmtF = (f: number | null): string => (f === null ? 'never' : `F+${f.toFixed(3).replace(/\.?0+$/, '')}`);

/**
 * A timeline a person can read: one row per operator action (`» tide`, `» kill`, …) and engine event,
 * in time order — actions first at an instant, as the simulator applies them first — then a per-Pond
 * summary table.
 */
export function toTable(
  lines: readonly SimLine[],
  summary: SimSummary,
  actions: readonly SimAction[] = [],
): string {
  const pondW = Math.max(4, ...lines.map((l) => l.pond.length), ...actions.map((a) => a.pond.length));
  const ripW = Math.max(6, ...lines.map((l) => (l.ripple ?? '').length));
  const rows = [
    `${'t (s)'.padStart(9)}  ${'pond'.padEnd(pondW)}  ${'ripple'.padEnd(ripW)}  ${'event'.padEnd(11)}  freshness`,
  ];
  let lastT: number | null = null;
  const row = (at: number, pond: string, ripple: string, event: string, last: string) => {
    const t = at === lastT ? '' : at.toFixed(3);
    lastT = at;
    rows.push(
      `${t.padStart(9)}  ${pond.padEnd(pondW)}  ${ripple.padEnd(ripW)}  ${event.padEnd(11)}  ${last}`.trimEnd(),
    );
  };
  let a = 0;
  for (const l of lines) {
    for (; a < actions.length && actions[a]!.t <= l.t; a++) {
      const act = actions[a]!;
      row(act.t, act.pond, '', `» ${act.kind}`, act.detail ?? '');
    }
    row(l.t, l.pond, l.ripple ?? '', VERB[l.kind], fmtF(l.f));
  }
  for (const act of actions.slice(a)) row(act.t, act.pond, '', `» ${act.kind}`, act.detail ?? '');
  rows.push('', `summary at t=${summary.t}s`);
  const names = Object.keys(summary.ponds);
  const nameW = Math.max(4, ...names.map((n) => n.length));
  rows.push(`  ${'pond'.padEnd(nameW)}  started  completed  start_f     end_f       status`);
  for (const n of names) {
    const p = summary.ponds[n]!;
    rows.push(
      `  ${n.padEnd(nameW)}  ${String(p.runs_started).padStart(7)}  ${String(p.runs_completed).padStart(9)}  ${fmtF(p.start_f).padEnd(10)}  ${fmtF(p.end_f).padEnd(10)}  ${p.status}`,
    );
  }
  return `${rows.join('\n')}\n`;
}
