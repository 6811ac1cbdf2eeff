/**
 * Secret files under a root (the admin key, the capability key, the compute token key): created once,
 * mode 0600, and refused when they are not a regular file or are readable by group or others — as
 * ssh refuses such a private key, because it may already have leaked.
 *
 * Creation writes a complete temporary file and hard-links it into place, which fails if the file
 * exists: two processes starting together agree on one secret, and neither can read a half-written
 * file.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Creates `file` holding `contents` unless it exists; true when this call created it. */
export function createKeyFileOnce(file: string, contents: Buffer | string, what: string): boolean {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(temp, contents, { mode: 0o600, flag: 'wx' });
    fs.chmodSync(temp, 0o600);
    fs.linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot create ${what} ${file}: ${(error as Error).message}`);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** The bytes of `file`, after checking it is a regular file only its owner can read. */
export function readKeyFile(file: string, what: string): Buffer {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new Error(`${what} ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new Error(`${what} ${file} has mode ${mode}; it must be 0600 (run: chmod 600 ${file})`);
  }
  return fs.readFileSync(file);
}
