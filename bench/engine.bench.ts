/**
 * Engine throughput benchmark: a seeded random DAG of Ponds × 3 Ripples, a Wave on every Outlet, one
 * simulated hour. The driver plays the Catchment of the event-driven runtime (engine.md §3.16 R): every
 * Ripple completion is reported on its own and followed by `advance(now)`, so the cost of one event is
 * exactly what the engine spends reacting to it. Only time inside engine calls counts as engine time;
 * the driver's heap and bookkeeping are reported separately as wall time.
 *
 * Run: npm run bench:engine
 */
import { availableParallelism, loadavg } from 'node:os';
import { Engine, type EngineEvent, type PondSpec, type RippleSpec } from '../src/engine/index.js';

const SEED = 0x5eed_d0c5;
const STEP_MS = 100;
const MIN_DURATION_MS = 5_000;
const MAX_DURATION_MS = 60_000;
const SIM_MS = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

const TARGET_EVENTS_PER_S = 200_000;
const TARGET_MEDIAN_US = 50;

/** mulberry32: tiny, fast and good enough to make the graph reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Graph {
  specs: PondSpec[];
  /** Duration of each Ripple, keyed by `pond/ripple`. */
  durations: Map<string, number>;
  outlets: string[];
  inlets: number;
  depth: number;
}

const edge = (name: string, optional = false) => ({ name, optional });

/** Three Ripple shapes in a mix: two roots joined by a leaf, a chain, and one root fanning out to two leaves. */
function rippleShape(rand: () => number): RippleSpec[] {
  const x = rand();
  if (x < 0.4) {
    return [
      { name: 'a', parents: [] },
      { name: 'b', parents: [] },
      { name: 'c', parents: [edge('a'), edge('b')] },
    ];
  }
  if (x < 0.8) {
    return [
      { name: 'a', parents: [] },
      { name: 'b', parents: [edge('a')] },
      { name: 'c', parents: [edge('b')] },
    ];
  }
  return [
    { name: 'a', parents: [] },
    { name: 'b', parents: [edge('a')] },
    { name: 'c', parents: [edge('a')] },
  ];
}

/** Sources are drawn uniformly from earlier Ponds, so the graph is a DAG by construction. */
function sourceCount(rand: () => number, i: number): number {
  if (i === 0) return 0;
  const x = rand();
  const n = x < 0.05 ? 0 : x < 0.5 ? 1 : x < 0.85 ? 2 : 3;
  return Math.min(n, i);
}

/**
 * `copies` > 1 repeats the same seeded graph as disjoint components: the work each event touches is
 * identical to one copy, only the total state grows — the control for the scaling check.
 */
function buildGraph(pondsPerCopy: number, seed: number, copies = 1): Graph {
  const ponds = pondsPerCopy * copies;
  const name = (i: number) => `p${String(i).padStart(6, '0')}`;
  const specs: PondSpec[] = [];
  const durations = new Map<string, number>();
  const hasSink = new Uint8Array(ponds);
  const level = new Int32Array(ponds);
  const grid = (MAX_DURATION_MS - MIN_DURATION_MS) / STEP_MS + 1;
  let inlets = 0;
  let rand = prng(seed);
  for (let i = 0; i < ponds; i++) {
    const local = i % pondsPerCopy;
    const base = i - local;
    if (local === 0) rand = prng(seed);
    const picked = new Set<number>();
    const n = sourceCount(rand, local);
    while (picked.size < n) picked.add(base + Math.floor(rand() * local));
    if (n === 0) inlets++;
    const sources = [...picked].map((s) => {
      hasSink[s] = 1;
      level[i] = Math.max(level[i]!, level[s]! + 1);
      // About one edge in ten is optional: it never gates, but still receives pull.
      return edge(name(s), rand() < 0.1);
    });
    const ripples = rippleShape(rand);
    for (const r of ripples) {
      durations.set(`${name(i)}/${r.name}`, MIN_DURATION_MS + Math.floor(rand() * grid) * STEP_MS);
    }
    specs.push({
      name: name(i),
      sources,
      ripples,
      windows: [],
      immediateRetries: 0,
      sourceRetries: 0,
      alwaysRun: false,
    });
  }
  const outlets = specs.filter((_, i) => !hasSink[i]).map((s) => s.name);
  return { specs, durations, outlets, inlets, depth: Math.max(...level) + 1 };
}

/** Min-heap of Ripple completions ordered by due time, then Ripple index (stable, like the simulator). */
class CompletionHeap {
  private due: number[] = [];
  private ripple: number[] = [];

  get size(): number {
    return this.due.length;
  }

  peekDue(): number {
    return this.due.length > 0 ? this.due[0]! : Number.POSITIVE_INFINITY;
  }

  private less(i: number, j: number): boolean {
    const d = this.due[i]! - this.due[j]!;
    return d < 0 || (d === 0 && this.ripple[i]! < this.ripple[j]!);
  }

  private swap(i: number, j: number): void {
    const d = this.due[i]!;
    this.due[i] = this.due[j]!;
    this.due[j] = d;
    const r = this.ripple[i]!;
    this.ripple[i] = this.ripple[j]!;
    this.ripple[j] = r;
  }

  push(due: number, ripple: number): void {
    this.due.push(due);
    this.ripple.push(ripple);
    let k = this.due.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!this.less(k, p)) break;
      this.swap(k, p);
      k = p;
    }
  }

  /** Removes the earliest completion and returns its Ripple index. */
  pop(): number {
    const top = this.ripple[0]!;
    const lastDue = this.due.pop()!;
    const lastRipple = this.ripple.pop()!;
    const n = this.due.length;
    if (n > 0) {
      this.due[0] = lastDue;
      this.ripple[0] = lastRipple;
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= n) break;
        if (c + 1 < n && this.less(c + 1, c)) c++;
        if (!this.less(c, k)) break;
        this.swap(c, k);
        k = c;
      }
    }
    return top;
  }
}

interface RunResult {
  label: string;
  ponds: number;
  ripples: number;
  outlets: number;
  inlets: number;
  depth: number;
  rippleStarts: number;
  rippleDones: number;
  pondDones: number;
  instants: number;
  engineNs: number;
  wallNs: number;
  /** Process CPU time (user + system, all threads) over the same span as wallNs. */
  cpuNs: number;
  /** 1-minute load average when the run ended: above the core count, other work competed for the CPU. */
  load: number;
  /** Nanoseconds of each `rippleCompletedById` + the `advance` that follows it. */
  perCompletionNs: Float64Array;
}

const nowNs = () => process.hrtime.bigint();

function run(label: string, pondsPerCopy: number, simMs: number, copies = 1): RunResult {
  const g = buildGraph(pondsPerCopy, SEED, copies);
  const engine = new Engine(g.specs);
  const topo = engine.topology;
  const durationOf = topo.ripples.map((r) => g.durations.get(`${topo.ponds[r.pond]!.spec.name}/${r.name}`)!);
  for (const o of g.outlets) engine.setTrigger(o, { kind: 'wave', boundMs: 0 });

  const heap = new CompletionHeap();
  let costs = new Float64Array(1 << 16);
  let completions = 0;
  let engineNs = 0n;
  let rippleStarts = 0;
  let rippleDones = 0;
  let pondDones = 0;
  let instants = 0;

  const schedule = (out: EngineEvent[], t: number) => {
    for (const e of out) {
      if (e.kind === 'ripple-start') {
        rippleStarts++;
        const r = e.rippleId;
        heap.push(t + durationOf[r]!, r);
      } else if (e.kind === 'ripple-done') rippleDones++;
      else if (e.kind === 'pond-done') pondDones++;
    }
  };

  const cpuStart = process.cpuUsage();
  const wallStart = nowNs();
  let t = 0;
  while (t <= simMs) {
    instants++;
    const now = T0 + t;
    let advanced = false;
    while (heap.peekDue() <= t) {
      const r = heap.pop();
      const f = engine.ripples[r]!.startF;
      const a = nowNs();
      const accepted = engine.rippleCompletedById(r, f, now);
      const out = engine.advance(now);
      const cost = nowNs() - a;
      // Each start is scheduled exactly once and nothing kills runs here, so a refusal means a broken driver.
      if (!accepted) throw new Error(`engine refused the completion of ripple #${r} at F=${f}`);
      engineNs += cost;
      if (completions === costs.length) {
        const grown = new Float64Array(costs.length * 2);
        grown.set(costs);
        costs = grown;
      }
      costs[completions++] = Number(cost);
      advanced = true;
      schedule(out, t);
    }
    // An instant with no completion is a wake-up: time alone may let waiting Inlets start.
    const a = nowNs();
    const out = advanced ? [] : engine.advance(now);
    const wake = engine.nextWakeAt(now);
    engineNs += nowNs() - a;
    schedule(out, t);
    let next = heap.peekDue();
    if (wake !== null) next = Math.min(next, wake - T0);
    t = Math.max(Math.ceil(next / STEP_MS) * STEP_MS, t + STEP_MS);
  }
  const wallNs = nowNs() - wallStart;
  const cpu = process.cpuUsage(cpuStart);

  return {
    label,
    ponds: g.specs.length,
    ripples: topo.ripples.length,
    outlets: g.outlets.length,
    inlets: g.inlets,
    depth: g.depth,
    rippleStarts,
    rippleDones,
    pondDones,
    instants,
    engineNs: Number(engineNs),
    wallNs: Number(wallNs),
    cpuNs: (cpu.user + cpu.system) * 1e3,
    load: loadavg()[0]!,
    perCompletionNs: costs.slice(0, completions),
  };
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Row {
  r: RunResult;
  eventsPerS: number;
  wallEventsPerS: number;
  meanUs: number;
  medianUs: number;
  p99Us: number;
  maxUs: number;
}

function summarize(r: RunResult): Row {
  const events = r.rippleStarts + r.rippleDones;
  const sorted = r.perCompletionNs.slice().sort();
  return {
    r,
    eventsPerS: events / (r.engineNs / 1e9),
    wallEventsPerS: events / (r.wallNs / 1e9),
    meanUs: sorted.reduce((a, b) => a + b, 0) / sorted.length / 1e3,
    medianUs: quantile(sorted, 0.5) / 1e3,
    p99Us: quantile(sorted, 0.99) / 1e3,
    maxUs: (sorted[sorted.length - 1] ?? Number.NaN) / 1e3,
  };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)));
  return [
    line(header).join('  '),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...rows.map((r) => line(r).join('  ')),
  ].join('\n');
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, d = 1) => n.toFixed(d);

function main(): void {
  console.log(
    `engine bench — seed 0x${SEED.toString(16)}, 3 Ripples per Pond (40% join, 40% chain, 20% fan-out), ` +
      `0–3 Sources from earlier Ponds (10% optional), Ripple durations ${MIN_DURATION_MS / 1000}–${MAX_DURATION_MS / 1000} s ` +
      `on a ${STEP_MS} ms grid, Wave on every Outlet, ${SIM_MS / 3_600_000} h simulated, ` +
      'advance after every completion',
  );
  console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);

  process.stdout.write('warm-up (1 000 Ponds, 30 simulated minutes)… ');
  const w = run('warm-up', 1_000, 1_800_000);
  console.log(`${int(w.rippleStarts + w.rippleDones)} events in ${fixed(w.wallNs / 1e9, 2)} s`);

  const rows: Row[] = [];
  for (const [label, ponds, copies] of [
    ['1k', 1_000, 1],
    ['10k', 10_000, 1],
    ['10 × 1k', 1_000, 10],
  ] as const) {
    process.stdout.write(`${label} (${int(ponds * copies)} Ponds)… `);
    const row = summarize(run(label, ponds, SIM_MS, copies));
    console.log(`done in ${fixed(row.r.wallNs / 1e9, 1)} s`);
    rows.push(row);
  }

  console.log();
  console.log(
    table(
      ['graph', 'ponds', 'ripples', 'inlets', 'outlets', 'depth', 'pond runs', 'instants'],
      rows.map(({ r }) => [
        r.label,
        int(r.ponds),
        int(r.ripples),
        int(r.inlets),
        int(r.outlets),
        int(r.depth),
        int(r.pondDones),
        int(r.instants),
      ]),
    ),
  );
  console.log();
  console.log(
    table(
      [
        'graph',
        'ripple events',
        'engine s',
        'wall s',
        'cpu s',
        'load',
        'events/s engine',
        'events/s wall',
        'completions',
        'mean µs',
        'median µs',
        'p99 µs',
        'max µs',
      ],
      rows.map(({ r, eventsPerS, wallEventsPerS, meanUs, medianUs, p99Us, maxUs }) => [
        r.label,
        int(r.rippleStarts + r.rippleDones),
        fixed(r.engineNs / 1e9, 2),
        fixed(r.wallNs / 1e9, 2),
        fixed(r.cpuNs / 1e9, 2),
        fixed(r.load, 1),
        int(eventsPerS),
        int(wallEventsPerS),
        int(r.perCompletionNs.length),
        fixed(meanUs, 2),
        fixed(medianUs, 2),
        fixed(p99Us, 1),
        fixed(maxUs, 0),
      ]),
    ),
  );

  const [small, large, copies] = rows as [Row, Row, Row];
  const ratio = (a: Row, b: Row) =>
    `median ${fixed(a.medianUs / b.medianUs, 2)}×, mean ${fixed(a.meanUs / b.meanUs, 2)}×, p99 ${fixed(a.p99Us / b.p99Us, 2)}×`;
  console.log();
  console.log(
    'ripple events = ripple-start + ripple-done; engine s = time inside engine calls only (wall adds the driver);',
  );
  console.log(
    `cpu s = process CPU time over the wall span; load = 1-min load average at the end of the run (${availableParallelism()} cores): ` +
      'when load exceeds the cores, or wall ≫ cpu, other processes took the CPU and the figures are pessimistic.',
  );
  console.log(
    'cost of one event = one rippleCompletedById() + the advance() that follows it, measured per completion.',
  );
  console.log(
    `scaling 10k vs 1k:     ${ratio(large, small)}   (≈ 1: cost follows what an event touches, not graph size)`,
  );
  console.log(
    `scaling 10 × 1k vs 1k: ${ratio(copies, small)}   (same per-event topology, 10× the state: memory effects only)`,
  );
  const ok = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  console.log(
    `targets (${int(large.r.ponds)} Ponds): ≥ ${int(TARGET_EVENTS_PER_S)} events/s → ${int(large.eventsPerS)} ${ok(large.eventsPerS >= TARGET_EVENTS_PER_S)}; ` +
      `median < ${TARGET_MEDIAN_US} µs → ${fixed(large.medianUs, 2)} µs ${ok(large.medianUs < TARGET_MEDIAN_US)}`,
  );
}

main();
