/**
 * Ducks for Pond Runs on a worker: one `duckstring duck` child per line, in http storage mode with
 * a work directory under the worker's data dir. The Duck dials back to the Catchment with its own
 * token exactly as a Duck the Catchment launches itself; the worker only starts, stops and reports
 * it, and a Duck does not outlive its worker. The Catchment decides when a line needs a Duck and when it is idle (its supervisor), so the
 * worker keeps no policy of its own beyond "one per line" and "none after drain".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAJOR_SOURCE, NAME_SOURCE } from '../../shared/ids.js';
import { workerError } from './wire-errors.js';

const BIN = fileURLToPath(new URL('../../../bin/duckstring.js', import.meta.url));
/** `name@major`, as the Catchment names lines (also a safe folder name). */
const LINE = new RegExp(`^${NAME_SOURCE}@${MAJOR_SOURCE}$`);
/**
 * A Duck's lifeline: its stdin is a pipe from the worker, and the end of that pipe (the worker gone,
 * even by SIGKILL) ends the Duck at once. Without it an orphaned Duck would keep polling the
 * Catchment with its old token and could take a job meant for the Duck that replaced it. Unref'd,
 * so a Duck that is done still exits by itself.
 */
const LIFELINE = `data:text/javascript,${encodeURIComponent(
  "const end=()=>process.kill(process.pid,'SIGKILL');process.stdin.on('end',end);process.stdin.on('error',end);process.stdin.resume();process.stdin.unref?.();",
)}`;
/** The worker's own secrets and settings stay out of a Duck's environment. */
const WITHHELD = /^(AGENT_TOKEN|WORKER_|LISTEN_ADDR$|GRPC_LISTEN_ADDR$|TLS_|DUCKSTRING_DUCK)/;

export type DuckProcessState = 'running' | 'stopping' | 'exited';

export interface LaunchedDuck {
  line: string;
  pid: number;
  state: DuckProcessState;
  /** How it exited ("code 0", "SIGKILL"); empty while it runs. */
  exit: string;
  startedAt: number;
}

interface Entry extends LaunchedDuck {
  child: ChildProcess;
  exited: Promise<void>;
}

export interface DuckLauncherOptions {
  /** Ducks' work directories and logs go under `<dataDir>/ducks/`. */
  dataDir: string;
  /** Extra environment for Duck processes (tests pass watchdog settings). */
  env?: Record<string, string>;
  now?: () => number;
}

export class DuckLauncher {
  private readonly ducks = new Map<string, Entry>();
  private draining = false;
  private readonly now: () => number;

  constructor(private readonly options: DuckLauncherOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts the line's Duck; a Duck of the line that still runs is killed first (its token is void). */
  async launch(line: string, catchmentUrl: string, token: string): Promise<LaunchedDuck> {
    if (this.draining) throw workerError('worker_draining', 'worker is draining: it launches no Ducks');
    if (!LINE.test(line))
      throw workerError('invalid_request', `"${line.slice(0, 80)}" is not a line (name@major)`);
    if (!/^https?:\/\/[^\s]+$/.test(catchmentUrl))
      throw workerError('invalid_request', 'catchment_url must be an http:// or https:// URL');
    if (token === '') throw workerError('invalid_request', 'duck_token is empty');
    const old = this.ducks.get(line);
    if (old && old.state !== 'exited') {
      old.child.kill('SIGKILL');
      await old.exited;
    }
    const base = path.join(this.options.dataDir, 'ducks');
    const workDir = path.join(base, line);
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !WITHHELD.test(k)) env[k] = v;
    const log = openSync(path.join(base, `${line}.log`), 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['--import', LIFELINE, BIN, 'duck'], {
        env: {
          ...env,
          ...this.options.env,
          DUCKSTRING_CATCHMENT_URL: catchmentUrl,
          DUCKSTRING_DUCK: line,
          DUCKSTRING_DUCK_TOKEN: token,
          DUCKSTRING_DUCK_STORAGE: 'http',
          DUCKSTRING_DUCK_WORKDIR: workDir,
        },
        stdio: ['pipe', log, log],
      });
    } finally {
      closeSync(log);
    }
    // Nothing is ever written: the pipe only has to stay open while the worker lives.
    child.stdin?.on('error', () => {});
    const pid = child.pid;
    if (pid === undefined) {
      const reason = await new Promise<string>((resolve) => child.once('error', (e) => resolve(e.message)));
      throw workerError('internal', `could not start the Duck: ${reason}`);
    }
    let entry!: Entry;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        entry.state = 'exited';
        entry.exit = signal ?? `code ${code}`;
        resolve();
      });
    });
    entry = { line, pid, state: 'running', exit: '', startedAt: this.now(), child, exited };
    this.ducks.set(line, entry);
    return view(entry);
  }

  /** SIGTERM (the Duck finishes cleanly) or, with `force`, SIGKILL. */
  stop(line: string, force: boolean): LaunchedDuck {
    const entry = this.ducks.get(line);
    if (!entry) throw workerError('not_found', `no Duck of line ${line.slice(0, 80)} on this worker`);
    if (entry.state !== 'exited') {
      if (entry.state === 'running') entry.state = 'stopping';
      entry.child.kill(force ? 'SIGKILL' : 'SIGTERM');
    }
    return view(entry);
  }

  list(): LaunchedDuck[] {
    return [...this.ducks.values()].map(view).sort((a, b) => (a.line < b.line ? -1 : 1));
  }

  /** Drain: no more launches; every Duck is asked to stop and forced after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    const live = [...this.ducks.values()].filter((d) => d.state !== 'exited');
    for (const d of live) d.child.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const d of live) if (d.state !== 'exited') d.child.kill('SIGKILL');
    }, graceMs);
    await Promise.all(live.map((d) => d.exited));
    clearTimeout(force);
  }
}

function view(e: Entry): LaunchedDuck {
  return { line: e.line, pid: e.pid, state: e.state, exit: e.exit, startedAt: e.startedAt };
}
