/**
 * Random credentials: the admin key (a file in the root) and per-Duck tokens (only their SHA-256 in the
 * database). All comparisons are constant-time over fixed-length digests, so neither the length nor the
 * content of a wrong guess leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { createKeyFileOnce, readKeyFile } from '../../shared/key-file.js';
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
    // Two starting processes cannot both create (and print) a key: one of them reads the other's.
    if (createKeyFileOnce(file, `${key}\n`, 'admin key')) return { key, created: true };
    const stored = readKeyFile(file, 'admin key').toString('utf8').trim();
    if (!KEY_FORMAT.test(stored)) {
      throw new Error(
        `admin key ${file} is malformed (expected 64 hex characters); delete it to mint a new one`,
      );
    }
    return { key: stored, created: false };
  } catch (err) {
    throw new RootError((err as Error).message);
  }
}
