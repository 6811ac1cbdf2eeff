/**
 * Worker tokens at rest. The Catchment must present a worker's AGENT_TOKEN on every call, so it
 * cannot keep only a hash: the token is encrypted with AES-256-GCM under a key kept in
 * `<root>/secrets/compute.key` (32 random bytes, mode 0600, created on first use). A copy of
 * duck.db alone therefore reveals no token. The endpoint's name is bound as associated data, so a
 * ciphertext moved to another endpoint's row fails to decrypt instead of handing its token over.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import path from 'node:path';
import { createKeyFileOnce, readKeyFile } from '../../shared/key-file.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Ciphertexts start with their format, so a future key rotation can tell old from new. */
const FORMAT = 'v1';

export const COMPUTE_KEY_FILE = path.join('secrets', 'compute.key');

export class TokenCipher {
  private constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a compute key is ${KEY_BYTES} bytes`);
  }

  static fromKey(key: Buffer): TokenCipher {
    return new TokenCipher(Buffer.from(key));
  }

  /**
   * The root's compute key, created (0600, in a 0700 `secrets` directory) on first use. A key file
   * readable by others is refused, as ssh refuses such a private key: the tokens may have leaked.
   */
  static forRoot(root: string): TokenCipher {
    const file = path.join(root, COMPUTE_KEY_FILE);
    createKeyFileOnce(file, randomBytes(KEY_BYTES), 'compute key');
    const key = readKeyFile(file, 'compute key');
    if (key.length !== KEY_BYTES) {
      throw new Error(`compute key ${file} is damaged (expected ${KEY_BYTES} bytes, found ${key.length})`);
    }
    return new TokenCipher(key);
  }

  /** `v1.<iv>.<tag>.<ciphertext>` (base64url), bound to `endpointName` (case-insensitive). */
  encrypt(token: string, endpointName: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(aad(endpointName));
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url'));
    return [FORMAT, ...parts].join('.');
  }

  /** The token; throws (without quoting anything secret) when the ciphertext is not genuine. */
  decrypt(ciphertext: string, endpointName: string): string {
    const [format, iv, tag, body, extra] = ciphertext.split('.');
    if (
      format !== FORMAT ||
      iv === undefined ||
      tag === undefined ||
      body === undefined ||
      extra !== undefined
    )
      throw new Error(`the stored token of endpoint "${endpointName}" is not in a known format`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      const authTag = Buffer.from(tag, 'base64url');
      if (authTag.length !== TAG_BYTES) throw new Error('bad tag');
      decipher.setAuthTag(authTag);
      decipher.setAAD(aad(endpointName));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new Error(
        `the stored token of endpoint "${endpointName}" cannot be decrypted (was secrets/compute.key replaced?)`,
      );
    }
  }
}

/**
 * Whether `ciphertext` holds `token`; false when it cannot be decrypted, so storing a new token
 * repairs an endpoint whose old one was sealed with a lost key.
 */
export function holdsToken(
  cipher: TokenCipher,
  ciphertext: string,
  endpointName: string,
  token: string,
): boolean {
  try {
    return cipher.decrypt(ciphertext, endpointName) === token;
  } catch {
    return false;
  }
}

function aad(endpointName: string): Buffer {
  return Buffer.from(`duckstring compute endpoint ${endpointName.toLowerCase()}`, 'utf8');
}
