/**
 * One Catchment per root. Two Catchments on one root would both adopt the same Ducks and write the
 * same database, so the second start must be refused — and a Catchment that crashed must not leave
 * the root locked. An OS-level lock gives both: SQLite's exclusive lock on `catchment.lock` is a
 * POSIX advisory lock, which the kernel drops when the holding process dies, however it dies.
 * Beside it, `catchment.pid.json` names the holder (pid, address) for the refusal message; it is
 * only a description — the lock alone decides.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const LOCK_FILE = 'catchment.lock';
const HOLDER_FILE = 'catchment.pid.json';

export interface RootHolder {
  pid: number;
  /** The holder's HTTP address, once it listens. */
  url: string | null;
  startedAt: string;
}

export class RootLockedError extends Error {
  constructor(
    readonly root: string,
    readonly holder: RootHolder | null,
  ) {
    super(
      holder
        ? `another Catchment is running on ${root} (pid ${holder.pid}, ${holder.url ?? 'still starting'}); ` +
            'stop it first, or start this one with another --root'
        : `another Catchment holds ${root}; stop it first, or start this one with another --root`,
    );
  }
}

export interface RootLock {
  /** Record the address this Catchment listens on, for the message a second start prints. */
  listening(url: string): void;
  release(): void;
}

export function lockRoot(root: string, now: () => Date = () => new Date()): RootLock {
  mkdirSync(root, { recursive: true });
  const holderPath = path.join(root, HOLDER_FILE);
  const db = new Database(path.join(root, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // Held open until release: the exclusive lock lives as long as this transaction (or the process).
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY')
      throw new RootLockedError(root, readHolder(holderPath));
    throw error;
  }
  const holder: RootHolder = { pid: process.pid, url: null, startedAt: now().toISOString() };
  const write = () => writeFileSync(holderPath, `${JSON.stringify(holder)}\n`);
  write();
  let released = false;
  return {
    listening(url) {
      holder.url = url;
      write();
    },
    release() {
      if (released) return;
      released = true;
      rmSync(holderPath, { force: true });
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

function readHolder(file: string): RootHolder | null {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<RootHolder>;
    if (typeof parsed.pid !== 'number' || !alive(parsed.pid)) return null; // left by a crashed holder
    return {
      pid: parsed.pid,
      url: typeof parsed.url === 'string' ? parsed.url : null,
      startedAt: String(parsed.startedAt ?? ''),
    };
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
