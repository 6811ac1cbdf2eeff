/**
 * Pipeline runtime benchmark with real parts: a Catchment in this process (HTTP on 127.0.0.1, SQLite),
 * Duck processes spawned from the built CLI, DuckDB registries and published Parquet snapshots.
 *
 * 1. Dispatch overhead: 50 chained Ponds (p00 → … → p49), one trivial SQL Ripple each, one Pulse on
 *    p49. End to end = pulse request → p49's pond-done (the Catchment's own event hook). Overhead per
 *    hop = (end to end − Σ Ripple attempt durations from run history) / 50. The cold run includes
 *    spawning 50 Duck processes; the warm median is the dispatch overhead.
 * 2. Throughput: the demo Ponds at 10 M transactions, Pulse on reports → reports done, against the
 *    same SQL run directly in one DuckDB connection in this process (tables + Parquet export of
 *    every Pond table, like the runtime publishes).
 *
 * Wall time on a shared 2-core machine swings with others' load, so CPU time (this process + our
 * Ducks) is printed next to it, runtime and direct runs alternate, and the load average is printed.
 *
 * Run: npm run bench:runtime
 *      npm run bench:runtime -- --profile   phase-by-phase cost of a Duck's work, in-process
 *      BENCH_CHAIN_LENGTH=5 BENCH_TRANSACTION_ROWS=100000 npm run bench:runtime   quick smoke run
 */
import { execFileSync } from 'node:child_process';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { EngineEvent } from '../src/engine/engine.js';
import { removeDir, TestCatchment, tempDir, writePond } from '../test/support/runtime.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Overridable for a quick smoke run; the targets are meant for the defaults.
const CHAIN_LENGTH = Number(process.env.BENCH_CHAIN_LENGTH ?? 50);
const TRANSACTION_ROWS = Number(process.env.BENCH_TRANSACTION_ROWS ?? 10_000_000);
const WARM_REPEATS = 3;
const TARGET_HOP_MS = 50;
const TARGET_RATIO = 1.3;
const RUN_TIMEOUT_MS = 180_000;

/** Catchment URLs of this bench: their Ducks are ours to account for at the end. */
const ourUrls = new Set<string>();

/** Production-like Catchment settings: long polls of 20 s, Ducks kept warm for the whole bench. */
const CATCHMENT_OPTIONS = { livenessMs: 60_000, watchdogMs: 30_000, idleMs: 600_000 };

// ───────────────────────────── small helpers ─────────────────────────────

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
const ms = (v: number): string => `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`;
const secs = (v: number): string => `${(v / 1000).toFixed(2)} s`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r, i) => {
      const line = r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  ');
      return i === 0 ? `${line}\n${widths.map((w) => '─'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

function build(): void {
  const started = performance.now();
  execFileSync(
    process.execPath,
    [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: REPO,
      stdio: 'inherit',
    },
  );
  console.log(`built dist/ in ${secs(performance.now() - started)}`);
}

/** Duck processes (pid → the Catchment URL they dial), read from /proc. */
async function duckProcesses(): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (!cmd.some((a) => a.endsWith('duckstring.js')) || !cmd.includes('duck')) continue;
      const env = (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0');
      const url = env
        .find((e) => e.startsWith('DUCKSTRING_CATCHMENT_URL='))
        ?.slice('DUCKSTRING_CATCHMENT_URL='.length);
      out.set(Number(entry), url ?? '?');
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/**
 * CPU time (ms) used so far by this process plus the Duck processes of our Catchments. Wall time on
 * a shared machine depends on others' load; CPU time much less, so it is reported as a cross-check.
 */
async function cpuMs(): Promise<number> {
  const self = process.cpuUsage();
  let total = (self.user + self.system) / 1000;
  for (const [pid, url] of await duckProcesses()) {
    if (!ourUrls.has(url)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised command: utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    } catch {
      // Exited meanwhile.
    }
  }
  return total;
}

// ───────────────────────────── driving runs ─────────────────────────────

interface TimedEvent {
  event: EngineEvent;
  /** performance.now() when the Catchment emitted it. */
  at: number;
}

/** Records every engine event of a Catchment with an exact timestamp. */
class EventLog {
  readonly events: TimedEvent[] = [];
  private waiters: Array<() => void> = [];

  constructor(c: TestCatchment) {
    c.running.catchment.onEvents((events) => {
      const at = performance.now();
      for (const event of events) this.events.push({ event, at });
      for (const w of this.waiters) w();
    });
  }

  /** Resolves with the first pond-done of `line` after `fromIndex`; rejects on its pond-fail. */
  waitDone(line: string, fromIndex: number, timeoutMs = RUN_TIMEOUT_MS): Promise<TimedEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${line} to complete`));
      }, timeoutMs);
      const check = () => {
        for (let i = fromIndex; i < this.events.length; i++) {
          const t = this.events[i]!;
          if (t.event.pond !== line) continue;
          if (t.event.kind === 'pond-done') {
            cleanup();
            return resolve(t);
          }
          if (t.event.kind === 'pond-fail') {
            cleanup();
            return reject(new Error(`${line} failed at f=${t.event.f}`));
          }
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }
}

interface HopTiming {
  pond: string;
  /** Catchment pond-start → Duck ripple-start (job delivery through the long poll). */
  dispatchToStart: number;
  /** Σ Ripple attempt durations (Duck clock, includes Parquet export and publish). */
  ripples: number;
  /** First ripple-start → last ripple-done (the Pond Run's wall time inside the Duck). */
  span: number;
  /** Last Duck ripple-done → Catchment pond-done (event delivery and processing). */
  doneToCatchment: number;
}

interface PulseResult {
  endToEnd: number;
  /** CPU time of this process (Catchment) and our Ducks during the run. */
  cpu: number;
  rippleSum: number;
  hops: HopTiming[];
  /** Ripple name → attempt duration, summed over the run's Ponds. */
  perRipple: Map<string, number>;
  /** Every Pond that actually ran (pond-start without pass). */
  ran: string[];
}

/** What a stuck run was doing: engine events seen, and the log of the first line that did not finish. */
async function diagnose(c: TestCatchment, events: readonly TimedEvent[]): Promise<string> {
  const started = events.filter((t) => t.event.kind === 'pond-start').map((t) => t.event.pond);
  const finished = new Set(
    events
      .filter((t) => t.event.kind !== 'pond-start' && t.event.kind.startsWith('pond-'))
      .map((t) => t.event.pond),
  );
  const stuck = started.find((p) => !finished.has(p));
  const lines = [
    `  ${started.length} Pond runs started, ${finished.size} finished; last event: ${JSON.stringify(events.at(-1)?.event)}`,
  ];
  if (stuck) {
    const name = stuck.slice(0, stuck.lastIndexOf('@'));
    const logFile = path.join(c.root, 'ponds', name, 'm1', 'duck.log');
    const text = await readFile(logFile, 'utf8').catch((err: Error) => `(no log: ${err.message})`);
    lines.push(
      `  ${stuck} did not finish; Duck pid ${c.running.catchment.supervisor.pid(stuck) ?? 'none'}; ${logFile}:`,
    );
    lines.push(
      ...text
        .trimEnd()
        .split('\n')
        .slice(-15)
        .map((l) => `    ${l}`),
    );
  }
  return lines.join('\n');
}

/** One Pulse on `outlet`, timed from the request to the outlet's completion. */
async function pulse(c: TestCatchment, log: EventLog, outlet: string): Promise<PulseResult> {
  const from = log.events.length;
  const cpu0 = await cpuMs();
  const wallStart = Date.now();
  const t0 = performance.now();
  const done = log.waitDone(`${outlet}@1`, from);
  const res = await c.api('POST', `/api/ponds/${outlet}/pulse`, {});
  if (res.status !== 200)
    throw new Error(`pulse ${outlet} answered ${res.status}: ${JSON.stringify(res.body)}`);
  const end = await done.catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await diagnose(c, log.events.slice(from))}`);
  });
  const endToEnd = end.at - t0;
  const cpu = (await cpuMs()) - cpu0;
  // Engine events carry the Catchment's Date.now(); map them onto performance.now() via the log time.
  const window = log.events.slice(from).filter((t) => t.at <= end.at);
  const starts = window.filter((t) => t.event.kind === 'pond-start' && !(t.event as { pass: boolean }).pass);
  const store = c.running.catchment.store;
  const hops: HopTiming[] = [];
  const perRipple = new Map<string, number>();
  let rippleSum = 0;
  for (const s of starts) {
    const { pond, f } = s.event;
    const name = pond.slice(0, pond.lastIndexOf('@'));
    const run = store
      .listPondRuns({ pond: name, limit: 20 })
      .find((r) => r.f === f && r.startedAt >= wallStart - 5);
    if (!run) throw new Error(`no run history for ${pond} at f=${f}`);
    const attempts = store.listRunAttempts(run.id);
    if (attempts.length === 0 || attempts.some((a) => a.status !== 'succeeded' || a.finishedAt === null)) {
      throw new Error(`${pond}: unexpected attempts ${JSON.stringify(attempts)}`);
    }
    const durations = attempts.map((a) => a.finishedAt! - a.startedAt);
    for (const a of attempts)
      perRipple.set(
        `${name}.${a.ripple}`,
        (perRipple.get(`${name}.${a.ripple}`) ?? 0) + a.finishedAt! - a.startedAt,
      );
    rippleSum += sum(durations);
    const doneEvent = window.find(
      (t) => t.event.kind === 'pond-done' && t.event.pond === pond && t.event.f === f,
    );
    hops.push({
      pond,
      dispatchToStart: Math.min(...attempts.map((a) => a.startedAt)) - s.event.t,
      ripples: sum(durations),
      span: Math.max(...attempts.map((a) => a.finishedAt!)) - Math.min(...attempts.map((a) => a.startedAt)),
      doneToCatchment: doneEvent
        ? doneEvent.event.t - Math.max(...attempts.map((a) => a.finishedAt!))
        : Number.NaN,
    });
  }
  return { endToEnd, cpu, rippleSum, hops, perRipple, ran: starts.map((s) => s.event.pond) };
}

// ───────────────────────────── 1. dispatch overhead ─────────────────────────────

/**
 * Timestamps of each Duck's start-up, taken by wrapping three Catchment entry points in this process
 * (spawn, the Duck's config request, its first jobs poll): where a cold hop's time goes.
 */
class DuckStartups {
  readonly marks = new Map<string, { spawn?: number; config?: number; poll?: number }>();

  constructor(c: TestCatchment) {
    const catchment = c.running.catchment;
    const mark = (line: string, what: 'spawn' | 'config' | 'poll') => {
      const m = this.marks.get(line) ?? {};
      m[what] ??= Date.now();
      this.marks.set(line, m);
    };
    const ensure = catchment.supervisor.ensure.bind(catchment.supervisor);
    catchment.supervisor.ensure = (line) => {
      if (catchment.supervisor.pid(line) === undefined) mark(line, 'spawn');
      ensure(line);
    };
    const config = catchment.duckConfig.bind(catchment);
    catchment.duckConfig = (line) => {
      mark(line, 'config');
      return config(line);
    };
    const take = catchment.jobs.take.bind(catchment.jobs);
    catchment.jobs.take = (line, waitMs) => {
      mark(line, 'poll');
      return take(line, waitMs);
    };
  }
}

interface ChainResult {
  startups: DuckStartups;
  deployMs: number;
  cold: PulseResult;
  warm: PulseResult[];
}

async function benchChain(work: string): Promise<ChainResult> {
  const c = await TestCatchment.start(path.join(work, 'chain-root'), CATCHMENT_OPTIONS);
  ourUrls.add(c.url);
  try {
    const log = new EventLog(c);
    const startups = new DuckStartups(c);
    const name = (i: number) => `p${String(i).padStart(2, '0')}`;
    const deployStart = performance.now();
    for (let i = 0; i < CHAIN_LENGTH; i++) {
      const dir = await writePond(work, {
        name: name(i),
        ...(i > 0 ? { sources: { [name(i - 1)]: '1.0.0' } } : {}),
        files: {
          'ripples/t.sql': i === 0 ? 'SELECT 0::BIGINT AS x' : `SELECT x + 1 AS x FROM ${name(i - 1)}.t`,
        },
      });
      const dep = await c.deploy(dir);
      if (dep.status !== 201) throw new Error(`deploy ${name(i)}: ${dep.status} ${JSON.stringify(dep.body)}`);
    }
    const deployMs = performance.now() - deployStart;
    const outlet = name(CHAIN_LENGTH - 1);
    const check = (r: PulseResult, what: string) => {
      if (r.ran.length !== CHAIN_LENGTH)
        throw new Error(`${what}: expected ${CHAIN_LENGTH} Pond runs, saw ${r.ran.length}`);
    };
    console.log(`chain: deployed ${CHAIN_LENGTH} Ponds in ${secs(deployMs)}; cold Pulse …`);
    const cold = await pulse(c, log, outlet);
    check(cold, 'cold pulse');
    const answer = await c.api('POST', '/api/query', { sql: `SELECT x FROM ${outlet}.t` });
    if (answer.body?.rows?.[0]?.[0] !== CHAIN_LENGTH - 1)
      throw new Error(`${outlet}.t: ${JSON.stringify(answer.body)}`);
    console.log(`chain: cold ${secs(cold.endToEnd)}; warm-up and ${WARM_REPEATS} warm Pulses …`);
    check(await pulse(c, log, outlet), 'warm-up pulse');
    const warm: PulseResult[] = [];
    for (let i = 0; i < WARM_REPEATS; i++) {
      const r = await pulse(c, log, outlet);
      check(r, 'warm pulse');
      warm.push(r);
    }
    return { startups, deployMs, cold, warm };
  } finally {
    await c.close();
  }
}

// ───────────────────────────── 2. throughput ─────────────────────────────

const DEMO_PONDS = ['transactions', 'products', 'sales', 'reports'] as const;

interface Generator {
  rows: number;
  start: string;
  days: number;
  stores: number;
  products: number;
  seed: number;
}

async function prepareDemo(work: string): Promise<{ dir: string; gen: Generator }> {
  const dir = path.join(work, 'demo');
  await cp(path.join(REPO, 'examples/ponds'), dir, { recursive: true });
  const genFile = path.join(dir, 'transactions/data/generator.json');
  const gen = { ...(JSON.parse(await readFile(genFile, 'utf8')) as Generator), rows: TRANSACTION_ROWS };
  await writeFile(genFile, `${JSON.stringify(gen, null, 2)}\n`);
  return { dir, gen };
}

interface Checksum {
  transactions: number;
  saleLines: number;
  summaryRows: number;
  revenue: string;
}

interface ThroughputResult {
  runtimeCold: PulseResult;
  runtimeWarm: PulseResult[];
  runtimeChecksum: Checksum;
  directWarm: DirectRun[];
  directChecksum: Checksum;
}

/**
 * Runtime and direct runs alternate (after each side's warm-up), so both see the same background
 * load on a shared machine.
 */
async function benchThroughput(work: string): Promise<ThroughputResult> {
  const { dir: demoDir, gen } = await prepareDemo(work);
  const c = await TestCatchment.start(path.join(work, 'demo-root'), CATCHMENT_OPTIONS);
  ourUrls.add(c.url);
  const direct = await DirectPipeline.open(work, demoDir, gen);
  try {
    const log = new EventLog(c);
    for (const pond of DEMO_PONDS) {
      const dep = await c.deploy(path.join(demoDir, pond));
      if (dep.status !== 201) throw new Error(`deploy ${pond}: ${dep.status} ${JSON.stringify(dep.body)}`);
    }
    const runtimePulse = async (what: string) => {
      const r = await pulse(c, log, 'reports');
      if (r.ran.length !== DEMO_PONDS.length)
        throw new Error(`${what}: expected 4 Pond runs, saw ${r.ran.join(', ')}`);
      return r;
    };
    console.log('throughput: runtime cold Pulse (its first run is the warm-up) …');
    const runtimeCold = await runtimePulse('cold pulse');
    console.log(`throughput: runtime cold ${secs(runtimeCold.endToEnd)}; direct warm-up …`);
    const directWarmUp = await direct.runOnce();
    console.log(
      `throughput: direct warm-up ${secs(directWarmUp.total)}; ${WARM_REPEATS} × (runtime Pulse, direct run) …`,
    );
    const runtimeWarm: PulseResult[] = [];
    const directWarm: DirectRun[] = [];
    for (let i = 0; i < WARM_REPEATS; i++) {
      runtimeWarm.push(await runtimePulse('warm pulse'));
      directWarm.push(await direct.runOnce());
    }
    const q = async (sql: string) => {
      const r = await c.api('POST', '/api/query', { sql });
      if (r.status !== 200) throw new Error(`${sql}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.rows[0] as unknown[];
    };
    const [transactions] = await q('SELECT count(*) FROM transactions.transaction');
    const [saleLines] = await q('SELECT count(*) FROM sales.sale_line');
    const [summaryRows, revenue] = await q(
      'SELECT count(*), sum(total_revenue)::VARCHAR FROM reports.monthly_summary',
    );
    return {
      runtimeCold,
      runtimeWarm,
      runtimeChecksum: {
        transactions: Number(transactions),
        saleLines: Number(saleLines),
        summaryRows: Number(summaryRows),
        revenue: String(revenue),
      },
      directWarm,
      directChecksum: await direct.checksum(),
    };
  } finally {
    direct.close();
    await c.close();
  }
}

/**
 * The demo's SQL, as the Ripples run it: .sql Ripples are read from the Pond; the TS Ripples'
 * statements (generator, catalog load, both checks, the sale-line join) are reproduced here.
 */
async function directSteps(
  demoDir: string,
  gen: Generator,
): Promise<Array<{ pond: string; step: string; sql: string }>> {
  const sqlRipple = (pond: string, ripple: string) =>
    readFile(path.join(demoDir, pond, 'ripples', `${ripple}.sql`), 'utf8');
  const periodSeconds = gen.days * 86_400;
  const ctas = (table: string, select: string) => `CREATE OR REPLACE TABLE ${table} AS\n${select}\n`;
  return [
    {
      pond: 'transactions',
      step: 'ingest',
      sql: ctas(
        '"transaction"',
        `SELECT
         i + 1 AS transaction_id,
         TIMESTAMP '${gen.start}' + to_seconds(CAST(i * ${periodSeconds} // greatest(${gen.rows}, 1) AS BIGINT)) AS created_at,
         CAST(1 + hash(i, ${gen.seed}, 'store') % ${gen.stores} AS INTEGER) AS store_id,
         CAST(1 + hash(i, ${gen.seed}, 'product') % ${gen.products} AS INTEGER) AS product_id,
         CAST(1 + hash(i, ${gen.seed}, 'quantity') % 8 AS INTEGER) AS quantity
       FROM range(${gen.rows}) AS t(i)`,
      ),
    },
    {
      pond: 'products',
      step: 'ingest',
      sql: ctas(
        'product',
        `SELECT product_id, name, category, unit_price
       FROM read_csv('data/catalog.csv', header = true,
         columns = {'product_id': 'INTEGER', 'name': 'VARCHAR', 'category': 'VARCHAR', 'unit_price': 'DECIMAL(10,2)'})
       ORDER BY product_id`,
      ),
    },
    {
      pond: 'products',
      step: 'ingest (dupes check)',
      sql: 'SELECT count(*) - count(DISTINCT product_id) AS n FROM product',
    },
    { pond: 'sales', step: 'daily_sales', sql: ctas('daily_sales', await sqlRipple('sales', 'daily_sales')) },
    { pond: 'sales', step: 'price_tiers', sql: ctas('price_tiers', await sqlRipple('sales', 'price_tiers')) },
    {
      pond: 'sales',
      step: 'join_lines (orphans check)',
      sql: 'SELECT count(*) AS lines FROM daily_sales d ANTI JOIN price_tiers p USING (product_id)',
    },
    {
      pond: 'sales',
      step: 'join_lines',
      sql: ctas(
        'sale_line',
        `SELECT
         d.sale_date, d.store_id, d.product_id,
         p.name AS product_name, p.category, p.tier,
         d.units, d.transactions, p.unit_price,
         CAST(d.units * p.unit_price AS DECIMAL(18, 2)) AS revenue
       FROM daily_sales AS d
       JOIN price_tiers AS p USING (product_id)
       ORDER BY d.sale_date, d.store_id, d.product_id`,
      ),
    },
    {
      pond: 'reports',
      step: 'monthly_summary',
      sql: ctas('monthly_summary', await sqlRipple('reports', 'monthly_summary')),
    },
  ];
}

/** Tables each Pond publishes (what the runtime exports to Parquet after each run). */
const PUBLISHED: Record<(typeof DEMO_PONDS)[number], string[]> = {
  transactions: ['transaction'],
  products: ['product'],
  sales: ['daily_sales', 'price_tiers', 'sale_line'],
  reports: ['monthly_summary'],
};

interface DirectRun {
  total: number;
  /** CPU time of this process (DuckDB's threads run in it) during the run. */
  cpu: number;
  /** Step label → ms. */
  steps: Map<string, number>;
}

/**
 * The baseline: one file-backed DuckDB database (like a registry), one connection, one schema per
 * Pond; each Pond's statements run with its schema first on the search path and its folder as
 * file_search_path, then its tables are COPYed to Parquet (zstd), exactly the runtime's export.
 */
class DirectPipeline {
  private constructor(
    private readonly dir: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly steps: Array<{ pond: string; step: string; sql: string }>,
  ) {}

  static async open(work: string, demoDir: string, gen: Generator): Promise<DirectPipeline> {
    const dir = path.join(work, 'direct');
    await cp(demoDir, path.join(dir, 'ponds'), { recursive: true });
    const instance = await DuckDBInstance.create(path.join(dir, 'direct.duckdb'));
    const conn = await instance.connect();
    for (const pond of DEMO_PONDS) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${pond}`);
    return new DirectPipeline(dir, instance, conn, await directSteps(path.join(dir, 'ponds'), gen));
  }

  async runOnce(): Promise<DirectRun> {
    const { conn, dir } = this;
    const timings = new Map<string, number>();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const pond of DEMO_PONDS) {
      await conn.run(`SET search_path = '${pond},${DEMO_PONDS.join(',')}'`);
      await conn.run(`SET file_search_path = '${path.join(dir, 'ponds', pond)}'`);
      for (const s of this.steps.filter((x) => x.pond === pond)) {
        const t = performance.now();
        await conn.runAndReadAll(s.sql);
        timings.set(`${pond}.${s.step}`, performance.now() - t);
      }
      const t = performance.now();
      for (const tableName of PUBLISHED[pond]) {
        await conn.run(
          `COPY ${pond}."${tableName}" TO '${path.join(dir, `${pond}.${tableName}.parquet`)}' (FORMAT parquet, COMPRESSION zstd)`,
        );
      }
      timings.set(`${pond} Parquet export`, performance.now() - t);
    }
    const total = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { total, cpu: (cpu.user + cpu.system) / 1000, steps: timings };
  }

  async checksum(): Promise<Checksum> {
    const one = async (sql: string) => (await this.conn.runAndReadAll(sql)).getRows()[0]!;
    const [transactions] = await one('SELECT count(*) FROM transactions."transaction"');
    const [saleLines] = await one('SELECT count(*) FROM sales.sale_line');
    const [summaryRows, revenue] = await one(
      'SELECT count(*), sum(total_revenue)::VARCHAR FROM reports.monthly_summary',
    );
    return {
      transactions: Number(transactions),
      saleLines: Number(saleLines),
      summaryRows: Number(summaryRows),
      revenue: String(revenue),
    };
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

// ───────────────────────────── --profile: the transactions Pond's Duck work, phase by phase ─────────────────────────────

/**
 * Replays, in this process and with the runtime's own modules, what the transactions Duck does per
 * run (Ripple → export → publish) and what sales' daily_sales reads, timing each phase; the same
 * statements without the runtime's wrapping are timed alongside.
 */
async function profileDuckWork(work: string): Promise<void> {
  const { dir: demoDir } = await prepareDemo(work);
  const { loadPond } = await import('../src/duck/loader.js');
  const { executeRipple, exportTables } = await import('../src/duck/executor.js');
  const { publish, readManifest, tableFilePath } = await import('../src/compute/snapshots.js');
  const { inspectParquet } = await import('../src/compute/parquet.js');
  const { open } = await import('node:fs/promises');
  const { mkdir } = await import('node:fs/promises');
  const line = path.join(work, 'profile');
  const dataDir = path.join(line, 'data');
  await mkdir(path.join(dataDir, '.staging'), { recursive: true });
  const transactions = await loadPond(path.join(demoDir, 'transactions'));
  const sales = await loadPond(path.join(demoDir, 'sales'));
  const instance = await DuckDBInstance.create(path.join(line, 'registry.duckdb'));
  const conn = await instance.connect();
  const phases = new Map<string, number[]>();
  const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await fn();
    phases.set(label, [...(phases.get(label) ?? []), performance.now() - t]);
    return out;
  };
  const fsyncFile = async (file: string) => {
    const h = await open(file, 'r');
    await h.sync();
    await h.close();
  };
  const dailySales = await readFile(path.join(demoDir, 'sales/ripples/daily_sales.sql'), 'utf8');
  try {
    for (let round = 0; round <= WARM_REPEATS; round++) {
      const label = (l: string) => (round === 0 ? `warm-up ${l}` : l);
      const f = Date.now();
      const staging = path.join(dataDir, '.staging', `run-${f}`);
      await mkdir(staging, { recursive: true });
      await time(label('runtime: executeRipple transactions.ingest (CTAS into registry)'), () =>
        executeRipple({
          conn,
          pond: transactions,
          ripple: 'ingest',
          f: new Date(f),
          previousF: null,
          sources: {},
        }),
      );
      await time(label('runtime: exportTables transaction → Parquet zstd'), () =>
        exportTables(conn, ['transaction'], staging),
      );
      await time(label('runtime: publish (inspect in new instance, fsync, rename, manifest)'), () =>
        publish(dataDir, {
          f,
          tables: [{ name: 'transaction', stagedPath: path.join(staging, 'transaction.parquet') }],
        }),
      );
      const extra = path.join(line, `extra-${f}.parquet`);
      await conn.run(`COPY "transaction" TO '${extra}' (FORMAT parquet, COMPRESSION zstd)`);
      await time(label('  part: fsync of a freshly written transaction.parquet'), () => fsyncFile(extra));
      await time(label('  part: inspectParquet in a new in-memory instance'), async () => {
        const i = await DuckDBInstance.create(':memory:', { threads: '1' });
        const c = await i.connect();
        await inspectParquet(c, extra);
        c.closeSync();
        i.closeSync();
      });
      await removeDir(extra);
      const manifest = await readManifest(dataDir);
      const published = tableFilePath(dataDir, manifest!.tables.transaction!);
      await time(label('runtime: executeRipple sales.daily_sales (reads the Parquet snapshot)'), () =>
        executeRipple({
          conn,
          pond: sales,
          ripple: 'daily_sales',
          f: new Date(f),
          previousF: null,
          sources: { 'transactions.transaction': published },
        }),
      );
      await time(label('same SQL over the registry table instead of the snapshot'), () =>
        conn.run(
          `CREATE OR REPLACE TABLE ds_native AS ${dailySales.replace('transactions.transaction', 'main."transaction"')}`,
        ),
      );
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  console.log(
    `\nprofile: the transactions Duck's work at ${TRANSACTION_ROWS.toLocaleString('en')} rows, in-process (median of ${WARM_REPEATS})`,
  );
  console.log(
    table([
      ['phase', 'median', 'runs'],
      ...[...phases]
        .filter(([l]) => !l.startsWith('warm-up'))
        .map(([l, v]) => [l, ms(median(v)), v.map((x) => x.toFixed(0)).join(' / ')]),
    ]),
  );
}

/**
 * The fixed cost of one trivial Ripple in a warm Duck (a chain hop's ~65 ms), phase by phase, with
 * the runtime's own modules: what the runner does per run for `SELECT x + 1 AS x FROM p00.t`.
 */
async function profileTrivialRipple(work: string): Promise<void> {
  const { loadPond } = await import('../src/duck/loader.js');
  const { executeRipple, exportTables } = await import('../src/duck/executor.js');
  const { publish, readManifest, tableFilePath } = await import('../src/compute/snapshots.js');
  const { inspectParquet } = await import('../src/compute/parquet.js');
  const { mkdir, open } = await import('node:fs/promises');
  const base = path.join(work, 'profile-trivial');
  const upstreamData = path.join(base, 'p00-data');
  const dataDir = path.join(base, 'p01-data');
  await mkdir(path.join(upstreamData, '.staging'), { recursive: true });
  await mkdir(path.join(dataDir, '.staging'), { recursive: true });
  const p00 = await loadPond(
    await writePond(base, { name: 'p00', files: { 'ripples/t.sql': 'SELECT 0::BIGINT AS x' } }),
  );
  const p01 = await loadPond(
    await writePond(base, {
      name: 'p01',
      sources: { p00: '1.0.0' },
      files: { 'ripples/t.sql': 'SELECT x + 1 AS x FROM p00.t' },
    }),
  );
  const instance = await DuckDBInstance.create(path.join(base, 'registry.duckdb'));
  const setup = await instance.connect();
  await executeRipple({ conn: setup, pond: p00, ripple: 't', f: new Date(), previousF: null, sources: {} });
  await exportTables(setup, ['t'], path.join(upstreamData, '.staging'));
  await publish(upstreamData, {
    f: Date.now(),
    tables: [{ name: 't', stagedPath: path.join(upstreamData, '.staging', 't.parquet') }],
  });
  setup.closeSync();
  const phases = new Map<string, number[]>();
  const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await fn();
    phases.set(label, [...(phases.get(label) ?? []), performance.now() - t]);
    return out;
  };
  const fsyncPath = async (p: string) => {
    const h = await open(p, 'r');
    await h.sync();
    await h.close();
  };
  const ROUNDS = 12;
  for (let round = 0; round < ROUNDS; round++) {
    const f = Date.now() + round;
    const staging = path.join(dataDir, '.staging', `run-${f}`);
    const t0 = performance.now();
    const manifest = await time('readManifest of the Source', () => readManifest(upstreamData));
    const sources = { 'p00.t': tableFilePath(upstreamData, manifest!.tables.t!) };
    const conn = await time('connect', () => instance.connect());
    await time('executeRipple (attach, views, SETs, CTAS, reset)', () =>
      executeRipple({ conn, pond: p01, ripple: 't', f: new Date(f), previousF: null, sources }),
    );
    await mkdir(staging, { recursive: true });
    await time('exportTables (column query + COPY)', () => exportTables(conn, ['t'], staging));
    conn.closeSync();
    await time('publish (total)', () =>
      publish(dataDir, { f, tables: [{ name: 't', stagedPath: path.join(staging, 't.parquet') }] }),
    );
    phases.set('= one trivial Ripple, runner side', [
      ...(phases.get('= one trivial Ripple, runner side') ?? []),
      performance.now() - t0,
    ]);
    const published = tableFilePath(dataDir, (await readManifest(dataDir))!.tables.t!);
    await time('  part of publish: new :memory: DuckDB instance + connect + close', async () => {
      const i = await DuckDBInstance.create(':memory:', {
        threads: '1',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      });
      const c = await i.connect();
      c.closeSync();
      i.closeSync();
    });
    const inspector = await instance.connect();
    await time('  part of publish: inspectParquet on an open connection', () =>
      inspectParquet(inspector, published),
    );
    inspector.closeSync();
    await time('  part of publish: fsync of a data dir', () => fsyncPath(dataDir));
  }
  instance.closeSync();
  console.log(
    `\nprofile: one trivial Ripple in a warm Duck, in-process (median of ${ROUNDS - 2} after 2 warm-ups)`,
  );
  console.log(table([['phase', 'median'], ...[...phases].map(([l, v]) => [l, ms(median(v.slice(2)))])]));
}

// ───────────────────────────── report ─────────────────────────────

function medianRun<T extends { endToEnd: number } | { total: number }>(runs: readonly T[]): T {
  const key = (r: T) => ('endToEnd' in r ? r.endToEnd : r.total);
  const m = median(runs.map(key));
  return runs.reduce((best, r) => (Math.abs(key(r) - m) < Math.abs(key(best) - m) ? r : best));
}

function chainReport(r: ChainResult): void {
  const perHop = (p: PulseResult) => (p.endToEnd - p.rippleSum) / CHAIN_LENGTH;
  const warmHop = median(r.warm.map(perHop));
  const m = medianRun(r.warm);
  console.log(
    `\n1. Dispatch overhead — ${CHAIN_LENGTH} chained Ponds, one SQL Ripple each, Pulse on the last`,
  );
  console.log(
    table([
      [
        'run',
        'end to end',
        'Σ Ripple attempts',
        'overhead / hop',
        'target',
        'ratio',
        'CPU (Catchment + Ducks)',
      ],
      [
        `cold (spawns ${CHAIN_LENGTH} Ducks)`,
        secs(r.cold.endToEnd),
        secs(r.cold.rippleSum),
        ms(perHop(r.cold)),
        '',
        '',
        secs(r.cold.cpu),
      ],
      ...r.warm.map((w, i) => [
        `warm #${i + 1}`,
        secs(w.endToEnd),
        secs(w.rippleSum),
        ms(perHop(w)),
        '',
        '',
        secs(w.cpu),
      ]),
      [
        'warm median',
        secs(median(r.warm.map((w) => w.endToEnd))),
        secs(median(r.warm.map((w) => w.rippleSum))),
        ms(warmHop),
        `< ${TARGET_HOP_MS} ms`,
        `${(warmHop / TARGET_HOP_MS).toFixed(2)}× ${warmHop < TARGET_HOP_MS ? 'OK' : 'MISS'}`,
        secs(median(r.warm.map((w) => w.cpu))),
      ],
    ]),
  );
  const split = (p: PulseResult) => [
    median(p.hops.map((h) => h.dispatchToStart)),
    median(p.hops.map((h) => h.ripples)),
    median(p.hops.map((h) => h.doneToCatchment)),
  ];
  const [coldA, coldB, coldC] = split(r.cold);
  const [warmA, warmB, warmC] = split(m);
  console.log(
    `\n   per hop, median over the ${CHAIN_LENGTH} Ponds (Duck and Catchment clocks are the same machine clock):`,
  );
  console.log(
    table([
      ['', 'cold', 'warm (median run)'],
      ['Catchment pond-start → Duck ripple-start', ms(coldA!), ms(warmA!)],
      ['Ripple attempt (SQL + export + publish)', ms(coldB!), ms(warmB!)],
      ['Duck ripple-done → Catchment pond-done', ms(coldC!), ms(warmC!)],
      [`end to end / ${CHAIN_LENGTH}`, ms(r.cold.endToEnd / CHAIN_LENGTH), ms(m.endToEnd / CHAIN_LENGTH)],
    ]),
  );
  const starts = new Map(r.cold.hops.map((h) => [h.pond, h]));
  const phase = (
    f: (m: { spawn?: number; config?: number; poll?: number }, pond: string) => number | undefined,
  ) =>
    median(
      [...r.startups.marks]
        .map(([pond, mk]) => f(mk, pond))
        .filter((v): v is number => v !== undefined && Number.isFinite(v)),
    );
  console.log(
    `\n   cold hop: a Duck's start-up, median over ${r.startups.marks.size} Ducks (CPU ${secs(r.cold.cpu / CHAIN_LENGTH)} per hop):`,
  );
  console.log(
    table([
      ['', 'median'],
      ['spawn → config request (node boot, CLI + DuckDB imports)', ms(phase((mk) => mk.config! - mk.spawn!))],
      [
        'config → first jobs poll (ledger, loadPond, registry open)',
        ms(phase((mk) => mk.poll! - mk.config!)),
      ],
      [
        'first poll → ripple-start (begin-run)',
        ms(
          phase((mk, pond) => {
            const h = starts.get(pond);
            return h ? h.dispatchToStart - (mk.poll! - mk.spawn!) : undefined;
          }),
        ),
      ],
    ]),
  );
}

function throughputReport(r: ThroughputResult): void {
  const runtimeMedian = median(r.runtimeWarm.map((w) => w.endToEnd));
  const directMedian = median(r.directWarm.map((d) => d.total));
  const ratio = runtimeMedian / directMedian;
  const runtimeCpu = median(r.runtimeWarm.map((w) => w.cpu));
  const directCpu = median(r.directWarm.map((d) => d.cpu));
  console.log(
    `\n2. Throughput — demo Ponds, ${TRANSACTION_ROWS.toLocaleString('en')} transactions, Pulse on reports`,
  );
  console.log(
    table([
      [
        'run',
        'runtime',
        'direct DuckDB',
        'runtime / direct',
        'target',
        'CPU runtime',
        'CPU direct',
        'CPU ratio',
      ],
      ['cold (spawns 4 Ducks)', secs(r.runtimeCold.endToEnd), '', '', '', secs(r.runtimeCold.cpu), '', ''],
      ...r.runtimeWarm.map((w, i) => {
        const d = r.directWarm[i]!;
        return [
          `warm #${i + 1}`,
          secs(w.endToEnd),
          secs(d.total),
          `${(w.endToEnd / d.total).toFixed(2)}×`,
          '',
          secs(w.cpu),
          secs(d.cpu),
          `${(w.cpu / d.cpu).toFixed(2)}×`,
        ];
      }),
      [
        'warm median',
        secs(runtimeMedian),
        secs(directMedian),
        `${ratio.toFixed(2)}×`,
        `≤ ${TARGET_RATIO}× ${ratio <= TARGET_RATIO ? 'OK' : 'MISS'}`,
        secs(runtimeCpu),
        secs(directCpu),
        `${(runtimeCpu / directCpu).toFixed(2)}×`,
      ],
    ]),
  );
  console.log(
    '   direct baseline: one file-backed DuckDB database, one connection, in this process; the same SQL\n' +
      "   (.sql Ripples read from the Ponds, TS Ripples' statements incl. both checks reproduced), one\n" +
      '   CREATE OR REPLACE TABLE per Ripple, Ponds one after another, and COPY of all 6 published tables\n' +
      '   to Parquet (zstd). Not included: fsync, Parquet footer inspection, Source views over Parquet\n' +
      '   (the direct side reads the upstream tables from the same database).',
  );
  const same = JSON.stringify(r.runtimeChecksum) === JSON.stringify(r.directChecksum);
  console.log(
    `   outputs: runtime ${JSON.stringify(r.runtimeChecksum)}\n            direct  ${JSON.stringify(r.directChecksum)} → ${same ? 'identical' : 'DIFFERENT'}`,
  );

  const m = medianRun(r.runtimeWarm);
  const d = medianRun(r.directWarm);
  console.log('\n   where the time goes (warm median runs):');
  const rows: string[][] = [['runtime Ripple attempt (incl. export + publish)', 'ms', 'direct step', 'ms']];
  const directRows = [...d.steps];
  const runtimeRows = [...m.perRipple].sort((a, b) => b[1] - a[1]);
  for (let i = 0; i < Math.max(directRows.length, runtimeRows.length); i++) {
    const a = runtimeRows[i];
    const b = directRows[i];
    rows.push([a ? a[0] : '', a ? ms(a[1]) : '', b ? b[0] : '', b ? ms(b[1]) : '']);
  }
  console.log(table(rows));
  console.log(
    table([
      [
        'runtime per Pond',
        'pond-start → ripple-start',
        'Duck run wall',
        'Σ attempts',
        'ripple-done → pond-done',
      ],
      ...m.hops.map((h) => [h.pond, ms(h.dispatchToStart), ms(h.span), ms(h.ripples), ms(h.doneToCatchment)]),
    ]),
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `runtime bench · ${availableParallelism()} cores · load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} · node ${process.version}`,
  );
  build();
  const work = await tempDir('runtime-bench');
  if (process.argv.includes('--profile')) {
    try {
      await profileTrivialRipple(work);
      await profileDuckWork(work);
    } finally {
      await removeDir(work);
    }
    return;
  }
  let chain: ChainResult;
  let throughput: ThroughputResult;
  try {
    chain = await benchChain(work);
    throughput = await benchThroughput(work);
  } finally {
    await removeDir(work);
    const all = await duckProcesses();
    const ours = [...all].filter(([, url]) => ourUrls.has(url));
    console.log(
      `\ncleanup: temp dir removed; Catchments closed; Duck processes of this bench still alive: ${ours.length}` +
        `${ours.length ? ` (pids ${ours.map(([p]) => p).join(', ')})` : ''}; others' Duck processes on the machine: ${all.size - ours.length}`,
    );
  }
  chainReport(chain);
  throughputReport(throughput);
  console.log(
    `\ntotal bench time ${secs(performance.now() - started)} · load now ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
