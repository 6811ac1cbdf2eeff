/**
 * Ducks as local child processes of the Catchment: `duckstring duck`, writing to a per-line log
 * file. A Duck adopted from a previous Catchment process is not our child, so its exit is seen by
 * probing its pid (and /proc guards against the pid being reused by something else).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Clock, systemClock } from '../../shared/clock.js';
import type { DuckFleet, DuckInstance, DuckLaunch } from './fleet.js';

const BIN = fileURLToPath(new URL('../../../bin/duckstring.js', import.meta.url));

export interface LocalFleetOptions {
  /**
   * Where a line's Duck writes its output. A file, not the Catchment's own streams: a Duck must
   * outlive its Catchment, and writing to a dead parent's pipe would kill it.
   */
  logFile: (line: string) => string;
  /** Extra environment for Duck processes (tests pass watchdog settings). */
  env?: Record<string, string>;
  /**
   * `http`: launch each Duck in http storage mode (its own work directory, the data plane over
   * HTTP), as a remote worker will; see docs/remote-ducks.md.
   */
  storage?: 'local' | 'http';
  /** An http Duck's work directory (default: the Duck's own, in the user's cache directory). */
  workDir?: (line: string) => string;
  clock?: Clock;
}

interface LocalDuck extends DuckInstance {
  /** Null for an adopted Duck. */
  readonly child: ChildProcess | null;
}

export class LocalProcessFleet implements DuckFleet {
  private readonly clock: Clock;

  constructor(private readonly options: LocalFleetOptions) {
    this.clock = options.clock ?? systemClock;
  }

  launch(launch: DuckLaunch, exited: (how: string) => void): DuckInstance {
    const log = openSync(this.options.logFile(launch.line), 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [BIN, 'duck'], {
        env: {
          ...process.env,
          ...this.options.env,
          DUCKSTRING_CATCHMENT_URL: launch.catchmentUrl,
          DUCKSTRING_DUCK: launch.line,
          DUCKSTRING_DUCK_TOKEN: launch.token,
          ...(this.options.storage === 'http' ? { DUCKSTRING_DUCK_STORAGE: 'http' } : {}),
          ...(this.options.storage === 'http' && this.options.workDir
            ? { DUCKSTRING_DUCK_WORKDIR: this.options.workDir(launch.line) }
            : {}),
        },
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    child.on('exit', (code, signal) => exited(signal ?? `code ${code}`));
    const duck: LocalDuck = { line: launch.line, id: child.pid, child };
    return duck;
  }

  adopt(line: string, id: number): DuckInstance | null {
    if (!isDuckProcess(id)) return null;
    const duck: LocalDuck = { line, id, child: null };
    return duck;
  }

  observe(instance: DuckInstance): 'running' | 'gone' {
    const { child, id } = instance as LocalDuck;
    if (child) return child.exitCode === null && child.signalCode === null ? 'running' : 'gone';
    return id !== undefined && isDuckProcess(id) ? 'running' : 'gone';
  }

  signal(instance: DuckInstance, force: boolean): void {
    signalDuck(instance as LocalDuck, force ? 'SIGKILL' : 'SIGTERM');
  }

  stop(instance: DuckInstance, graceMs: number): Promise<void> {
    const duck = instance as LocalDuck;
    return new Promise<void>((resolve) => {
      if (this.observe(duck) === 'gone') return resolve();
      const force = this.clock.setTimeout(() => signalDuck(duck, 'SIGKILL'), graceMs);
      // An adopted Duck is not our child: watch its pid instead.
      const probe = this.clock.setInterval(() => {
        if (duck.child === null && this.observe(duck) === 'gone') done();
      }, 50);
      const done = () => {
        force.cancel();
        probe.cancel();
        resolve();
      };
      duck.child?.once('exit', done);
      signalDuck(duck, 'SIGTERM');
    });
  }
}

function signalDuck(d: LocalDuck, signal: NodeJS.Signals): void {
  try {
    if (d.child) d.child.kill(signal);
    else if (d.id) process.kill(d.id, signal);
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
