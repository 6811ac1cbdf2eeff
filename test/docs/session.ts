/**
 * Runs one document's steps in order in a scratch directory, the way a reader following it would:
 * `duckstring …` in-process through `runCli` (chdir'd into the scratch directory, with the shell's
 * exported variables as the environment); `duckstring up`, `npm start`, `duckstring catchment
 * start` and `duckstring worker start` — which serve until Ctrl-C — as real `bin/duckstring.js`
 * processes in the background (with the line's `VAR=value` prefixes in their environment), on free
 * ports standing in for the documented ones; `curl` and `openssl rand` (a token) as the real
 * programs. A Catchment started on a documented port this session already serves replaces the
 * running one (the doc has the reader stop it with Ctrl-C first, to restart it with other settings).
 *
 * Documented absolute paths under /tmp and /srv are moved into the scratch directory, documented
 * ports to the real ones (and back in what is printed), and a key id the doc shows (and later types)
 * to the id this run printed.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.js';
import { waitFor } from '../support/runtime.js';
import { compareOutput, keyIds } from './compare.js';
import type { ParsedDoc, Step } from './markdown.js';
import { type CommandLine, logicalLines, parseCommandLine, type SimpleCommand } from './shell.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(REPO, 'bin/duckstring.js');
const DEFAULT_PORT = 7474;
/** `duckstring worker start`'s documented defaults (LISTEN_ADDR, GRPC_LISTEN_ADDR). */
const WORKER_ADDRS = [
  { variable: 'LISTEN_ADDR', flag: '--listen-addr', json: 'http', fallback: '127.0.0.1:9443' },
  { variable: 'GRPC_LISTEN_ADDR', flag: '--grpc-listen-addr', json: 'grpc', fallback: '127.0.0.1:9444' },
] as const;

interface Result {
  status: number;
  /** stdout and stderr interleaved as written. */
  output: string;
  stdout: string;
}

interface Server {
  child: ChildProcess;
  /** The real port; for a worker, its HTTP port. */
  port: number;
  /** The documented port it stands in for. */
  documentedPort: number;
  kind: 'catchment' | 'worker';
  exited: Promise<number>;
}

export class DocSession {
  private readonly vars = new Map<string, string>();
  private readonly servers: Server[] = [];
  private readonly ports = new Map<number, number>();
  private readonly ids = new Map<string, string>();
  private previous: { line: number; output: string[] } | null = null;
  readonly failures: string[] = [];

  constructor(
    readonly doc: string,
    readonly scratch: string,
  ) {
    // What a reader of the docs has: a checkout of the repository (its examples), as the cwd.
    cpSync(path.join(REPO, 'examples'), path.join(scratch, 'examples'), { recursive: true });
  }

  async run(parsed: ParsedDoc): Promise<void> {
    // Files first: a doc may use a file it shows further down (a walkthrough using the reference).
    for (const step of parsed.steps) if (step.kind === 'file') await this.step(step);
    for (const step of parsed.steps) if (step.kind !== 'file') await this.step(step);
  }

  async close(): Promise<void> {
    for (const s of this.servers) s.child.kill('SIGINT');
    await Promise.all(this.servers.map((s) => s.exited));
  }

  private fail(line: number, message: string): void {
    this.failures.push(`${this.doc}:${line}: ${message}`);
  }

  private async step(step: Step): Promise<void> {
    switch (step.kind) {
      case 'file': {
        const file = this.localPath(step.path);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, step.text);
        return;
      }
      case 'hidden': {
        const r = await this.runLine(step.command, step.line);
        if (r.status !== 0) this.fail(step.line, `setup "${step.command}" exited ${r.status}:\n${r.output}`);
        return;
      }
      case 'commands':
        return this.commands(step.line, step.lines);
      case 'transcript':
        return this.transcript(step.line, step.lines);
      case 'output': {
        let printed: string[];
        if (step.of === 'previous') {
          if (!this.previous) return this.fail(step.line, 'an output block with no command block before it');
          printed = this.previous.output;
        } else {
          const r = await this.runLine(step.of, step.line);
          printed = lines(r.output);
        }
        this.expect(step.line, step.of, step.lines, printed);
        this.previous = null;
        return;
      }
    }
  }

  /** An `sh` block: every command must succeed; `# …` lines after a command are its output. */
  private async commands(first: number, body: string[]): Promise<void> {
    const logical = logicalLines(body);
    const all: string[] = [];
    for (let k = 0; k < logical.length; k++) {
      const { text, index } = logical[k]!;
      if (text.trim() === '' || text.trim().startsWith('#')) continue;
      const documented: string[] = [];
      while (k + 1 < logical.length && logical[k + 1]!.text.startsWith('# ')) {
        documented.push(logical[++k]!.text.slice(2));
      }
      const r = await this.runLine(text, first + 1 + index);
      all.push(...lines(r.output));
      if (r.status !== 0) {
        this.fail(first + 1 + index, `"${text}" exited ${r.status}:\n${r.output}`);
        return;
      }
      if (documented.length > 0) this.expect(first + 1 + index, text, documented, lines(r.output));
    }
    this.previous = { line: first, output: all };
  }

  /** `$ command` lines, each followed by its documented output. */
  private async transcript(first: number, body: string[]): Promise<void> {
    for (let k = 0; k < body.length; k++) {
      const command = body[k]!.startsWith('$ ') ? body[k]!.slice(2) : null;
      if (command === null) continue;
      const documented: string[] = [];
      while (k + 1 < body.length && !body[k + 1]!.startsWith('$ ')) documented.push(body[++k]!);
      const r = await this.runLine(command, first + 1 + k);
      const expectError = documented.some((l) => l.startsWith('error:'));
      if ((r.status !== 0) !== expectError) {
        this.fail(
          first + 1 + k,
          `"${command}" exited ${r.status}, the doc shows ${expectError ? 'an error' : 'success'}:\n${r.output}`,
        );
        continue;
      }
      this.expect(first + 1 + k, command, documented, lines(r.output));
    }
    this.previous = null;
  }

  private expect(line: number, command: string, documented: string[], printed: string[]): void {
    const problem = compareOutput(
      documented,
      printed.map((l) => this.documentedPorts(l)),
    );
    if (problem) {
      this.fail(line, `the output of "${command}" differs from the doc:\n${problem}`);
      return;
    }
    // The doc may type an id it showed earlier: learn which real id it stands for.
    const docIds = keyIds(documented);
    const realIds = keyIds(printed);
    if (docIds.length !== realIds.length) return;
    for (const [i, d] of docIds.entries()) this.ids.set(d, realIds[i]!);
  }

  private async runLine(text: string, line: number): Promise<Result> {
    let parsed: CommandLine;
    try {
      parsed = await parseCommandLine(
        text,
        (name) => this.vars.get(name) ?? (name === 'HOME' ? this.scratch : undefined),
        async (inner) => (await this.runLine(inner, line)).stdout,
      );
    } catch (err) {
      return { status: 127, output: `${(err as Error).message}\n`, stdout: '' };
    }
    let output = '';
    let stdout = '';
    let status = 0;
    for (const cmd of parsed.sequence) {
      const r = await this.simple(cmd, parsed.background);
      output += r.output;
      stdout += r.stdout;
      status = r.status;
      if (status !== 0) break;
    }
    return { status, output, stdout };
  }

  private async simple(cmd: SimpleCommand, background: boolean): Promise<Result> {
    if (cmd.argv.length === 0) {
      for (const [k, v] of cmd.assignments) this.vars.set(k, v);
      return { status: 0, output: '', stdout: '' };
    }
    const argv = cmd.argv.map((a) => this.rewrite(a));
    let r: Result;
    const program = duckstringArgs(argv);
    if (program && (program[0] === 'up' || (program[0] === 'catchment' && program[1] === 'start')))
      r = await this.serve(program, cmd.assignments);
    else if (program && program[0] === 'worker' && program[1] === 'start')
      r = await this.worker(program, cmd.assignments);
    else if (background) throw new Error(`only servers run in the background here: ${argv.join(' ')}`);
    else if (program) r = await this.duckstring(program, cmd.assignments);
    else if (argv[0] === 'echo') r = ok(`${argv.slice(1).join(' ')}\n`);
    else if (argv[0] === 'cat' && argv.length === 2) r = ok(readFileSync(this.localPath(argv[1]!), 'utf8'));
    else if (argv[0] === 'curl' || (argv[0] === 'openssl' && argv[1] === 'rand'))
      r = await this.external(argv);
    else r = { status: 127, output: `the docs harness cannot run "${argv[0]}"\n`, stdout: '' };
    if (cmd.pipe) {
      const all = lines(r.stdout);
      const kept = cmd.pipe.take === 'tail' ? all.slice(-cmd.pipe.n) : all.slice(0, cmd.pipe.n);
      const text = kept.map((l) => `${l}\n`).join('');
      r = { status: r.status, output: text, stdout: text };
    }
    return r;
  }

  /** Documented paths, ports and ids → this run's. */
  private rewrite(arg: string): string {
    let out = arg.replace(/(?<![\w.])\/(tmp|srv)\/[\w./@-]*/g, (p) => this.localPath(p));
    out = out.replace(/(127\.0\.0\.1|localhost):(\d+)/g, (m, host, port) => {
      const real = this.ports.get(Number(port));
      return real ? `${host}:${real}` : m;
    });
    for (const [doc, real] of this.ids) out = out.replaceAll(doc, real);
    return out;
  }

  /**
   * This run's ports → the documented ones, in what was printed: a worker's `grpc://127.0.0.1:9444`
   * is echoed back by the commands that name it (the masks of compare.ts cover http URLs only).
   */
  private documentedPorts(printed: string): string {
    return printed.replace(/(127\.0\.0\.1|localhost):(\d+)/g, (m, host, port) => {
      const documented = [...this.ports].find(([, real]) => real === Number(port))?.[0];
      return documented === undefined ? m : `${host}:${documented}`;
    });
  }

  /** A documented path, inside the scratch directory (absolute /tmp and /srv paths included). */
  private localPath(p: string): string {
    if (p.startsWith(this.scratch)) return p;
    if (path.isAbsolute(p)) return path.join(this.scratch, 'abs', p);
    return path.join(this.scratch, p);
  }

  private env(assignments: Array<[string, string]>): Record<string, string> {
    const env: Record<string, string> = {};
    const defaultPort = this.ports.get(DEFAULT_PORT);
    if (defaultPort) env.DUCKSTRING_CATCHMENT_URL = `http://127.0.0.1:${defaultPort}`;
    for (const [k, v] of [...this.vars, ...assignments]) env[k] = this.rewrite(v);
    return env;
  }

  private async duckstring(args: string[], assignments: Array<[string, string]>): Promise<Result> {
    const env = this.env(assignments);
    const saved = { ...process.env };
    const cwd = process.cwd();
    let output = '';
    let stdout = '';
    let status: number;
    try {
      for (const k of ['DUCKSTRING_CATCHMENT_URL', 'DUCKSTRING_KEY']) delete process.env[k];
      Object.assign(process.env, env);
      process.chdir(this.scratch);
      status = await runCli(args, {
        stdout: (t) => {
          output += t;
          stdout += t;
        },
        stderr: (t) => {
          output += t;
        },
      });
    } catch (err) {
      status = 1;
      output += `uncaught: ${(err as Error).stack}\n`;
    } finally {
      process.chdir(cwd);
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    if (status === 0 && settles(args)) await this.settle();
    return { status, output, stdout };
  }

  /**
   * A reader runs the next command after the run they asked for: wait until the Catchment has no
   * queued or running line (what `duckstring status` showing every line idle means).
   */
  private async settle(): Promise<void> {
    const port = this.servers.findLast((s) => s.kind === 'catchment')?.port;
    if (!port) return;
    await waitFor(
      'the Catchment to finish its runs',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        const body = (await res.json()) as { engine: { queued: number; running: number } };
        return body.engine.queued === 0 && body.engine.running === 0;
      },
      60_000,
    );
  }

  /** Stops a server the way a reader does, with Ctrl-C, and forgets its port. */
  private async stop(server: Server): Promise<void> {
    server.child.kill('SIGINT');
    await server.exited;
    this.servers.splice(this.servers.indexOf(server), 1);
    this.ports.delete(server.documentedPort);
  }

  /** `up` / `catchment start`: a real process on a free port, read until it is ready. */
  private async serve(args: string[], assignments: Array<[string, string]>): Promise<Result> {
    const portAt = args.indexOf('--port');
    const documentedPort = portAt >= 0 ? Number(args[portAt + 1]) : DEFAULT_PORT;
    const running = this.servers.find((s) => s.kind === 'catchment' && s.documentedPort === documentedPort);
    if (running) await this.stop(running);
    const real =
      portAt >= 0 ? [...args.slice(0, portAt + 1), '0', ...args.slice(portAt + 2)] : [...args, '--port', '0'];
    const child = spawn(process.execPath, [BIN, ...real], {
      cwd: this.scratch,
      env: { ...process.env, ...this.env(assignments) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      output += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    let exitCode: number | null = null;
    void exited.then((c) => {
      exitCode = c;
    });
    const isUp = args[0] === 'up';
    const port = await waitFor(
      `"duckstring ${args.join(' ')}" to be ready`,
      async () => {
        if (exitCode !== null) return -1;
        const m =
          /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout) ??
          /API: http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (!m) return false;
        if (isUp && !stdout.includes('Press Ctrl-C to stop.')) return false;
        const res = await fetch(`http://127.0.0.1:${m[1]}/health`);
        return res.ok ? Number(m[1]) : false;
      },
      60_000,
    );
    if (port === -1) {
      await exited;
      return { status: exitCode ?? 1, output, stdout };
    }
    this.ports.set(documentedPort, port);
    this.servers.push({ child, port, documentedPort, kind: 'catchment', exited });
    return { status: 0, output, stdout };
  }

  /**
   * `worker start`: a real process asked for port 0 on both listeners (whatever the doc gave, by
   * variable or flag); its `{"event":"listening",…}` line says which ports it got, and those stand in
   * for the documented ones from then on (so `grpc://127.0.0.1:9444` in a later command is this worker).
   */
  private async worker(args: string[], assignments: Array<[string, string]>): Promise<Result> {
    const env = { ...process.env, ...this.env(assignments) };
    const real = [...args];
    const documented = new Map<'http' | 'grpc', number>();
    for (const addr of WORKER_ADDRS) {
      const flagAt = real.indexOf(addr.flag);
      const given = flagAt >= 0 ? real[flagAt + 1]! : (env[addr.variable] ?? addr.fallback);
      const m = /^(.*):(\d+)$/.exec(given);
      if (!m)
        return { status: 2, output: `the docs harness cannot read ${addr.variable}=${given}\n`, stdout: '' };
      documented.set(addr.json, Number(m[2]));
      if (flagAt >= 0) real[flagAt + 1] = `${m[1]}:0`;
      else env[addr.variable] = `${m[1]}:0`;
    }
    const child = spawn(process.execPath, [BIN, ...real], {
      cwd: this.scratch,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      output += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    let exitCode: number | null = null;
    void exited.then((c) => {
      exitCode = c;
    });
    const listening = await waitFor(
      `"duckstring ${args.join(' ')}" to listen`,
      async () => {
        if (exitCode !== null) return 'exited' as const;
        const line = stdout.split('\n').find((l) => l.startsWith('{"event":"listening"'));
        return line ? (JSON.parse(line) as Record<'http' | 'grpc', string>) : false;
      },
      60_000,
    );
    if (listening === 'exited') {
      await exited;
      return { status: exitCode ?? 1, output, stdout };
    }
    const realPort = (which: 'http' | 'grpc') => Number(/:(\d+)$/.exec(listening[which])![1]);
    for (const which of ['http', 'grpc'] as const) this.ports.set(documented.get(which)!, realPort(which));
    this.servers.push({
      child,
      port: realPort('http'),
      documentedPort: documented.get('http')!,
      kind: 'worker',
      exited,
    });
    return { status: 0, output, stdout };
  }

  private external(argv: string[]): Promise<Result> {
    return new Promise((resolve) => {
      const options = {
        cwd: this.scratch,
        env: { ...process.env, ...this.env([]) },
        encoding: 'utf8' as const,
      };
      execFile(argv[0]!, argv.slice(1), options, (err, out, errOut) => {
        const status = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ status, output: `${out}${errOut}`, stdout: out });
      });
    });
  }
}

/** `duckstring …`, `npx duckstring …`, `node bin/duckstring.js …`, `npm start` → the CLI's arguments. */
function duckstringArgs(argv: string[]): string[] | null {
  if (argv[0] === 'duckstring') return argv.slice(1);
  if (argv[0] === 'npx' && argv[1] === 'duckstring') return argv.slice(2);
  if (argv[0] === 'node' && argv[1] === 'bin/duckstring.js') return argv.slice(2);
  if (argv[0] === 'npm' && argv[1] === 'start') return ['up', ...argv.slice(3)];
  return null;
}

/** Commands after which a reader waits for the runs they started. */
function settles(args: string[]): boolean {
  if (args[0] === 'trigger') return args[1] === 'pulse' || args[1] === 'tap';
  if (args[0] === 'control') return args[1] === 'wake' || args[1] === 'force';
  return false;
}

function ok(text: string): Result {
  return { status: 0, output: text, stdout: text };
}

function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}
