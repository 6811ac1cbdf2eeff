/**
 * Governs queries on a few worker threads (governor-worker.ts), so parsing and rewriting — which
 * for a large or deeply nested query takes hundreds of milliseconds of JavaScript — never blocks
 * the Catchment's event loop (its /health, its Ducks' dial-backs, everyone else's requests).
 *
 * Workers are shared between principals by a FairScheduler (round-robin, one principal never holds
 * every worker). Each job has a time budget; a job still waiting when it runs out is dropped, and a
 * worker still busy with it is terminated and replaced, since a rewrite cannot be interrupted.
 *
 * From the built package the worker is dist/governance/governor-worker.js; when running from
 * TypeScript sources (tests, benchmarks) it is the .ts file, loaded through tsx's ESM hooks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FairScheduler, type SchedulerLoad } from '../shared/fair-scheduler.js';
import type { Catalog, CatalogInput } from './catalog.js';
import { GovernanceError, PolicyError, QueryDeadlineExceeded, QueryLimitError } from './errors.js';
import type { GovernRequest, GovernResponse, SerializedError } from './governor-worker.js';
import type { PolicyDocument } from './policy.js';
import type { GovernedQuery } from './rewrite.js';

export interface GovernorPoolOptions {
  /** Worker threads; default 2. */
  threads?: number;
  /** Heap limit of each worker (MiB); a query whose rewrite needs more is refused. Default 512. */
  maxHeapMb?: number;
  /** Worker entry module (tests substitute one); default governor-worker.js or .ts next to this file. */
  entry?: URL;
}

export interface GovernJob {
  sql: string;
  principal: string;
  /** The policy document and its revision (a worker re-parses it only when the revision changes). */
  policy: { revision: number; document: PolicyDocument };
  catalog: Catalog | CatalogInput;
  /** Only the checks of the text (Governor.checkStatement); the answer is then null. */
  statementOnly?: boolean;
}

interface Slot {
  worker: Worker;
  /** The policy revision this worker holds. */
  revision: number | undefined;
  busy: boolean;
  /** Its Governor is up (the worker said so); idle ready workers are preferred. */
  ready: boolean;
  /** Settles the job in progress when the worker dies. */
  onExit: ((error: Error) => void) | undefined;
}

export class GovernorPool {
  private readonly scheduler: FairScheduler;
  private readonly slots: (Slot | undefined)[];
  private readonly maxHeapMb: number;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: GovernorPoolOptions = {}) {
    const threads = options.threads ?? 2;
    this.scheduler = new FairScheduler({ slots: threads });
    this.slots = new Array<Slot | undefined>(threads).fill(undefined);
    this.maxHeapMb = options.maxHeapMb ?? 512;
    // Started now, so the first queries do not pay for a worker's start.
    for (let i = 0; i < threads; i++) this.spawn(i);
  }

  /**
   * The governed query for `job`, or its refusal (GovernanceError, PolicyError). Rejects with
   * QueryDeadlineExceeded when `timeoutMs` passes first, counting time spent waiting for a worker.
   */
  async govern(job: GovernJob, timeoutMs: number): Promise<GovernedQuery> {
    if (this.closed) throw new Error('the governor pool is closed');
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new QueryDeadlineExceeded('waiting to be governed')),
      Math.max(0, timeoutMs),
    );
    try {
      return await this.scheduler.run(
        (waitedMs) => {
          clearTimeout(timer);
          return this.onWorker(job, timeoutMs - waitedMs);
        },
        { principal: job.principal, signal: controller.signal },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  load(): SchedulerLoad {
    return this.scheduler.load();
  }

  /**
   * Stops every worker: each finishes the job in progress, closes its DuckDB and ends. Terminating a
   * thread with a DuckDB call pending would abort the whole process, so termination is only the
   * fallback for a worker that does not end within `graceMs`.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    const workers = this.slots.filter((s): s is Slot => s !== undefined).map((s) => s.worker);
    this.slots.fill(undefined);
    await Promise.all(workers.map((w) => stopWorker(w, graceMs)));
  }

  private onWorker(job: GovernJob, timeoutMs: number): Promise<GovernedQuery> {
    if (this.closed) return Promise.reject(new Error('the governor pool is closed'));
    if (timeoutMs <= 0) return Promise.reject(new QueryDeadlineExceeded('waiting to be governed'));
    // The scheduler grants at most one job per worker, so a free slot exists.
    let index = this.slots.findIndex((s) => s?.ready && !s.busy);
    if (index < 0) index = this.slots.findIndex((s) => s === undefined || !s.busy);
    if (index < 0) return Promise.reject(new Error('no free governor worker'));
    const slot = this.slots[index] ?? this.spawn(index);
    const id = this.nextId++;
    const request: GovernRequest = {
      id,
      sql: job.sql,
      principal: job.principal,
      revision: job.policy.revision,
      catalog: describeCatalog(job.catalog),
      ...(job.statementOnly ? { statementOnly: true } : {}),
      ...(slot.revision === job.policy.revision ? {} : { document: job.policy.document }),
    };
    slot.busy = true;
    slot.worker.ref();
    return new Promise<GovernedQuery>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        slot.worker.off('message', onMessage);
        slot.onExit = undefined;
        slot.busy = false;
        slot.worker.unref();
      };
      const onMessage = (response: GovernResponse) => {
        if (response.id !== id) return;
        finish();
        if (response.ok) resolve(response.result as GovernedQuery);
        else reject(deserializeError(response.error));
      };
      const timer = setTimeout(() => {
        finish();
        // A rewrite cannot be interrupted: drop the worker (and its parser) and start afresh.
        this.replace(index, slot);
        reject(new QueryDeadlineExceeded('governing'));
      }, timeoutMs);
      slot.onExit = (error) => {
        finish();
        reject(error);
      };
      slot.worker.on('message', onMessage);
      slot.worker.postMessage(request);
      slot.revision = job.policy.revision;
    });
  }

  private spawn(index: number): Slot {
    const worker = startWorker(this.options.entry, this.maxHeapMb);
    const slot: Slot = { worker, revision: undefined, busy: false, ready: false, onExit: undefined };
    worker.on('message', (message: { ready?: true }) => {
      if (message.ready) slot.ready = true;
    });
    const died = (error: Error) => {
      if (this.slots[index] === slot) this.slots[index] = undefined;
      slot.onExit?.(error);
    };
    worker.on('error', (error: Error & { code?: string }) => {
      died(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new QueryLimitError(
              'sql_too_complex',
              `governing this query needed more than ${this.maxHeapMb} MiB of memory; simplify it`,
            )
          : new Error(`the query governor failed: ${error.message}`),
      );
    });
    worker.on('exit', (code) => died(new Error(`the query governor stopped (exit code ${code})`)));
    worker.unref();
    this.slots[index] = slot;
    return slot;
  }

  private replace(index: number, slot: Slot): void {
    if (this.slots[index] === slot) this.slots[index] = undefined;
    void slot.worker.terminate();
    // Warm the replacement now so the next query does not pay for its start.
    if (!this.closed) this.spawn(index);
  }
}

async function stopWorker(worker: Worker, graceMs: number): Promise<void> {
  if (worker.threadId === -1) return; // already ended
  const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // Idle workers are unref'd so they never keep a process alive; one being closed must, or a caller
  // awaiting close() with nothing else pending would see Node exit mid-close (exit code 13).
  worker.ref();
  worker.postMessage({ close: true });
  const fallback = setTimeout(() => void worker.terminate(), graceMs);
  fallback.unref();
  await ended;
  clearTimeout(fallback);
}

function startWorker(entry: URL | undefined, maxHeapMb: number): Worker {
  const options = { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } };
  const built = new URL('./governor-worker.js', import.meta.url);
  const module =
    entry ?? (existsSync(fileURLToPath(built)) ? built : new URL('./governor-worker.ts', import.meta.url));
  if (!module.pathname.endsWith('.ts')) return new Worker(module, options);
  // Running from sources: register tsx's hooks inside the worker, then load the TypeScript entry.
  const bootstrap = `import { register } from ${JSON.stringify(tsxEsmApi())}; register(); await import(${JSON.stringify(module.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}

/** tsx's ESM API module (a dev dependency, present whenever sources run). */
function tsxEsmApi(): string {
  const manifestPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    exports: Record<string, { import: string | { default: string } }>;
  };
  const target = manifest.exports['./esm/api']!.import;
  return pathToFileURL(
    path.join(path.dirname(manifestPath), typeof target === 'string' ? target : target.default),
  ).href;
}

/** The plain description of a catalog (what Catalog.parse rebuilds it from). */
export function describeCatalog(catalog: Catalog | CatalogInput): CatalogInput {
  if (!('all' in catalog)) return catalog;
  const tables = catalog.all().map((t) => ({
    pond: t.pond,
    major: t.major,
    name: t.name,
    columns: t.columns.map((c) => ({ name: c.name, type: c.type })),
  }));
  const selected: Record<string, number> = {};
  for (const t of tables) {
    const major = catalog.selectedMajor(t.pond);
    if (major !== undefined) selected[t.pond] = major;
  }
  return { tables, selected };
}

function deserializeError(error: SerializedError): Error {
  switch (error.kind) {
    case 'governance':
      return new GovernanceError(error.code, error.message);
    case 'policy':
      return new PolicyError(error.issues);
    case 'other':
      return new Error(error.message);
  }
}
