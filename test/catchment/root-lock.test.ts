import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { lockRoot, RootLockedError } from '../../src/catchment/root-lock.js';
import { runCli } from '../../src/cli/main.js';
import { TestCatchment } from '../support/runtime.js';

const HOLDER = fileURLToPath(new URL('../support/hold-root-lock.ts', import.meta.url));
const roots: string[] = [];
const children: ChildProcess[] = [];

function scratch(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ds-lock-'));
  roots.push(dir);
  return dir;
}

/** A separate process holding the lock on `root`, resolved once it holds it. */
async function holder(root: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, root], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout?.setEncoding('utf8');
  for await (const chunk of child.stdout as AsyncIterable<string>) {
    out += chunk;
    if (out.includes('locked')) break;
  }
  expect(out).toContain('locked');
  return child;
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('one Catchment per root', () => {
  it('refuses a second lock in the same process, naming the holder', () => {
    const root = scratch();
    const first = lockRoot(root);
    first.listening('http://127.0.0.1:7474');
    let refused: unknown;
    try {
      lockRoot(root);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(RootLockedError);
    expect((refused as Error).message).toBe(
      `another Catchment is running on ${root} (pid ${process.pid}, http://127.0.0.1:7474); stop it first, or start this one with another --root`,
    );
    first.release();
    expect(existsSync(path.join(root, 'catchment.pid.json'))).toBe(false);
    lockRoot(root).release();
  });

  it('refuses while another process holds the root, and frees it when that process is killed', async () => {
    const root = scratch();
    const child = await holder(root);
    expect(() => lockRoot(root)).toThrow(`(pid ${child.pid}, http://127.0.0.1:1)`);
    child.kill('SIGKILL');
    await once(child, 'exit');
    // The crashed holder left its description behind; the kernel dropped its lock.
    expect(existsSync(path.join(root, 'catchment.pid.json'))).toBe(true);
    const lock = lockRoot(root);
    lock.release();
  });

  it('`catchment start` on a live root exits 2 naming the running one, and changes nothing', async () => {
    const root = scratch();
    const first = await TestCatchment.start(root);
    try {
      const err: string[] = [];
      const out: string[] = [];
      const code = await runCli(['catchment', 'start', '--root', root, '--port', '0'], {
        stdout: (t) => out.push(t),
        stderr: (t) => err.push(t),
      });
      expect(code).toBe(2);
      expect(out).toEqual([]);
      expect(err.join('')).toBe(
        `error: another Catchment is running on ${root} (pid ${process.pid}, ${first.url}); stop it first, or start this one with another --root\n`,
      );
      // The first one still serves.
      expect((await first.api('GET', '/health')).status).toBe(200);
    } finally {
      await first.close();
    }
    // Closed, it frees the root for the next start.
    const second = await TestCatchment.start(root);
    await second.close();
  });
});
