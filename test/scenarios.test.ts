/**
 * Behavioural scenarios of the engine spec (shared/spec/engine.md §5), run through the `simulate` CLI
 * code path (§7 JSON scenario format → JSON Lines). Every expectation below is what §5 states, or is
 * computed from the cadence §5 states where the spec writes "…". Comments marked "derived" are values
 * the spec does not print but that follow directly from the §3 rules for the stated timeline.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const SCENARIOS = join(HERE, 'scenarios');

// ---------------------------------------------------------------------------------------------------------
// Output model (§7)

const EVENT_KINDS = [
  'pond-start',
  'pond-done',
  'pond-pass',
  'pond-fail',
  'ripple-start',
  'ripple-done',
  'ripple-fail',
] as const;
type EventKind = (typeof EVENT_KINDS)[number];

interface EventLine {
  t: number;
  kind: EventKind;
  pond: string;
  ripple?: string;
  f: number | null;
}

type Status = 'idle' | 'queued' | 'running' | 'blocked' | 'killed' | 'failed';

interface PondSummary {
  runs_started: number;
  runs_completed: number;
  start_f: number | null;
  end_f: number | null;
  status: Status;
}

interface SummaryLine {
  kind: 'summary';
  t: number;
  ponds: Record<string, PondSummary>;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  events: EventLine[];
  summary: SummaryLine;
}

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(argv: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (s: string) => {
      stdout += s;
    },
    stderr: (s: string) => {
      stderr += s;
    },
  });
  return { code, stdout, stderr };
}

function parseOutput(stdout: string): { events: EventLine[]; summary: SummaryLine } {
  const raw = stdout.split('\n').filter((l) => l.trim() !== '');
  const parsed = raw.map((l) => JSON.parse(l) as { kind: string });
  expect(parsed.length).toBeGreaterThan(0);
  const last = parsed[parsed.length - 1] as SummaryLine;
  expect(last.kind).toBe('summary');
  const events = parsed.slice(0, -1) as EventLine[];
  for (const e of events) {
    expect(EVENT_KINDS).toContain(e.kind);
  }
  return { events, summary: last };
}

const cache = new Map<string, Promise<Run>>();

function simulateFile(name: string): Promise<Run> {
  let p = cache.get(name);
  if (!p) {
    p = (async () => {
      const out = await cli(['simulate', join(SCENARIOS, `${name}.json`)]);
      expect(out.stderr, `stderr of ${name}`).toBe('');
      expect(out.code, `exit status of ${name}`).toBe(0);
      return { ...out, ...parseOutput(out.stdout) };
    })();
    cache.set(name, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers over the event lines

const of = (r: Run, kind: EventKind, pond: string): EventLine[] =>
  r.events.filter((e) => e.kind === kind && e.pond === pond);
/** Times of the Pond Run starts of `pond`. */
const starts = (r: Run, pond: string): number[] => of(r, 'pond-start', pond).map((e) => e.t);
/** Pond Run starts of `pond` as {t, f}. */
const startsTF = (r: Run, pond: string) => of(r, 'pond-start', pond).map(({ t, f }) => ({ t, f }));
/** Pond Run completions of `pond` as {t, f}. */
const dones = (r: Run, pond: string) => of(r, 'pond-done', pond).map(({ t, f }) => ({ t, f }));
const doneTimes = (r: Run, pond: string): number[] => of(r, 'pond-done', pond).map((e) => e.t);
const passes = (r: Run, pond: string) => of(r, 'pond-pass', pond).map(({ t, f }) => ({ t, f }));
const rippleOf = (r: Run, kind: EventKind, pond: string, ripple: string) =>
  of(r, kind, pond)
    .filter((e) => e.ripple === ripple)
    .map(({ t, f }) => ({ t, f }));
const pondSummary = (r: Run, pond: string): PondSummary => {
  const s = r.summary.ponds[pond];
  expect(s, `summary entry for ${pond}`).toBeDefined();
  return s as PondSummary;
};
/** [runs started, runs completed] from the summary line. */
const runs = (r: Run, pond: string): [number, number] => {
  const s = pondSummary(r, pond);
  return [s.runs_started, s.runs_completed];
};
const status = (r: Run, pond: string): Status => pondSummary(r, pond).status;
const range = (from: number, to: number, step = 1): number[] => {
  const out: number[] = [];
  for (let x = from; x <= to + 1e-9; x += step) out.push(Math.round(x * 1000) / 1000);
  return out;
};
const tf = (ts: number[], fs: Array<number | null>) => ts.map((t, i) => ({ t, f: fs[i] }));
const allIdle = (r: Run) => {
  for (const [name, s] of Object.entries(r.summary.ponds)) {
    expect(s.status, `status of ${name}`).toBe('idle');
  }
};

// ---------------------------------------------------------------------------------------------------------
// Expectations per scenario file

const DEMO = ['transactions', 'products', 'sales', 'reports'];

const cases: Record<string, (r: Run) => void> = {
  'S01-cold-tap-chain': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0, 1, 2], [0, 1, 2]));
    expect(startsTF(r, 'B')).toEqual(tf([1, 2], [0, 1]));
    expect(startsTF(r, 'C')).toEqual(tf([2], [0]));
    expect(dones(r, 'A')).toEqual(tf([1, 2, 3], [0, 1, 2]));
    expect(dones(r, 'B')).toEqual(tf([2, 3], [0, 1]));
    expect(dones(r, 'C')).toEqual(tf([3], [0]));
    expect(runs(r, 'A')).toEqual([3, 3]);
    expect(runs(r, 'B')).toEqual([2, 2]);
    expect(runs(r, 'C')).toEqual([1, 1]);
    expect(pondSummary(r, 'A').end_f).toBe(2);
    expect(pondSummary(r, 'B').end_f).toBe(1);
    expect(pondSummary(r, 'C').end_f).toBe(0);
    // last completion (all three) at 3; everything idle afterwards
    expect(Math.max(...r.events.map((e) => e.t))).toBe(3);
    allIdle(r);
  },

  'S02-continued-tap': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0, 1, 2, 10], [0, 1, 2, 10]));
    expect(startsTF(r, 'B')).toEqual(tf([1, 2, 10], [0, 1, 2]));
    expect(startsTF(r, 'C')).toEqual(tf([2, 10], [0, 1]));
    expect(dones(r, 'A')).toEqual(tf([1, 2, 3, 11], [0, 1, 2, 10]));
    expect(dones(r, 'B')).toEqual(tf([2, 3, 11], [0, 1, 2]));
    expect(dones(r, 'C')).toEqual(tf([3, 11], [0, 1]));
    expect(runs(r, 'A')).toEqual([4, 4]);
    expect(runs(r, 'B')).toEqual([3, 3]);
    expect(runs(r, 'C')).toEqual([2, 2]);
    expect(pondSummary(r, 'A').end_f).toBe(10);
    expect(pondSummary(r, 'B').end_f).toBe(2);
    expect(pondSummary(r, 'C').end_f).toBe(1);
    allIdle(r);
  },

  'S04-bottleneck-wave': (r) => {
    expect(starts(r, 'A')).toEqual([0, 1, 4, 7, 10, 13, 16, 19]);
    expect(doneTimes(r, 'B')).toEqual([4, 7, 10, 13, 16, 19]);
    expect(dones(r, 'C')).toEqual(tf([5, 8, 11, 14, 17], [0, 1, 4, 7, 10]));
    // C's startF +0, +1, +4, +7, +10, +13 (the last run starts at 19 and completes at 20, past the horizon)
    expect(startsTF(r, 'C')).toEqual(tf([4, 7, 10, 13, 16, 19], [0, 1, 4, 7, 10, 13]));
  },

  'S05-cold-pulse': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0], [0]));
    expect(startsTF(r, 'B')).toEqual(tf([1], [0]));
    expect(startsTF(r, 'C')).toEqual(tf([2], [0]));
    expect(dones(r, 'A')).toEqual(tf([1], [0]));
    expect(dones(r, 'B')).toEqual(tf([2], [0]));
    expect(dones(r, 'C')).toEqual(tf([3], [0]));
    for (const p of ['A', 'B', 'C']) {
      expect(runs(r, p)).toEqual([1, 1]);
      expect(pondSummary(r, p).end_f).toBe(0);
    }
    allIdle(r);
  },

  'S06-pulse-after-pull': (r) => {
    // Tap at 0 = S01; the Pulse at 5 runs each exactly once more, all at F+5, C completing at 8.
    expect(startsTF(r, 'A')).toEqual(tf([0, 1, 2, 5], [0, 1, 2, 5]));
    expect(dones(r, 'A')).toEqual(tf([1, 2, 3, 6], [0, 1, 2, 5]));
    expect(dones(r, 'B')).toEqual(tf([2, 3, 7], [0, 1, 5]));
    expect(dones(r, 'C')).toEqual(tf([3, 8], [0, 5]));
    // B never produces an intermediate freshness
    expect(startsTF(r, 'B').map((s) => s.f)).toEqual([0, 1, 5]);
    expect(runs(r, 'A')).toEqual([4, 4]);
    expect(runs(r, 'B')).toEqual([3, 3]);
    expect(runs(r, 'C')).toEqual([2, 2]);
    for (const p of ['A', 'B', 'C']) expect(pondSummary(r, p).end_f).toBe(5);
    allIdle(r);
  },

  'S07-push-on-branch': (r) => {
    expect(startsTF(r, 'B')).toEqual(tf([0], [0]));
    expect(dones(r, 'B')).toEqual(tf([1], [0]));
    expect(startsTF(r, 'D')).toEqual(tf([1], [0]));
    expect(dones(r, 'D')).toEqual(tf([2], [0]));
    expect(r.events.filter((e) => e.pond === 'A' || e.pond === 'C')).toEqual([]);
    expect(runs(r, 'A')).toEqual([0, 0]);
    expect(runs(r, 'C')).toEqual([0, 0]);
    expect(runs(r, 'B')).toEqual([1, 1]);
    expect(runs(r, 'D')).toEqual([1, 1]);
    expect(pondSummary(r, 'A').end_f).toBeNull();
    expect(pondSummary(r, 'C').end_f).toBeNull();
  },

  'S08-optional-source-wave': (r) => {
    // "run 12 s": ticks 0 … 11.9; the state "at t=12" is the state before the tick at 12.
    expect(dones(r, 'C')).toEqual(tf(range(2, 11), range(0, 9)));
    expect(pondSummary(r, 'C').end_f).toBe(9);
    expect(pondSummary(r, 'A').end_f).toBe(10);
    expect(doneTimes(r, 'B')).toEqual([4, 8]);
    // derived: the Ripple runs F+0 (0–4), then the freshest stamp available at 4, F+1 (4–8)
    expect(dones(r, 'B').map((d) => d.f)).toEqual([0, 1]);
    expect(rippleOf(r, 'ripple-start', 'B', 'B_r')).toEqual(tf([0, 4, 8], [0, 1, 5]));
    // B's Pond Runs start at 0, 1, 5, 9 (an Inlet's run takes F = now)
    expect(startsTF(r, 'B')).toEqual(tf([0, 1, 5, 9], [0, 1, 5, 9]));
    expect(runs(r, 'A')).toEqual([12, 11]);
    expect(runs(r, 'B')).toEqual([4, 2]);
    expect(runs(r, 'C')).toEqual([11, 10]);
  },

  'S09-optional-source-pulse': (r) => {
    expect(dones(r, 'A')).toEqual(tf([1], [0]));
    expect(startsTF(r, 'C')).toEqual(tf([1], [0]));
    expect(dones(r, 'C')).toEqual(tf([2], [0]));
    // the target reached B as well (push propagates to optional Sources)
    expect(startsTF(r, 'B')).toEqual(tf([0], [0]));
    expect(dones(r, 'B')).toEqual(tf([4], [0]));
    for (const p of ['A', 'B', 'C']) expect(runs(r, p)).toEqual([1, 1]);
    allIdle(r);
  },

  'S11-optional-ripple-parent': (r) => {
    expect(doneTimes(r, 'P')).toEqual(range(2, 11));
    // derived: P is a live Inlet (F = start time); run k starts at k and its leaf c finishes at k+2
    expect(dones(r, 'P').map((d) => d.f)).toEqual(range(0, 9));
    expect(rippleOf(r, 'ripple-start', 'P', 'b').map((e) => e.t)).toEqual([0, 4, 8]);
    expect(rippleOf(r, 'ripple-done', 'P', 'b').map((e) => e.t)).toEqual([4, 8]);
  },

  'S12-two-pond-tap': (r) => {
    expect(startsTF(r, 'p1')).toEqual(tf([0, 1, 2], [0, 1, 2]));
    expect(rippleOf(r, 'ripple-start', 'p1', 'r3')).toEqual(tf([1, 2, 3], [0, 1, 2]));
    expect(dones(r, 'p1')).toEqual(tf([2, 3, 4], [0, 1, 2]));
    expect(startsTF(r, 'p2')).toEqual(tf([2], [0]));
    expect(dones(r, 'p2')).toEqual(tf([3], [0]));
    expect(runs(r, 'p1')).toEqual([3, 3]);
    expect(runs(r, 'p2')).toEqual([1, 1]);
    expect(pondSummary(r, 'p1').end_f).toBe(2);
    expect(pondSummary(r, 'p2').end_f).toBe(0);
    allIdle(r);
  },

  'S13-pre-armed-second-tap': (r) => {
    expect(startsTF(r, 'p2')).toEqual(tf([2, 10], [0, 2]));
    expect(dones(r, 'p2')).toEqual(tf([3, 11], [0, 2]));
    expect(startsTF(r, 'p1')).toEqual(tf([0, 1, 2, 10, 11], [0, 1, 2, 10, 11]));
    // derived: each p1 run takes 2 s (roots, then r3)
    expect(dones(r, 'p1')).toEqual(tf([2, 3, 4, 12, 13], [0, 1, 2, 10, 11]));
    expect(runs(r, 'p1')).toEqual([5, 5]);
    expect(runs(r, 'p2')).toEqual([2, 2]);
    expect(pondSummary(r, 'p1').end_f).toBe(11);
    expect(pondSummary(r, 'p2').end_f).toBe(2);
    allIdle(r);
  },

  'S14-two-pond-pulse': (r) => {
    expect(startsTF(r, 'p1')).toEqual(tf([0], [0]));
    expect(dones(r, 'p1')).toEqual(tf([2], [0]));
    expect(startsTF(r, 'p2')).toEqual(tf([2], [0]));
    expect(dones(r, 'p2')).toEqual(tf([3], [0]));
    expect(runs(r, 'p1')).toEqual([1, 1]);
    expect(runs(r, 'p2')).toEqual([1, 1]);
    allIdle(r);
  },

  'S15-demo-tap': (r) => {
    for (const inlet of ['transactions', 'products']) {
      expect(startsTF(r, inlet)).toEqual(tf([0, 2, 4, 7], [0, 2, 4, 7]));
      expect(runs(r, inlet)).toEqual([4, 4]);
    }
    // derived from the Ripple durations (1 s, 2 s)
    expect(doneTimes(r, 'transactions')).toEqual([1, 3, 5, 8]);
    expect(doneTimes(r, 'products')).toEqual([2, 4, 6, 9]);
    expect(dones(r, 'sales')).toEqual(tf([7, 10, 13], [0, 2, 4]));
    // the Inlets' second run starts at 2 because that is when sales first starts (and re-arms them)
    expect(startsTF(r, 'sales')).toEqual(tf([2, 4, 7], [0, 2, 4]));
    expect(startsTF(r, 'reports')).toEqual(tf([7], [0]));
    expect(dones(r, 'reports')).toEqual(tf([8], [0]));
    expect(runs(r, 'sales')).toEqual([3, 3]);
    expect(runs(r, 'reports')).toEqual([1, 1]);
    // quiescent at 13
    expect(Math.max(...r.events.map((e) => e.t))).toBe(13);
    allIdle(r);
  },

  'S16-demo-wave': (r) => {
    // "30 s": ticks 0 … 29.9
    expect(doneTimes(r, 'transactions')).toEqual([1, 3, ...range(5, 29, 3)]);
    expect(doneTimes(r, 'products')).toEqual([2, 4, ...range(6, 27, 3)]);
    expect(doneTimes(r, 'sales')).toEqual(range(7, 28, 3));
    expect(doneTimes(r, 'reports')).toEqual(range(8, 29, 3));
  },

  'S17-demo-pulse': (r) => {
    expect(dones(r, 'transactions')).toEqual(tf([1], [0]));
    expect(dones(r, 'products')).toEqual(tf([2], [0]));
    expect(dones(r, 'sales')).toEqual(tf([7], [0]));
    expect(dones(r, 'reports')).toEqual(tf([8], [0]));
    for (const p of DEMO) {
      expect(runs(r, p)).toEqual([1, 1]);
      expect(pondSummary(r, p).end_f).toBe(0);
    }
    allIdle(r);
  },

  ...Object.fromEntries(
    [3, 4, 7, 10, 20].map((b) => [
      `S18-tide-demo-b${b}`,
      (r: Run) => {
        const until = 8 + 3 * b;
        // Inlet runs start at 0, b, 2b, … (up to the horizon 8 + 3b)
        expect(starts(r, 'transactions')).toEqual(range(0, until, b));
        expect(starts(r, 'products')).toEqual(range(0, until, b));
        // reports completes at 8, 8+b, 8+2b, 8+3b; derived: each at the freshness the Tide pushed (0, b, 2b, 3b)
        expect(dones(r, 'reports')).toEqual(tf([8, 8 + b, 8 + 2 * b, 8 + 3 * b], [0, b, 2 * b, 3 * b]));
      },
    ]),
  ),

  'S20-windowed-inlet-wave': (r) => {
    expect(startsTF(r, 'W')).toEqual(tf([0, 60, 120], [20, 80, 140]));
    expect(dones(r, 'W')).toEqual(tf([1, 61, 121], [20, 80, 140]));
    expect(dones(r, 'C')).toEqual(tf([2, 62, 122], [20, 80, 140]));
    // between windows W holds a pull token and waits
    expect(status(r, 'W')).toBe('queued');
  },

  'S21-wave-window-chain': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0, 10, 20], [10, 20, 30]));
    expect(dones(r, 'C')).toEqual(tf([3, 13, 23], [10, 20, 30]));
    // derived: B one second behind A
    expect(dones(r, 'B')).toEqual(tf([2, 12, 22], [10, 20, 30]));
    for (const p of ['A', 'B', 'C']) expect(runs(r, p)).toEqual([3, 3]);
  },

  'S23-tide-windowed-chain': (r) => {
    // Our engine (decision): one C run per window, C completes at 2, 12, 22, 32, 42 (± one 0.1 s tick)
    const c = dones(r, 'C');
    expect(c.map((d) => d.f)).toEqual([10, 20, 30, 40, 50]);
    const expectedT = [2, 12, 22, 32, 42];
    expect(c).toHaveLength(5);
    c.forEach((d, i) => {
      const offMs = Math.abs(Math.round(d.t * 1000) - (expectedT[i] as number) * 1000);
      expect(offMs, `C completion #${i + 1} at ${d.t}`).toBeLessThanOrEqual(100);
    });
    // W starts exactly one Pond Run per window occurrence: 5 started / 5 completed by 50 s
    expect(startsTF(r, 'W').map((s) => s.f)).toEqual([10, 20, 30, 40, 50]);
    expect(runs(r, 'W')).toEqual([5, 5]);
    expect(runs(r, 'C')).toEqual([5, 5]);
    // W's Ripple executes once per window
    expect(rippleOf(r, 'ripple-start', 'W', 'W_r').map((e) => e.f)).toEqual([10, 20, 30, 40, 50]);
  },

  'S24-mixed-window-cadences': (r) => {
    expect(dones(r, 'Dl')).toEqual(tf([1, 31, 61], [30, 60, 90]));
    expect(dones(r, 'S')).toEqual(tf(range(2, 62, 10), range(10, 70, 10)));
    // T also every 10 s (derived: at H's window ends)
    expect(dones(r, 'T')).toEqual(tf(range(2, 62, 10), range(10, 70, 10)));
  },

  'S25-force': (r) => {
    expect(startsTF(r, 'B')).toEqual(tf([1, 5], [0, 0]));
    expect(dones(r, 'B')).toEqual(tf([2, 6], [0, 0]));
    expect(pondSummary(r, 'B').end_f).toBe(0);
    expect(startsTF(r, 'C')).toEqual(tf([2], [0]));
    expect(dones(r, 'C')).toEqual(tf([3], [0]));
    expect(startsTF(r, 'A')).toEqual(tf([0, 10], [0, 10]));
    expect(dones(r, 'A')).toEqual(tf([1, 11], [0, 10]));
    expect(runs(r, 'A')).toEqual([2, 2]);
    expect(runs(r, 'B')).toEqual([2, 2]);
    expect(runs(r, 'C')).toEqual([1, 1]);
    expect(pondSummary(r, 'A').end_f).toBe(10);
    allIdle(r);
  },

  'S27-kill-wave-snapshot': (r) => {
    // right after the kill (and after the ignored Tap + Pulse on C at 6)
    expect(status(r, 'B')).toBe('killed');
    expect(pondSummary(r, 'B').start_f).toBe(1);
    expect(pondSummary(r, 'B').end_f).toBe(0);
    expect(status(r, 'C')).toBe('blocked');
    expect(status(r, 'A')).toBe('idle');
    expect(pondSummary(r, 'A').end_f).toBe(3);
    expect(r.events.filter((e) => e.t > 4.5)).toEqual([]);
  },

  'S27-kill-wave-wake': (r) => {
    expect(dones(r, 'C')).toEqual(tf([4, 11], [0, 3]));
    // nothing runs between the kill and the Wake: Tap/Pulse on the blocked C at 6 are ignored
    expect(r.events.filter((e) => e.t > 4.5 && e.t < 8)).toEqual([]);
    // B: killed mid-run on F+1 (no completion at 5); Wake at 8 runs F+3; B completes at 10
    expect(startsTF(r, 'B')).toEqual(tf([1, 3, 8, 11], [0, 1, 3, 10]));
    expect(dones(r, 'B')).toEqual(tf([3, 10], [0, 3]));
    // the Wake does not re-arm A (no A start at 8); C's start at 10 re-arms B, which re-arms A
    expect(starts(r, 'A')).toEqual([0, 1, 3, 10, 11]);
    expect(startsTF(r, 'C')).toEqual(tf([3, 10], [0, 3]));
  },

  'S28-pulse-sleep-local': (r) => {
    expect(dones(r, 'A')).toEqual(tf([1], [0]));
    expect(dones(r, 'B')).toEqual(tf([2], [0]));
    expect(runs(r, 'A')).toEqual([1, 1]);
    expect(runs(r, 'B')).toEqual([1, 1]);
    expect(runs(r, 'C')).toEqual([0, 0]);
    expect(r.events.filter((e) => e.pond === 'C')).toEqual([]);
    allIdle(r);
  },

  'S28-pulse-sleep-upstream': (r) => {
    expect(dones(r, 'A')).toEqual(tf([1], [0]));
    expect(runs(r, 'A')).toEqual([1, 1]);
    expect(runs(r, 'B')).toEqual([0, 0]);
    expect(runs(r, 'C')).toEqual([0, 0]);
    expect(r.events.filter((e) => e.pond !== 'A')).toEqual([]);
    allIdle(r);
  },

  'S32-push-stacking': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0, 0.5], [0, 0.5]));
    expect(rippleOf(r, 'ripple-start', 'A', 'A_r')).toEqual(tf([0, 1], [0, 0.5]));
    expect(dones(r, 'A')).toEqual(tf([1, 2], [0, 0.5]));
    expect(startsTF(r, 'B')).toEqual(tf([1, 2], [0, 0.5]));
    expect(dones(r, 'B')).toEqual(tf([2, 3], [0, 0.5]));
    expect(runs(r, 'A')).toEqual([2, 2]);
    expect(runs(r, 'B')).toEqual([2, 2]);
    allIdle(r);
  },

  'S35-wave-idle-never-run': (r) => {
    // A starts at 0 and 1; B starts at 1 (F+0) and 2 (F+1), and so on
    expect(startsTF(r, 'A')).toEqual(tf(range(0, 5), range(0, 5)));
    expect(startsTF(r, 'B')).toEqual(tf(range(1, 5), range(0, 4)));
    expect(dones(r, 'B')).toEqual(tf(range(2, 5), range(0, 3)));
  },

  'S36-single-ripple-sales': (r) => {
    expect(doneTimes(r, 'reports')).toEqual(range(8, 30, 5));
  },

  'S37-wake-sleep-pulllocal': (r) => {
    // Our engine: Sleep clears pullLocal, so the Tap at 5 re-arms A when B starts: A ends with 3 runs
    expect(runs(r, 'A')).toEqual([3, 3]);
    expect(starts(r, 'A')).toEqual([0, 5, 6]);
    expect(startsTF(r, 'B')).toEqual(tf([1, 6], [0, 5]));
  },

  'S37-control-no-wake': (r) => {
    expect(runs(r, 'A')).toEqual([3, 3]);
    expect(starts(r, 'A')).toEqual([0, 5, 6]);
    expect(startsTF(r, 'B')).toEqual(tf([1, 6], [0, 5]));
  },

  'S39-zero-ripple-pond': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0], [0]));
    expect(dones(r, 'A')).toEqual(tf([0], [0]));
    expect(startsTF(r, 'B')).toEqual(tf([0], [0]));
    expect(dones(r, 'B')).toEqual(tf([1], [0]));
    expect(runs(r, 'A')).toEqual([1, 1]);
    expect(runs(r, 'B')).toEqual([1, 1]);
  },

  'S40-tap-at-origin': (r) => {
    expect(startsTF(r, 'A')).toEqual(tf([0], [0]));
    expect(dones(r, 'A')).toEqual(tf([1], [0]));
    expect(runs(r, 'A')).toEqual([1, 1]);
  },

  // ------------------------------------------------------------------- Profile R extensions

  'P05-failure-no-budget': (r) => {
    expect(rippleOf(r, 'ripple-fail', 'p2', 's1')).toEqual(tf([3], [0]));
    expect(of(r, 'pond-fail', 'p2')).toHaveLength(1);
    expect(status(r, 'p2')).toBe('failed');
    expect(pondSummary(r, 'p2').runs_completed).toBe(0);
    expect(pondSummary(r, 'p2').end_f).toBeNull();
    // no signal goes upstream: p1 is not failed and finishes its S12 runs
    expect(of(r, 'pond-fail', 'p1')).toEqual([]);
    expect(status(r, 'p1')).toBe('idle');
    expect(dones(r, 'p1')).toEqual(tf([2, 3, 4], [0, 1, 2]));
  },

  'P06-retry-on-change-recovers': (r) => {
    expect(rippleOf(r, 'ripple-fail', 'p2', 's1')).toEqual(tf([3], [0]));
    // derived: p1 advances to +1 at 3, the retry starts at once (F+1) and succeeds
    expect(startsTF(r, 'p2')).toEqual(tf([2, 3], [0, 1]));
    expect(dones(r, 'p2')).toEqual(tf([4], [1]));
    // recovered: not failed, not blocked
    expect(status(r, 'p2')).toBe('idle');
    expect(pondSummary(r, 'p2').end_f).toBe(1);
  },

  'P07-retry-budget-exhausted': (r) => {
    // exactly 2 failures (first attempt + one retry on change), then it stays failed
    expect(rippleOf(r, 'ripple-fail', 'p2', 's1')).toEqual(tf([3, 4], [0, 1]));
    expect(rippleOf(r, 'ripple-start', 'p2', 's1')).toEqual(tf([2, 3], [0, 1]));
    // one pond-fail per recorded failure (failures += 1 on every give-up, §3.12-3)
    expect(of(r, 'pond-fail', 'p2').map(({ t, f }) => ({ t, f }))).toEqual(tf([3, 4], [0, 1]));
    expect(status(r, 'p2')).toBe('failed');
    expect(pondSummary(r, 'p2').runs_completed).toBe(0);
    expect(dones(r, 'p2')).toEqual([]);
  },

  'P08-both-budgets-idle-source': (r) => {
    // s1 executes at 2, 3 (F+0) and 4, 5 (F+2): 4 executions, failures = 2, failedF = +2
    expect(rippleOf(r, 'ripple-start', 'p2', 's1')).toEqual(tf([2, 3, 4, 5], [0, 0, 2, 2]));
    expect(startsTF(r, 'p2')).toEqual(tf([2, 4], [0, 2]));
    const fails = rippleOf(r, 'ripple-fail', 'p2', 's1');
    expect(fails[fails.length - 1]).toEqual({ t: 6, f: 2 });
    // failures = 2, failedF = +2 (one pond-fail per recorded failure)
    expect(of(r, 'pond-fail', 'p2').map(({ t, f }) => ({ t, f }))).toEqual(tf([4, 6], [0, 2]));
    expect(status(r, 'p2')).toBe('failed');
    expect(pondSummary(r, 'p2').runs_completed).toBe(0);
  },

  'P08-both-budgets-wave-source': (r) => {
    // with p1 under a Wave, overlapping retries start: 6 executions, failures = 3, failedF = +3
    const execs = rippleOf(r, 'ripple-start', 'p2', 's1');
    expect(execs).toHaveLength(6);
    // derived: p1 advances every second from 2; an immediate retry keeps its run's F (§3.12-2), so the
    // retry-on-change runs at F+2 (4, 5) and F+3 (6, 7, queued behind the F+2 retry)
    expect(execs).toEqual(tf([2, 3, 4, 5, 6, 7], [0, 0, 2, 2, 3, 3]));
    expect(startsTF(r, 'p2')).toEqual(tf([2, 4, 5], [0, 2, 3]));
    // failures = 3, failedF = +3 (one pond-fail per recorded failure)
    const pondFails = of(r, 'pond-fail', 'p2').map(({ t, f }) => ({ t, f }));
    expect(pondFails).toHaveLength(3);
    expect(Math.max(...pondFails.map((e) => e.f ?? Number.NEGATIVE_INFINITY))).toBe(3);
    expect(status(r, 'p2')).toBe('failed');
    expect(pondSummary(r, 'p2').runs_completed).toBe(0);
  },

  'P10-leaf-failure-blocks': (r) => {
    // derived: r3 fails on run F+0 (at 2) and on the run F+1 that r3's own start had queued (at 3)
    expect(rippleOf(r, 'ripple-fail', 'p1', 'r3')).toEqual(tf([2, 3], [0, 1]));
    expect(status(r, 'p1')).toBe('failed');
    expect(status(r, 'p2')).toBe('blocked');
    expect(of(r, 'pond-fail', 'p2')).toEqual([]);
    expect(runs(r, 'p2')).toEqual([0, 0]);
    expect(pondSummary(r, 'p1').runs_completed).toBe(0);
  },

  'P10-leaf-failure-clear': (r) => {
    expect(runs(r, 'p2')).toEqual([0, 0]);
    // Clear p1 → both unblock. Derived: p1 holds no demand (idle); p2 still holds the Tap's pull (queued).
    expect(status(r, 'p1')).toBe('idle');
    expect(status(r, 'p2')).toBe('queued');
    expect(r.events.filter((e) => e.t >= 8)).toEqual([]);
  },

  'P11-no-change-pass': (r) => {
    // p1 republishes at +10 unchanged; p2 (pull from the Tap) passes: no Ripple run, endF = +10
    expect(passes(r, 'p2')).toEqual(tf([11], [10]));
    expect(rippleOf(r, 'ripple-start', 'p2', 'p2_r')).toEqual(tf([6], [5]));
    expect(pondSummary(r, 'p2').end_f).toBe(10);
    expect(pondSummary(r, 'p2').runs_completed).toBe(2);
    expect(dones(r, 'p2')).toEqual(tf([7], [5]));
  },

  'P13-always-run': (r) => {
    expect(passes(r, 'p2')).toEqual([]);
    expect(rippleOf(r, 'ripple-start', 'p2', 'p2_r')).toEqual(tf([6, 11], [5, 10]));
    expect(dones(r, 'p2')).toEqual(tf([7, 12], [5, 10]));
    expect(pondSummary(r, 'p2').runs_completed).toBe(2);
  },

  'P14-wave-unchanged-inlet': (r) => {
    // the Inlet keeps running every second …
    expect(startsTF(r, 'p1')).toEqual(tf(range(0, 10), range(0, 10)));
    // … p2's Ripple ran only for the first (changed) freshness, every later run is a pass
    expect(rippleOf(r, 'ripple-start', 'p2', 'p2_r')).toEqual(tf([1], [0]));
    expect(dones(r, 'p2')).toEqual(tf([2], [0]));
    expect(passes(r, 'p2')).toEqual(tf(range(2, 10), range(1, 9)));
    expect(pondSummary(r, 'p2').end_f).toBe(9);
  },

  'P16-kill-parks': (r) => {
    expect(startsTF(r, 'p1')).toEqual(tf([0], [0]));
    expect(dones(r, 'p1')).toEqual([]);
    // the in-flight Ripple run is cancelled; the Tap on the killed Pond at 2 starts nothing
    expect(r.events.filter((e) => e.t > 0.5)).toEqual([]);
    expect(status(r, 'p1')).toBe('killed');
    expect(pondSummary(r, 'p1').start_f).toBe(0);
    expect(pondSummary(r, 'p1').end_f).toBeNull();
    expect(status(r, 'p2')).toBe('blocked');
    expect(runs(r, 'p2')).toEqual([0, 0]);
  },

  'P16-kill-clear': (r) => {
    expect(r.events.filter((e) => e.t > 0.5 && e.t < 5)).toEqual([]);
    // after Clear at 4 both are usable again: a Tap on p2 at 5 runs the chain
    expect(startsTF(r, 'p1')).toEqual(tf([0, 5, 6], [0, 5, 6]));
    expect(dones(r, 'p1')).toEqual(tf([6, 7], [5, 6]));
    expect(startsTF(r, 'p2')).toEqual(tf([6], [5]));
    expect(dones(r, 'p2')).toEqual(tf([7], [5]));
    expect(runs(r, 'p1')).toEqual([3, 2]);
    allIdle(r);
  },
};

// ---------------------------------------------------------------------------------------------------------

const scenarioFiles = readdirSync(SCENARIOS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => basename(f, '.json'))
  .sort();

function untilSeconds(name: string): number {
  const sc = JSON.parse(readFileSync(join(SCENARIOS, `${name}.json`), 'utf8')) as { until: string };
  const m = /^(\d+(?:\.\d+)?)s$/.exec(sc.until);
  if (!m) throw new Error(`test helper expects "<n>s" until in ${name}`);
  return Number(m[1]);
}

describe('scenario files', () => {
  it('every scenario file has expectations and every expectation has a file', () => {
    expect(scenarioFiles).toEqual(Object.keys(cases).sort());
  });
});

describe('spec §5 scenarios via `simulate`', () => {
  for (const name of scenarioFiles) {
    it(name, async () => {
      const r = await simulateFile(name);
      // §7 output shape: events in time order within [0, until]; summary at `until`; counters match the log
      const until = untilSeconds(name);
      expect(r.summary.t).toBe(until);
      for (let i = 1; i < r.events.length; i++) {
        expect((r.events[i] as EventLine).t).toBeGreaterThanOrEqual((r.events[i - 1] as EventLine).t);
      }
      for (const e of r.events) {
        expect(e.t).toBeGreaterThanOrEqual(0);
        expect(e.t).toBeLessThanOrEqual(until);
        expect(typeof e.pond).toBe('string');
        if (e.kind.startsWith('ripple-')) expect(typeof e.ripple).toBe('string');
      }
      for (const [pond, s] of Object.entries(r.summary.ponds)) {
        expect(s.runs_started, `runs_started of ${pond}`).toBe(starts(r, pond).length);
      }
      const check = cases[name];
      expect(check, `expectations for ${name}`).toBeDefined();
      check?.(r);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Bad input: exit status 2, a message naming the offending JSON path on stderr, nothing on stdout

/** The notations a JSON path may be printed in: ponds[1].sources[0], $.ponds[1]…, ponds.1.sources.0, /ponds/1/… */
function pathSpellings(path: ReadonlyArray<string | number>): string[] {
  const bracket = path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  const dotted = path.map(String).join('.');
  const pointer = `/${path.map(String).join('/')}`;
  return [bracket, dotted, pointer];
}

function expectNamesPath(stderr: string, path: ReadonlyArray<string | number>): void {
  const spellings = pathSpellings(path);
  expect(
    spellings.some((s) => stderr.includes(s)),
    `stderr should name ${spellings.join(' or ')}; got: ${stderr}`,
  ).toBe(true);
}

const base = () => ({
  until: '5s',
  ponds: [{ name: 'A' }, { name: 'B', sources: ['A'] }] as Array<Record<string, unknown>>,
  events: [{ at: '0s', kind: 'tap', pond: 'B' }] as Array<Record<string, unknown>>,
});

interface BadCase {
  name: string;
  scenario: unknown;
  path: ReadonlyArray<string | number>;
  message?: RegExp;
}

const badCases: BadCase[] = [
  {
    name: 'unknown source pond',
    scenario: { ...base(), ponds: [{ name: 'A' }, { name: 'B', sources: ['Nope'] }] },
    path: ['ponds', 1, 'sources', 0],
    message: /Nope/,
  },
  {
    name: 'unknown ripple parent',
    scenario: {
      ...base(),
      ponds: [
        {
          name: 'A',
          ripples: [
            { name: 'a', parents: [], duration: '1s' },
            { name: 'b', parents: ['zz'], duration: '1s' },
          ],
        },
      ],
      events: [{ at: '0s', kind: 'tap', pond: 'A' }],
    },
    path: ['ponds', 0, 'ripples', 1, 'parents', 0],
    message: /zz/,
  },
  {
    name: 'pond-level cycle',
    scenario: {
      ...base(),
      ponds: [
        { name: 'A', sources: ['B'] },
        { name: 'B', sources: ['A'] },
      ],
    },
    path: ['ponds'],
    message: /cycl/i,
  },
  {
    name: 'ripple-level cycle',
    scenario: {
      ...base(),
      ponds: [
        {
          name: 'A',
          ripples: [
            { name: 'a', parents: ['b'], duration: '1s' },
            { name: 'b', parents: ['a'], duration: '1s' },
          ],
        },
      ],
      events: [{ at: '0s', kind: 'tap', pond: 'A' }],
    },
    path: ['ponds', 0, 'ripples'],
    message: /cycl/i,
  },
  {
    name: 'duplicate pond name',
    scenario: { ...base(), ponds: [{ name: 'A' }, { name: 'B', sources: ['A'] }, { name: 'A' }] },
    path: ['ponds', 2],
  },
  {
    name: 'duplicate ripple name in a pond',
    scenario: {
      ...base(),
      ponds: [
        { name: 'A' },
        {
          name: 'B',
          sources: ['A'],
          ripples: [
            { name: 'x', parents: [], duration: '1s' },
            { name: 'x', parents: [], duration: '2s' },
          ],
        },
      ],
    },
    path: ['ponds', 1, 'ripples', 1],
  },
  {
    name: 'unknown event kind',
    scenario: { ...base(), events: [{ at: '0s', kind: 'splash', pond: 'B' }] },
    path: ['events', 0, 'kind'],
    message: /splash/,
  },
  {
    name: 'event on an unknown pond',
    scenario: { ...base(), events: [{ at: '1s', kind: 'tap', pond: 'Z' }] },
    path: ['events', 0, 'pond'],
  },
  {
    name: 'malformed duration "10x" (until)',
    scenario: { ...base(), until: '10x' },
    path: ['until'],
    message: /10x/,
  },
  {
    name: 'malformed duration "1h30" (ripple duration)',
    scenario: {
      ...base(),
      ponds: [
        { name: 'A', ripples: [{ name: 'a', parents: [], duration: '1h30' }] },
        { name: 'B', sources: ['A'] },
      ],
    },
    path: ['ponds', 0, 'ripples', 0, 'duration'],
    message: /1h30/,
  },
  {
    name: 'malformed duration "" (event at)',
    scenario: { ...base(), events: [{ at: '', kind: 'tap', pond: 'B' }] },
    path: ['events', 0, 'at'],
  },
  {
    name: 'window with every "0s"',
    scenario: {
      ...base(),
      ponds: [
        { name: 'A', windows: [{ name: 'w', start: '+0s', every: '0s', duration: '0s' }] },
        { name: 'B', sources: ['A'] },
      ],
    },
    path: ['ponds', 0, 'windows', 0, 'every'],
  },
  {
    name: 'tide without bound',
    scenario: { ...base(), events: [{ at: '0s', kind: 'tide', pond: 'B' }] },
    path: ['events', 0],
  },
];

describe('the readable timeline (--table)', () => {
  it('shows the operator events a scenario applies (tide, kill, clear), before what they cause', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'duckstring-table-'));
    try {
      const file = join(dir, 'ops.json');
      writeFileSync(
        file,
        JSON.stringify({
          until: '6s',
          ponds: [{ name: 'a', ripples: [{ name: 'r', duration: '2s' }] }],
          events: [
            { at: '0s', kind: 'tide', pond: 'a', bound: '30s' },
            { at: '1s', kind: 'kill', pond: 'a' },
            { at: '3s', kind: 'clear', pond: 'a' },
          ],
        }),
      );
      const out = await cli(['simulate', file, '--table']);
      expect(out.code).toBe(0);
      const rows = out.stdout.split('\n');
      const at = (text: RegExp) => rows.findIndex((r) => text.test(r));
      expect(rows[at(/» tide/)]).toMatch(/^ {4}0\.000 {2}a\s+» tide\s+bound 30s$/);
      expect(at(/» kill/)).toBeGreaterThan(at(/» tide/));
      expect(rows[at(/» kill/)]).toMatch(/^ {4}1\.000 {2}a\s+» kill$/);
      expect(at(/» clear/)).toBeGreaterThan(at(/» kill/));
      // The tide starts a run at 0 s: the action comes first at that instant.
      expect(at(/run >/)).toBeGreaterThan(at(/» tide/));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bad input', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'duckstring-bad-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  badCases.forEach((c, i) => {
    it(c.name, async () => {
      const file = join(dir, `bad-${i}.json`);
      writeFileSync(file, JSON.stringify(c.scenario, null, 2));
      const out = await cli(['simulate', file]);
      expect(out.stdout).toBe('');
      expect(out.code).toBe(2);
      expectNamesPath(out.stderr, c.path);
      if (c.message) expect(out.stderr).toMatch(c.message);
    });
  });

  it('invalid JSON', async () => {
    const file = join(dir, 'not-json.json');
    writeFileSync(file, '{"until": "5s", "ponds": [');
    const out = await cli(['simulate', file]);
    expect(out.stdout).toBe('');
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('not-json.json');
  });

  it('missing file', async () => {
    const file = join(dir, 'does-not-exist.json');
    const out = await cli(['simulate', file]);
    expect(out.stdout).toBe('');
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('does-not-exist.json');
  });
});

// ---------------------------------------------------------------------------------------------------------
// The real executable (bin/duckstring.js → dist/cli/main.js)

describe('the duckstring executable', () => {
  const bin = join(ROOT, 'bin', 'duckstring.js');
  beforeAll(() => {
    // bin/duckstring.js imports the compiled CLI from dist/
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
      throw new Error(`npm run build produced no dist/cli/main.js:\n${build.stdout}\n${build.stderr}`);
    }
  }, 120_000);

  it('simulate S01 prints the same JSON Lines as the in-process CLI', async () => {
    const file = join(SCENARIOS, 'S01-cold-tap-chain.json');
    const child = spawnSync(process.execPath, [bin, 'simulate', file], { cwd: ROOT, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const inProcess = await simulateFile('S01-cold-tap-chain');
    expect(child.stdout).toBe(inProcess.stdout);
    const r: Run = {
      code: child.status ?? -1,
      stdout: child.stdout,
      stderr: child.stderr,
      ...parseOutput(child.stdout),
    };
    cases['S01-cold-tap-chain']?.(r);
  });

  it('exits with status 2 on an invalid scenario, naming the JSON path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'duckstring-bin-'));
    try {
      const file = join(dir, 'bad.json');
      writeFileSync(
        file,
        JSON.stringify({ ...base(), ponds: [{ name: 'A' }, { name: 'B', sources: ['Nope'] }] }),
      );
      const child = spawnSync(process.execPath, [bin, 'simulate', file], { cwd: ROOT, encoding: 'utf8' });
      expect(child.stdout).toBe('');
      expect(child.status).toBe(2);
      expectNamesPath(child.stderr, ['ponds', 1, 'sources', 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
