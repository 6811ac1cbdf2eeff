/**
 * Local Duck processes: one per executing Pond major line, spawned on the line's first run, kept warm
 * while a standing trigger is active, stopped when idle. It also watches liveness: a Duck whose process
 * is gone, or that has been silent past the liveness window while a run is in flight, fails that run
 * through the engine's ordinary fault path.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface SupervisorOptions {
  catchmentUrl: () => string;
  /** Silence (ms) after which a Duck with a run in flight is declared dead. */
  livenessMs: number;
  /** Idle time (ms) after which a Duck with nothing to do and no standing trigger is stopped. */
  idleMs: number;
  /** Extra environment for Duck processes (tests pass watchdog settings). */
  env?: Record<string, string>;
}

export interface SupervisorHooks {
  /** Issues the token a new Duck must present (the Catchment keeps only its hash). */
  issueToken(line: string): string;
  /** Is a run of this line in flight (engine startF > endF)? */
  inFlight(line: string): boolean;
  /** Should the Duck stay warm (standing trigger, queued jobs)? */
  keepWarm(line: string): boolean;
  /** The process is gone or silent while work was in flight. */
  duckLost(line: string, reason: string): void;
  log(msg: string, data?: Record<string, unknown>): void;
}

interface DuckProcess {
  child: ChildProcess;
  line: string;
  lastContact: number;
  /** Last job handed out or event received: what "idle" is measured from (polls do not count). */
  lastWork: number;
  exited: boolean;
  stopping: boolean;
}

const BIN = fileURLToPath(new URL('../../bin/duckstring.js', import.meta.url));

export class DuckSupervisor {
  private ducks = new Map<string, DuckProcess>();
  private ticker: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: SupervisorOptions,
    private readonly hooks: SupervisorHooks,
  ) {}

  start(): void {
    this.ticker = setInterval(() => this.check(Date.now()), Math.max(50, Math.min(1000, this.opts.livenessMs / 4)));
    this.ticker.unref();
  }

  /** Spawns the line's Duck unless one is alive. */
  ensure(line: string): void {
    const d = this.ducks.get(line);
    if (d && !d.exited && !d.stopping) return;
    const token = this.hooks.issueToken(line);
    const child = spawn(process.execPath, [BIN, 'duck'], {
      env: {
        ...process.env,
        ...this.opts.env,
        DUCKSTRING_CATCHMENT_URL: this.opts.catchmentUrl(),
        DUCKSTRING_DUCK: line,
        DUCKSTRING_DUCK_TOKEN: token,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const proc: DuckProcess = { child, line, lastContact: Date.now(), lastWork: Date.now(), exited: false, stopping: false };
    this.ducks.set(line, proc);
    this.hooks.log('duck spawned', { line, pid: child.pid });
    child.on('exit', (code, signal) => {
      proc.exited = true;
      if (this.ducks.get(line) === proc) this.ducks.delete(line);
      this.hooks.log('duck exited', { line, pid: child.pid, code, signal });
      if (!proc.stopping && this.hooks.inFlight(line)) {
        this.hooks.duckLost(line, `Duck process exited (${signal ?? `code ${code}`}) during a run`);
      }
    });
  }

  /** The Duck dialled in; `work` when it received jobs or reported events (not a bare poll). */
  contact(line: string, work = false): void {
    const d = this.ducks.get(line);
    if (!d) return;
    d.lastContact = Date.now();
    if (work) d.lastWork = d.lastContact;
  }

  pid(line: string): number | undefined {
    return this.ducks.get(line)?.child.pid;
  }

  live(): Array<{ line: string; pid: number | undefined; lastContact: number }> {
    return [...this.ducks.values()].map((d) => ({ line: d.line, pid: d.child.pid, lastContact: d.lastContact }));
  }

  /** Terminates a line's Duck (kill verb, redeploy of a running line is NOT a reason: runs finish). */
  terminate(line: string, signal: NodeJS.Signals = 'SIGTERM'): void {
    const d = this.ducks.get(line);
    if (!d || d.exited) return;
    d.stopping = true;
    d.child.kill(signal);
  }

  async stopAll(timeoutMs = 5000): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const waits = [...this.ducks.values()].map(
      (d) =>
        new Promise<void>((resolve) => {
          if (d.exited) return resolve();
          d.stopping = true;
          const t = setTimeout(() => d.child.kill('SIGKILL'), timeoutMs);
          d.child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          d.child.kill('SIGTERM');
        }),
    );
    await Promise.all(waits);
    this.ducks.clear();
  }

  private check(now: number): void {
    for (const d of [...this.ducks.values()]) {
      if (d.exited || d.stopping) continue;
      const silent = now - d.lastContact;
      if (this.hooks.inFlight(d.line)) {
        if (silent > this.opts.livenessMs) {
          this.hooks.log('duck silent past liveness window', { line: d.line, silentMs: silent });
          d.stopping = true;
          d.child.kill('SIGKILL');
          this.hooks.duckLost(d.line, `Duck silent for ${Math.round(silent / 1000)} s during a run`);
        }
      } else if (!this.hooks.keepWarm(d.line) && now - d.lastWork > this.opts.idleMs) {
        this.hooks.log('duck idle, stopping', { line: d.line });
        this.terminate(d.line);
      }
    }
  }
}
