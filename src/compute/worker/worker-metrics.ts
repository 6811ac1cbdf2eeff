/**
 * The worker's counters and latency histograms, in a prom-client Registry of its own (never the
 * global one, so several workers can live in one test process). `/health` and the Health RPC read
 * the same numbers as `/metrics`.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type QueryOutcome = 'ok' | 'error' | 'canceled' | 'refused';
export type QueryMode = 'execute' | 'async';

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly queries = new Counter({
    name: 'duckstring_worker_queries_total',
    help: 'Queries finished, by mode (execute = streamed, async = submitted) and outcome.',
    labelNames: ['mode', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'duckstring_worker_query_errors_total',
    help: 'Failed queries by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'duckstring_worker_query_duration_seconds',
    help: 'Time from accepting a query to its last row, by mode.',
    labelNames: ['mode'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly firstBatch = new Histogram({
    name: 'duckstring_worker_time_to_first_batch_seconds',
    help: 'Time from accepting a streamed query to sending its schema.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly cleanedCounter = new Counter({
    name: 'duckstring_worker_results_cleaned_total',
    help: 'Async results removed after their time to live.',
    registers: [this.registry],
  });
  completed = 0;
  cleaned = 0;

  /** Gauges are read when scraped, from the worker's live state. */
  constructor(gauges: Record<string, { help: string; read: () => number | Promise<number> }>) {
    for (const [name, { help, read }] of Object.entries(gauges)) {
      new Gauge({
        name: `duckstring_worker_${name}`,
        help,
        registers: [this.registry],
        async collect() {
          this.set(await read());
        },
      });
    }
  }

  finished(mode: QueryMode, outcome: QueryOutcome, seconds: number, errorCode?: string): void {
    this.queries.inc({ mode, outcome });
    if (outcome === 'ok') {
      this.completed += 1;
      this.latency.observe({ mode }, seconds);
    }
    if (errorCode !== undefined) this.errors.inc({ code: errorCode });
  }

  schemaSent(seconds: number): void {
    this.firstBatch.observe(seconds);
  }

  resultsCleaned(count: number): void {
    this.cleaned += count;
    this.cleanedCounter.inc(count);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
