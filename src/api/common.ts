/** Schemas several areas of the API share: names, the optional `major`, durations, timestamps. */
import { z } from 'zod/v4';
import { parseDuration } from '../engine/duration.js';
import { NAME_PATTERN } from '../shared/ids.js';

export const pondName = z.string().regex(NAME_PATTERN, 'pond names are lowercase identifiers');
export const pondParams = z.object({ name: pondName });
/** Which major line a request means; absent: the newest line the caller knows. */
export const majorQuery = z.object({ major: z.coerce.number().int().nonnegative().optional() });
export const majorField = z.number().int().nonnegative().optional();

/** An ISO-8601 instant, as every timestamp in an answer is written. */
export const instant = z.string();

export const durationField = z.string().refine(
  (s) => {
    try {
      return parseDuration(s) > 0;
    } catch {
      return false;
    }
  },
  { message: 'expected a positive duration such as "30s", "1h30m"' },
);

export const okResponse = z.object({ ok: z.literal(true) });
