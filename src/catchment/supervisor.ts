/**
 * Local Duck processes: one per executing Pond major line, spawned on the line's first run, kept warm
 * while a standing trigger is active, stopped when idle. It also watches liveness: a Duck whose process
 * is gone, or that has been silent past the liveness window while a run is in flight, fails that run
 * through the engine's ordinary fault path.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface SupervisorOptions {
  catchmentUrl: () => string;
  /** Silence (ms) after which a Duck with a run in flight is declared dead. */
  livenessMs: number;
  /** Idle time (ms) after which a Duck with nothing to do and no standing trigger is stopped. */
  idleMs: number;
  /** Extra environment for Duck processes (tests pass watchdog settings). */
  env?: Record<string, string>;
  /**
   * Where a line's Duck writes its output. A file, not the Catchment's own streams: a Duck must
   * outlive its Catchment, and writing to a dead parent's pipe would kill it.
   */
  logFile: (line: string) => string;
}

export interface SupervisorHooks {
  /** Issues the token a new Duck must present (the Catchment keeps only its hash). */
  issueToken(line: string): string;
  /** A Duck process was started (record its pid so a restarted Catchment can adopt it). */
  spawned(line: string, pid: number | undefined): void;
  /** Is a run of this line in flight (engine startF > endF)? */
  inFlight(line: string): boolean;
  /** Should the Duck stay warm (standing trigger, queued jobs)? */
  keepWarm(line: string): boolean;
  /** The process is gone or silent while work was in flight. */
  duckLost(line: string, reason: string): void;
  log(msg: string, data?: Record<string, unknown>): void;
}

interface DuckProcess {
  /** Null for a Duck adopted from a previous Catchment process (not our child). */
  child: ChildProcess | null;
  pid: number | undefined;
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
    this.ticker = setInterval(
      () => this.check(Date.now()),
      Math.max(50, Math.min(1000, this.opts.livenessMs / 4)),
    );
    this.ticker.unref();
  }

  /** Spawns the line's Duck unless one is alive. */
  ensure(line: string): void {
    const d = this.ducks.get(line);
    if (d && !d.exited && !d.stopping) return;
    const token = this.hooks.issueToken(line);
    const log = openSync(this.opts.logFile(line), 'a');
    const child = spawn(process.execPath, [BIN, 'duck'], {
      env: {
        ...process.env,
        ...this.opts.env,
        DUCKSTRING_CATCHMENT_URL: this.opts.catchmentUrl(),
        DUCKSTRING_DUCK: line,
        DUCKSTRING_DUCK_TOKEN: token,
      },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const proc: DuckProcess = {
      child,
      pid: child.pid,
      line,
      lastContact: Date.now(),
      lastWork: Date.now(),
      exited: false,
      stopping: false,
    };
    this.ducks.set(line, proc);
    this.hooks.spawned(line, child.pid);
    this.hooks.log('duck spawned', { line, duckPid: child.pid });
    child.on('exit', (code, signal) => this.gone(proc, signal ?? `code ${code}`));
  }

  /**
   * Takes over a Duck a previous Catchment process started: it keeps working across a Catchment
   * restart and dials back here. Not our child, so its exit is noticed by probing the pid.
   */
  adopt(line: string, pid: number): boolean {
    if (!isDuckProcess(pid)) return false;
    const now = Date.now();
    this.ducks.set(line, {
      child: null,
      pid,
      line,
      lastContact: now,
      lastWork: now,
      exited: false,
      stopping: false,
    });
    this.hooks.log('duck adopted', { line, duckPid: pid });
    return true;
  }

  private gone(proc: DuckProcess, how: string): void {
    if (proc.exited) return;
    proc.exited = true;
    if (this.ducks.get(proc.line) === proc) this.ducks.delete(proc.line);
    this.hooks.log('duck exited', { line: proc.line, duckPid: proc.pid, how });
    if (!proc.stopping && this.hooks.inFlight(proc.line)) {
      this.hooks.duckLost(proc.line, `Duck process exited (${how}) during a run`);
    }
  }

  /** The Duck dialled in; `work` when it received jobs or reported events (not a bare poll). */
  contact(line: string, work = false): void {
    const d = this.ducks.get(line);
    if (!d) return;
    d.lastContact = Date.now();
    if (work) d.lastWork = d.lastContact;
  }

  pid(line: string): number | undefined {
    return this.ducks.get(line)?.pid;
  }

  live(): Array<{ line: string; pid: number | undefined; lastContact: number }> {
    return [...this.ducks.values()].map((d) => ({ line: d.line, pid: d.pid, lastContact: d.lastContact }));
  }

  /** Terminates a line's Duck (kill verb, redeploy of a running line is NOT a reason: runs finish). */
  terminate(line: string, signal: NodeJS.Signals = 'SIGTERM'): void {
    const d = this.ducks.get(line);
    if (!d || d.exited) return;
    d.stopping = true;
    signalDuck(d, signal);
  }

  async stopAll(timeoutMs = 5000): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const waits = [...this.ducks.values()].map(
      (d) =>
        new Promise<void>((resolve) => {
          if (d.exited) return resolve();
          d.stopping = true;
          const t = setTimeout(() => signalDuck(d, 'SIGKILL'), timeoutMs);
          const done = () => {
            clearTimeout(t);
            clearInterval(probe);
            resolve();
          };
          d.child?.once('exit', done);
          // An adopted Duck is not our child: watch its pid instead.
          const probe = setInterval(() => {
            if (d.child === null && !isDuckProcess(d.pid!)) done();
          }, 50);
          signalDuck(d, 'SIGTERM');
        }),
    );
    await Promise.all(waits);
    this.ducks.clear();
  }

  private check(now: number): void {
    for (const d of [...this.ducks.values()]) {
      if (d.child === null && !d.exited && !isDuckProcess(d.pid!)) this.gone(d, 'gone');
      if (d.exited || d.stopping) continue;
      const silent = now - d.lastContact;
      if (this.hooks.inFlight(d.line)) {
        if (silent > this.opts.livenessMs) {
          this.hooks.log('duck silent past liveness window', { line: d.line, silentMs: silent });
          d.stopping = true;
          signalDuck(d, 'SIGKILL');
          this.hooks.duckLost(d.line, `Duck silent for ${Math.round(silent / 1000)} s during a run`);
        }
      } else if (!this.hooks.keepWarm(d.line) && now - d.lastWork > this.opts.idleMs) {
        this.hooks.log('duck idle, stopping', { line: d.line });
        this.terminate(d.line);
      }
    }
  }
}

function signalDuck(d: DuckProcess, signal: NodeJS.Signals): void {
  try {
    if (d.child) d.child.kill(signal);
    else if (d.pid) process.kill(d.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Is `pid` a live Duck process (guards against pid reuse by checking its command line)? */
export function isDuckProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('duckstring') && cmd.includes('duck');
  } catch {
    return true; // no /proc: trust the signal probe
  }
}
