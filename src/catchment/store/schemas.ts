/**
 * Edge validation for everything the store accepts. Names become path segments and SQL keys, so they are
 * deliberately narrow: a Pond name is a lowercase identifier, a version is strict SemVer.
 */
import { z } from 'zod';
import { IDENTIFIER_PATTERN, MAX_NAME_LENGTH, NAME_PATTERN } from '../../shared/ids.js';
import { isSemver } from '../../shared/semver.js';
import { ValidationError } from './errors.js';

export { majorOf } from '../../shared/semver.js';

export const IDENTIFIER_MAX = MAX_NAME_LENGTH;

/** Lowercase identifier: safe as a directory name, a SQL schema name and a URL segment. */
export const pondNameSchema = z
  .string()
  .max(IDENTIFIER_MAX, `must be at most ${IDENTIFIER_MAX} characters`)
  .regex(NAME_PATTERN, 'must be a lowercase identifier (a-z, then a-z, 0-9 or _)');

export const windowNameSchema = pondNameSchema;

/** Ripple names come from code (function names), so mixed case is allowed; still no path or SQL metacharacters. */
export const rippleNameSchema = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(IDENTIFIER_PATTERN, 'must be an identifier (letters, digits, _; not starting with a digit)');

export const versionSchema = z
  .string()
  .max(64, 'must be at most 64 characters')
  .refine(isSemver, 'must be a semantic version like 1.2.3');

export const majorSchema = z.number().int('must be an integer').min(0).max(1_000_000);
export const epochMsSchema = z.number().int('must be integer epoch milliseconds').min(0);
export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256 digest');

export const lineSchema = z.object({ pond: pondNameSchema, major: majorSchema }).strict();

export const budgetsSchema = z
  .object({
    immediateRetries: z.number().int().min(0, 'must be >= 0').max(1000),
    sourceRetries: z.number().int().min(0, 'must be >= 0').max(1000),
  })
  .strict();

export const weekdaySchema = z.enum(['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']);

/** The engine's Window shape (src/engine/windows.ts). */
export const windowSchema = z
  .object({
    name: windowNameSchema,
    startAnchor: epochMsSchema,
    everyMs: z.number().int().positive('must be > 0'),
    durationMs: z.number().int().positive('must be > 0'),
    validDays: z.array(weekdaySchema).refine((d) => new Set(d).size === d.length, 'must not repeat a day'),
    until: epochMsSchema.nullable(),
  })
  .strict()
  // The engine examines only the latest grid point, so an occurrence longer than the interval would overlap itself.
  .refine((w) => w.durationMs <= w.everyMs, {
    message: 'durationMs must not exceed everyMs',
    path: ['durationMs'],
  });

export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'killed', 'passed'] as const;
export const runStatusSchema = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const DUCK_STATES = ['starting', 'running', 'stopping', 'stopped'] as const;
export const duckStateSchema = z.enum(DUCK_STATES);
export type DuckState = z.infer<typeof duckStateSchema>;

/** Parses `input` or throws a ValidationError naming every offending field. */
export function parse<S extends z.ZodTypeAny>(what: string, schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw ValidationError.fromZod(what, r.error);
  return r.data;
}
