/**
 * Results cursors: opaque, signed tokens naming (job, offset). The caller cannot forge one, move it
 * to another job, or point it elsewhere in the result: any change breaks the HMAC and answers 400,
 * never a 500. The key lives under the root (secrets/async-cursor.key), so cursors survive a restart.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { RequestError } from '../../shared/errors.js';
import { createKeyFileOnce, readKeyFile } from '../../shared/key-file.js';

const KEY_FILE = path.join('secrets', 'async-cursor.key');
const KEY_BYTES = 32;

export function loadOrCreateCursorKey(root: string): Buffer {
  const file = path.join(root, KEY_FILE);
  createKeyFileOnce(file, randomBytes(KEY_BYTES), 'cursor key');
  const key = readKeyFile(file, 'cursor key');
  if (key.length !== KEY_BYTES) {
    throw new Error(
      `cursor key ${file} is malformed (expected ${KEY_BYTES} bytes); delete it to mint a new one`,
    );
  }
  return key;
}

export class InvalidCursor extends RequestError {
  constructor(message: string) {
    super(400, 'invalid_cursor', message);
  }
}

export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  encode(jobId: string, offset: number): string {
    const body = Buffer.from(String(offset)).toString('base64url');
    return `${body}.${this.sign(jobId, offset)}`;
  }

  /** The offset a cursor of `jobId` names; InvalidCursor when it was not issued for this job. */
  decode(jobId: string, cursor: string): number {
    const match = /^([A-Za-z0-9_-]{1,24})\.([A-Za-z0-9_-]{43})$/.exec(cursor);
    const text = match ? Buffer.from(match[1]!, 'base64url').toString() : '';
    const offset = /^(0|[1-9][0-9]{0,14})$/.test(text) ? Number(text) : Number.NaN;
    if (!match || !Number.isSafeInteger(offset)) {
      throw new InvalidCursor('the cursor is malformed: pass the next_cursor of a previous page unchanged');
    }
    const expected = Buffer.from(this.sign(jobId, offset));
    const given = Buffer.from(match[2]!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new InvalidCursor('the cursor was not issued for this query job (changed, or from another job)');
    }
    return offset;
  }

  private sign(jobId: string, offset: number): string {
    return createHmac('sha256', this.key).update(`${jobId}\n${offset}`).digest('base64url');
  }
}
