/**
 * The rules a compute endpoint and an assignment must follow, shared by the HTTP schemas
 * (src/api/compute.ts), the policy file's `compute` section and the service, so each says the same
 * thing in the same words. Pure: no I/O.
 */
import { RequestError } from '../../shared/errors.js';
import { JOB_KINDS, type JobKind } from '../topology.js';

/**
 * Endpoint names appear in a response header (`x-duckstring-executed-on: remote:NAME`), audit
 * entries and metric labels, so they are narrow.
 */
export const ENDPOINT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const ENDPOINT_NAME_RULE = '1–63 letters, digits and _ . - (starting with a letter or digit)';

/**
 * A worker token travels in an `authorization` header, so it is printable ASCII without spaces
 * (nothing that could end or split the header).
 */
export const TOKEN_PATTERN = /^[\x21-\x7e]{1,4096}$/;
export const TOKEN_RULE = 'a token is 1–4096 printable ASCII characters without spaces';

export const MAX_CAPACITY = 100_000;

/** Parses job kind names; 400 naming the unknown ones and the known ones. */
export function parseJobKinds(kinds: readonly string[], where = 'job_kinds'): JobKind[] {
  if (kinds.length === 0)
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: name at least one job kind (${JOB_KINDS.join(', ')})`,
    );
  const unknown = kinds.filter((k) => !(JOB_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: unknown job ${unknown.length === 1 ? 'kind' : 'kinds'} ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${JOB_KINDS.join(', ')})`,
    );
  }
  return JOB_KINDS.filter((k) => kinds.includes(k));
}
