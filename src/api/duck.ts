/**
 * The Duck dial-back endpoints. Their payloads are the Duck protocol (src/duck/protocol.ts), which
 * the Duck validates itself; here they are described only as far as the API document needs.
 */
import { z } from 'zod/v4';
import { NAME_PATTERN } from '../shared/ids.js';
import { endpoint } from './endpoint.js';

const duckParams = z.object({
  name: z.string().regex(NAME_PATTERN),
  major: z.coerce.number().int().nonnegative(),
});

export const duckWhoami = endpoint({
  method: 'GET',
  path: '/api/duck/whoami',
  summary: 'Duck: which line this Duck token belongs to (so a Duck needs only the URL and its token)',
  auth: 'none',
  response: z.object({ name: z.string(), major: z.number().int(), line: z.string() }),
});

export const duckConfig = endpoint({
  method: 'GET',
  path: '/api/duck/:name/:major/config',
  summary: 'Duck: what to run and where (Duck token)',
  auth: 'duck',
  params: duckParams,
  response: z.looseObject({
    line: z.string(),
    name: z.string(),
    major: z.number().int(),
    version: z.string(),
  }),
});

export const duckJobs = endpoint({
  method: 'GET',
  path: '/api/duck/:name/:major/jobs',
  summary: 'Duck: long poll for commands (Duck token)',
  auth: 'duck',
  params: duckParams,
  query: z.object({ wait: z.coerce.number().int().min(0).max(60_000).default(0) }),
  response: z.object({ jobs: z.array(z.looseObject({ kind: z.enum(['begin-run', 'stop']) })) }),
});

export const duckEvents = endpoint({
  method: 'POST',
  path: '/api/duck/:name/:major/events',
  summary: 'Duck: report progress (idempotent on freshness; Duck token)',
  auth: 'duck',
  params: duckParams,
  body: z.object({ events: z.array(z.unknown()).max(10_000) }),
  response: z.object({ ok: z.literal(true), applied: z.number().int() }),
});
