/**
 * Random credentials: the admin key (a file in the root) and per-Duck tokens (only their SHA-256 in the
 * database). All comparisons are constant-time over fixed-length digests, so neither the length nor the
 * content of a wrong guess leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RootError } from './errors.js';
import { ADMIN_KEY_FILE } from './layout.js';

const KEY_FORMAT = /^[0-9a-f]{64}$/;

/** A fresh 256-bit secret as 64 lowercase hex characters. */
export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Does `presented` hash to `storedHash`? Constant-time; false for any malformed input. */
export function secretMatchesHash(presented: unknown, storedHash: string): boolean {
  if (typeof presented !== 'string' || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  const a = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, Buffer.from(storedHash, 'hex'));
}

/** Is `presented` the same secret as `expected`? Hashing first makes the comparison length-independent. */
export function secretsEqual(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  return secretMatchesHash(presented, sha256Hex(expected));
}

export interface AdminKey {
  key: string;
  /** True only on the start that created it: the server prints it once, then never again. */
  created: boolean;
}

/**
 * Returns the admin key stored in `{root}/admin.key`, creating it (mode 0600) on first start. Refuses a
 * key file readable by others, as ssh does, because the key may already have leaked.
 */
export function ensureAdminKey(root: string): AdminKey {
  const file = path.join(root, ADMIN_KEY_FILE);
  const key = newSecret();
  try {
    // 'wx' fails if the file exists, so two starting processes cannot both create (and print) a key.
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    fs.chmodSync(file, 0o600);
    return { key, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new RootError(`cannot create admin key ${file}: ${(err as Error).message}`);
    }
  }
  return { key: readAdminKey(file), created: false };
}

function readAdminKey(file: string): string {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new RootError(`admin key ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new RootError(`admin key ${file} has mode ${mode}; it must be 0600 (run: chmod 600 ${file})`);
  }
  const key = fs.readFileSync(file, 'utf8').trim();
  if (!KEY_FORMAT.test(key)) {
    throw new RootError(
      `admin key ${file} is malformed (expected 64 hex characters); delete it to mint a new one`,
    );
  }
  return key;
}
